"""The serve-model-chi lab's model files, built for real: a small Food-11 classifier and its
optimized and quantized variants, as the lab's notebooks write them to `workspace/models/`.

The float model is a plausible stand-in for the course's MobileNetV2 export
(`torch.onnx.export`: input `input` float [batch_size, 3, 224, 224], output `output`
[batch_size, 11], opset 17): six Conv+Relu stages, global average pooling and a Gemm head with
random weights, 9.0 MB on disk (the course's food11.onnx: 8.92 MB). The variants come from
onnxruntime, as in the lab: graph optimisation through `SessionOptions.optimized_model_filepath`,
`quantize_dynamic` (ConvInteger, MatMulInteger, DynamicQuantizeLinear; 2.3 MB), and
`quantize_static` with a random calibration reader, QOperator format for "aggressive"
(QLinearConv, QGemm; 2.3 MB) and QDQ on some convolutions only for "conservative"
(QuantizeLinear/DequantizeLinear; 5.8 MB). All five build in about a second, once per classroom.

Beside them, in `published/`, stand-ins for the models the course publishes (serve-edge-chi's
workspace/models/: food11.onnx and its dynamic and aggressive quantizations), built the same way
from another float model (another seed), so their bytes are neither the students' nor the real
published files'. The simulator cannot ship the course's files, so lab.yaml's
`models.published_sha256` (the real files' hashes) does not name these: a test that grades the
`copied_models` profile adds `published_sha256(hosts_dir)` to the lab's loaded configuration,
as it tunes the benchmark. serve-edge-chi's container holds these files too (the lab clones
that repository into it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

FLOAT = "food11.onnx"
OPTIMIZED = "food11_optimized.onnx"
DYNAMIC = "food11_quantized_dynamic.onnx"
AGGRESSIVE = "food11_quantized_aggressive.onnx"
CONSERVATIVE = "food11_quantized_conservative.onnx"
MODEL_FILES = (FLOAT, OPTIMIZED, DYNAMIC, AGGRESSIVE, CONSERVATIVE)
QUANTIZED = (DYNAMIC, AGGRESSIVE, CONSERVATIVE)
PUBLISHED = (FLOAT, DYNAMIC, AGGRESSIVE)  # what serve-edge-chi's workspace/models/ ships
PUBLISHED_DIR = "published"
PUBLISHED_SEED = 4471
CACHE = ".onnx-cache"  # under the classroom's hosts folder
# Operators only a quantized graph has (what a grader may look for).
QUANTIZED_OPS = frozenset(
    {
        "QLinearConv",
        "QLinearMatMul",
        "QGemm",
        "ConvInteger",
        "MatMulInteger",
        "DynamicQuantizeLinear",
        "QuantizeLinear",
        "DequantizeLinear",
        "QLinearGlobalAveragePool",
        "QLinearAdd",
    }
)
# (in channels, out channels, kernel, stride) of each Conv stage
_STAGES = ((3, 32, 3, 2), (32, 64, 3, 2), (64, 128, 3, 2), (128, 256, 3, 2), (256, 512, 3, 2))
_LAST = 1280  # MobileNetV2's last_channel


def _float_model(path: Path, seed: int = 9183) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, x = [], [], "input"
    stages = [*_STAGES, (_STAGES[-1][1], _LAST, 1, 1)]
    for i, (cin, cout, k, stride) in enumerate(stages):
        name = f"features.{i}"
        w = rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))
        inits += [
            numpy_helper.from_array(w.astype(np.float32), f"{name}.weight"),
            numpy_helper.from_array(
                (rng.standard_normal(cout) * 0.01).astype(np.float32), f"{name}.bias"
            ),
        ]
        nodes += [
            helper.make_node(
                "Conv",
                [x, f"{name}.weight", f"{name}.bias"],
                [f"/{name}/Conv_output_0"],
                name=f"/{name}/Conv",
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[k // 2] * 4,
                dilations=[1, 1],
                group=1,
            ),
            helper.make_node(
                "Relu",
                [f"/{name}/Conv_output_0"],
                [f"/{name}/Relu_output_0"],
                name=f"/{name}/Relu",
            ),
        ]
        x = f"/{name}/Relu_output_0"
    nodes += [
        helper.make_node("GlobalAveragePool", [x], ["/GlobalAveragePool_output_0"], name="/pool"),
        helper.make_node(
            "Flatten", ["/GlobalAveragePool_output_0"], ["/Flatten_output_0"], name="/Flatten"
        ),
        helper.make_node(
            "Gemm",
            ["/Flatten_output_0", "classifier.1.weight", "classifier.1.bias"],
            ["output"],
            name="/classifier/classifier.1/Gemm",
            alpha=1.0,
            beta=1.0,
            transB=1,
        ),
    ]
    inits += [
        numpy_helper.from_array(
            (rng.standard_normal((11, _LAST)) * 0.05).astype(np.float32), "classifier.1.weight"
        ),
        numpy_helper.from_array(np.zeros(11, np.float32), "classifier.1.bias"),
    ]
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch_size", 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch_size", 11])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="pytorch",
        producer_version="2.5.1",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


class _Calibration:
    """A few random images, as quantize_static's CalibrationDataReader asks."""

    def __init__(self, count: int = 4, seed: int = 11) -> None:
        import numpy as np

        rng = np.random.default_rng(seed)
        self._batches = iter(
            [{"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}]
            for _ in range(count)
        )

    def get_next(self) -> dict | None:
        batch = next(self._batches, None)
        return batch[0] if batch else None


def _paths(dest: Path) -> dict[str, Path]:
    """The five models by name, and the published stand-ins as `published/<name>`."""
    paths = {name: dest / name for name in MODEL_FILES}
    paths.update({f"{PUBLISHED_DIR}/{n}": dest / PUBLISHED_DIR / n for n in PUBLISHED})
    return paths


def build_models(dest: Path) -> dict[str, Path]:
    """Build the five model files into `dest`, and the published stand-ins into
    `dest/published` (idempotent: kept if all are there)."""
    (dest / PUBLISHED_DIR).mkdir(parents=True, exist_ok=True)
    paths = _paths(dest)
    if all(p.is_file() and p.stat().st_size for p in paths.values()):
        return paths
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    # "Please consider to run pre-processing before quantization": the lab's notebooks see it
    # too; nobody here needs it on the terminal.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        tmp = {name: p.with_name(f".{p.name}.tmp") for name, p in paths.items()}
        _float_model(tmp[FLOAT])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(tmp[OPTIMIZED])
        ort.InferenceSession(str(tmp[FLOAT]), options, providers=["CPUExecutionProvider"])
        quantize_dynamic(str(tmp[FLOAT]), str(tmp[DYNAMIC]), weight_type=QuantType.QUInt8)

        class Reader(_Calibration, CalibrationDataReader):
            pass

        quantize_static(
            str(tmp[FLOAT]),
            str(tmp[AGGRESSIVE]),
            Reader(),
            quant_format=QuantFormat.QOperator,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QUInt8,
        )
        quantize_static(
            str(tmp[FLOAT]),
            str(tmp[CONSERVATIVE]),
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=["/features.0/Conv", "/features.4/Conv"],
        )
        pub = {name: tmp[f"{PUBLISHED_DIR}/{name}"] for name in PUBLISHED}
        _float_model(pub[FLOAT], seed=PUBLISHED_SEED)
        quantize_dynamic(str(pub[FLOAT]), str(pub[DYNAMIC]), weight_type=QuantType.QUInt8)
        quantize_static(
            str(pub[FLOAT]),
            str(pub[AGGRESSIVE]),
            Reader(),
            quant_format=QuantFormat.QOperator,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QUInt8,
        )
    finally:
        root.setLevel(level)
    for name in paths:
        os.replace(tmp[name], paths[name])
        paths[name].chmod(0o644)
    for folder in (dest, dest / PUBLISHED_DIR):
        for leftover in folder.glob(".*.tmp*"):  # onnxruntime's augmented calibration models
            leftover.unlink(missing_ok=True)
        for leftover in folder.glob("*-inferred.onnx"):
            leftover.unlink(missing_ok=True)
    return paths


def build_models_apart(dest: Path) -> dict[str, Path]:
    """build_models in a short-lived child process: onnxruntime, onnx and numpy (about
    130 MiB) never load into the classroom process, which only serves files."""
    paths = _paths(dest)
    if all(p.is_file() and p.stat().st_size for p in paths.values()):
        return paths
    package_root = str(Path(__file__).resolve().parents[1])  # the folder holding labsim
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "labsim.onnxmodels", str(dest)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the ONNX models failed:\n{done.stderr[-2000:]}")
    return paths


# serve-model's `copied_models`: each name -> the published stand-in it is a copy of (the
# optimized model a copy of the baseline, the conservative one of the aggressive one).
COPIED = {
    FLOAT: FLOAT,
    OPTIMIZED: FLOAT,
    DYNAMIC: DYNAMIC,
    AGGRESSIVE: AGGRESSIVE,
    CONSERVATIVE: AGGRESSIVE,
}


def place(
    cache: dict[str, Path],
    models_dir: Path,
    variant: str = "real",
    names: tuple[str, ...] = MODEL_FILES,
) -> None:
    """Put model files (`names`) in a host's models folder: hard links to the classroom's
    copies (read-only for `cc`, so one student cannot change another's), copies across
    filesystems. `variant`: "real" (the lab's own run), "fake_quantized" (the quantized names
    hold the float model: quantization never ran), "copied" (the course's published files
    copied in, see COPIED), "published" (the published files under their own names, as
    serve-edge-chi's clone leaves them)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        if variant == "fake_quantized" and name in QUANTIZED:
            source = cache[FLOAT]
        elif variant == "copied":
            source = cache[f"{PUBLISHED_DIR}/{COPIED[name]}"]
        elif variant == "published":
            source = cache[f"{PUBLISHED_DIR}/{name}"]
        else:
            source = cache[name]
        target = models_dir / name
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
            target.chmod(0o644)


def published_sha256(hosts_dir: Path) -> dict[str, str]:
    """sha256 -> what it stands for, of the published stand-ins built under a classroom's
    hosts folder that lab.yaml's `models.published_sha256` lists the real files of (the
    quantized ones: food11.onnx is not listed), what a test adds to it."""
    found = {}
    for name in (DYNAMIC, AGGRESSIVE):
        path = Path(hosts_dir) / CACHE / PUBLISHED_DIR / name
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found[digest] = f"labsim stand-in for serve-edge-chi workspace/models/{name}"
    return found


def operators(path: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}


if __name__ == "__main__":
    build_models(Path(sys.argv[1]))
