"""System optimizations for serving: the checks follow the lab's parts.

Launch node-serve-system-<user> on a gpu_p100 node at CHI@TACC; bring up the Flask front end
(port 80) and a model server on port 8000: the lab's `fastapi_server` (PyTorch or ONNX) or its
`triton_server`, serving the model GourmetGram's Flask app asks for (2026 ends with
food_classifier_onnx, dynamic batching on). The answers are judged on the lab's own labelled
image (workspace/test_image.jpeg in the student's clone); the load's figures count only while
a GPU works, and latency is taken where the lab takes it, on the node.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import shlex
import sys
import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders.checks import Lab, check
from graders.errors import Failure
from graders.files import schema_problems
from graders.labkit.apis import get_json, page_title, require_whole
from graders.labkit.chameleon import lease_check, server_check
from graders.labkit.containers import containers, inspect_container
from graders.labkit.gpus import Background, sample_gpus
from graders.labkit.instances import course_key_check, login_check
from graders.probes import loadworker
from graders.probes.load import LoadResult, load_spec, parse_samples
from graders.probes.onnxmodel import BENCH

# A second, grader-made image: any model that looks at its input answers it differently from
# the lab's test image (another label, or another probability).
OTHER_IMAGE = (BENCH.parent / "food.jpg").read_bytes()
TENSOR_SHAPE = [1, 3, 224, 224]  # food_classifier_onnx's input: a preprocessed FP32 image
LOADWORKER = Path(loadworker.__file__)  # copied to the node and run by its python3
REMOTE_WORKER = ".labgrader/loadworker.py"
REMOTE_SPEC = ".labgrader/load_spec.json"
LAB_CONTAINERS = {"triton": "triton_server", "fastapi": "fastapi_server"}
LAB_COMMANDS = {"triton": "tritonserver", "fastapi": "uvicorn"}


@dataclass(frozen=True)
class ModelServer:
    kind: str  # "triton" or "fastapi"
    api_title: str = ""  # FastAPI's OpenAPI title: it names the ONNX variant


@dataclass(frozen=True)
class Served:
    """The lab's container answering on port 8000, and the model its front end asks for."""

    kind: str
    api_title: str
    model: str  # Triton: the model Flask's FOOD11_MODEL_NAME names; FastAPI: ""
    inside_url: str  # the model server as the node reaches it (the lab's Docker network)


@dataclass(frozen=True)
class Target:
    """What the load sends: the request the served model takes, and where it goes."""

    served: Served
    path: str  # e.g. /predict or /v2/models/<model>/infer
    body: bytes = field(repr=False)
    headers: dict[str, str]


@dataclass(frozen=True)
class GpuWatch:
    """What sampling the GPUs during the load read: the summary, or why there is none."""

    summary: dict[str, Any] | None
    problem: str = ""


@dataclass(frozen=True)
class Loaded:
    target: Target
    watch: GpuWatch


@dataclass(frozen=True)
class Docker:
    """What `docker ps` and `docker inspect` say on the node (read once per student)."""

    publishers: dict[str, dict[str, Any]]  # containers publishing the model port, inspected
    flask_env: dict[str, str] | None  # the `flask` container's environment (None: none runs)


lease = lease_check(title="Lease serve_system_<netid> is ACTIVE")

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
    if _is_triton(lab, base):  # Triton, but not (yet) ready: say so, not "no openapi.json"
        raise Failure(
            f"Triton answers on port 8000 but is not ready (/v2/health/ready: HTTP {resp.status})",
            "Look at `docker logs triton_server`: a model that failed to load keeps it unready.",
        )
    doc = get_json(lab, f"{base}/openapi.json", "FastAPI's OpenAPI document")
    title = (doc.get("info") or {}).get("title", "") if isinstance(doc, dict) else ""
    lab.require(
        "/predict" in (doc.get("paths") or {}) if isinstance(doc, dict) else False,
        f"the API on port 8000 ({title or 'untitled'}) has no /predict endpoint",
        "Start the lab's fastapi_server (docker compose -f docker-compose-fastapi.yaml).",
    )
    lab.measure("server_kind", "fastapi")
    return ModelServer("fastapi", title)


