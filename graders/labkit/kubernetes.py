"""kubectl on the instance (node1 of a lab's cluster), as cc, and its JSON."""

from __future__ import annotations

from typing import Any

from graders.answers import as_dict, parse_json
from graders.checks import Lab
from graders.errors import Failure

# A legitimately large answer is read whole: a lab's cluster after its last step (Argo
# Workflows embed their whole template spec: a finished mlops-chi passes 2 MB as JSON) stays
# well under this; an answer past it is a flood from the student's host, failed as such.
KUBECTL_MAX_BYTES = 16 << 20


def kubectl(lab: Lab, args: str, missing: str = "", max_bytes: int = KUBECTL_MAX_BYTES) -> str:
    """`kubectl ARGS` on the instance, its stdout. A failure gives kubectl's first error
    line; `missing` is the help when the cluster lacks the resource type (a CRD)."""
    result = lab.run(f"kubectl {args}", max_bytes=max_bytes)
    if result.truncated:
        raise Failure(
            f"`kubectl {args}` printed more than {max_bytes >> 20} MiB, far more than the "
            "lab's cluster holds; the grader read no further",
            "Delete what the lab did not create (kubectl get all -A shows it), then grade again.",
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
