"""The load generator's worker process: `python -m graders.probes.loadworker` reads a JSON
spec on stdin and writes one JSON document of samples on stdout.

It runs in its own process so that the grader's other threads (a 200-student batch) cannot
hold the GIL while a request is timed. Each of `concurrency` threads keeps one keep-alive
connection, as a load tester does; every request is timed with perf_counter from the first
byte sent to the last byte read.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit


def run(spec: dict[str, Any]) -> dict[str, Any]:
    url = urlsplit(spec["url"])
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    body = base64.b64decode(spec.get("body_b64", "")) or None
    headers = {"User-Agent": "labgrader-load", **spec.get("headers", {})}
    timeout, cap = float(spec["timeout_s"]), int(spec["max_body"])
    deadline = time.monotonic() + float(spec["deadline_s"])
    total = int(spec["warmup"]) + int(spec["requests"])
    lock = threading.Lock()
    issued = [0]
    samples: list[list[Any]] = []
    t_zero = time.perf_counter()

    def next_index() -> int | None:
        with lock:
            if issued[0] >= total or time.monotonic() > deadline:
                return None
            issued[0] += 1
            return issued[0] - 1

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        while (i := next_index()) is not None:
            if conn is None:
                conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout)
            cpu0, t0 = time.thread_time(), time.perf_counter()
            status, size, error = 0, 0, ""
            try:
                conn.request(spec["method"], path, body=body, headers=headers)
                resp = conn.getresponse()
                status = resp.status
                while chunk := resp.read1(65536):
                    size += len(chunk)
                    if size > cap:
                        error = f"body over {cap} bytes"
                        break
                    if time.monotonic() > deadline:
                        error = "run deadline reached mid-body"
                        break
                if not error:
                    size += len(resp.read())  # b"": marks the response done for keep-alive
                if error or resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"[:120]
                if conn is not None:
                    conn.close()
                conn = None
            t1 = time.perf_counter()
            with lock:
                samples.append(
                    [
                        i,
                        round(t0 - t_zero, 6),
                        round((t1 - t0) * 1000, 3),
                        status,
                        size,
                        error,
                        round((time.thread_time() - cpu0) * 1000, 3),
                    ]
                )
        if conn is not None:
            conn.close()

    threads = [
        threading.Thread(target=worker, daemon=True) for _ in range(int(spec["concurrency"]))
    ]
    for t in threads:
        t.start()
    end = deadline + timeout + 1  # one end for every join: stuck threads do not add up
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    wall = time.perf_counter() - t_zero
    with lock:
        done = sorted(samples)
    return {"samples": done, "wall_s": round(wall, 6), "warmup": int(spec["warmup"])}


if __name__ == "__main__":
    try:
        # Ahead of the grader's other work on this machine, where allowed: a timed request
        # must not wait for the CPU behind an SSH handshake of another student.
        os.nice(-5)
    except OSError:
        pass
    json.dump(run(json.load(sys.stdin)), sys.stdout)
