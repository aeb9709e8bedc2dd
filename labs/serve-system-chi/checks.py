"""System optimizations for serving: the checks follow the lab's parts.

Launch node-serve-system-<user> on a gpu_p100 node at CHI@TACC; bring up the Flask front end
(port 80) and a model server on port 8000: the lab's `fastapi_server` (PyTorch or ONNX) or its
`triton_server`, serving the model GourmetGram's Flask app asks for (2026 ends with
food_classifier_onnx, dynamic batching on). The answers are judged on the lab's own labelled
image (workspace/test_image.jpeg in the student's clone); the load's figures count only while
a GPU works, and latency is taken where the lab takes it, on the node.

The machinery is in graders/labkit: modelservers.py (which server and model answer, and the
request they take) and latency.py (the load, and whose latency figure counts).
"""

from __future__ import annotations

import base64
import json

from graders.checks import Lab, check
from graders.errors import Failure
from graders.labkit.apis import get_json, page_title
from graders.labkit.chameleon import lease_check, server_check
from graders.labkit.containers import container_brief
from graders.labkit.instances import course_key_check, login_check
from graders.labkit.latency import (
    Loaded,
    agreed_latency,
    grader_load,
    load_watching_gpus,
    node_load,
    require_some,
    round_trip,
)
from graders.labkit.modelservers import (
    LAB_COMMANDS,
    LAB_CONTAINERS,
    OTHER_IMAGE,
    ModelServer,
    Served,
    Target,
    binary_infer,
    docker_view,
    fastapi_predict,
    fixed_tensor,
    flask_predict,
    inside_url,
    is_triton,
    lab_image,
    model_inputs,
    require_answer,
    require_differs,
    served_model,
    tensor_logits,
    triton_image_body,
    triton_predict,
)

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
    if is_triton(lab, base):  # Triton, but not (yet) ready: say so, not "no openapi.json"
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
    seen = lab.shared(docker_view)
    lab.note(
        f"containers publishing port {port}: {', '.join(seen.publishers) or 'none'}",
        {n: container_brief(c) for n, c in seen.publishers.items()},
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
    model = served_model(lab, kind) if kind == "triton" else ""
    if model:
        lab.measure("served_model", model)
    return Served(kind, model_server.api_title, model, inside_url(lab, info, port))


@check(
    title="The model labels the lab's test image correctly",
    depends=[model_server, ssh_login],
    vantage="host",
)
def predict_valid(lab: Lab, model_server: ModelServer) -> Target:
    """The lab's own test_image.jpeg (read from the student's clone over SFTP, checked by its
    sha256) gets the lab's documented answer, Vegetable/Fruit, and a grader-made second input
    gets a different answer: a server that answers without looking at the image fails."""
    image = lab_image(lab)
    want = lab.config["test_image"]["label"]
    base = f"http://{lab.address}:{lab.port('model')}"
    kind = model_server.kind
    served = Served(kind, model_server.api_title, "", "")
    if kind == "fastapi":
        label, prob = fastapi_predict(lab, base, image)
        require_answer(lab, label, prob, want)
        other = fastapi_predict(lab, base, OTHER_IMAGE)
        require_differs(lab, (label, prob), other)
        body = json.dumps({"image": base64.b64encode(image).decode()}).encode()
        return Target(served, "/predict", body, {"Content-Type": "application/json"})
    model = served_model(lab, kind)
    served = Served(kind, "", model, "")
    path = f"/v2/models/{model}/infer"
    inputs = model_inputs(lab, base, model)
    if not isinstance(inputs, tuple):  # food_classifier (python backend): the image bytes, base64
        label, prob = triton_predict(lab, base, model, image)
        require_answer(lab, label, prob, want)
        other = triton_predict(lab, base, model, OTHER_IMAGE)
        require_differs(lab, (label, prob), other)
        body = json.dumps(triton_image_body(image)).encode()
        return Target(served, path, body, {"Content-Type": "application/json"})
    # food_classifier_onnx: a preprocessed tensor. The lab's preprocessing is in its Flask app
    # (gourmetgram's triton_onnx branch), so the test image goes through Flask's /predict, as
    # the lab's own "upload an image" step does; the model itself gets two grader-made tensors.
    name_in, name_out = inputs
    label = flask_predict(lab, image)
    lab.measure("prediction", label[:64])
    lab.require(
        label == want,
        f"GourmetGram's /predict labelled the lab's test image {label[:80]!r}, not {want!r} "
        f"(through Triton's {model})",
    )
    first = tensor_logits(lab, base, model, name_in, name_out, fixed_tensor(0))
    second = tensor_logits(lab, base, model, name_in, name_out, fixed_tensor(7))
    lab.require(
        first != second,
        f"{model} answered the same {len(first)} values for two different tensors: it does not "
        "look at its input",
    )
    body, headers = binary_infer(name_in, name_out, fixed_tensor(3))
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
    result, watch = load_watching_gpus(lab, target, "c16")
    for k, v in result.measurements().items():
        lab.measure(k, v)
    require_some(lab, target, result)
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
    grader = grader_load(lab, target, "c1")
    g = grader.measurements("grader_")
    for k, v in g.items():
        lab.measure(k, v)
    require_some(lab, target, grader)
    rtt = round_trip(lab, target)
    lab.measure("round_trip_ms", rtt)
    node, why = node_load(lab, target)
    n = node.measurements("node_") if node is not None else {}
    for k in ("node_p50_ms", "node_p95_ms", "node_errors"):
        lab.measure(k, n.get(k))
    basis, p50, p95 = agreed_latency(lab, g, rtt, n, why)
    lab.measure("latency_basis", basis)
    lab.measure("p50_ms", p50)
    lab.measure("p95_ms", p95)


course_key = course_key_check(after=server_active)