@check(
    title="Port 8000 is the lab's fastapi_server or triton_server container",
    depends=[model_server, ssh_login],
    vantage="host",
)
def model_container(lab: Lab, model_server: ModelServer) -> Served:
    """`docker ps`: the container publishing port 8000 is the one the lab's compose file
    starts (fastapi_server running uvicorn, or triton_server running tritonserver), not some
    other process; for Triton, `docker inspect flask` names the model the front end uses."""
    kind, port = model_server.kind, lab.port("model")
    want = LAB_CONTAINERS[kind]
    seen = lab.shared(_docker)
    lab.note(
        f"containers publishing port {port}: {', '.join(seen.publishers) or 'none'}",
        {n: _brief(c) for n, c in seen.publishers.items()},
    )
    compose = "docker-compose-triton.yaml" if kind == "triton" else "docker-compose-fastapi.yaml"
    lab.require(
        want in seen.publishers,
        f"port {port} is not published by the lab's {want} container (published by: "
        f"{', '.join(seen.publishers) or 'no container'}); what answers there is not the "
        "server the lab builds",
        f"Bring the server up with the lab's compose file ({compose}).",
    )
    info = seen.publishers[want]
    config = info.get("Config") or {}
    command = " ".join(str(x) for x in (config.get("Entrypoint") or []) + (config.get("Cmd") or []))
    lab.require(
        LAB_COMMANDS[kind] in command,
        f"the {want} container runs {command[:120]!r}, not {LAB_COMMANDS[kind]}",
        f"Rebuild it with the lab's compose file ({compose}).",
    )
    model = _served_model(lab, kind) if kind == "triton" else ""
    if model:
        lab.measure("served_model", model)
    return Served(kind, model_server.api_title, model, _inside_url(lab, info, port))


@check(
    title="The model labels the lab's test image correctly",
    depends=[model_server, ssh_login],
    vantage="host",
)
def predict_valid(lab: Lab, model_server: ModelServer) -> Target:
    """The lab's own test_image.jpeg (read from the student's clone over SFTP, checked by its
    sha256) gets the lab's documented answer, Vegetable/Fruit, and a grader-made second input
    gets a different answer: a server that answers without looking at the image fails."""
    image = _lab_image(lab)
    want = lab.config["test_image"]["label"]
    base = f"http://{lab.address}:{lab.port('model')}"
    kind = model_server.kind
    served = Served(kind, model_server.api_title, "", "")
    if kind == "fastapi":
        label, prob = _fastapi_predict(lab, base, image)
        _require_answer(lab, label, prob, want)
        other = _fastapi_predict(lab, base, OTHER_IMAGE)
        _require_differs(lab, (label, prob), other)
        body = json.dumps({"image": base64.b64encode(image).decode()}).encode()
        return Target(served, "/predict", body, {"Content-Type": "application/json"})
    model = _served_model(lab, kind)
    served = Served(kind, "", model, "")
    path = f"/v2/models/{model}/infer"
    inputs = _model_inputs(lab, base, model)
    if not isinstance(inputs, tuple):  # food_classifier (python backend): the image bytes, base64
        label, prob = _triton_predict(lab, base, model, image)
        _require_answer(lab, label, prob, want)
        other = _triton_predict(lab, base, model, OTHER_IMAGE)
        _require_differs(lab, (label, prob), other)
        body = json.dumps(_triton_image_body(image)).encode()
        return Target(served, path, body, {"Content-Type": "application/json"})
    # food_classifier_onnx: a preprocessed tensor. The lab's preprocessing is in its Flask app
    # (gourmetgram's triton_onnx branch), so the test image goes through Flask's /predict, as
    # the lab's own "upload an image" step does; the model itself gets two grader-made tensors.
    name_in, name_out = inputs
    label = _flask_predict(lab, image)
    lab.measure("prediction", label[:64])
    lab.require(
        label == want,
        f"GourmetGram's /predict labelled the lab's test image {label[:80]!r}, not {want!r} "
        f"(through Triton's {model})",
    )
    first = _tensor_logits(lab, base, model, name_in, name_out, _tensor(0))
    second = _tensor_logits(lab, base, model, name_in, name_out, _tensor(7))
    lab.require(
        first != second,
        f"{model} answered the same {len(first)} values for two different tensors: it does not "
        "look at its input",
    )
    body, headers = _binary_infer(name_in, name_out, _tensor(3))
    return Target(served, path, body, headers)


