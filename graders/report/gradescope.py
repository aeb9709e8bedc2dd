"""Gradescope's results.json (reference/grading-formats.md section 1).

Gradescope knows only passed/failed, so richer statuses travel in `output`, `tags` and
`extra_data`; the top-level `score` is the counted total.

Visibility, rubric -> Gradescope: `visible` -> `visible`; `after_due` -> `after_due_date`;
`hidden` and `after_published` -> `after_published` (graded, shown once staff publish grades;
Gradescope's own `hidden` is for tests worth no points, and would also let students see the
total while those tests are withheld).

- An item a grader error kept from being judged (`error`) scores 0 of its points, says plainly
  that it was not graded and will be regraded, and the result gains a visible, pointless
  "Grading incomplete" test that staff can filter on, with `incomplete` in `extra_data`.
- A 0-point item that does not apply (`skipped`) is informational: `passed`, no score.
- An item of a student's own view that is not shown yet (`hidden`) keeps only its points.
- `extra_data.view` says whose view it is (`student`: a self-check's, hidden items by their
  points; `full`), and `extra_data.signature` is a batch's staff signature, or null
  (graders/signing.py).
- `failure()` is the results.json of a run that could not start (bad input): Gradescope
  shows "The autograder failed to execute correctly" when there is none.
"""

from __future__ import annotations

import json
from typing import Any

from graders.results import ItemResult, Result
from graders.signing import SigningKey, seal_gradescope
from graders.status import Status, counts_as_passed

VISIBILITY = {
    "visible": "visible",
    "after_due": "after_due_date",
    "hidden": "after_published",
    "after_published": "after_published",
}
INCOMPLETE = "Grading incomplete: staff will regrade"
NOT_GRADED = (
    "NOT GRADED: a grader problem kept this check from being judged. This is not your fault: "
    "staff will regrade it."
)


def render(
    result: Result,
    *,
    execution_time: float | None = None,
    key: SigningKey | None = None,
    **_: object,
) -> str:
    tests = [_test(n, item) for n, item in enumerate(result.items, 1)]
    not_judged = result.not_judged()
    passed = sum(1 for c in result.items if c.status == Status.PASSED)
    output = (
        f"{result.lab}: {passed} of {len(result.items)} checks passed, "
        f"{result.score:g}/{result.max_score:g} points"
    )
    if not_judged:
        note = (
            f"{len(not_judged)} check(s) were NOT graded because of a grader problem "
            f"({', '.join(not_judged)}); this is not your fault, and staff will regrade them."
        )
        output += f". Grading incomplete: {note}"
        tests.append(
            {
                "name": INCOMPLETE,
                "score": 0,
                "max_score": 0,
                "status": "failed",
                "output": note,
                "visibility": "visible",
                "tags": ["incomplete"],
            }
        )
    doc: dict[str, Any] = {
        "score": result.score,
        "output": output,
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "student": result.student,
            "graded_at": result.graded_at,
            "rubric_sha256": result.rubric_sha256,
            "complete": result.complete,
            "grader_version": result.grader_version,
            "view": result.view,
            **({"incomplete": True, "not_judged": not_judged} if not_judged else {}),
        },
    }
    if result.leaderboard:
        doc["leaderboard"] = [dict(b) for b in result.leaderboard]
    if execution_time is not None:
        doc["execution_time"] = round(execution_time, 2)
    return _dump(seal_gradescope(doc, key))


def failure(reason: str) -> str:
    """The results.json of a run that could not start: no points, and the one-line reason."""
    doc = {
        "score": 0,
        "output": reason,
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": "Grading could not start",
                "score": 0,
                "max_score": 0,
                "status": "failed",
                "output": reason,
                "visibility": "visible",
            }
        ],
        "extra_data": {"bad_input": reason},
    }
    return _dump(seal_gradescope(doc, None))


def _test(n: int, item: ItemResult) -> dict[str, Any]:
    test: dict[str, Any] = {
        "name": item.title,
        "number": str(n),
        "visibility": VISIBILITY[item.visibility],
        "tags": [item.id, item.status],
    }
    if item.status == Status.HIDDEN:  # a student's own view: the points, not the outcome
        return test | {
            "score": 0,
            "max_score": item.max_score,
            "output": "Hidden: graded, and shown once staff publish grades.",
        }
    test["extra_data"] = {
        "check": item.id,
        "status": item.status,
        "evidence_sha256": [e["sha256"] for e in item.evidence],
    }
    if item.status == Status.SKIPPED and not item.max_score:
        return test | {"status": "passed", "output": f"Does not apply: {item.feedback}".strip()}
    output = f"[{item.status}] {item.feedback}".strip()
    if item.status == Status.ERROR:
        output = f"{NOT_GRADED}\n{output}"
    return test | {
        "score": 0 if item.status == Status.ERROR else item.score,
        "max_score": item.max_score,
        "status": "passed" if counts_as_passed(item.status) else "failed",
        "output": output,
    }


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
