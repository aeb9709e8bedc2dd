"""Load probe: N requests at concurrency C against an endpoint, every sample kept.

Reports p50/p95/p99 latency, throughput and error rate over the counted requests (warm-up
requests are sent first and not counted), and the grader's own CPU per request, so a reader
can see how much of a latency could be the grader's. Requests are sent from a separate worker
process (graders/probes/loadworker.py) inside a measurement slot (graders/limits.py): the
grader's own load cannot distort what it measures.
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from graders.errors import GraderFault
from graders.evidence import Evidence
from graders.limits import measuring

MAX_BODY = 1 << 20


@dataclass
class LoadResult:
    samples: list[list[Any]] = field(repr=False)  # [i, start_s, ms, status, bytes, error, cpu_ms]

    @property
    def requests(self) -> int:
        """Requests counted (after warm-up)."""
        return len(self.samples)

    @property
    def ok_samples(self) -> list[list[Any]]:
        return [s for s in self.samples if 200 <= s[3] < 300 and not s[5]]

    def first_error(self) -> str:
        """What went wrong with the first request that did not succeed ("none" if none)."""
        for s in self.samples:
            if s[5] or not 200 <= s[3] < 300:
                return s[5] or f"HTTP {s[3]}"
        return "none"

    @property
    def errors(self) -> int:
        return len(self.samples) - len(self.ok_samples)

    def measurements(self, prefix: str = "") -> dict[str, float | int | None]:
        """p50/p95/p99 (ms) of successful requests, throughput (req/s), error rate, overhead."""
        ms = sorted(s[2] for s in self.ok_samples)
        span = _span(self.samples)
        out: dict[str, float | int | None] = {
            "requests": len(self.samples),
            "errors": self.errors,
            "error_rate": round(self.errors / len(self.samples), 4) if self.samples else None,
            "p50_ms": _pct(ms, 50),
            "p95_ms": _pct(ms, 95),
            "p99_ms": _pct(ms, 99),
            "mean_ms": round(statistics.fmean(ms), 3) if ms else None,
            "throughput_rps": round(len(self.ok_samples) / span, 2) if span else None,
            "grader_cpu_per_request_ms": _pct(sorted(s[6] for s in self.samples), 50),
        }
        return {prefix + k: v for k, v in out.items()}

    def sample_table(self) -> str:
        head = "i,start_s,ms,status,bytes,error,grader_cpu_ms"
        rows = (",".join(str(x).replace(",", ";") for x in s) for s in self.samples)
        return "\n".join([head, *rows])


def load_spec(
    url: str,
    *,
    requests: int,
    concurrency: int,
    method: str = "POST",
    json_body: Any = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    warmup: int = 3,
    timeout_s: float = 10.0,
    deadline_s: float = 60.0,
) -> dict[str, Any]:
    """The worker's JSON spec: what loadworker.py reads on stdin, here or on an instance.
    The request body is `json_body`, `files` (multipart) or raw `body` bytes (with `headers`,
    e.g. a KServe v2 binary-tensor request)."""
    sent: dict[str, str] = dict(headers or {})
    raw = b""
    if json_body is not None:
        raw = json.dumps(json_body).encode()
        sent.setdefault("Content-Type", "application/json")
    elif files:
        from urllib3 import encode_multipart_formdata

        raw, ctype = encode_multipart_formdata(files)
        sent["Content-Type"] = ctype
    elif body is not None:
        raw = body
    return {
        "url": url,
        "method": method,
        "headers": sent,
        "body_b64": base64.b64encode(raw).decode(),
        "warmup": warmup,
        "requests": requests,
        "concurrency": concurrency,
        "timeout_s": timeout_s,
        "deadline_s": deadline_s,
        "max_body": MAX_BODY,
    }


def run_load(url: str, *, record=lambda e: None, **options: Any) -> LoadResult:
    """Send the requests from a worker process; record the samples as evidence
    (`options`: load_spec's)."""
    spec = load_spec(url, **options)
    method, concurrency = spec["method"], spec["concurrency"]
    limit = spec["deadline_s"] + spec["timeout_s"] + 15
    try:
        with measuring(urlsplit(url).hostname or "", lease_s=limit + 5):
            proc = subprocess.run(
                [sys.executable, "-m", "graders.probes.loadworker"],
                input=json.dumps(spec),
                capture_output=True,
                text=True,
                timeout=limit,
            )
    except subprocess.TimeoutExpired:  # the worker's own deadlines held it past its end
        raise GraderFault(f"the load worker did not finish within {limit:g} s") from None
    if proc.returncode != 0:
        raise GraderFault(f"load worker failed: {proc.stderr.strip()[-300:]}")
    out = json.loads(proc.stdout)
    counted = [s for s in out["samples"] if s[0] >= out["warmup"]]
    result = LoadResult(counted)
    m = result.measurements()
    record(
        Evidence.make(
            "http",
            f"{method} {url} x{len(counted)} at concurrency {concurrency}: p50 {m['p50_ms']} ms, "
            f"p95 {m['p95_ms']} ms, {m['throughput_rps']} req/s, {result.errors} errors",
            result.sample_table(),
            limit=256 * 1024,
        )
    )
    return result


def parse_samples(text: str, spec: dict[str, Any]) -> LoadResult | None:
    """A worker's output that someone else's machine printed (loadworker.py run on a
    student's instance): the counted samples, or None when it is not what the worker prints
    for this spec (not JSON, wrong shapes, more samples than requests, impossible times)."""
    try:
        out = json.loads(text)
    except ValueError:
        return None
    if not isinstance(out, dict) or not isinstance(out.get("samples"), list):
        return None
    total = int(spec["warmup"]) + int(spec["requests"])
    samples: list[list[Any]] = []
    seen: set[int] = set()
    for s in out["samples"]:
        if not (isinstance(s, list) and len(s) == 7):
            return None
        i, start, ms, status, size, error, cpu = s
        numbers = (start, ms, cpu)
        if (
            not isinstance(i, int)
            or isinstance(i, bool)
            or not 0 <= i < total
            or i in seen
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in numbers)
            or not all(0 <= x < 1e7 for x in numbers)
            or not isinstance(status, int)
            or not isinstance(size, int)
            or not isinstance(error, str)
        ):
            return None
        seen.add(i)
        if i >= int(spec["warmup"]):
            samples.append([i, float(start), float(ms), status, size, error[:120], float(cpu)])
    return LoadResult(sorted(samples))


def _pct(values: list[float], p: float) -> float | None:
    """Percentile by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    k = (len(values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 3)


def _span(samples: list[list[Any]]) -> float:
    """Seconds from the first counted request's start to the last one's end."""
    if not samples:
        return 0.0
    start = min(s[1] for s in samples)
    end = max(s[1] + s[2] / 1000 for s in samples)
    return end - start
