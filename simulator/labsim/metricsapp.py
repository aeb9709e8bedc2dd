"""The eval-online-chi FastAPI server (`fastapi_pt/app.py` with the lab's edits) on port 8000 of
every simulated host, all on ONE uvicorn (as modelserver.py explains: pre-bound sockets, and
`scope["server"]` says which host a request came in on).

Each host has its own prometheus_client registry, exported for real on `/metrics`: what
prometheus-fastapi-instrumentator adds (`http_requests_total{handler,method,status}` with
grouped statuses such as "2xx", `http_request_duration_seconds`), the client's process and GC
collectors, and, once the student made the lab's edits (`custom`), the Histogram
`prediction_confidence` (buckets 0.0 to 1.0), the Counter `predicted_class_total{class_name}`,
and the drift metrics `drift_events_total` and `drift_test_stat`.

Bad input fails as the lab's app does (see course-labs.md, "Observed behaviour"): a body
without `image` is FastAPI's 422, an image that does not decode a 500 text/plain.
No `from __future__ import annotations`: FastAPI reads the endpoint's annotations.
"""

import asyncio
import socket
import threading
import time
import zlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from pydantic import BaseModel

from .modelserver import classify, decode_image

ROUTES = ("/predict", "/metrics", "/docs", "/openapi.json")
CONFIDENCE_BUCKETS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
DRIFT_THRESHOLD = 0.02  # the simulated MMD test statistic above which a sample is drift


class HostMetrics:
    """One host's registry: the instrumentator's metrics, plus the lab's own when `custom`."""

    def __init__(self, custom: bool) -> None:
        r = self.registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=r)
        self.requests = Counter(
            "http_requests_total",
            "Total number of requests by method, status and handler.",
            ("handler", "method", "status"),
            registry=r,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Latency with only few buckets by handler.",
            ("handler", "method"),
            buckets=(0.1, 0.5, 1),
            registry=r,
        )
        self.custom = custom
        if custom:
            self.confidence = Histogram(
                "prediction_confidence",
                "Model prediction confidence",
                buckets=CONFIDENCE_BUCKETS,
                registry=r,
            )
            self.classes = Counter(
                "predicted_class_total", "Count of predictions per class", ["class_name"],
                registry=r,
            )  # fmt: skip
            self.drift_events = Counter(
                "drift_events_total", "Total number of drift events detected", registry=r
            )
            self.drift_stat = Histogram("drift_test_stat", "Drift score distribution", registry=r)

    def observe_prediction(self, image: bytes, label: str, confidence: float) -> None:
        if not self.custom:
            return
        self.confidence.observe(confidence)
        self.classes.labels(class_name=label).inc()
        stat = (zlib.adler32(image) % 400) / 10000  # a stable stand-in for the MMD statistic
        self.drift_stat.observe(stat)
        if stat > DRIFT_THRESHOLD:
            self.drift_events.inc()


class ImageRequest(BaseModel):
    image: str  # Base64 encoded image


def make_app(hosts: dict[str, HostMetrics]) -> Any:
    """The lab's app, instrumented per host; an ASGI callable."""
    app = FastAPI(
        title="Food Classification API",
        description="API for classifying food items from images",
        version="1.0.0",
    )

    @app.post("/predict")
    def predict_image(request: ImageRequest, raw: Request):  # noqa: ANN202 - as the lab's
        try:
            image = decode_image(request.image)
        except Exception:  # noqa: BLE001 - the lab's except clauses fail: a bare 500
            return PlainTextResponse("Internal Server Error", status_code=500)
        label, probability = classify(image)
        hosts[raw.scope["server"][0]].observe_prediction(image, label, probability)
        return {"prediction": label, "probability": probability}

    @app.get("/metrics")
    def metrics(raw: Request) -> Response:
        body = generate_latest(hosts[raw.scope["server"][0]].registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def instrumented(scope: dict, receive: Any, send: Any) -> None:
        host = hosts.get(scope["server"][0]) if scope["type"] == "http" else None
        if host is None:
            return await app(scope, receive, send)
        status = [500]

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        t0 = time.perf_counter()
        try:
            await app(scope, receive, capture)
        finally:
            handler = scope["path"] if scope["path"] in ROUTES else "none"
            method = scope["method"]
            host.requests.labels(handler, method, f"{status[0] // 100}xx").inc()
            host.duration.labels(handler, method).observe(time.perf_counter() - t0)

    return instrumented


class MetricsAppFleet:
    """Every host's FastAPI server on port 8000, on one uvicorn event loop in a thread."""

    def __init__(self) -> None:
        self.hosts: dict[str, HostMetrics] = {}
        self._sockets: list[socket.socket] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def add(self, address: str, custom: bool, port: int = 8000) -> None:
        self.hosts[address] = HostMetrics(custom)
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(256)
        sock.setblocking(False)
        self._sockets.append(sock)

    def start(self, timeout: float = 20.0) -> None:
        if not self._sockets:
            return
        import uvicorn

        config = uvicorn.Config(
            make_app(self.hosts),
            lifespan="off",
            log_level="critical",
            access_log=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=1,
            http="h11",
        )
        self._server = server = uvicorn.Server(config)

        def run() -> None:
            asyncio.run(server.serve(sockets=self._sockets))

        self._thread = threading.Thread(target=run, name="sim-eval-online", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulated eval-online FastAPI servers did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(10)
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        self.hosts = {}
