"""kubectl on the instance (node1 of a lab's cluster), as cc, and its JSON."""

from __future__ import annotations

from typing import Any

from graders.answers import as_dict, parse_json
from graders.checks import Lab
from graders.errors import Failure

# A legitimately large answer is read whole: a lab's cluster after its last step (Argo
# Workflows embed their whole template spec) stays well under this; past it is a flood.
KUBECTL_MAX_BYTES = 16 << 20


def kubectl_json(lab: Lab, args: str, missing: str = "") -> dict[str, Any]:
    """`kubectl ARGS` on the instance, its JSON object. A failure gives kubectl's first error
    line; `missing` is the help when the cluster lacks the resource type (a CRD)."""
    result = lab.run(f"kubectl {args}", max_bytes=KUBECTL_MAX_BYTES)
    if result.truncated:
        raise Failure(
            f"`kubectl {args}` printed more than {KUBECTL_MAX_BYTES >> 20} MiB, far more than "
            "the lab's cluster holds; the grader read no further",
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
    return as_dict(parse_json(result.stdout, f"`kubectl {args}`"), f"`kubectl {args}`")
