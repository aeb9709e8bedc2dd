"""ONNX models: a model file read with the `onnx` package (its operators, shapes and
initializer types, weights left on disk), and the benchmark script the grader runs in the
student's own container (assets/onnx_bench.py). Pure: graders/labkit/models.py fetches and
runs them through the Lab handle.

A model file is the student's: protobuf builds about 20-80 bytes of memory for each byte of a
graph of empty nodes, so `inspect_bounded` reads it in a child process under a memory and CPU
limit, one at a time per grader, and a file that needs more is no plausible model. (Measured:
a real-size 9.2 MB model peaks at 61 MiB; 24 MB of empty nodes at 547 MiB.)"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graders.errors import Failure, GraderFault

INSPECT_MEMORY = 768 << 20  # address space of the child that reads one model
INSPECT_CPU_S = 60
_one_at_a_time = threading.Semaphore(1)  # so three models read at once cost one child

# Operators that only a quantized graph contains (ONNX Runtime's and the ONNX standard's).
QUANTIZED_OPS = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "ConvInteger",
        "MatMulInteger",
        "MatMulIntegerToFloat",
        "QGemm",
        "QLinearAdd",
        "QLinearMul",
        "QLinearGlobalAveragePool",
        "QLinearAveragePool",
        "QLinearConcat",
        "QLinearSigmoid",
        "QLinearLeakyRelu",
        "QLinearSoftmax",
        "QAttention",
        "DynamicQuantizeMatMul",
        "DynamicQuantizeLSTM",
    }
)
BENCH = Path(__file__).with_name("assets") / "onnx_bench.py"
REMOTE_BENCH = ".labgrader/onnx_bench.py"


@dataclass
class ModelInfo:
    size: int
    ops: Counter[str]
    inputs: list[tuple[str, list[int | str]]]
    outputs: list[tuple[str, list[int | str]]]
    int8_weights: int
    float_weights: int
    sha256: str = ""  # of the file's bytes: a course-published file is recognised by it

    @property
    def quantized_ops(self) -> list[str]:
        return sorted(op for op in self.ops if op in QUANTIZED_OPS)

    @property
    def is_quantized(self) -> bool:
        return bool(self.quantized_ops)


def inspect_model(path: str | Path) -> ModelInfo:
    """Read a model's graph (weights stay on disk); a file that is not ONNX is a Failure."""
    import onnx
    from onnx import TensorProto

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several kinds on garbage
        raise Failure(
            f"not a readable ONNX model ({type(exc).__name__}: {str(exc)[:120]})"
        ) from None
    ops: Counter[str] = Counter(n.op_type for n in model.graph.node)
    for fn in model.functions:
        ops.update(n.op_type for n in fn.node)
    ints = {TensorProto.INT8, TensorProto.UINT8}
    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE}
    inits = model.graph.initializer

    def shape(v: object) -> list[int | str]:
        dims = v.type.tensor_type.shape.dim  # type: ignore[attr-defined]
        return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]

    return ModelInfo(
        size=Path(path).stat().st_size,
        ops=ops,
        inputs=[
            (i.name, shape(i)) for i in model.graph.input if i.name not in {x.name for x in inits}
        ],
        outputs=[(o.name, shape(o)) for o in model.graph.output],
        int8_weights=sum(1 for t in inits if t.data_type in ints),
        float_weights=sum(1 for t in inits if t.data_type in floats),
        sha256=file_sha256(path),
    )


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inspect_bounded(path: str | Path) -> ModelInfo:
    """inspect_model in a child process limited to INSPECT_MEMORY of address space and
    INSPECT_CPU_S of CPU; a model that needs more is a Failure, never the grader's memory."""
    limits = f"--memory={INSPECT_MEMORY}", f"--cpu={INSPECT_CPU_S}"
    with _one_at_a_time:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "graders.probes.onnxmodel", *limits, str(path)],
                capture_output=True,
                text=True,
                timeout=INSPECT_CPU_S + 30,
            )
        except subprocess.TimeoutExpired:
            raise _implausible() from None
    try:
        doc = json.loads(done.stdout)
    except ValueError:
        if done.returncode != 0:  # killed (SIGXCPU, SIGKILL) or out of memory outside Python
            raise _implausible() from None
        raise GraderFault(f"the model reader printed no result: {done.stderr[-300:]}") from None
    found = _from_doc(doc)
    if isinstance(found, Failure):
        raise found
    return found


