"""Which model server answers on the lab's model port, which model it serves, and the request
that model takes: serve-system-chi's FastAPI `/predict` (a base64 JPEG), Triton's
food_classifier (the JPEG's bytes) or food_classifier_onnx (a preprocessed FP32 tensor, sent
as KServe v2 binary data), read from `docker ps`/`docker inspect` on the node and from the
servers' own answers. The lab's figures (its test image, classes, default Triton model) come
from lab.config."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import sys
import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders.checks import Lab
from graders.errors import Failure
from graders.files import schema_problems
from graders.labkit.apis import get_json, require_whole
from graders.labkit.containers import containers, inspect_container, published_ports
from graders.probes.onnxmodel import BENCH

# A second, grader-made image: any model that looks at its input answers it differently from
# the lab's test image (another label, or another probability).
OTHER_IMAGE = (BENCH.parent / "food.jpg").read_bytes()
TENSOR_SHAPE = [1, 3, 224, 224]  # food_classifier_onnx's input: a preprocessed FP32 image
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
class Docker:
    """What `docker ps` and `docker inspect` say on the node (read once per student)."""

    publishers: dict[str, dict[str, Any]]  # containers publishing the model port, inspected
    flask_env: dict[str, str] | None  # the `flask` container's environment (None: none runs)


def is_triton(lab: Lab, base: str) -> bool:
    resp = lab.http.get(f"{base}/v2")
    if resp.status != 200:
        return False
    try:
        doc = resp.json()
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("name") == "triton"


def docker_view(lab: Lab) -> Docker:
    """The containers publishing the model port (inspected) and Flask's environment."""
    port = lab.port("model")
    running = containers(lab)
    publishers = {
        name: inspect_container(lab, name)
        for name, row in running.items()
        if port in published_ports(str(row.get("Ports", "")))
    }
    flask_env = None
    if "flask" in running:
        env = (inspect_container(lab, "flask").get("Config") or {}).get("Env") or []
        flask_env = dict(str(e).partition("=")[::2] for e in env if isinstance(e, str))
    return Docker(publishers, flask_env)


def served_model(lab: Lab, kind: str) -> str:
    """The Triton model the Flask app asks for: its FOOD11_MODEL_NAME, else the lab's default."""
    default = lab.config["triton_model"]
    env = lab.shared(docker_view).flask_env
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


def inside_url(lab: Lab, container: dict[str, Any], port: int) -> str:
    """The server's address on its Docker network (what the lab's Jupyter container uses as
    fastapi_server:8000 or triton_server:8000), else the port published on the node."""
    networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
    for net in networks.values():
        ip = net.get("IPAddress") if isinstance(net, dict) else None
        if isinstance(ip, str) and re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", ip):
            return f"http://{ip}:8000"
    return f"http://127.0.0.1:{port}"


def lab_image(lab: Lab) -> bytes:
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
    accepted = spec["sha256"]  # the real file's first; a test adds its stand-in's
    lab.require(
        digest in accepted,
        f"~/{path} is not the lab's test image ({len(data)} bytes, sha256 {digest[:16]}..., "
        f"expected {spec['bytes']} bytes, {accepted[0][:16]}...)",
        restore,
    )
    return data


def require_answer(lab: Lab, label: Any, prob: Any, want: str) -> None:
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


def require_differs(lab: Lab, first: tuple[Any, Any], second: tuple[Any, Any]) -> None:
    lab.measure("other_prediction", str(second[0])[:64])
    lab.require(
        tuple(first) != tuple(second),
        f"the server answered {first[0]!r} with probability {first[1]!r} for two different "
        "images: it does not look at the image",
    )


def fastapi_predict(lab: Lab, base: str, image: bytes) -> tuple[Any, Any]:
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


def triton_image_body(image: bytes) -> dict[str, Any]:
    b64 = base64.b64encode(image).decode()
    return {
        "inputs": [{"name": "INPUT_IMAGE", "shape": [1, 1], "datatype": "BYTES", "data": [b64]}],
        "outputs": [{"name": "FOOD_LABEL"}, {"name": "PROBABILITY"}],
    }


def triton_predict(lab: Lab, base: str, model: str, image: bytes) -> tuple[Any, Any]:
    url = f"{base}/v2/models/{model}/infer"
    resp = lab.http.post(url, json=triton_image_body(image))
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


def model_inputs(lab: Lab, base: str, model: str) -> str | tuple[str, str]:
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


def fixed_tensor(seed: int) -> bytes:
    """A [1,3,224,224] FP32 tensor, little-endian as KServe's binary data: zeros (seed 0) or a
    fixed pattern in the range a normalized image has."""
    n = math.prod(TENSOR_SHAPE)
    if seed == 0:
        return bytes(4 * n)
    values = array("f", ((((i * seed) % 251) / 125.0) - 1.0 for i in range(n)))
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def binary_infer(name_in: str, name_out: str, tensor: bytes) -> tuple[bytes, dict[str, str]]:
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


def tensor_logits(
    lab: Lab, base: str, model: str, name_in: str, name_out: str, tensor: bytes
) -> list[float]:
    url = f"{base}/v2/models/{model}/infer"
    body, headers = binary_infer(name_in, name_out, tensor)
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


def flask_predict(lab: Lab, image: bytes) -> str:
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