@check(title="The serving stack is optimized", depends=[model_container])
def serving_optimized(lab: Lab, model_container: Served) -> None:
    """Triton: the model Flask serves is READY with dynamic batching on (2026:
    food_classifier_onnx). FastAPI: the ONNX variant."""
    served = model_container
    if served.kind == "fastapi":
        title = served.api_title
        lab.note(f"FastAPI's OpenAPI title, as model_server read it: {title!r}")
        lab.require(
            "ONNX" in title,
            f"the FastAPI server is {title!r}, the PyTorch variant",
            "Serve the ONNX model (fastapi_onnx), or move to Triton.",
        )
        return
    base = f"http://{lab.address}:{lab.port('model')}"
    model = served.model
    ready = lab.http.get(f"{base}/v2/models/{model}/ready")
    lab.require(ready.status == 200, f"Triton model {model} is not READY (HTTP {ready.status})")
    config = get_json(lab, f"{base}/v2/models/{model}/config", f"{model}'s configuration")
    if isinstance(config, dict):
        lab.measure("max_batch_size", config.get("max_batch_size"))
        groups = config.get("instance_group")
        if isinstance(groups, list):
            counts = [g.get("count") for g in groups if isinstance(g, dict)]
            lab.measure("instances", sum(c for c in counts if isinstance(c, int)))
    lab.require(
        isinstance(config, dict) and "dynamic_batching" in config,
        f"{model}, the model GourmetGram's Flask app uses, has no dynamic_batching",
        f"Add `dynamic_batching {{ ... }}` to models/{model}/config.pbtxt, rebuild and restart "
        "triton_server.",
    )


@check(
    title="Throughput at concurrency 16, a GPU working",
    depends=[predict_valid, model_container],
    vantage="host",
    timeout=120,
)
def throughput_c16(lab: Lab, predict_valid: Target, model_container: Served) -> Loaded:
    """16 clients at once from the grader; nvidia-smi is sampled once a second on the node
    meanwhile, and the figures count only if a GPU worked: answers without a model on the GPU
    are not the lab's."""
    target = Target(model_container, predict_valid.path, predict_valid.body, predict_valid.headers)
    window = int(lab.config["gpu"]["window_s"])
    with lab.measuring():  # one slot for both, so the sampling sees this load
        sampler = Background(_sample_quietly, lab, window)
        result = _grader_load(lab, target, "c16")
        watch: GpuWatch = sampler.outcome(window + 30)
    for k, v in result.measurements().items():
        lab.measure(k, v)
    _require_some(lab, target, result)
    busy_util = lab.config["gpu"].get("busy_util", 10)
    summary = lab.require(
        watch.summary,
        f"the GPUs could not be read during the load ({watch.problem or 'no sample'}), so "
        "nothing shows the answers came from a model on the GPU",
        "The lab serves on the node's GPUs: nvidia-smi must work there.",
    )
    lab.require(
        int(summary.get("gpus_busy") or 0) >= 1,
        f"no GPU reached {busy_util}% utilization while the server answered "
        f"{len(result.ok_samples)} requests: the answers did not come from a model on the GPU",
        "Serve the lab's model on the GPU (the compose files reserve the GPUs for it).",
    )
    return Loaded(target, watch)


@check(title="The GPUs were sampled during the load", depends=[throughput_c16])
def gpu_sampled(lab: Lab, throughput_c16: Loaded) -> None:
    """nvidia-smi answered during the load, so its utilization can be scored."""
    watch = throughput_c16.watch
    lab.note("GPU sampling during throughput_c16", watch.summary or watch.problem)
    summary = lab.require(watch.summary, watch.problem or "no GPU sample was read")
    for k, v in summary.items():
        lab.measure(k, v)


