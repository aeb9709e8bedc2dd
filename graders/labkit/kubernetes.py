"""kubectl on the instance (node1 of a lab's cluster), as cc, and its JSON."""

from __future__ import annotations

from typing import Any

from graders.answers import as_dict, parse_json
from graders.checks import Lab
from graders.errors import Failure, GraderFault

# What a kubectl answer may hold: a cluster's JSON or a jsonpath listing is legitimately large
# (an Argo Workflow embeds its whole template spec), so the bound is generous, and an answer
# cut at it is the grader's fault to fix, never the student's fail.
KUBECTL_MAX_BYTES = 16 << 20


def kubectl(lab: Lab, args: str, missing: str = "", max_bytes: int = KUBECTL_MAX_BYTES) -> str:
    """`kubectl ARGS` on the instance, its stdout. A failure gives kubectl's first error
    line; `missing` is the help when the cluster lacks the resource type (a CRD). An answer
    past `max_bytes` is a GraderFault (status error): the grader's bound, not the student's
    cluster, is wrong."""
    result = lab.run(f"kubectl {args}", max_bytes=max_bytes)
    if result.truncated:
        raise GraderFault(
            f"`kubectl {args}` printed more than the grader's {max_bytes >> 20} MiB bound "
            "and was cut off: raise KUBECTL_MAX_BYTES (graders/labkit/kubernetes.py)"
        )
    if not result.ok:
        err = (result.stderr or result.stdout).strip().splitlines()
        first = err[0] if err else f"exit {result.exited}"
        help = (
            missing
            if missing and "doesn't have a resource type" in first
            else "Run it yourself on node1 as cc; is ~/.kube/config in place?"
        )
        raise Failure(f"`kubectl {args}` failed: {first[:200]}", help)
    return result.stdout


def kubectl_json(lab: Lab, args: str, missing: str = "") -> dict[str, Any]:
    """`kubectl ARGS` on the instance, its JSON object (see `kubectl`)."""
    out = kubectl(lab, args, missing)
    return as_dict(parse_json(out, f"`kubectl {args}`"), f"`kubectl {args}`")
