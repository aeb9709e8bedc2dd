"""Model servers on port 8000 of simulated hosts: the course's FastAPI app for real, and the
Triton stand-in (triton.py), all served by ONE uvicorn in a thread of the classroom process.

Why one uvicorn: a uvicorn per host costs a thread, an event loop and ~1 MB each, and 200 of
them take seconds to start and stop. uvicorn serves any number of pre-bound sockets
(`Server.serve(sockets=...)`), each bound to one host's loopback address, and the ASGI scope
says which address a request came in on (`scope["server"]`), so one event loop plays every
host's server with that host's own behaviour.

The FastAPI app is the course's `fastapi_pt/app.py` / `fastapi_onnx/app.py` (see "Observed
behaviour" in course-labs.md): same title, request model, route and error shapes, so FastAPI
itself produces the 422s, the `/predict/` 307 and `/docs`. Inference is simulated: a stable
class for the image bytes (a real JPEG must decode with Pillow, else `{"error": ...}` as the
app's except clause returns), after a service time drawn from the host's injected latency
distribution. Each host has ONE worker, like the single uvicorn worker of the lab: requests
queue, so concurrency 16 takes 16 times as long per request and throughput stays flat.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import functools
import hashlib
import io
import math
import random
import socket
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .gourmetgram import CLASSES

# triton: food_classifier (python backend) behind the `triton` Flask branch; triton_onnx: the
# 2026 manual's end, food_classifier_onnx too, behind the `triton_onnx` branch
ServerKind = Literal["fastapi_pt", "fastapi_onnx", "triton", "triton_onnx"]
# stub: not the lab's server at all, an "(ONNX)"-titled FastAPI answering one fixed class at once
Hostile = Literal[
    "wrong_answer", "not_json", "huge_body", "redirect_away", "stall_mid_body", "stub"
]
HOSTILE: tuple[str, ...] = Hostile.__args__  # type: ignore[attr-defined]
TITLES = {
    "fastapi_pt": ("Food Classification API", "API for classifying food items from images"),
    "fastapi_onnx": (
        "Food Classification API (ONNX)",
        "API for classifying food items from images using ONNX Runtime",
    ),
}
REDIRECT_TARGET = "http://127.255.255.254/"  # 127.255.0.0/16 is never a classroom's block
HUGE_BYTES = 20 * 1024 * 1024
_Z95 = 1.6448536269514722  # standard normal 95th percentile

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


@dataclass(frozen=True)
class LatencyModel:
    """The service time a simulated model server adds to every inference (one request; under
    concurrency requests also wait for the single worker). `fixed`: always `median_ms`;
    `lognormal`: median `median_ms` and 95th percentile `p95_ms`."""

    kind: Literal["fixed", "lognormal"] = "lognormal"
    median_ms: float = 9.0
    p95_ms: float = 15.0

    def __post_init__(self) -> None:
        if self.median_ms <= 0 or (self.kind == "lognormal" and self.p95_ms < self.median_ms):
            raise ValueError(f"bad latency model {self}")

    @property
    def sigma(self) -> float:
        if self.kind == "fixed" or self.p95_ms == self.median_ms:
            return 0.0
        return math.log(self.p95_ms / self.median_ms) / _Z95

    def quantile(self, q: float) -> float:
        """The q-quantile of the service time, in ms (what a sequential benchmark measures,
        plus the HTTP round trip)."""
        if self.sigma == 0.0:
            return self.median_ms
        from statistics import NormalDist

        return self.median_ms * math.exp(self.sigma * NormalDist().inv_cdf(q))

    @property
    def mean_ms(self) -> float:
        return self.median_ms * math.exp(self.sigma**2 / 2)

    def sample_ms(self, rng: random.Random) -> float:
        if self.sigma == 0.0:
            return self.median_ms
        return self.median_ms * math.exp(self.sigma * rng.gauss(0.0, 1.0))

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> LatencyModel:
        return cls(data["kind"], float(data["median_ms"]), float(data["p95_ms"]))


@dataclass
class HostModel:
    """One host's model server: what it is, how it misbehaves, and its single worker."""

    address: str
    kind: ServerKind = "fastapi_onnx"
    latency: LatencyModel = field(default_factory=LatencyModel)
    hostile: str | None = None
    dynamic_batching: bool = True  # Triton only
    max_batch: int = 16  # Triton's max_batch_size
    seed: int = 0
    extra: Any = None  # per-kind runtime data (Triton's statistics)
    # runtime (event-loop side)
    served: int = 0
    batches: int = 0
    busy_s: float = 0.0
    # (wall-clock arrival, path, ms from arrival to the last byte handed to the transport)
    answered: collections.deque = field(default_factory=lambda: collections.deque(maxlen=5000))
    _queue: asyncio.Queue | None = None
    _worker: asyncio.Task | None = None
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    async def infer(self, arrival: float | None = None) -> None:
        """Wait for the worker to run this request (alone, or batched on Triton).

        `arrival` (perf_counter when the request reached the app) makes the drawn service
        time the request's whole time in the server: the app's own work (parsing, decoding)
        counts towards it, so a request served alone takes what was injected.
        """
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._work())
        done = asyncio.get_running_loop().create_future()
        # the app's own work so far (parsing, decoding) counts towards the service time;
        # time spent waiting in the queue below does not
        done.spent = time.perf_counter() - arrival if arrival else 0.0  # type: ignore[attr-defined]
        await self._queue.put(done)
        await done

    async def _work(self) -> None:
        assert self._queue is not None
        batching = self.kind.startswith("triton") and self.dynamic_batching
        batch_limit = self.max_batch if batching else 1
        while True:
            batch = [await self._queue.get()]
            while len(batch) < batch_limit and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            service = self.latency.sample_ms(self._rng) / 1000
            if len(batch) > 1:  # a batch costs more than one image, far less than n of them
                service *= 1 + 0.12 * (len(batch) - 1)
            started = time.perf_counter()
            if len(batch) == 1:
                service = max(0.0, service - getattr(batch[0], "spent", 0.0))
            await asyncio.sleep(service)
            self.busy_s += time.perf_counter() - started
            self.batches += 1
            self.served += len(batch)
            for done in batch:
                if not done.done():
                    done.set_result(None)


