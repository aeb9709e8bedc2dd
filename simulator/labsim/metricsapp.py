"""The eval-online-chi FastAPI server (`fastapi_pt/app.py` with the lab's edits) on port 8000 of
every simulated host, all on ONE uvicorn (as modelserver.py explains: pre-bound sockets, and
`scope["server"]` says which host a request came in on).

Each host has its own prometheus_client registry, exported for real on `/metrics`: what
prometheus-fastapi-instrumentator's `Instrumentator().instrument(app)` adds (its
`metrics.default()`, 7.1.0, the release the lab's unpinned requirements.txt installed in
spring 2026; 8.x keeps the same five): `http_requests_total{method,status,handler}` with
grouped statuses such as "2xx", the Summaries `http_request_size_bytes{handler}` and
`http_response_size_bytes{handler}` (the Content-Length headers), the Histograms
`http_request_duration_highr_seconds` (no labels, 21 buckets) and
`http_request_duration_seconds{method,handler}` (0.1, 0.5, 1); the client's process and GC
collectors; once the student made the prediction section's edits (`prediction`), the
Histogram `prediction_confidence` (buckets 0.0 to 1.0) and the Counter
`predicted_class_total{class_name}`; once the drift section's (`drift`), `drift_events_total`
and `drift_test_stat`.

Where the student added cAdvisor, the host's port 8080 is its stand-in: `/metrics` with the
`container_*` series cAdvisor exports for each of the compose project's containers (those the
imported dashboard 19908 queries), as counters and gauges without `_created`.

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
    Summary,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from pydantic import BaseModel

from .modelserver import classify, decode_image

ROUTES = ("/predict", "/metrics", "/docs", "/openapi.json")
CONFIDENCE_BUCKETS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
DRIFT_THRESHOLD = 0.02  # the simulated MMD test statistic above which a sample is drift
HIGHR_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 3.5, 4,
                 4.5, 5, 7.5, 10, 30, 60)  # fmt: skip
CADVISOR_PORT = 8080
CONTAINERS = ("fastapi_server", "flask", "prometheus", "grafana", "jupyter", "cadvisor")


class HostMetrics:
    """One host's registry: the instrumentator's metrics, plus the lab's own: the prediction
    section's when `prediction`, the drift section's when `drift`."""

    def __init__(self, prediction: bool, drift: bool) -> None:
        r = self.registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=r)
        self.requests = Counter(
            "http_requests_total",
            "Total number of requests by method, status and handler.",
            ("method", "status", "handler"),
            registry=r,
        )
        self.in_size = Summary(
            "http_request_size_bytes",
            "Content length of incoming requests by handler. Only value of header is "
            "respected. Otherwise ignored. No percentile calculated. ",
            ("handler",),
            registry=r,
        )
        self.out_size = Summary(
            "http_response_size_bytes",
            "Content length of outgoing responses by handler. Only value of header is "
            "respected. Otherwise ignored. No percentile calculated. ",
            ("handler",),
            registry=r,
        )
        self.latency_highr = Histogram(
            "http_request_duration_highr_seconds",
            "Latency with many buckets but no API specific labels. Made for more accurate "
            "percentile calculations. ",
            buckets=HIGHR_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Latency with only few buckets by handler. Made to be only used if aggregation "
            "by handler is important. ",
            ("method", "handler"),
            buckets=(0.1, 0.5, 1),
            registry=r,
        )
        self.custom = prediction
        self.drift = drift
        if prediction:
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
        if drift:
            self.drift_events = Counter(
                "drift_events_total", "Total number of drift events detected", registry=r
            )
            self.drift_stat = Histogram("drift_test_stat", "Drift score distribution", registry=r)

    def observe_prediction(self, image: bytes, label: str, confidence: float) -> None:
        if not self.custom:
            return
        self.confidence.observe(confidence)
        self.classes.labels(class_name=label).inc()
        if not self.drift:
            return
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
        if host is not None and scope["server"][1] == CADVISOR_PORT:
            return await _cadvisor(scope, send)
        if host is None:
            return await app(scope, receive, send)
        status, size = [500], [0]

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                size[0] = _content_length(message.get("headers") or [])
            await send(message)

        t0 = time.perf_counter()
        try:
            await app(scope, receive, capture)
        finally:
            handler = scope["path"] if scope["path"] in ROUTES else "none"
            method = scope["method"]
            elapsed = time.perf_counter() - t0
            host.requests.labels(method, f"{status[0] // 100}xx", handler).inc()
            host.in_size.labels(handler).observe(_content_length(scope["headers"]))
            host.out_size.labels(handler).observe(size[0])
            host.latency_highr.observe(elapsed)
            host.duration.labels(method, handler).observe(elapsed)

    return instrumented


def _content_length(headers: list) -> int:
    """The Content-Length header's value (0 without one), as the instrumentator reads it."""
    for key, value in headers:
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


