"""labgrader's ONNX benchmark, run by the grader inside the student's Jupyter container:
    python3 - MODEL RUNS BATCH < onnx_bench.py
Prints one JSON line: median/p95 single-sample latency (ms), batch throughput (FPS).
Uses only onnxruntime and numpy, which the lab's container has."""

import json
import sys
import time


def main() -> None:
    model, runs, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as exc:
        print(json.dumps({"error": f"cannot import {exc.name}: install it in the container"}))
        return
    try:
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        print(json.dumps({"error": f"onnxruntime cannot load {model}: {str(exc)[:200]}"}))
        return
    inp = session.get_inputs()[0]
    dims = [d if isinstance(d, int) else 1 for d in inp.shape]

    def data(n: int) -> "np.ndarray":
        return np.random.rand(n, *dims[1:]).astype(np.float32)

    one = data(1)
    for _ in range(5):
        session.run(None, {inp.name: one})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, {inp.name: one})
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    many = data(batch)
    session.run(None, {inp.name: many})
    t0, rounds = time.perf_counter(), max(3, runs // 10)
    for _ in range(rounds):
        session.run(None, {inp.name: many})
    fps = batch * rounds / (time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "median_ms": round(times[len(times) // 2], 3),
                "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 3),
                "batch_fps": round(fps, 1),
                "runs": runs,
                "batch": batch,
                "providers": session.get_providers(),
            }
        )
    )


main()
