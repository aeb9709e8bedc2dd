"""The student's view in a terminal: a line per check, feedback under what did not pass.

It renders the result it is given: a student's own run gives it `Result.for_student()`, whose
withheld items (status `hidden`) are summed up in one line, never described.
"""

from __future__ import annotations

from graders.results import Result
from graders.status import Status

MARKS = {
    Status.PASSED: "✓",
    Status.FAILED: "✗",
    Status.SKIPPED: "–",
    Status.UNREACHABLE: "⚠",
    Status.ERROR: "!",
    Status.WAIVED: "W",
}


def render(result: Result, **_: object) -> str:
    shown = [c for c in result.items if c.status != Status.HIDDEN]
    hidden_pts = sum(c.max_score for c in result.items if c.status == Status.HIDDEN)
    n_hidden = len(result.items) - len(shown)
    lines = [f"{result.lab}: {result.student}", ""]
    for c in shown:
        pts = f"{c.score:g}/{c.max_score:g}"
        lines.append(f" {MARKS[c.status]} {c.title}  [{c.status}, {pts}]")
        if c.status != Status.PASSED and c.feedback:
            lines += [f"     {line}" for line in c.feedback.splitlines()]
    if n_hidden:
        lines += [
            "",
            f" {n_hidden} hidden check{'s' if n_hidden != 1 else ''} "
            f"({hidden_pts:g} point{'s' if hidden_pts != 1 else ''}) graded but not shown until "
            "staff release them.",
        ]
    got = sum(c.score for c in shown if c.status != Status.ERROR)
    out_of = sum(c.max_score for c in shown if c.status != Status.ERROR)
    lines += [
        "",
        f"Score estimate: {got:g}/{out_of:g} on the checks shown"
        + (f" (hidden checks add up to {hidden_pts:g} more)" if n_hidden else ""),
    ]
    errors = [c for c in shown if c.status == Status.ERROR]
    if errors:
        lines.append(f"{len(errors)} check(s) hit a grader error: not counted against you.")
    return "\n".join(lines) + "\n"
