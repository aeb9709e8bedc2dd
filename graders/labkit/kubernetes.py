"""kubectl on the instance (node1 of a lab's cluster), as cc, and its JSON."""

from __future__ import annotations

from typing import Any

from graders.answers import as_dict, parse_json
from graders.checks import Lab
from graders.errors import Failure


def kubectl_json(lab: Lab, args: str, missing: str = "") -> dict[str, Any]:
    """`kubectl ARGS` on the instance, its JSON object. A failure gives kubectl's first error
    line; `missing` is the help when the cluster lacks the resource type (a CRD)."""
    result = lab.run(f"kubectl {args}")
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