class CadvisorCollector:
    """cAdvisor's container series for the compose project's containers (the ones dashboard
    19908 queries), with the labels cAdvisor gives a Docker container; values grow with time."""

    def __init__(self) -> None:
        self.t0 = time.time()

    def collect(self) -> Any:
        up = time.time() - self.t0 + 60.0
        labels = ["id", "image", "name"]

        def family(kind: Any, name: str, doc: str, extra: tuple[str, ...] = ()) -> Any:
            return kind(name, doc, labels=[*extra, *labels])

        cpu = family(CounterMetricFamily, "container_cpu_usage_seconds",
                     "Cumulative cpu time consumed in seconds.", ("cpu",))  # fmt: skip
        seen = family(GaugeMetricFamily, "container_last_seen",
                      "Last time a container was seen by the exporter")  # fmt: skip
        mem = family(GaugeMetricFamily, "container_memory_usage_bytes",
                     "Current memory usage in bytes, including all memory regardless of when "
                     "it was accessed")  # fmt: skip
        cache = family(GaugeMetricFamily, "container_memory_cache",
                       "Number of bytes of page cache memory.")  # fmt: skip
        reads = family(CounterMetricFamily, "container_fs_reads_bytes",
                       "Cumulative count of bytes read", ("device",))  # fmt: skip
        writes = family(CounterMetricFamily, "container_fs_writes_bytes",
                        "Cumulative count of bytes written", ("device",))  # fmt: skip
        rx = family(CounterMetricFamily, "container_network_receive_bytes",
                    "Cumulative count of bytes received", ("interface",))  # fmt: skip
        tx = family(CounterMetricFamily, "container_network_transmit_bytes",
                    "Cumulative count of bytes transmitted", ("interface",))  # fmt: skip
        for n, name in enumerate(CONTAINERS, start=1):
            cid = zlib.crc32(name.encode())
            ident = [f"/system.slice/docker-{cid:064x}.scope", f"eval_online-{name}", name]
            cpu.add_metric(["total", *ident], up * 0.01 * n)
            seen.add_metric(ident, time.time())
            mem.add_metric(ident, 50e6 * n)
            cache.add_metric(ident, 4e6 * n)
            reads.add_metric(["/dev/vda", *ident], 1e5 * n)
            writes.add_metric(["/dev/vda", *ident], 2e4 * n * up)
            rx.add_metric(["eth0", *ident], 1e3 * n * up)
            tx.add_metric(["eth0", *ident], 8e2 * n * up)
        yield from (cpu, seen, mem, cache, reads, writes, rx, tx)


_CADVISOR = CollectorRegistry()
_CADVISOR.register(CadvisorCollector())


async def _cadvisor(scope: dict, send: Any) -> None:
    """cAdvisor's `/metrics` (anything else: its 404)."""
    if scope["path"] == "/metrics":
        code, body, ctype = 200, generate_latest(_CADVISOR), CONTENT_TYPE_LATEST
    else:
        code, body, ctype = 404, b"404 page not found\n", "text/plain; charset=utf-8"
    headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class MetricsAppFleet:
    """Every host's FastAPI server on port 8000, on one uvicorn event loop in a thread."""

    def __init__(self) -> None:
        self.hosts: dict[str, HostMetrics] = {}
        self._sockets: list[socket.socket] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def add(
        self, address: str, prediction: bool, drift: bool, app: bool = True,
        cadvisor: bool = False, port: int = 8000,
    ) -> None:  # fmt: skip
        """Serve `address`: the lab's app on 8000 (unless `app` is False: the container is
        gone), cAdvisor on 8080 when the student added it."""
        self.hosts[address] = HostMetrics(prediction, drift)
        for wanted, at in ((app, port), (cadvisor, CADVISOR_PORT)):
            if not wanted:
                continue
            # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, at))
            sock.listen(256)
            sock.setblocking(False)
            self._sockets.append(sock)

    def recreate(self, address: str) -> None:
        """`docker compose up -d` recreated fastapi_server: a fresh registry, as after a
        restart (labelled series absent until they are observed again)."""
        old = self.hosts[address]
        self.hosts[address] = HostMetrics(old.custom, old.drift)

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