# The course model's answer for the lab's test image, as snippets/fastapi.md shows it.
TEST_IMAGE_ANSWER = ("Vegetable/Fruit", 0.9940803647041321)


@functools.cache
def stand_in_image() -> bytes:
    """The simulator's stand-in for serve-system-chi's workspace/test_image.jpeg, drawn here
    (Pillow; the same bytes on every call): a bowl of green and red vegetables. It is not
    the lab's file, so lab.yaml's `test_image.sha256` (the real file's) does not name it: a
    test that grades the simulated class adds `stand_in_image_sha256()` to the loaded config."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (256, 256), (228, 222, 208))
    draw = ImageDraw.Draw(img)
    draw.ellipse((18, 30, 238, 236), fill=(246, 244, 238), outline=(170, 160, 150), width=3)
    for i in range(9):  # leaves, then tomatoes
        x, y = 52 + (i * 41) % 130, 62 + (i * 29) % 110
        draw.ellipse((x, y, x + 46, y + 30), fill=(52 + 11 * i, 150 - 4 * i, 48))
    for i in range(4):
        x, y = 70 + 34 * i, 120 + (i % 2) * 36
        draw.ellipse((x, y, x + 26, y + 26), fill=(204, 38 + 9 * i, 30))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


@functools.cache
def stand_in_image_sha256() -> str:
    return hashlib.sha256(stand_in_image()).hexdigest()


def classify(image: bytes) -> tuple[str, float]:
    """The simulated model: a stable class and softmax probability for these image bytes;
    the lab's test image (the simulator's stand-in) gets the course model's documented
    answer."""
    if hashlib.sha256(image).hexdigest() == stand_in_image_sha256():
        return TEST_IMAGE_ANSWER
    crc = zlib.crc32(image)
    return CLASSES[crc % len(CLASSES)], round(0.42 + ((crc >> 8) % 5700) / 10000, 4)


def preprocess(image: bytes) -> bytes:
    """The triton_onnx Flask app's preprocessing (Resize 224x224, ToTensor, Normalize with
    ImageNet's mean and std, a batch dimension): a [1,3,224,224] FP32 tensor, little-endian."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(image)) as img:
        rgb = img.convert("RGB").resize((224, 224), Image.BILINEAR)
    x = np.asarray(rgb, dtype=np.float32) / 255.0
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    x = (x - mean) / np.array([0.229, 0.224, 0.225], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype="<f4").tobytes()


@functools.cache
def _test_tensor_digest() -> str:
    return hashlib.sha256(preprocess(stand_in_image())).hexdigest()


def onnx_scores(tensor: bytes) -> list[float]:
    """The simulated food_classifier_onnx: 11 logits for one preprocessed image, stable for
    its bytes; the lab's test image, preprocessed as the lab's Flask app does, scores highest
    as Vegetable/Fruit (as the course model does)."""
    crc = zlib.crc32(tensor)
    scores = [round(((crc >> (2 * i)) % 9) * 0.35 - 1.2, 4) for i in range(len(CLASSES))]
    if hashlib.sha256(tensor).hexdigest() == _test_tensor_digest():
        best = CLASSES.index(TEST_IMAGE_ANSWER[0])
    else:
        best = crc % len(CLASSES)
    scores[best] = 6.3
    return scores


