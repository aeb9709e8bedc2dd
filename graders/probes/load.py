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


def run_load(
    url: str,
    *,
    requests: int,
    concurrency: int,
    method: str = "POST",
    json_body: Any = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    warmup: int = 3,
    timeout_s: float = 10.0,
    deadline_s: float = 60.0,
    record=lambda e: None,
) -> LoadResult:
    """Send the requests from a worker process; record the samples as evidence."""
    headers: dict[str, str] = {}
    body = b""
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif files:
        from urllib3 import encode_multipart_formdata

        body, ctype = encode_multipart_formdata(files)
        headers["Content-Type"] = ctype
    spec = {
        "url": url,
        "method": method,
        "headers": headers,
        "body_b64": base64.b64encode(body).decode(),
        "warmup": warmup,
        "requests": requests,
        "concurrency": concurrency,
        "timeout_s": timeout_s,
        "deadline_s": deadline_s,
        "max_body": MAX_BODY,
    }
    limit = deadline_s + timeout_s + 15
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
