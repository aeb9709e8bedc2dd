"""System optimizations for serving: the checks follow the lab's parts.

Launch node-serve-system-<user> on a gpu_p100 node at CHI@TACC; bring up the Flask front end
(port 80) and a model server on port 8000 (FastAPI, PyTorch or ONNX, or Triton with
food_classifier); then measure it under load, sequentially and at concurrency 16, watching the
GPUs.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

from graders.checks import Lab, check
from graders.errors import Failure
from graders.files import schema_problems
from graders.labkit.apis import get_json, page_title, require_whole
from graders.labkit.chameleon import server_check
from graders.labkit.gpus import Background, sample_gpus
from graders.labkit.instances import course_key_check, login_check
from graders.probes.onnxmodel import BENCH

IMAGE = base64.b64encode((BENCH.parent / "food.jpg").read_bytes()).decode()


@dataclass(frozen=True)
class ModelServer:
    kind: str  # "triton" or "fastapi"
    api_title: str = ""  # FastAPI's OpenAPI title: it names the ONNX variant


@dataclass(frozen=True)
class GpuWatch:
    """What sampling the GPUs during the load read: the summary, or why there is none."""

    summary: dict[str, Any] | None
    problem: str = ""


server_active = server_check("Server node-serve-system-<user> is ACTIVE with a floating IP")


ssh_login = login_check(after=server_active)


@check(title="The Flask front end serves GourmetGram on port 80", depends=[server_active])
def flask_page(lab: Lab) -> None:
    """`http://<floating IP>/` is GourmetGram's upload page (Flask, host 80 -> container 5000)."""
    url = f"http://{lab.address}:{lab.port('http')}/"
    seen = page_title(lab, url)
    lab.require(lab.config["page_title"] in seen, f"GET {url} is not GourmetGram ({seen!r})")


@check(title="A model server answers on port 8000", depends=[server_active])
def model_server(lab: Lab) -> ModelServer:
    """Port 8000 is the lab's FastAPI server (its OpenAPI document) or Triton (ready)."""
    base = f"http://{lab.address}:{lab.port('model')}"
    resp = lab.http.get(f"{base}/v2/health/ready")
    if resp.status == 200:
        lab.measure("server_kind", "triton")
        return ModelServer("triton")
    doc = get_json(lab, f"{base}/openapi.json", "FastAPI's OpenAPI document")
    title = (doc.get("info") or {}).get("title", "") if isinstance(doc, dict) else ""
    lab.require(
        "/predict" in (doc.get("paths") or {}) if isinstance(doc, dict) else False,
        f"the API on port 8000 ({title or 'untitled'}) has no /predict endpoint",
        "Start the lab's fastapi_server (docker compose -f docker-compose-fastapi.yaml).",
    )
    lab.measure("server_kind", "fastapi")
    return ModelServer("fastapi", title)


@check(title="A prediction is a Food-11 class with a probability", depends=[model_server])
def predict_valid(lab: Lab, model_server: ModelServer) -> ModelServer:
    """One request with a real JPEG gets a valid answer: a Food-11 class and a probability."""
    classes = lab.config["classes"]
    base = f"http://{lab.address}:{lab.port('model')}"
    if model_server.kind == "triton":
        label, prob = _triton_predict(lab, base)
    else:
        label, prob = _fastapi_predict(lab, base)
    lab.measure("prediction", str(label)[:64])
    lab.measure("probability", prob if isinstance(prob, int | float) else None)
    lab.require(label in classes, f"the prediction {str(label)[:80]!r} is not a Food-11 class")
    lab.require(
        isinstance(prob, int | float)
        and not isinstance(prob, bool)
        and 0 <= prob <= 1
        and not math.isnan(prob),
        f"the probability {prob!r} is not a number between 0 and 1",
    )
    return model_server


@check(title="The serving stack is optimized", depends=[model_server])
def serving_optimized(lab: Lab, model_server: ModelServer) -> None:
    """Triton: food_classifier is READY and dynamic batching is on. FastAPI: the ONNX variant."""
    base = f"http://{lab.address}:{lab.port('model')}"
    model = lab.config["triton_model"]
    if model_server.kind == "fastapi":
        title = model_server.api_title
        lab.note(f"FastAPI's OpenAPI title, as model_server read it: {title!r}")
        lab.require(
            "ONNX" in title,
            f"the FastAPI server is {title!r}, the PyTorch variant",
            "Serve the ONNX model (fastapi_onnx), or move to Triton.",
        )
        return
    ready = lab.http.get(f"{base}/v2/models/{model}/ready")
    lab.require(ready.status == 200, f"Triton model {model} is not READY (HTTP {ready.status})")
    config = get_json(lab, f"{base}/v2/models/{model}/config", f"{model}'s configuration")
    lab.measure(
        "max_batch_size", config.get("max_batch_size") if isinstance(config, dict) else None
    )
    lab.require(
        isinstance(config, dict) and "dynamic_batching" in config,
        f"{model}'s configuration has no dynamic_batching",
        "Add `dynamic_batching {}` to config.pbtxt and restart Triton.",
    )