@check(
    title="Latency, one request at a time, as the lab measures it",
    # after throughput_c16: gated on its GPU activity, and never loading the server alongside
    depends=[throughput_c16],
    vantage="host",
    timeout=240,
)
def latency_c1(lab: Lab, throughput_c16: Loaded) -> None:
    """Sequential requests, timed on the node against the server's Docker-network address
    (where the lab's benchmarks run) and from the grader. The node's figure is scored when
    it agrees with the grader's own: not below the grader's figure less the round trip it
    measures to the host (by more than a tolerance), not above its end-to-end figure;
    otherwise the grader's figure less that round trip is."""
    target = throughput_c16.target
    cfg = lab.config["load"]
    grader = _grader_load(lab, target, "c1")
    g = grader.measurements("grader_")
    for k, v in g.items():
        lab.measure(k, v)
    _require_some(lab, target, grader)
    rtt = _round_trip(lab, target)
    lab.measure("round_trip_ms", rtt)
    node, why = _node_load(lab, target)
    n = node.measurements("node_") if node is not None else {}
    for k in ("node_p50_ms", "node_p95_ms", "node_errors"):
        lab.measure(k, n.get(k))
    end50 = float(g["grader_p50_ms"] or 0)
    net50 = max(0.0, end50 - rtt)
    net95 = max(0.0, float(g["grader_p95_ms"] or 0) - rtt)
    node50, node95 = n.get("node_p50_ms"), n.get("node_p95_ms")
    # An honest node's median lies between the grader's figure less the round trip (that
    # round trip includes the server reading the request, which the node's figure keeps) and
    # the grader's end-to-end figure. A lower one claims a faster server than the grader saw.
    tolerance = max(float(cfg["agree_ms"]), float(cfg["agree_fraction"]) * net50)
    low, high = net50 - tolerance, end50 + tolerance
    if node50 is not None and node95 is not None and low <= node50 <= high:
        basis, p50, p95 = "node", node50, node95
        lab.note(
            f"scored the node's figures: p50 {node50} ms on the node; from the grader "
            f"{end50} ms end to end, {net50:.3f} ms less its {rtt} ms round trip (agreeing: "
            f"{low:.1f}..{high:.1f} ms)"
        )
    else:
        basis, p50, p95 = "grader", round(net50, 3), round(net95, 3)
        lab.note(
            f"scored the grader's own figures (p50 {end50} ms end to end, less its {rtt} ms "
            f"round trip: {p50} ms); the node's "
            + (
                f"p50 of {node50} ms is outside {low:.1f}..{high:.1f} ms"
                if node50 is not None
                else f"timing did not count ({why})"
            )
        )
    lab.measure("latency_basis", basis)
    lab.measure("p50_ms", p50)
    lab.measure("p95_ms", p95)


# --- helpers ----------------------------------------------------------------------------------
def _is_triton(lab: Lab, base: str) -> bool:
    resp = lab.http.get(f"{base}/v2")
    if resp.status != 200:
        return False
    try:
        doc = resp.json()
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("name") == "triton"


def _docker(lab: Lab) -> Docker:
    """The containers publishing the model port (inspected) and Flask's environment."""
    port = lab.port("model")
    running = containers(lab)
    publishers = {
        name: inspect_container(lab, name)
        for name, row in running.items()
        if port in _published(str(row.get("Ports", "")))
    }
    flask_env = None
    if "flask" in running:
        env = (inspect_container(lab, "flask").get("Config") or {}).get("Env") or []
        flask_env = dict(str(e).partition("=")[::2] for e in env if isinstance(e, str))
    return Docker(publishers, flask_env)


def _published(ports: str) -> set[int]:
    """Host ports in `docker ps`'s PORTS column, e.g. "0.0.0.0:8000-8002->8000-8002/tcp,
    :::8000-8002->8000-8002/tcp" (docker joins consecutive ports into a range)."""
    found: set[int] = set()
    for lo, hi in re.findall(r":(\d{1,5})(?:-(\d{1,5}))?->[\d-]+/tcp", ports):
        first = int(lo)
        last = int(hi) if hi else first
        if last - first <= 65535:
            found.update(range(first, last + 1))
    return found


def _served_model(lab: Lab, kind: str) -> str:
    """The Triton model the Flask app asks for: its FOOD11_MODEL_NAME, else the lab's default."""
    default = lab.config["triton_model"]
    env = lab.shared(_docker).flask_env
    name = (env or {}).get("FOOD11_MODEL_NAME", "").strip()
    if not name:
        lab.note(
            f"no FOOD11_MODEL_NAME in the flask container's environment "
            f"({'no flask container runs' if env is None else 'not set'}): judging {default}"
        )
        return default
    lab.require(
        re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name),
        f"Flask's FOOD11_MODEL_NAME {name[:80]!r} is no Triton model name",
    )
    lab.note(f"GourmetGram's Flask app serves Triton model {name} (FOOD11_MODEL_NAME)")
    return name