def inspect_bounded_many(paths: Sequence[str | Path]) -> list[ModelInfo | Failure]:
    """inspect_bounded for several files, in one child under the same limits (importing onnx
    is about 1 s of a child's time; reading a 9 MB model, 0.05 s): each file's ModelInfo, or
    the Failure that file is. If that child dies (a file needs more than the limits), each
    file is read again in a child of its own, so an implausible file fails only itself."""
    if len(paths) == 1:
        try:
            return [inspect_bounded(paths[0])]
        except Failure as exc:
            return [exc]
    limits = f"--memory={INSPECT_MEMORY}", f"--cpu={INSPECT_CPU_S}", "--many=1"
    with _one_at_a_time:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "graders.probes.onnxmodel", *limits, *map(str, paths)],
                capture_output=True,
                text=True,
                timeout=INSPECT_CPU_S + 30,
            )
            docs = json.loads(done.stdout)["many"]
        except (subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
            docs = None
    if not isinstance(docs, list) or len(docs) != len(paths):
        return [_bounded_or_failure(p) for p in paths]
    return [_from_doc(d) for d in docs]


def _bounded_or_failure(path: str | Path) -> ModelInfo | Failure:
    try:
        return inspect_bounded(path)
    except Failure as exc:
        return exc


def _from_doc(doc: dict[str, Any]) -> ModelInfo | Failure:
    if "failure" in doc:
        return Failure(doc["failure"])
    return ModelInfo(
        size=doc["size"],
        ops=Counter(doc["ops"]),
        inputs=[(name, shape) for name, shape in doc["inputs"]],
        outputs=[(name, shape) for name, shape in doc["outputs"]],
        int8_weights=doc["int8_weights"],
        float_weights=doc["float_weights"],
        sha256=doc.get("sha256", ""),
    )


def benchmark_problem(
    doc: dict[str, Any], *, runs: int, batch: int, median_ms_min: float, batch_fps_max: float
) -> str | None:
    """What makes the numbers a student's container printed unbelievable, or None.

    The container is the student's, so its `python3` can print anything; these are the
    bounds the numbers must keep to be believed. A batch of `batch` images cannot take much
    less time than one image does, so throughput is also held to batch / median latency."""
    nums = {}
    for key in ("median_ms", "p95_ms", "batch_fps"):
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{key} is {value!r}, not a number"
        if not math.isfinite(value) or value <= 0:
            return f"{key} is {value!r}, not a positive number"
        nums[key] = float(value)
    if doc.get("runs") != runs or doc.get("batch") != batch:
        asked = f"{runs} runs of batch {batch}"
        return f"it reports {doc.get('runs')!r} runs of batch {doc.get('batch')!r}, not {asked}"
    median, p95, fps = nums["median_ms"], nums["p95_ms"], nums["batch_fps"]
    if p95 < median:
        return f"its 95th percentile ({p95} ms) is below its median ({median} ms)"
    if median < median_ms_min:
        return f"a median of {median} ms is below {median_ms_min} ms, faster than a CPU runs it"
    ceiling = min(batch_fps_max, 1.5 * batch * 1000 / median)
    if fps > ceiling:
        return (
            f"{fps} FPS is more than {ceiling:.0f}: a batch of {batch} would take less time "
            f"than one image ({median} ms)"
            if ceiling < batch_fps_max
            else f"{fps} FPS is more than {batch_fps_max:.0f}, faster than any node the lab uses"
        )
    return None


def _implausible() -> Failure:
    return Failure(
        f"not a plausible ONNX model: reading its graph needed more than "
        f"{INSPECT_MEMORY >> 20} MiB or {INSPECT_CPU_S} s of CPU (the lab's models need a "
        "small part of that)"
    )


def _child(argv: list[str]) -> int:
    """`python -m graders.probes.onnxmodel --memory=N --cpu=S [--many=1] PATH...`: the limits
    set before onnx is imported, the ModelInfo (or the Failure) printed as JSON; with --many,
    `{"many": [one per PATH]}`."""
    import resource

    opts = dict(a.removeprefix("--").split("=", 1) for a in argv if a.startswith("--"))
    paths = [a for a in argv if not a.startswith("--")]
    memory, cpu = int(opts["memory"]), int(opts["cpu"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    docs = [_child_doc(p) for p in paths]
    print(json.dumps({"many": docs} if "many" in opts else docs[-1]))
    return 0


def _child_doc(path: str) -> dict[str, Any]:
    try:
        info = inspect_model(path)
    except Failure as exc:
        return {"failure": exc.message}
    except MemoryError:
        return {"failure": _implausible().message}
    fields = {k: getattr(info, k) for k in ("size", "inputs", "outputs", "sha256")}
    counts = {"int8_weights": info.int8_weights, "float_weights": info.float_weights}
    return {**fields, **counts, "ops": dict(info.ops)}


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
