"""Model optimizations for serving: the checks follow the lab's notebooks.

Export food11.onnx, optimize it with ONNX Runtime, quantize it (dynamic, then static
aggressive and conservative), and measure each in the Jupyter container. The grader fetches
the models to read their graphs, and times the baseline and quantized models on the node.

The course publishes quantized models of its own (serve-edge-chi's workspace/models/): a file
whose sha256 is one of lab.yaml `models.published_sha256` is not the student's optimization or
quantization. food11.onnx is exempt: the student exports it from the lab's food11.pth with the
lab's pinned torch, which can reproduce the published export byte for byte.
"""

from __future__ import annotations

import shlex

from graders.checks import Lab, check
from graders.errors import Failure
from graders.labkit.chameleon import lease_check, server_check
from graders.labkit.instances import course_key_check, login_check
from graders.labkit.models import benchmark, fetch_and_inspect_many
from graders.probes.onnxmodel import ModelInfo

Sizes = dict[str, int]  # model file -> bytes, as models_present read them
# The first check that reads a model fetches and reads all five (about 30 MB, one reader
# process); the reader runs one at a time in the grader, so others may queue for it.
MODEL_READ_S = 60.0


lease = lease_check(title="Lease serve_model_<netid> is ACTIVE")

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


@check(
    title="food11.onnx is the Food-11 classifier",
    depends=[models_present],
    vantage="host",
    timeout=MODEL_READ_S,
)
def baseline_model(lab: Lab) -> ModelInfo:
    """The baseline model reads as ONNX, takes an image batch and gives 11 class scores."""
    info = _inspect(lab, "baseline")
    lab.require(
        not info.is_quantized,
        "food11.onnx is already quantized; it should be the float model exported from PyTorch",
    )
    out = info.outputs[0][1] if info.outputs else []
    lab.require(out and out[-1] == 11, f"its output shape is {out}, expected [batch, 11]")
    return info


@check(
    title="food11_optimized.onnx is food11.onnx after graph optimizations",
    depends=[baseline_model],
    vantage="host",
    timeout=MODEL_READ_S,
)
def optimized_model(lab: Lab, baseline_model: ModelInfo) -> None:
    """The model ONNX Runtime saved with ORT_ENABLE_EXTENDED (7_optimize_onnx) is the float
    11-class model with a graph of its own: not a copy of food11.onnx (same bytes) nor the
    same operators re-saved, since the fusions change them; and no file the course
    publishes."""
    info = _inspect(lab, "optimized")
    name = lab.config["models"]["files"]["optimized"]
    _require_not_published(lab, "optimized", info)
    lab.require(
        info.sha256 != baseline_model.sha256,
        f"{name} is a copy of food11.onnx (the same sha256)",
        "Run the 7_optimize_onnx cell that sets optimized_model_filepath: ONNX Runtime writes "
        "the optimized graph there.",
    )
    nodes, base_nodes = sum(info.ops.values()), sum(baseline_model.ops.values())
    lab.measure("nodes", nodes)
    lab.measure("baseline_nodes", base_nodes)
    lab.require(
        info.ops != baseline_model.ops,
        f"{name} has the same graph as food11.onnx ({nodes} nodes, the same operators): "
        "graph optimizations fuse operators, so they change",
        "Save the model ONNX Runtime optimized (SessionOptions.optimized_model_filepath), "
        "not food11.onnx under another name.",
    )
    lab.require(
        not info.is_quantized,
        f"{name} is quantized ({', '.join(info.quantized_ops)}); the optimized model is the "
        "float one",
    )
    out = info.outputs[0][1] if info.outputs else []
    lab.require(out and out[-1] == 11, f"{name} outputs {out}, not food11.onnx's [batch, 11]")


@check(
    title="food11_quantized_dynamic.onnx is really quantized",
    depends=[models_present],
    vantage="host",
    timeout=MODEL_READ_S,
)
def quantized_dynamic(lab: Lab, models_present: Sizes) -> None:
    """The dynamic-quantized model has quantized operators and 8-bit weights, and is the
    Food-11 classifier at a quantized model's size."""
    _require_quantized(lab, "dynamic", models_present)


@check(
    title="food11_quantized_aggressive.onnx is really quantized",
    depends=[models_present],
    vantage="host",
    timeout=MODEL_READ_S,
)
def quantized_aggressive(lab: Lab, models_present: Sizes) -> None:
    """The aggressively (statically) quantized model has quantized operators and 8-bit
    weights, and is the Food-11 classifier at a quantized model's size."""
    _require_quantized(lab, "aggressive", models_present)


