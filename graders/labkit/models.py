"""The lab's ONNX models on the instance: fetched over SFTP (size-capped) and read with
graders/probes/onnxmodel.py, and timed by onnxruntime in the student's own container with a
script the grader uploads."""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

from graders.answers import parse_json
from graders.checks import Lab
from graders.errors import Failure
from graders.probes.onnxmodel import (
    BENCH,
    REMOTE_BENCH,
    ModelInfo,
    benchmark_problem,
    inspect_bounded,
    inspect_bounded_many,
)


def fetch_and_inspect(lab: Lab, remote: str, max_bytes: int) -> ModelInfo:
    with tempfile.TemporaryDirectory(prefix="labgrader-onnx-") as tmp:
        local = str(Path(tmp) / "model.onnx")
        lab.fetch(remote, local, max_bytes)
        info = inspect_bounded(local)
    lab.note(
        f"{remote}: {info.size} bytes, {sum(info.ops.values())} nodes, "
        f"quantized operators: {', '.join(info.quantized_ops) or 'none'}",
        {
            "ops": dict(info.ops),
            "inputs": info.inputs,
            "outputs": info.outputs,
            "int8_initializers": info.int8_weights,
            "float_initializers": info.float_weights,
        },
    )
    return info


def fetch_and_inspect_many(
    lab: Lab, remotes: list[str], max_bytes: int
) -> dict[str, ModelInfo | Failure]:
    """fetch_and_inspect for several files, read by one child process: each remote path's
    ModelInfo, or the Failure that file is (not fetched, or not a plausible model)."""
    found: dict[str, ModelInfo | Failure] = {}
    with tempfile.TemporaryDirectory(prefix="labgrader-onnx-") as tmp:
        fetched = {}
        for n, remote in enumerate(remotes):
            local = str(Path(tmp) / f"model{n}.onnx")
            try:
                lab.fetch(remote, local, max_bytes)
            except Failure as exc:
                found[remote] = exc
                continue
            fetched[remote] = local
        for remote, info in zip(fetched, inspect_bounded_many(list(fetched.values())), strict=True):
            found[remote] = info
            if isinstance(info, ModelInfo):
                lab.note(
                    f"{remote}: {info.size} bytes, {sum(info.ops.values())} nodes, quantized "
                    f"operators: {', '.join(info.quantized_ops) or 'none'}, sha256 {info.sha256}",
                    {"ops": dict(info.ops), "inputs": info.inputs, "outputs": info.outputs},
                )
    return found


def benchmark(
    lab: Lab,
    container: str,
    model: str,
    *,
    runs: int,
    batch: int,
    timeout: float,
    median_ms_min: float,
    batch_fps_max: float,
) -> dict[str, float]:
    """Median/p95 single-sample latency (ms) and batch throughput (FPS) of `model` (a path as
    the container sees it), measured by onnxruntime inside the student's container.

    An attestation: the student owns the container, so the numbers are believed only within
    plausible bounds (`benchmark_problem`); outside them the check fails."""
    lab.put(BENCH.read_text(), REMOTE_BENCH)
    args = f"{shlex.quote(model)} {int(runs)} {int(batch)}"
    cmd = f"docker exec -i {shlex.quote(container)} python3 - {args} < ~/{REMOTE_BENCH}"
    with lab.measuring():
        result = lab.run(cmd, timeout=timeout)
    if not result.ok:
        err = (result.stderr or result.stdout).strip().splitlines()
        raise Failure(
            f"the benchmark could not run in container {container}: "
            f"{err[-1] if err else f'exit {result.exited}'}",
            f"Is the {container} container running (docker ps), with onnxruntime?",
        )
    lines = result.stdout.strip().splitlines()
    doc = parse_json(lines[-1] if lines else "", "the benchmark's result")
    if not isinstance(doc, dict):
        raise Failure(f"the benchmark printed no result: {result.stdout[-200:]!r}")
    if "error" in doc:
        raise Failure(f"the benchmark failed in {container}: {doc['error']}")
    problem = benchmark_problem(
        doc, runs=runs, batch=batch, median_ms_min=median_ms_min, batch_fps_max=batch_fps_max
    )
    if problem:
        raise Failure(
            f"the benchmark's numbers from {container} are not plausible: {problem}",
            "The grader runs its own script in the container; leave python3 and onnxruntime "
            "as the lab installs them.",
        )
    return doc
