"""Model optimizations for serving: the checks follow the lab's notebooks.

Export food11.onnx, optimize it with ONNX Runtime, quantize it (dynamic, then static
aggressive and conservative), and measure each in the Jupyter container. The grader fetches
the models to read their graphs, and times the baseline and quantized models on the node.
"""

from __future__ import annotations

import shlex

from graders.checks import Lab, check
from graders.labkit.chameleon import server_check
from graders.labkit.instances import course_key_check, login_check
from graders.labkit.models import benchmark, fetch_and_inspect
from graders.probes.onnxmodel import ModelInfo

Sizes = dict[str, int]  # model file -> bytes, as models_present read them


server_active = server_check("Server node-serve-model-<user> is ACTIVE with a floating IP")


ssh_login = login_check(after=server_active)


@check(title="The five ONNX models are in workspace/models", depends=[ssh_login], vantage="host")
def models_present(lab: Lab) -> Sizes:
    """The baseline, optimized and three quantized models exist with plausible sizes."""
    cfg = lab.config["models"]
    paths = " ".join(shlex.quote(f) for f in cfg["files"].values())
    result = lab.run(f"cd ~/{shlex.quote(cfg['dir'])} && stat -c '%n %s' {paths}")
    sizes = {}
    for line in result.stdout.splitlines():
        name, _, size = line.rpartition(" ")
        if size.isdigit():
            sizes[name] = int(size)
    missing = [f for f in cfg["files"].values() if f not in sizes]
    tiny = [f for f, n in sizes.items() if n < cfg["min_bytes"]]
    for key, f in cfg["files"].items():
        lab.measure(f"{key}_bytes", sizes.get(f))
    lab.require(
        not missing,
        f"missing in ~/{cfg['dir']}: {', '.join(missing)}"
        + (f" ({result.stderr.strip().splitlines()[0]})" if result.stderr.strip() else ""),
        "Run the notebooks 6_measure_onnx and 7_optimize_onnx to the end.",
    )
    lab.require(not tiny, f"too small to be the lab's models: {', '.join(tiny)}")
    return sizes


@check(title="food11.onnx is the Food-11 classifier", depends=[models_present], vantage="host")
def baseline_model(lab: Lab) -> None:
    """The baseline model reads as ONNX, takes an image batch and gives 11 class scores."""
    info = _inspect(lab, "baseline")
    lab.require(
        not info.is_quantized,
        "food11.onnx is already quantized; it should be the float model exported from PyTorch",
    )
    out = info.outputs[0][1] if info.outputs else []
    lab.require(out and out[-1] == 11, f"its output shape is {out}, expected [batch, 11]")


@check(
    title="food11_quantized_dynamic.onnx is really quantized",
    depends=[models_present],
    vantage="host",
)
def quantized_dynamic(lab: Lab, models_present: Sizes) -> None:
    """The dynamic-quantized model has quantized operators and 8-bit weights, and is the
    Food-11 classifier at a quantized model's size."""
    _require_quantized(lab, "dynamic", models_present)


@check(
    title="food11_quantized_aggressive.onnx is really quantized",
    depends=[models_present],
    vantage="host",
)
def quantized_aggressive(lab: Lab, models_present: Sizes) -> None:
    """The aggressively (statically) quantized model has quantized operators and 8-bit
    weights, and is the Food-11 classifier at a quantized model's size."""
    _require_quantized(lab, "aggressive", models_present)


@check(
    title="Baseline latency and throughput on the node",
    depends=[models_present],
    vantage="host",
    timeout=150,
)
def latency_baseline(lab: Lab) -> None:
    """The baseline's median single-sample latency and batch throughput, in the container."""
    _bench(lab, "baseline")


@check(
    title="Quantized latency and throughput on the node",
    depends=[models_present],
    vantage="host",
    timeout=150,
)
def latency_quantized(lab: Lab) -> None:
    """The aggressive quantized model's latency and throughput, and its speed-up."""
    _bench(lab, "aggressive")


# --- helpers ----------------------------------------------------------------------------------
def _inspect(lab: Lab, key: str) -> ModelInfo:
    cfg = lab.config["models"]
    info = fetch_and_inspect(lab, f"{cfg['dir']}/{cfg['files'][key]}", cfg["max_bytes"])
    lab.measure("size_mb", round(info.size / 2**20, 2))
    lab.measure("quantized_ops", ",".join(info.quantized_ops))
    return info


def _require_quantized(lab: Lab, key: str, sizes: Sizes) -> None:
    """Quantized operators alone can be forged with one node, so the model is also held
    against food11.onnx: the same 11 class scores, 8-bit weights, and a size in the range a
    quantizer leaves (lab.yaml `quantized_size_ratio`)."""
    cfg = lab.config["models"]
    info = _inspect(lab, key)
    name = cfg["files"][key]
    lab.require(
        info.is_quantized,
        f"{name} has no quantized operators (its operators: {', '.join(sorted(info.ops)[:12])})",
        "Save the model that the quantizer returned, not a copy of the float one.",
    )
    out = info.outputs[0][1] if info.outputs else []
    lab.require(out and out[-1] == 11, f"{name} outputs {out}, not food11.onnx's [batch, 11]")
    lab.require(
        info.int8_weights,
        f"{name} stores no weights as 8-bit integers ({info.float_weights} float tensors)",
        "Quantize the float model with the lab's notebook and save what it returns.",
    )
    base = sizes.get(cfg["files"]["baseline"])
    if base:
        ratio = info.size / base
        low, high = cfg["quantized_size_ratio"]
        lab.measure("size_ratio", round(ratio, 3))
        lab.require(
            low <= ratio <= high,
            f"{name} is {ratio:.0%} of food11.onnx's size; a quantized copy of it is "
            f"{low:.0%} to {high:.0%}",
            "Quantize food11.onnx itself, with the lab's notebook.",
        )


def _bench(lab: Lab, key: str) -> None:
    cfg, bench = lab.config["models"], lab.config["benchmark"]
    model = f"{cfg['container_dir']}/{cfg['files'][key]}"
    doc = benchmark(
        lab,
        cfg["container"],
        model,
        runs=bench["runs"],
        batch=bench["batch"],
        timeout=bench["timeout_s"],
        median_ms_min=bench["median_ms_min"],
        batch_fps_max=bench["batch_fps_max"],
    )
    for k in ("median_ms", "p95_ms", "batch_fps"):
        lab.measure(k, doc.get(k))
    lab.note(
        f"{model} in {cfg['container']}: median {doc.get('median_ms')} ms, "
        f"{doc.get('batch_fps')} FPS",
        doc,
    )


course_key = course_key_check(after=server_active)
