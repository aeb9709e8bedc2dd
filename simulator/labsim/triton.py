"""A Triton Inference Server 24.10 (2.51.0) stand-in for serve-system-chi's `food_classifier`
(python backend, `max_batch_size 16`, input INPUT_IMAGE TYPE_STRING dims [1], outputs
FOOD_LABEL TYPE_STRING and PROBABILITY FP32) and, on a `triton_onnx` host (the 2026 manual to
its end), `food_classifier_onnx` too (onnxruntime backend, input `input` FP32 [3,224,224],
output `output` FP32 [11], as models_staging/food_classifier_onnx/config.pbtxt writes it, with
the manual's `dynamic_batching { preferred_batch_size: [4, 6, 8]
max_queue_delay_microseconds: 100 }`; food_classifier then has the manual's 4+4 instances and
no batching). It speaks the KServe v2 HTTP/REST protocol as Triton does: health, server and
model metadata, model config, statistics, the repository index, JSON and binary-tensor
inference, and Prometheus metrics on the metrics port. Errors are Triton's `{"error": "..."}`
with status 400 (500 when the model's `execute` fails). Inference is simulated like the
FastAPI server's (modelserver.py): the host's single model instance queues requests and, with
dynamic batching, runs whatever has queued (up to 16) as one batch.
"""

from __future__ import annotations

import json
import math
import struct
import time
from typing import Any

from .modelserver import HostModel, Receive, Scope, Send, classify, decode_image, onnx_scores

MODEL = "food_classifier"
ONNX = "food_classifier_onnx"
ONNX_DIMS = [3, 224, 224]
ONNX_CLASSES = 11
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


def models(host: HostModel) -> list[str]:
    """The models the host's Triton loaded (all READY)."""
    return [MODEL, ONNX] if host.kind == "triton_onnx" else [MODEL]


def metadata(name: str = MODEL) -> dict[str, Any]:
    if name == ONNX:
        return {
            "name": ONNX,
            "versions": ["1"],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, *ONNX_DIMS]}],
            "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, ONNX_CLASSES]}],
        }
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


def _batching(host: HostModel, name: str) -> dict[str, Any] | None:
    """The model's dynamic_batching as Triton renders it, or None when it has none."""
    if host.kind == "triton_onnx":  # the 2026 manual: on the ONNX model only
        if name != ONNX:
            return None
        preferred, delay = [4, 6, 8], 100
    elif host.dynamic_batching:  # `dynamic_batching {}` on food_classifier
        preferred, delay = [], 0
    else:
        return None
    return {
        "preferred_batch_size": preferred,
        "max_queue_delay_microseconds": delay,
        "preserve_ordering": False,
        "priority_levels": 0,
        "default_priority_level": 0,
        "priority_queue_policy": {},
    }


def _groups(host: HostModel, name: str) -> list[tuple[int, list[int]]]:
    """(count, gpus) per instance group: the manual's last edit of each config.pbtxt."""
    if host.kind == "triton_onnx" and name == MODEL:
        return [(4, [0]), (4, [1])]
    return [(1, [0])]