def _brief(container: dict[str, Any]) -> dict[str, Any]:
    config = container.get("Config") or {}
    return {
        "Image": config.get("Image"),
        "Cmd": config.get("Cmd"),
        "Entrypoint": config.get("Entrypoint"),
        "Labels": {k: v for k, v in (config.get("Labels") or {}).items() if "compose" in k},
    }


def _inside_url(lab: Lab, container: dict[str, Any], port: int) -> str:
    """The server's address on its Docker network (what the lab's Jupyter container uses as
    fastapi_server:8000 or triton_server:8000), else the port published on the node."""
    networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
    for net in networks.values():
        ip = net.get("IPAddress") if isinstance(net, dict) else None
        if isinstance(ip, str) and re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", ip):
            return f"http://{ip}:8000"
    return f"http://127.0.0.1:{port}"


def _lab_image(lab: Lab) -> bytes:
    """The lab's test_image.jpeg from the student's clone, size-capped and hash-checked."""
    spec = lab.config["test_image"]
    path = spec["path"]
    restore = f"Restore it: git -C ~/serve-system-chi checkout -- {path.split('/', 1)[1]}"
    with tempfile.TemporaryDirectory(prefix="labgrader-img-") as tmp:
        local = Path(tmp) / "test_image.jpeg"
        try:
            lab.fetch(path, str(local), max_bytes=1 << 20)
        except Failure as exc:
            raise Failure(
                f"the lab's test image ~/{path} could not be read ({exc.message}): the grader "
                "judges predictions on it",
                restore,
            ) from None
        data = local.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    lab.measure("test_image_sha256", digest[:16])
    lab.require(
        digest == spec["sha256"],
        f"~/{path} is not the lab's test image ({len(data)} bytes, sha256 {digest[:16]}..., "
        f"expected {spec['bytes']} bytes, {spec['sha256'][:16]}...)",
        restore,
    )
    return data


def _require_answer(lab: Lab, label: Any, prob: Any, want: str) -> None:
    lab.measure("prediction", str(label)[:64])
    lab.measure("probability", prob if isinstance(prob, int | float) else None)
    lab.require(
        label in lab.config["classes"], f"the prediction {str(label)[:80]!r} is not a Food-11 class"
    )
    lab.require(
        isinstance(prob, int | float)
        and not isinstance(prob, bool)
        and 0 <= prob <= 1
        and not math.isnan(prob),
        f"the probability {prob!r} is not a number between 0 and 1",
    )
    lab.require(
        label == want,
        f"the lab's test image was labelled {label!r}; the lab's model labels it {want!r}",
        "Serve the lab's model (food11.pth / food11.onnx / model.onnx) unchanged.",
    )


def _require_differs(lab: Lab, first: tuple[Any, Any], second: tuple[Any, Any]) -> None:
    lab.measure("other_prediction", str(second[0])[:64])
    lab.require(
        tuple(first) != tuple(second),
        f"the server answered {first[0]!r} with probability {first[1]!r} for two different "
        "images: it does not look at the image",
    )


def _fastapi_predict(lab: Lab, base: str, image: bytes) -> tuple[Any, Any]:
    b64 = base64.b64encode(image).decode()
    resp = lab.http.post(f"{base}/predict", json={"image": b64})
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


def _triton_image_body(image: bytes) -> dict[str, Any]:
    b64 = base64.b64encode(image).decode()
    return {
        "inputs": [{"name": "INPUT_IMAGE", "shape": [1, 1], "datatype": "BYTES", "data": [b64]}],
        "outputs": [{"name": "FOOD_LABEL"}, {"name": "PROBABILITY"}],
    }


def _triton_predict(lab: Lab, base: str, model: str, image: bytes) -> tuple[Any, Any]:
    url = f"{base}/v2/models/{model}/infer"
    resp = lab.http.post(url, json=_triton_image_body(image))
    lab.require(resp.status == 200, f"POST {url} answered HTTP {resp.status}: {resp.text[:120]!r}")
    require_whole(lab, resp)
    try:
        outputs = {o["name"]: o["data"] for o in resp.json()["outputs"]}
        return _flat(outputs["FOOD_LABEL"]), _flat(outputs["PROBABILITY"])
    except (ValueError, KeyError, TypeError, IndexError):
        raise Failure(
            f"POST {url} did not answer KServe v2 outputs FOOD_LABEL and PROBABILITY: "
            f"{resp.text[:120]!r}"
        ) from None


