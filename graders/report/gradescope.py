"""Gradescope's results.json (reference/grading-formats.md section 1).

Gradescope knows only passed/failed, so richer statuses travel in `output`, `tags` and
`extra_data`. A grader error is reported with max_score 0 and explained, so that it is visibly
not counted against the student; the top-level `score` is the counted total.
"""

from __future__ import annotations

import json
from typing import Any

from graders.results import Result

VISIBILITY = {"visible": "visible", "hidden": "hidden", "after_due": "after_due_date"}


def render(result: Result, *, execution_time: float | None = None, **_: object) -> str:
    tests = []
    for n, item in enumerate(result.checks, 1):
        error = item.status == "error"
        output = f"[{item.status}] {item.feedback}".strip()
        if error:
            output += "\nNot counted: staff will re-run this check."
        tests.append(
            {
                "name": item.title,
                "number": str(n),
                "score": item.score,
                "max_score": 0 if error else item.max_score,
                "status": "passed" if item.status in ("passed", "waived") else "failed",
                "output": output,
                "visibility": VISIBILITY[item.visibility],
                "tags": [item.id, item.status],
                "extra_data": {
                    "check": item.id,
                    "status": item.status,
                    "evidence_sha256": [e["sha256"] for e in item.evidence],
                },
            }
        )
    passed = sum(1 for c in result.checks if c.status == "passed")
    doc: dict[str, Any] = {
        "score": result.score,
        "output": f"{result.lab}: {passed} of {len(result.checks)} checks passed, "
        f"{result.score:g}/{result.max_score:g} points"
        + ("" if result.complete else " (grader errors: some checks not counted)"),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "student": result.student,
            "graded_at": result.graded_at,
            "rubric_sha256": result.rubric_sha256,
            "complete": result.complete,
            "grader_version": result.grader_version,
        },
    }
    if execution_time is not None:
        doc["execution_time"] = round(execution_time, 2)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
