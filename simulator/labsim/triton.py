"""A Triton Inference Server 24.10 (2.51.0) stand-in for serve-system-chi's `food_classifier`
(python backend, `max_batch_size 16`, input INPUT_IMAGE TYPE_STRING dims [1], outputs
FOOD_LABEL TYPE_STRING and PROBABILITY FP32), speaking the KServe v2 HTTP/REST protocol as
Triton does: health, server and model metadata, model config (with `dynamic_batching` when the
student enabled it), statistics, the repository index, JSON inference, and Prometheus metrics
on the metrics port. Errors are Triton's `{"error": "..."}` with status 400 (500 when the
model's `execute` fails). Inference is simulated like the FastAPI server's (modelserver.py):
the host's single model instance queues requests and, with dynamic batching, runs whatever
has queued (up to 16) as one batch.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .modelserver import HostModel, Receive, Scope, Send, classify, decode_image

MODEL = "food_classifier"
VERSION = "2.51.0"
EXTENSIONS = [
    "classification",
    "sequence",
    "model_repository",
    "model_repository(unload_dependents)",
    "schedule_policy",
    "model_configuration",
    "system_shared_memory",
    "cuda_shared_memory",
    "binary_tensor_data",
    "parameters",
    "statistics",
    "trace",
    "logging",
]
INPUTS = {"INPUT_IMAGE": "BYTES"}
OUTPUTS = {"FOOD_LABEL": "BYTES", "PROBABILITY": "FP32"}


def metadata() -> dict[str, Any]:
    return {
        "name": MODEL,
        "versions": ["1"],
        "platform": "python",
        "inputs": [{"name": "INPUT_IMAGE", "datatype": "BYTES", "shape": [-1, 1]}],
        "outputs": [
            {"name": "FOOD_LABEL", "datatype": "BYTES", "shape": [-1, 1]},
            {"name": "PROBABILITY", "datatype": "FP32", "shape": [-1, 1]},
        ],
    }


def config(host: HostModel) -> dict[str, Any]:
    def io(name: str, dtype: str, output: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": name, "data_type": dtype}
        if not output:
            entry |= {"format": "FORMAT_NONE", "dims": [1], "is_shape_tensor": False}
            entry |= {"allow_ragged_batch": False, "optional": False}
        else:
            entry |= {"dims": [1], "label_filename": "", "is_shape_tensor": False}
        entry["is_non_linear_format_io"] = False
        return entry

    body: dict[str, Any] = {
        "name": MODEL,
        "platform": "",
        "backend": "python",
        "runtime": "",
        "version_policy": {"latest": {"num_versions": 1}},
        "max_batch_size": host.max_batch,
        "input": [io("INPUT_IMAGE", "TYPE_STRING", False)],
        "output": [io("FOOD_LABEL", "TYPE_STRING", True), io("PROBABILITY", "TYPE_FP32", True)],
        "batch_input": [],
        "batch_output": [],
        "optimization": {
            "priority": "PRIORITY_DEFAULT",
            "input_pinned_memory": {"enable": True},
            "output_pinned_memory": {"enable": True},
            "gather_kernel_buffer_threshold": 0,
            "eager_batching": False,
        },
    }
    if host.dynamic_batching:
        body["dynamic_batching"] = {
            "preferred_batch_size": [],
            "max_queue_delay_microseconds": 0,
            "preserve_ordering": False,
            "priority_levels": 0,
            "default_priority_level": 0,
            "priority_queue_policy": {},
        }
    body |= {
        "instance_group": [
            {
                "name": f"{MODEL}_0",
                "kind": "KIND_GPU",
                "count": 1,
                "gpus": [0],
                "secondary_devices": [],
                "profile": [],
                "passive": False,
                "host_policy": "",
            }
        ],
        "default_model_filename": "model.py",
        "cc_model_filenames": {},
        "metric_tags": {},
        "parameters": {},
        "model_warmup": [],
    }
    return body


async def _body(receive: Receive, limit: int = 64 << 20) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _reply(send: Send, status: int, body: Any = None, ctype: bytes = b"application/json"):
    data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    headers = [(b"content-length", str(len(data)).encode())]
    if body is not None:
        headers.insert(0, (b"content-type", ctype))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _error(message: str) -> dict[str, str]:
    return {"error": message}


class _Stats:
    def __init__(self) -> None:
        self.success = self.fail = 0
        self.success_ns = 0
        self.last_ms = 0


class _BadRequest(Exception):
    """A request Triton refuses: answered 400 with Triton's message."""