def _model_inputs(lab: Lab, base: str, model: str) -> str | tuple[str, str]:
    """`image` for a model that takes the JPEG's bytes (food_classifier), or the input and
    output names of one that takes a preprocessed [N,3,224,224] FP32 tensor (the ONNX one)."""
    meta = get_json(lab, f"{base}/v2/models/{model}", f"Triton model {model}'s metadata")
    ins = meta.get("inputs") if isinstance(meta, dict) else None
    outs = meta.get("outputs") if isinstance(meta, dict) else None
    lab.require(
        isinstance(ins, list) and ins and isinstance(outs, list) and outs,
        f"Triton model {model} (the one Flask serves) lists no inputs and outputs: {meta!r:.160}",
    )
    assert isinstance(ins, list) and isinstance(outs, list)
    first, out = ins[0], outs[0]
    if not (isinstance(first, dict) and isinstance(out, dict)):
        raise Failure(f"Triton model {model}'s metadata is malformed: {meta!r:.160}")
    if len(ins) == 1 and first.get("datatype") == "BYTES":
        return "image"
    shape = first.get("shape")
    if (
        len(ins) == 1
        and first.get("datatype") == "FP32"
        and isinstance(shape, list)
        and shape[-3:] == TENSOR_SHAPE[1:]
    ):
        return str(first.get("name")), str(out.get("name"))
    raise Failure(
        f"Triton model {model} takes {json.dumps(ins)[:160]}: neither the lab's image input "
        "(food_classifier) nor its [3,224,224] FP32 tensor (food_classifier_onnx)"
    )


def _tensor(seed: int) -> bytes:
    """A [1,3,224,224] FP32 tensor, little-endian as KServe's binary data: zeros (seed 0) or a
    fixed pattern in the range a normalized image has."""
    n = math.prod(TENSOR_SHAPE)
    if seed == 0:
        return bytes(4 * n)
    values = array("f", ((((i * seed) % 251) / 125.0) - 1.0 for i in range(n)))
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def _binary_infer(name_in: str, name_out: str, tensor: bytes) -> tuple[bytes, dict[str, str]]:
    """A KServe v2 request with the tensor as binary data (as tritonclient sends it): a JSON
    header, then the raw bytes; the output asked for as JSON."""
    header = {
        "inputs": [
            {
                "name": name_in,
                "shape": TENSOR_SHAPE,
                "datatype": "FP32",
                "parameters": {"binary_data_size": len(tensor)},
            }
        ],
        "outputs": [{"name": name_out, "parameters": {"binary_data": False}}],
    }
    head = json.dumps(header).encode()
    return head + tensor, {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(head)),
    }


def _tensor_logits(
    lab: Lab, base: str, model: str, name_in: str, name_out: str, tensor: bytes
) -> list[float]:
    url = f"{base}/v2/models/{model}/infer"
    body, headers = _binary_infer(name_in, name_out, tensor)
    resp = lab.http.post(url, data=body, headers=headers)
    lab.require(resp.status == 200, f"POST {url} answered HTTP {resp.status}: {resp.text[:120]!r}")
    require_whole(lab, resp)
    try:
        outputs = {o["name"]: o["data"] for o in resp.json()["outputs"]}
        data = outputs[name_out]
        while data and isinstance(data[0], list):
            data = [x for row in data for x in row]
        values = [float(x) for x in data]
    except (ValueError, KeyError, TypeError, IndexError):
        raise Failure(
            f"POST {url} did not answer the output {name_out!r}: {resp.text[:120]!r}"
        ) from None
    classes = len(lab.config["classes"])
    lab.require(
        len(values) == classes and all(math.isfinite(v) for v in values),
        f"{model} answered {len(values)} values for one image, not {classes} finite class scores",
    )
    return values