@check(
    title="food11_quantized_conservative.onnx is really quantized",
    depends=[models_present],
    vantage="host",
    timeout=MODEL_READ_S,
)
def quantized_conservative(lab: Lab, models_present: Sizes) -> None:
    """The conservatively quantized model (quant_level 0, QOperator: only some operators
    quantized, a QuantizeLinear before and a DequantizeLinear after them) has those operators
    and 8-bit weights, is the Food-11 classifier at a size between a quantized and the float
    model's, and is not a copy of the dynamic or aggressive model."""
    info = _require_quantized(lab, "conservative", models_present)
    cfg = lab.config["models"]
    name = cfg["files"]["conservative"]
    missing = {"QuantizeLinear", "DequantizeLinear"} - set(info.ops)
    lab.require(
        not missing,
        f"{name} has no {' or '.join(sorted(missing))}: the partly quantized model quantizes "
        "before and dequantizes after each quantized operator",
        "Quantize with the lab's conservative settings (quant_level=0) and save what "
        "quantization.fit returns.",
    )
    for other in ("aggressive", "dynamic"):
        lab.require(
            info.sha256 != _model(lab, other).sha256,
            f"{name} is a copy of {cfg['files'][other]} (the same sha256)",
            "Run the conservative quantization cell (tolerable_loss=0.01, quant_level=0) and "
            "keep the file it saves.",
        )


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
    depends=[quantized_aggressive],
    vantage="host",
    timeout=150,
)
def latency_quantized(lab: Lab) -> None:
    """The aggressive quantized model's latency and throughput, and its speed-up; only once
    the model is the student's own quantization (quantized_aggressive), not a copied one."""
    _bench(lab, "aggressive")


# --- helpers ----------------------------------------------------------------------------------
def _read_models(lab: Lab) -> dict[str, ModelInfo | Failure]:
    """The five models, fetched and read once per student (lab.shared) by whichever check
    asks first, in one reader process (onnx's import is most of a read's time); the
    conservative model is compared with the aggressive and dynamic ones."""
    cfg = lab.config["models"]
    remotes = {key: f"{cfg['dir']}/{name}" for key, name in cfg["files"].items()}
    found = fetch_and_inspect_many(lab, list(remotes.values()), cfg["max_bytes"])
    return {key: found[remote] for key, remote in remotes.items()}


def _model(lab: Lab, key: str) -> ModelInfo:
    info = lab.shared(_read_models)[key]
    if isinstance(info, Failure):
        name = lab.config["models"]["files"][key]
        raise Failure(f"{name}: {info.message}", info.help)
    return info


def _inspect(lab: Lab, key: str) -> ModelInfo:
    info = _model(lab, key)
    lab.measure("size_mb", round(info.size / 2**20, 2))
    lab.measure("quantized_ops", ",".join(info.quantized_ops))
    lab.note(f"{lab.config['models']['files'][key]}: sha256 {info.sha256}")
    return info


def _require_not_published(lab: Lab, key: str, info: ModelInfo) -> None:
    """The file is none of the course's published models (lab.yaml `published_sha256`)."""
    name = lab.config["models"]["files"][key]
    source = (lab.config["models"].get("published_sha256") or {}).get(info.sha256)
    lab.require(
        source is None,
        f"{name} is byte for byte a model the course publishes ({source}; sha256 "
        f"{info.sha256[:16]}...), not one your notebook produced",
        "Run 7_optimize_onnx yourself and keep the files it saves; if you did and still see "
        "this, tell the course staff.",
    )


def _require_quantized(lab: Lab, key: str, sizes: Sizes) -> ModelInfo:
    """Quantized operators alone can be forged with one node, so the model is also held
    against food11.onnx: the same 11 class scores, 8-bit weights, and a size in the range a
    quantizer leaves (lab.yaml `quantized_size_ratio`, or `<key>_size_ratio`); and it is no
    file the course publishes."""
    cfg = lab.config["models"]
    info = _inspect(lab, key)
    name = cfg["files"][key]
    _require_not_published(lab, key, info)
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
        low, high = cfg.get(f"{key}_size_ratio") or cfg["quantized_size_ratio"]
        lab.measure("size_ratio", round(ratio, 3))
        lab.require(
            low <= ratio <= high,
            f"{name} is {ratio:.0%} of food11.onnx's size; a quantized copy of it is "
            f"{low:.0%} to {high:.0%}",
            "Quantize food11.onnx itself, with the lab's notebook.",
        )
    return info


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
