"""The load probe against real HTTP servers on loopback that inject a known latency."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from graders.probes import loadworker
from graders.probes.load import _pct, load_spec, parse_samples, run_load


class Injecting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        t0 = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        server.bodies.append((body, dict(self.headers)))  # type: ignore[attr-defined]
        with server.lock:  # type: ignore[attr-defined]
            delay = server.rng.choice(server.delays)  # type: ignore[attr-defined]
            server.applied.append(delay * 1000)  # type: ignore[attr-defined]
        if self.path == "/broken":
            body, code = b"<h1>oops</h1>", 500
        elif body[:1] == b"x":  # a spoiled request: read whole, refused at once
            body, code = b'{"error": "bad request"}', 400
        else:
            time.sleep(delay)
            body, code = json.dumps({"prediction": "Bread", "probability": 0.9}).encode(), 200
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with server.lock:  # type: ignore[attr-defined]
            server.handled.append((time.perf_counter() - t0) * 1000)  # type: ignore[attr-defined]


@pytest.fixture()
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Injecting)
    srv.daemon_threads = True
    srv.lock, srv.rng, srv.applied = threading.Lock(), random.Random(7), []  # type: ignore[attr-defined]
    srv.handled, srv.bodies = [], []  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("concurrency", [1, 8])
def test_measured_percentiles_match_injected(server, concurrency: int) -> None:
    # A spread of latencies from 5 to 60 ms; the server records each request's time in it,
    # the truth the probe's percentiles are held to (5% or 1 ms, the tolerance).
    server.delays = [0.005 + 0.055 * (i / 99) ** 2 for i in range(100)]
    url = f"http://127.0.0.1:{server.server_port}/predict"
    result = run_load(
        url, requests=120, concurrency=concurrency, json_body={"image": "x"}, warmup=0
    )
    m = result.measurements()
    handled = sorted(server.handled)
    for p in (50, 95):
        want = _pct(handled, p)
        got = m[f"p{p}_ms"]
        # + slack: the server's window opens after http.server has parsed the headers, and
        # the worker's closes after it has read the answer: up to about 1 ms on a 2-core
        # machine, one at a time (seen in CI: 1.8 ms at p50 against a 1.04 ms tolerance) or
        # with 8 server threads sharing this interpreter's GIL
        slack = 1.0
        assert abs(got - want) <= max(0.05 * want, 1.0) + slack, (p, got, want)
    assert m["requests"] == 120 and m["errors"] == 0 and m["error_rate"] == 0
    assert m["throughput_rps"] > 0 and m["grader_cpu_per_request_ms"] is not None
    assert len(result.samples) == 120 and all(len(s) == 7 for s in result.samples)


def test_warmup_is_not_counted_and_errors_are(server) -> None:
    server.delays = [0.001]
    seen = []
    result = run_load(
        f"http://127.0.0.1:{server.server_port}/broken",
        requests=10,
        concurrency=2,
        json_body={},
        warmup=4,
        record=seen.append,
    )
    assert len(server.applied) == 14 and result.requests == 10
    m = result.measurements()
    assert m["errors"] == 10 and m["error_rate"] == 1.0 and m["p50_ms"] is None
    assert "10 errors" in seen[0].summary and seen[0].excerpt.count("\n") == 10


def test_dead_endpoint_gives_errors_not_a_hang() -> None:
    t0 = time.monotonic()
    result = run_load(
        "http://127.0.0.1:9/x", requests=5, concurrency=2, json_body={}, warmup=0, timeout_s=1
    )
    assert result.errors == 5 and "ConnectionRefused" in result.samples[0][5]
    assert time.monotonic() - t0 < 10


def test_raw_body_and_headers_reach_the_server(server) -> None:
    # a KServe v2 binary-tensor request: a JSON header, raw bytes, the header's length
    server.delays = [0.001]
    head = b'{"inputs": []}'
    body = head + bytes(range(256)) * 4
    headers = {"Inference-Header-Content-Length": str(len(head))}
    url = f"http://127.0.0.1:{server.server_port}/v2/models/m/infer"
    result = run_load(url, requests=3, concurrency=1, body=body, headers=headers, warmup=1)
    assert result.errors == 0 and len(server.bodies) == 4
    got, sent = server.bodies[-1]
    assert got == body and sent["Inference-Header-Content-Length"] == str(len(head))
    spoiled = run_load(url, requests=3, concurrency=1, body=b"x" + body[1:], warmup=0)
    assert spoiled.errors == 3 and all(s[3] == 400 for s in spoiled.samples)


def test_a_nodes_output_is_taken_only_when_it_is_what_the_worker_prints(server) -> None:
    # the worker run as an instance runs it (python3 on stdin's spec); its output parses
    server.delays = [0.002]
    spec = load_spec(
        f"http://127.0.0.1:{server.server_port}/predict",
        requests=5,
        concurrency=1,
        json_body={"image": "x"},
        warmup=2,
    )
    out = json.dumps(loadworker.run(spec))
    parsed = parse_samples(out, spec)
    assert parsed is not None and parsed.requests == 5 and parsed.errors == 0
    assert parsed.measurements()["p50_ms"] >= 2
    good = json.loads(out)["samples"][0]
    for bad in (
        "not json",
        json.dumps({"samples": "many"}),
        json.dumps({"samples": [good[:6]]}),  # a short sample
        json.dumps({"samples": [[99, *good[1:]]]}),  # an index past the requests
        json.dumps({"samples": [good, good]}),  # the same request twice
        json.dumps({"samples": [[good[0], good[1], -1.0, *good[3:]]]}),  # negative time
        json.dumps({"samples": [[good[0], good[1], True, *good[3:]]]}),  # not a number
    ):
        assert parse_samples(bad, spec) is None, bad