def _flask_predict(lab: Lab, image: bytes) -> str:
    """GourmetGram's upload (POST /predict, the form's `file`): the label its button shows.
    The app saves uploads under their own name in instance/uploads/, where its /test route's
    test_image.jpeg lives: the grader's upload has a name of its own."""
    url = f"http://{lab.address}:{lab.port('http')}/predict"
    upload = ("labgrader_test_image.jpeg", image, "image/jpeg")
    resp = lab.http.post(url, files={"file": upload})
    lab.require(resp.status == 200, f"POST {url} answered HTTP {resp.status}: {resp.text[:120]!r}")
    require_whole(lab, resp)
    found = re.search(r"<button[^>]*>([^<]{1,80})</button>", resp.text)
    lab.require(
        found,
        f"GourmetGram's /predict showed no label for the lab's test image: {resp.text[:120]!r}",
        "Check `docker logs flask`: the app prints why Triton's answer failed.",
    )
    assert found is not None
    return found.group(1).strip()


def _flat(data: Any) -> Any:
    while isinstance(data, list):
        data = data[0]
    return data


def _sample_quietly(lab: Lab, window: int) -> GpuWatch:
    """The sampling beside the load: a failure is kept for the checks, not raised here."""
    try:
        return GpuWatch(sample_gpus(lab, window))
    except Failure as exc:
        return GpuWatch(None, exc.message)


def _load_options(lab: Lab, target: Target, level: str) -> dict[str, Any]:
    cfg = lab.config["load"]
    return {
        "requests": cfg[level]["requests"],
        "concurrency": cfg[level]["concurrency"],
        "body": target.body,
        "headers": target.headers,
        "warmup": cfg["warmup"],
        "timeout_s": cfg["timeout_s"],
        "deadline_s": cfg["deadline_s"],
    }


def _grader_load(lab: Lab, target: Target, level: str) -> LoadResult:
    url = f"http://{lab.address}:{lab.port('model')}{target.path}"
    return lab.load(url, **_load_options(lab, target, level))


def _require_some(lab: Lab, target: Target, result: LoadResult) -> None:
    lab.require(
        result.ok_samples,
        f"none of {result.requests} requests to port {lab.port('model')}{target.path} "
        f"succeeded (first error: {result.first_error()})",
    )


def _round_trip(lab: Lab, target: Target) -> float:
    """The grader's round trip to the host for this request: the same bytes with the first
    one spoiled, which the server reads whole and refuses without running the model; the
    median over a few (0 when none was answered: the end-to-end figure stands)."""
    cfg = lab.config["load"]
    url = f"http://{lab.address}:{lab.port('model')}{target.path}"
    result = lab.load(
        url,
        requests=int(cfg["round_trip_requests"]),
        concurrency=1,
        body=b"x" + target.body[1:],
        headers=target.headers,
        warmup=2,
        timeout_s=cfg["timeout_s"],
        deadline_s=min(30, cfg["deadline_s"]),
    )
    answered = sorted(s[2] for s in result.samples if s[3] and not s[5])
    return round(answered[len(answered) // 2], 3) if answered else 0.0


def _node_load(lab: Lab, target: Target) -> tuple[LoadResult | None, str]:
    """The same sequential requests timed on the node with the grader's own worker
    (graders/probes/loadworker.py, run by the node's python3): the samples, or why none."""
    served = target.served
    url = f"{served.inside_url}{target.path}"
    spec = load_spec(url, **_load_options(lab, target, "c1"))
    limit = float(spec["deadline_s"]) + float(spec["timeout_s"]) + 20
    lab.put(LOADWORKER.read_text(), REMOTE_WORKER)
    lab.put(json.dumps(spec), REMOTE_SPEC)
    with lab.measuring():
        result = lab.run(
            f"python3 {shlex.quote(REMOTE_WORKER)} < {shlex.quote(REMOTE_SPEC)}",
            timeout=limit,
            max_bytes=1 << 20,
        )
    if not result.ok:
        return None, f"python3 on the node exited {result.exited}: {result.stderr.strip()[-160:]}"
    parsed = parse_samples(result.stdout, spec)
    if parsed is None:
        return None, "the node's worker printed no valid samples"
    if not parsed.ok_samples:
        return None, f"none of the node's requests to {url} succeeded ({parsed.first_error()})"
    lab.note(f"timed on the node against {url}", parsed.sample_table()[:4000])
    return parsed, ""


course_key = course_key_check(after=server_active)
