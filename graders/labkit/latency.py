"""The load on a model server and the latency it shows: requests from the grader (with the
node's GPUs sampled meanwhile), the grader's round trip to the host, and the same sequential
requests timed on the node with the grader's own worker. The node's figure is trusted only
when it agrees with the grader's own figure less that round trip. The load's sizes and the
agreement's tolerance come from lab.config["load"]."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graders.checks import Lab
from graders.errors import Failure
from graders.labkit.gpus import Background, sample_gpus
from graders.labkit.modelservers import Target
from graders.probes import loadworker
from graders.probes.load import LoadResult, load_spec, parse_samples

LOADWORKER = Path(loadworker.__file__)  # copied to the node and run by its python3
REMOTE_WORKER = ".labgrader/loadworker.py"
REMOTE_SPEC = ".labgrader/load_spec.json"


@dataclass(frozen=True)
class GpuWatch:
    """What sampling the GPUs during the load read: the summary, or why there is none."""

    summary: dict[str, Any] | None
    problem: str = ""


@dataclass(frozen=True)
class Loaded:
    target: Target
    watch: GpuWatch


def _sample_quietly(lab: Lab, window: int) -> GpuWatch:
    """The sampling beside the load: a failure is kept for the checks, not raised here."""
    try:
        return GpuWatch(sample_gpus(lab, window))
    except Failure as exc:
        return GpuWatch(None, exc.message)


def load_watching_gpus(lab: Lab, target: Target, level: str) -> tuple[LoadResult, GpuWatch]:
    """The grader's load at `level` (lab.config["load"]), the node's GPUs sampled meanwhile
    for lab.config["gpu"]["window_s"] seconds."""
    window = int(lab.config["gpu"]["window_s"])
    with lab.measuring():  # one slot for both, so the sampling sees this load
        sampler = Background(_sample_quietly, lab, window)
        result = grader_load(lab, target, level)
        watch: GpuWatch = sampler.outcome(window + 30)
    return result, watch


def _load_options(lab: Lab, target: Target, level: str) -> dict[str, Any]:
    cfg = lab.config["load"]
    return {
        "requests": cfg[level]["requests"],
        "concurrency": cfg[level]["concurrency"],
        "body": target.body,
        "headers": target.headers,
        "warmup": cfg["warmup"],
        "timeout_s": cfg["timeout_s"],
        "deadline_s": cfg["deadline_s"],
    }


def grader_load(lab: Lab, target: Target, level: str) -> LoadResult:
    url = f"http://{lab.address}:{lab.port('model')}{target.path}"
    return lab.load(url, **_load_options(lab, target, level))


def require_some(lab: Lab, target: Target, result: LoadResult) -> None:
    lab.require(
        result.ok_samples,
        f"none of {result.requests} requests to port {lab.port('model')}{target.path} "
        f"succeeded (first error: {result.first_error()})",
    )


def round_trip(lab: Lab, target: Target) -> float:
    """The grader's round trip to the host for this request: the same bytes with the first
    one spoiled, which the server reads whole and refuses without running the model; the
    median over a few (0 when none was answered: the end-to-end figure stands)."""
    cfg = lab.config["load"]
    url = f"http://{lab.address}:{lab.port('model')}{target.path}"
    result = lab.load(
        url,
        requests=int(cfg["round_trip_requests"]),
        concurrency=1,
        body=b"x" + target.body[1:],
        headers=target.headers,
        warmup=2,
        timeout_s=cfg["timeout_s"],
        deadline_s=min(30, cfg["deadline_s"]),
    )
    answered = sorted(s[2] for s in result.samples if s[3] and not s[5])
    return round(answered[len(answered) // 2], 3) if answered else 0.0


def node_load(lab: Lab, target: Target) -> tuple[LoadResult | None, str]:
    """The same sequential requests timed on the node with the grader's own worker
    (graders/probes/loadworker.py, run by the node's python3): the samples, or why none."""
    served = target.served
    url = f"{served.inside_url}{target.path}"
    spec = load_spec(url, **_load_options(lab, target, "c1"))
    limit = float(spec["deadline_s"]) + float(spec["timeout_s"]) + 20
    lab.put(LOADWORKER.read_text(), REMOTE_WORKER)
    lab.put(json.dumps(spec), REMOTE_SPEC)
    with lab.measuring():
        result = lab.run(
            f"python3 {shlex.quote(REMOTE_WORKER)} < {shlex.quote(REMOTE_SPEC)}",
            timeout=limit,
            max_bytes=1 << 20,
        )
    if not result.ok:
        return None, f"python3 on the node exited {result.exited}: {result.stderr.strip()[-160:]}"
    parsed = parse_samples(result.stdout, spec)
    if parsed is None:
        return None, "the node's worker printed no valid samples"
    if not parsed.ok_samples:
        return None, f"none of the node's requests to {url} succeeded ({parsed.first_error()})"
    lab.note(f"timed on the node against {url}", parsed.sample_table()[:4000])
    return parsed, ""


def agreed_latency(
    lab: Lab, grader: dict[str, Any], rtt: float, node: dict[str, Any], why: str
) -> tuple[str, float, float]:
    """The figures to score, and whose (see `agree`); the reason is noted."""
    basis, p50, p95, reason = agree(lab.config["load"], grader, rtt, node, why)
    lab.note(reason)
    return basis, p50, p95


def agree(
    cfg: dict[str, Any], grader: dict[str, Any], rtt: float, node: dict[str, Any], why: str
) -> tuple[str, float, float, str]:
    """The figures to score, whose, and why: the node's `node_p50_ms`/`node_p95_ms` when its
    median agrees with the grader's `grader_p50_ms` (not below it less the round trip `rtt`,
    by more than the tolerance of lab.yaml's `load`, nor above it); else the grader's figures
    less `rtt` (`why`: why the node's timing, if none, did not count)."""
    end50 = float(grader["grader_p50_ms"] or 0)
    net50 = max(0.0, end50 - rtt)
    net95 = max(0.0, float(grader["grader_p95_ms"] or 0) - rtt)
    node50, node95 = node.get("node_p50_ms"), node.get("node_p95_ms")
    # An honest node's median lies between the grader's figure less the round trip (that
    # round trip includes the server reading the request, which the node's figure keeps) and
    # the grader's end-to-end figure. A lower one claims a faster server than the grader saw.
    tolerance = max(float(cfg["agree_ms"]), float(cfg["agree_fraction"]) * net50)
    low, high = net50 - tolerance, end50 + tolerance
    if node50 is not None and node95 is not None and low <= node50 <= high:
        reason = (
            f"scored the node's figures: p50 {node50} ms on the node; from the grader "
            f"{end50} ms end to end, {net50:.3f} ms less its {rtt} ms round trip (agreeing: "
            f"{low:.1f}..{high:.1f} ms)"
        )
        return "node", node50, node95, reason
    p50, p95 = round(net50, 3), round(net95, 3)
    reason = (
        f"scored the grader's own figures (p50 {end50} ms end to end, less its {rtt} ms "
        f"round trip: {p50} ms); the node's "
        + (
            f"p50 of {node50} ms is outside {low:.1f}..{high:.1f} ms"
            if node50 is not None
            else f"timing did not count ({why})"
        )
    )
    return "grader", p50, p95, reason