def config(host: HostModel, name: str = MODEL) -> dict[str, Any]:
    def io(name: str, dtype: str, dims: list[int], output: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": name, "data_type": dtype}
        if not output:
            entry |= {"format": "FORMAT_NONE", "dims": dims, "is_shape_tensor": False}
            entry |= {"allow_ragged_batch": False, "optional": False}
        else:
            entry |= {"dims": dims, "label_filename": "", "is_shape_tensor": False}
        entry["is_non_linear_format_io"] = False
        return entry

    onnx = name == ONNX
    body: dict[str, Any] = {
        "name": name,
        "platform": "onnxruntime_onnx" if onnx else "",
        "backend": "onnxruntime" if onnx else "python",
        "runtime": "",
        "version_policy": {"latest": {"num_versions": 1}},
        "max_batch_size": host.max_batch,
        "input": (
            [io("input", "TYPE_FP32", ONNX_DIMS, False)]
            if onnx
            else [io("INPUT_IMAGE", "TYPE_STRING", [1], False)]
        ),
        "output": (
            [io("output", "TYPE_FP32", [ONNX_CLASSES], True)]
            if onnx
            else [
                io("FOOD_LABEL", "TYPE_STRING", [1], True),
                io("PROBABILITY", "TYPE_FP32", [1], True),
            ]
        ),
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
    batching = _batching(host, name)
    if batching is not None:
        body["dynamic_batching"] = batching
    body |= {
        "instance_group": [
            {
                "name": f"{name}_{i}",
                "kind": "KIND_GPU",
                "count": count,
                "gpus": gpus,
                "secondary_devices": [],
                "profile": [],
                "passive": False,
                "host_policy": "",
            }
            for i, (count, gpus) in enumerate(_groups(host, name))
        ],
        "default_model_filename": "model.onnx" if onnx else "model.py",
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
        self.models = models(host)
        self.stats = {name: _Stats() for name in self.models}
        host.extra = self  # read by the metrics app

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
                index = [{"name": m, "version": "1", "state": "READY"} for m in self.models]
                return await _reply(send, 200, index)
            if path.startswith("/v2/models/") and path.endswith("/infer"):
                name, *tail = path.removeprefix("/v2/models/").split("/")
                if name in self.models and tail in (["infer"], ["versions", "1", "infer"]):
                    headers = dict(scope.get("headers") or [])
                    split = headers.get(b"inference-header-content-length")
                    arrival = scope.get("labgrader.arrival")
                    return await self._infer(name, body, split, arrival, send)
                return await _reply(send, 400, _error(_unknown_model(name)))
        await _reply(send, 400, _error("Not Found"))

    async def _model_get(self, rest: str, send: Send) -> None:
        """GET /v2/models/<name>[/versions/1][/ready|/config|/stats]."""
        name, *tail = rest.split("/")
        if name not in self.models:
            return await _reply(send, 400, _error(_unknown_model(name)))
        if tail[:1] == ["versions"]:
            if tail[1:2] != ["1"]:
                version = tail[1] if len(tail) > 1 else ""
                return await _reply(send, 400, _error(_unknown_model(name, version)))
            tail = tail[2:]
        if not tail:
            return await _reply(send, 200, metadata(name))
        if tail == ["ready"]:
            return await _reply(send, 200)
        if tail == ["config"]:
            return await _reply(send, 200, config(self.host, name))
        if tail == ["stats"]:
            return await _reply(send, 200, self._statistics(name))
        await _reply(send, 400, _error("Not Found"))

    def _statistics(self, name: str) -> dict[str, Any]:
        stats = self.stats[name]
        per = stats.success_ns // max(stats.success, 1)
        return {
            "model_stats": [
                {
                    "name": name,
                    "version": "1",
                    "last_inference": stats.last_ms,
                    "inference_count": stats.success,
                    "execution_count": stats.success,
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

    async def _infer(
        self, name: str, raw: bytes, split: bytes | None, arrival: float | None, send: Send
    ) -> None:
        """POST .../infer: check the request as Triton does, queue for the model instance,
        run the model on each element; a failing image fails the whole request (500)."""
        rid = "<id_unknown>"
        stats = self.stats[name]
        try:
            request, binary = _request(raw, split)
            if isinstance(request.get("id"), str):
                rid = request["id"]
            spec = _Model(name, self.host.max_batch)
            elements = spec.elements(request, binary, rid)
            wanted = spec.outputs(request, rid)
        except _BadRequest as bad:
            return await _reply(send, 400, _error(str(bad)))
        started = time.perf_counter_ns()
        await self.host.infer(arrival)
        if name == ONNX:
            rows = [onnx_scores(t) for t in elements]
            outs = {"output": ("FP32", [len(rows), ONNX_CLASSES], [x for r in rows for x in r])}
        else:
            results = []
            for b64 in elements:
                try:
                    image = decode_image(str(b64))
                except Exception as exc:  # noqa: BLE001 - model.py's execute raised
                    stats.fail += 1
                    message = (
                        f"Failed to process the request(s) for model '{MODEL}_0_0', message: "
                        f"{type(exc).__name__}: {exc}"
                    )
                    return await _reply(send, 500, _error(message))
                results.append(classify(image))
            shape = [len(elements), 1]
            outs = {
                "FOOD_LABEL": ("BYTES", shape, [label for label, _ in results]),
                "PROBABILITY": ("FP32", shape, [p for _, p in results]),
            }
        stats.success += 1
        stats.success_ns += time.perf_counter_ns() - started
        stats.last_ms = int(time.time() * 1000)
        outputs, blobs = [], []
        for out, as_binary in wanted or [(n, False) for n in outs]:
            dtype, shape, data = outs[out]
            entry: dict[str, Any] = {"name": out, "datatype": dtype, "shape": shape}
            if as_binary and dtype == "FP32":
                blob = struct.pack(f"<{len(data)}f", *data)
                entry["parameters"] = {"binary_data_size": len(blob)}
                blobs.append(blob)
            else:
                entry["data"] = data
            outputs.append(entry)
        answer: dict[str, Any] = {"model_name": name, "model_version": "1", "outputs": outputs}
        if rid != "<id_unknown>":
            answer = {"id": rid, **answer}
        if not blobs:
            return await _reply(send, 200, answer)
        head = json.dumps(answer).encode()
        data = head + b"".join(blobs)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/octet-stream"),
                    (b"inference-header-content-length", str(len(head)).encode()),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})


class _Model:
    """One model's inputs and outputs as Triton checks a request against them."""

    def __init__(self, name: str, max_batch: int) -> None:
        self.name, self.max_batch = name, max_batch
        onnx = name == ONNX
        self.inputs = {"input": "FP32"} if onnx else INPUTS
        self.dims = ONNX_DIMS if onnx else [1]
        self.out_names = {"output": "FP32"} if onnx else OUTPUTS

    def elements(self, request: dict[str, Any], binary: bytes, rid: str) -> list[Any]:
        """The input tensor's batch elements (base64 images, or one image's FP32 bytes each)."""
        found = None
        offset = 0
        for item in request["inputs"]:
            name = item.get("name") if isinstance(item, dict) else None
            if name not in self.inputs:
                raise _BadRequest(
                    f"[request id: {rid}] unexpected inference input '{name}' for model "
                    f"'{self.name}'"
                )
            want = "BYTES" if self.inputs[name] == "BYTES" else self.inputs[name]
            if item.get("datatype") != want:
                raise _BadRequest(
                    f"[request id: {rid}] inference input '{name}' data-type is "
                    f"'{item.get('datatype')}', but model '{self.name}' expects '{want}'"
                )
            shape = item.get("shape")
            if (
                not isinstance(shape, list)
                or shape[1:] != self.dims
                or not isinstance(shape[0], int)
                or not 1 <= shape[0] <= self.max_batch
            ):
                expected = ",".join(str(d) for d in [-1, *self.dims])
                raise _BadRequest(
                    f"[request id: {rid}] unexpected shape for input '{name}' for model "
                    f"'{self.name}'. Expected [{expected}], got "
                    f"{json.dumps(shape, separators=(',', ':'))}. "
                )
            params = item.get("parameters") or {}
            size = params.get("binary_data_size") if isinstance(params, dict) else None
            if want == "FP32":
                per = 4 * math.prod(self.dims)
                if isinstance(size, int):
                    blob = binary[offset : offset + size]
                    offset += size
                else:
                    data = item.get("data")
                    flat = _flatten(data) if isinstance(data, list) else []
                    try:
                        blob = struct.pack(f"<{len(flat)}f", *flat)
                    except struct.error:
                        raise _BadRequest(
                            f"[request id: {rid}] failed to parse input '{name}' data"
                        ) from None
                if len(blob) != per * shape[0]:
                    raise _BadRequest(
                        f"[request id: {rid}] input byte size mismatch for input '{name}' for "
                        f"model '{self.name}'. Expected {per * shape[0]}, got {len(blob)}"
                    )
                found = [blob[i * per : (i + 1) * per] for i in range(shape[0])]
                continue
            data = item.get("data")
            if isinstance(data, list) and data and isinstance(data[0], list):
                data = [x for row in data for x in row]
            if not isinstance(data, list) or len(data) != shape[0]:
                raise _BadRequest(
                    f"[request id: {rid}] unexpected number of string elements {len(data or [])}"
                    f" for inference input '{name}', expecting {shape[0]}"
                )
            found = data
        if found is None:
            raise _BadRequest(
                f"[request id: {rid}] expected 1 inputs but got 0 inputs for model '{self.name}'"
            )
        return found

    def outputs(self, request: dict[str, Any], rid: str) -> list[tuple[str, bool]]:
        """The outputs asked for by name, each as binary data or not (none: all, as JSON)."""
        wanted = []
        for o in request.get("outputs") or []:
            if not isinstance(o, dict):
                continue
            name = o.get("name")
            if name not in self.out_names:
                raise _BadRequest(
                    f"[request id: {rid}] unexpected inference output '{name}' for model "
                    f"'{self.name}'"
                )
            params = o.get("parameters") or {}
            wanted.append((name, bool(isinstance(params, dict) and params.get("binary_data"))))
        return wanted


def _flatten(data: list[Any]) -> list[Any]:
    while data and isinstance(data[0], list):
        data = [x for row in data for x in row]
    return data


def _request(raw: bytes, split: bytes | None = None) -> tuple[dict[str, Any], bytes]:
    """The request's JSON object (with a list of inputs) and the binary data after it."""
    binary = b""
    if split is not None:
        try:
            n = int(split)
        except ValueError:
            n = -1
        if not 0 <= n <= len(raw):
            raise _BadRequest("Unable to parse inference header size")
        raw, binary = raw[:n], raw[n:]
    try:
        request = json.loads(raw or b"null")
    except ValueError:
        raise _BadRequest("failed to parse the request JSON buffer: Invalid value. at 0") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise _BadRequest("Unable to parse 'inputs': attempt to access JSON non-object")
    return request, binary


def triton_metrics_app(host: HostModel):
    """Triton's Prometheus endpoint (port 8002): the inference counters of each model."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await _body(receive)
        if scope["path"] != "/metrics":
            return await _reply(send, 404, b"", b"text/plain")
        triton: TritonApp | None = host.extra
        stats = triton.stats if triton else {MODEL: _Stats()}
        lines = []
        for metric, help_text, value in (
            (
                "nv_inference_request_success",
                "Number of successful inference requests, all batch sizes",
                lambda st: st.success,
            ),
            (
                "nv_inference_request_failure",
                "Number of failed inference requests, all batch sizes",
                lambda st: st.fail,
            ),
            (
                "nv_inference_count",
                "Number of inferences performed (does not include cached requests)",
                lambda st: st.success,
            ),
            (
                "nv_inference_exec_count",
                "Number of model executions performed (does not include cached requests)",
                lambda st: st.success,
            ),
        ):
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
            for name, st in stats.items():
                lines.append(f'{metric}{{model="{name}",version="1"}} {value(st)}')
        text = ("\n".join(lines) + "\n").encode()
        await _reply(send, 200, text, b"text/plain; charset=utf-8")

    return app