@check(title="Latency, one request at a time", depends=[predict_valid], timeout=90)
def latency_c1(lab: Lab, predict_valid: ModelServer) -> ModelServer:
    """Sequential requests: the median and tail latency a single user sees."""
    _load(lab, predict_valid, "c1")
    return predict_valid


@check(
    title="Throughput at concurrency 16, GPUs watched",
    # after latency_c1: both loading one server at once would distort the sequential figures
    depends=[latency_c1, ssh_login],
    vantage="host",
    timeout=120,
)
def throughput_c16(lab: Lab, latency_c1: ModelServer) -> GpuWatch:
    """16 clients at once; nvidia-smi is sampled once a second on the node during the load."""
    window = int(lab.config["gpu"]["window_s"])
    with lab.measuring():  # one slot for both, so the sampling sees this load
        sampler = Background(_sample_quietly, lab, window)
        _load(lab, latency_c1, "c16")
        return sampler.outcome(window + 30)


@check(title="The GPUs were sampled during the load", depends=[throughput_c16])
def gpu_sampled(lab: Lab, throughput_c16: GpuWatch) -> None:
    """nvidia-smi answered during the load, so its utilization can be scored."""
    watch = throughput_c16
    lab.note("GPU sampling during throughput_c16", watch.summary or watch.problem)
    summary = lab.require(watch.summary, watch.problem or "no GPU sample was read")
    for k, v in summary.items():
        lab.measure(k, v)


# --- helpers ----------------------------------------------------------------------------------
def _sample_quietly(lab: Lab, window: int) -> GpuWatch:
    """The sampling beside the load: a failure is kept for gpu_sampled, not raised here."""
    try:
        return GpuWatch(sample_gpus(lab, window))
    except Failure as exc:
        return GpuWatch(None, exc.message)


def _load(lab: Lab, server: ModelServer, level: str) -> None:
    cfg = lab.config["load"]
    base = f"http://{lab.address}:{lab.port('model')}"
    if server.kind == "triton":
        url, body = f"{base}/v2/models/{lab.config['triton_model']}/infer", _triton_body()
    else:
        url, body = f"{base}/predict", {"image": IMAGE}
    result = lab.load(
        url,
        requests=cfg[level]["requests"],
        concurrency=cfg[level]["concurrency"],
        json_body=body,
        warmup=cfg["warmup"],
        timeout_s=cfg["timeout_s"],
        deadline_s=cfg["deadline_s"],
    )
    m = result.measurements()
    for k, v in m.items():
        lab.measure(k, v)
    lab.require(
        result.ok_samples,
        f"none of {result.requests} requests to {url} succeeded "
        f"(first error: {result.first_error()})",
    )


def _fastapi_predict(lab: Lab, base: str) -> tuple[Any, Any]:
    resp = lab.http.post(f"{base}/predict", json={"image": IMAGE})
    lab.require(
        resp.status == 200, f"POST {base}/predict answered HTTP {resp.status}: {resp.text[:120]!r}"
    )
    require_whole(lab, resp)
    try:
        doc = resp.json()
    except ValueError:
        raise Failure(f"POST {base}/predict did not answer JSON: {resp.text[:80]!r}") from None
    lab.require(isinstance(doc, dict), f"POST {base}/predict answered {type(doc).__name__}")
    lab.require("error" not in doc, f"the server answered an error: {str(doc.get('error'))[:120]}")
    problems = schema_problems(doc, "predict")
    lab.require(
        not problems, f"the answer {str(doc)[:120]} does not match the lab's shape: {problems}"
    )
    return doc["prediction"], doc["probability"]


def _triton_body() -> dict[str, Any]:
    return {
        "inputs": [{"name": "INPUT_IMAGE", "shape": [1, 1], "datatype": "BYTES", "data": [IMAGE]}],
        "outputs": [{"name": "FOOD_LABEL"}, {"name": "PROBABILITY"}],
    }


def _triton_predict(lab: Lab, base: str) -> tuple[Any, Any]:
    model = lab.config["triton_model"]
    url = f"{base}/v2/models/{model}/infer"
    resp = lab.http.post(url, json=_triton_body())
    lab.require(resp.status == 200, f"POST {url} answered HTTP {resp.status}: {resp.text[:120]!r}")
    try:
        outputs = {o["name"]: o["data"] for o in resp.json()["outputs"]}
        return _flat(outputs["FOOD_LABEL"]), _flat(outputs["PROBABILITY"])
    except (ValueError, KeyError, TypeError, IndexError):
        raise Failure(
            f"POST {url} did not answer KServe v2 outputs FOOD_LABEL and PROBABILITY: "
            f"{resp.text[:120]!r}"
        ) from None


def _flat(data: Any) -> Any:
    while isinstance(data, list):
        data = data[0]
    return data


course_key = course_key_check(after=server_active)