def _unknown_model(name: str, version: str | None = None) -> str:
    at = "" if version is None else f" version {version}"
    return f"Request for unknown model: '{name}'{at} is not found"


def triton_app(host: HostModel) -> TritonApp:
    return TritonApp(host)


class TritonApp:
    """The ASGI app of one host's Triton: routes, model metadata, inference."""

    def __init__(self, host: HostModel) -> None:
        self.host = host
        self.stats = _Stats()
        host.extra = self.stats  # read by the metrics app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"].rstrip("/")
        body = await _body(receive)
        if method in ("GET", "HEAD"):
            if path in ("/v2/health/live", "/v2/health/ready"):
                return await _reply(send, 200)
            if path == "/v2":
                return await _reply(
                    send, 200, {"name": "triton", "version": VERSION, "extensions": EXTENSIONS}
                )
            if path.startswith("/v2/models/"):
                return await self._model_get(path.removeprefix("/v2/models/"), send)
        if method == "POST":
            if path == "/v2/repository/index":
                return await _reply(send, 200, [{"name": MODEL, "version": "1", "state": "READY"}])
            if path in (f"/v2/models/{MODEL}/infer", f"/v2/models/{MODEL}/versions/1/infer"):
                return await self._infer(body, send)
            if path.startswith("/v2/models/") and path.endswith("/infer"):
                name = path.removeprefix("/v2/models/").split("/")[0]
                return await _reply(send, 400, _error(_unknown_model(name)))
        await _reply(send, 400, _error("Not Found"))

    async def _model_get(self, rest: str, send: Send) -> None:
        """GET /v2/models/<name>[/versions/1][/ready|/config|/stats]."""
        name, *tail = rest.split("/")
        if name != MODEL:
            return await _reply(send, 400, _error(_unknown_model(name)))
        if tail[:1] == ["versions"]:
            if tail[1:2] != ["1"]:
                version = tail[1] if len(tail) > 1 else ""
                return await _reply(send, 400, _error(_unknown_model(name, version)))
            tail = tail[2:]
        if not tail:
            return await _reply(send, 200, metadata())
        if tail == ["ready"]:
            return await _reply(send, 200)
        if tail == ["config"]:
            return await _reply(send, 200, config(self.host))
        if tail == ["stats"]:
            return await _reply(send, 200, self._statistics())
        await _reply(send, 400, _error("Not Found"))

    def _statistics(self) -> dict[str, Any]:
        stats, host = self.stats, self.host
        per = stats.success_ns // max(stats.success, 1)
        return {
            "model_stats": [
                {
                    "name": MODEL,
                    "version": "1",
                    "last_inference": stats.last_ms,
                    "inference_count": host.served,
                    "execution_count": host.batches,
                    "inference_stats": {
                        "success": {"count": stats.success, "ns": stats.success_ns},
                        "fail": {"count": stats.fail, "ns": 0},
                        "queue": {"count": stats.success, "ns": stats.success_ns // 4},
                        "compute_input": {"count": stats.success, "ns": per // 20},
                        "compute_infer": {"count": stats.success, "ns": stats.success_ns // 2},
                        "compute_output": {"count": stats.success, "ns": per // 50},
                        "cache_hit": {"count": 0, "ns": 0},
                        "cache_miss": {"count": 0, "ns": 0},
                    },
                    "batch_stats": [],
                    "memory_usage": [],
                }
            ]
        }

    async def _infer(self, raw: bytes, send: Send) -> None:
        """POST .../infer: check the request as Triton does, queue for the model instance,
        classify each image; a failing image fails the whole request (500)."""
        rid = "<id_unknown>"
        try:
            request = _request(raw)
            if isinstance(request.get("id"), str):
                rid = request["id"]
            images = self._images(request, rid)
            wanted = _outputs(request, rid)
        except _BadRequest as bad:
            return await _reply(send, 400, _error(str(bad)))
        started = time.perf_counter_ns()
        await self.host.infer()
        results = []
        for b64 in images:
            try:
                image = decode_image(str(b64))
            except Exception as exc:  # noqa: BLE001 - model.py's execute raised
                self.stats.fail += 1
                message = (
                    f"Failed to process the request(s) for model '{MODEL}_0_0', message: "
                    f"{type(exc).__name__}: {exc}"
                )
                return await _reply(send, 500, _error(message))
            results.append(classify(image))
        self.stats.success += 1
        self.stats.success_ns += time.perf_counter_ns() - started
        self.stats.last_ms = int(time.time() * 1000)
        outputs = []
        for name in wanted or list(OUTPUTS):
            data = [label if name == "FOOD_LABEL" else p for label, p in results]
            shape = [len(images), 1]
            outputs.append({"name": name, "datatype": OUTPUTS[name], "shape": shape, "data": data})
        answer: dict[str, Any] = {"model_name": MODEL, "model_version": "1", "outputs": outputs}
        if rid != "<id_unknown>":
            answer = {"id": rid, **answer}
        await _reply(send, 200, answer)

    def _images(self, request: dict[str, Any], rid: str) -> list[Any]:
        """The INPUT_IMAGE tensor's elements, each input checked as Triton checks it."""
        images = None
        for item in request["inputs"]:
            name = item.get("name") if isinstance(item, dict) else None
            if name not in INPUTS:
                raise _BadRequest(
                    f"[request id: {rid}] unexpected inference input '{name}' for model '{MODEL}'"
                )
            if item.get("datatype") != "BYTES":
                raise _BadRequest(
                    f"[request id: {rid}] inference input '{name}' data-type is "
                    f"'{item.get('datatype')}', but model '{MODEL}' expects 'BYTES'"
                )
            shape = item.get("shape")
            if (
                not isinstance(shape, list)
                or len(shape) != 2
                or shape[1] != 1
                or not isinstance(shape[0], int)
                or not 1 <= shape[0] <= self.host.max_batch
            ):
                raise _BadRequest(
                    f"[request id: {rid}] unexpected shape for input '{name}' for model "
                    f"'{MODEL}'. Expected [-1,1], got {json.dumps(shape, separators=(',', ':'))}. "
                )
            data = item.get("data")
            if isinstance(data, list) and data and isinstance(data[0], list):
                data = [x for row in data for x in row]
            if not isinstance(data, list) or len(data) != shape[0]:
                raise _BadRequest(
                    f"[request id: {rid}] unexpected number of string elements {len(data or [])}"
                    f" for inference input '{name}', expecting {shape[0]}"
                )
            images = data
        if images is None:
            raise _BadRequest(
                f"[request id: {rid}] expected 1 inputs but got 0 inputs for model '{MODEL}'"
            )
        return images


def _request(raw: bytes) -> dict[str, Any]:
    """The request's JSON object, with a list of inputs."""
    try:
        request = json.loads(raw or b"null")
    except ValueError:
        raise _BadRequest("failed to parse the request JSON buffer: Invalid value. at 0") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise _BadRequest("Unable to parse 'inputs': attempt to access JSON non-object")
    return request


def _outputs(request: dict[str, Any], rid: str) -> list[Any]:
    """The outputs asked for by name (none: all of them)."""
    wanted = [o.get("name") for o in request.get("outputs") or [] if isinstance(o, dict)]
    for name in wanted:
        if name not in OUTPUTS:
            raise _BadRequest(
                f"[request id: {rid}] unexpected inference output '{name}' for model '{MODEL}'"
            )
    return wanted


def triton_metrics_app(host: HostModel):
    """Triton's Prometheus endpoint (port 8002): the inference counters of food_classifier."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await _body(receive)
        if scope["path"] != "/metrics":
            return await _reply(send, 404, b"", b"text/plain")
        stats: _Stats | None = host.extra
        success = stats.success if stats else 0
        fail = stats.fail if stats else 0
        labels = f'model="{MODEL}",version="1"'
        lines = []
        for metric, help_text, value in (
            (
                "nv_inference_request_success",
                "Number of successful inference requests, all batch sizes",
                success,
            ),
            (
                "nv_inference_request_failure",
                "Number of failed inference requests, all batch sizes",
                fail,
            ),
            (
                "nv_inference_count",
                "Number of inferences performed (does not include cached requests)",
                host.served,
            ),
            (
                "nv_inference_exec_count",
                "Number of model executions performed (does not include cached requests)",
                host.batches,
            ),
        ):
            lines += [
                f"# HELP {metric} {help_text}",
                f"# TYPE {metric} counter",
                f"{metric}{{{labels}}} {value}",
            ]
        text = ("\n".join(lines) + "\n").encode()
        await _reply(send, 200, text, b"text/plain; charset=utf-8")

    return app