def decode_image(b64: str | bytes) -> bytes:
    """base64 -> image bytes, failing as the lab's app does: binascii's message for bad
    base64 ("Incorrect padding"), Pillow's for bytes that are no image."""
    data = base64.b64decode(b64)
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.convert("RGB")
    return data


def _huge_body() -> bytes:
    head = b'{"prediction": "Bread", "probability": 0.9312, "embedding": ['
    tail = b"]}"
    item = b"0.0173, "
    n = (HUGE_BYTES - len(head) - len(tail)) // len(item)
    return head + item * n + b"0.0" + tail


class ModelServerFleet:
    """Every host's model server (and Triton metrics port) on one uvicorn event loop."""

    def __init__(self) -> None:
        self.hosts: dict[str, HostModel] = {}
        self._ports: dict[tuple[str, int], Callable] = {}
        self._sockets: list[socket.socket] = []
        self._apps: dict[str, Any] = {}
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._huge: bytes | None = None
        self._lock = threading.Lock()

    def huge_body(self) -> bytes:
        with self._lock:
            if self._huge is None:
                self._huge = _huge_body()
            return self._huge

    def stop_event(self) -> asyncio.Event:
        if self._stop is None:
            self._stop = asyncio.Event()
        return self._stop

    def add(self, host: HostModel, port: int = 8000, metrics_port: int | None = 8002) -> None:
        """Serve `host`'s model server on address:port (and Triton's metrics port)."""
        self.hosts[host.address] = host
        if host.kind.startswith("triton"):
            from .triton import triton_app, triton_metrics_app

            self._listen(host.address, port, triton_app(host))
            if metrics_port:
                self._listen(host.address, metrics_port, triton_metrics_app(host))
        else:
            if host.kind not in self._apps:
                from .fastapiapp import make_fastapi_app

                self._apps[host.kind] = _with_server_header(make_fastapi_app(host.kind, self))
            self._listen(host.address, port, self._apps[host.kind])

    def _listen(self, address: str, port: int, app: Callable) -> None:
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only for
        # sockets that say they are TCP; without it each keep-alive request waits ~40 ms for
        # a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(1024)
        sock.setblocking(False)
        self._sockets.append(sock)
        self._ports[(address, port)] = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # nothing to set up
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        address, port = scope["server"][0], scope["server"][1]
        arrival = scope["labgrader.arrival"] = time.perf_counter()  # headers parsed
        arrived_at = time.time()
        host = self.hosts.get(address)

        async def timed_send(message: dict) -> None:
            await send(message)
            if (
                host is not None
                and message["type"] == "http.response.body"
                and not message.get("more_body")
            ):
                # ground truth for measurement tests: arrival to the last byte handed to
                # the transport
                ms = (time.perf_counter() - arrival) * 1000
                host.answered.append((arrived_at, scope["path"], ms))

        await self._ports[(address, port)](scope, receive, timed_send)

    def start(self, timeout: float = 20.0) -> None:
        if not self._sockets:
            return
        import uvicorn

        config = uvicorn.Config(
            self,
            lifespan="off",
            log_level="critical",  # stalled and cut-off answers are the point here
            access_log=False,
            server_header=False,  # the FastAPI apps add uvicorn's; Triton sends none
            timeout_keep_alive=5,
            timeout_graceful_shutdown=1,
            backlog=1024,
            http="h11",
        )
        self._server = uvicorn.Server(config)
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_until_complete(self._server.serve(sockets=self._sockets))
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="sim-uvicorn", daemon=True)
        self._thread.start()
        ready.wait(timeout)
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulated model servers (uvicorn) did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        server, thread, loop = self._server, self._thread, self._loop
        self._server = self._thread = None
        if server is not None and thread is not None:
            if loop is not None and self._stop is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(self._stop.set)  # release stalled responses
                except RuntimeError:
                    pass
            server.should_exit = True
            thread.join(10)
        for sock in self._sockets:
            sock.close()
        self._sockets = []


def _with_server_header(app: Callable) -> Callable:
    """uvicorn's own `server: uvicorn` header (after `date`, before the app's headers, where
    uvicorn puts it), for the FastAPI apps only."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_header(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [(b"server", b"uvicorn"), *message.get("headers", [])],
                }
            await send(message)

        await app(scope, receive, send_with_header)

    return wrapped


__all__ = [
    "HOSTILE",
    "HostModel",
    "LatencyModel",
    "ModelServerFleet",
    "classify",
    "decode_image",
    "onnx_scores",
    "preprocess",
]
