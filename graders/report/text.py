"""The student's view in a terminal: a line per check, feedback under what did not pass."""

from __future__ import annotations

from datetime import datetime, timezone

from graders.results import Result

MARKS = {
    "passed": "✓",
    "failed": "✗",
    "skipped": "–",
    "unreachable": "⚠",
    "error": "!",
    "waived": "W",
}


def render(result: Result, *, now: datetime | None = None, **_: object) -> str:
    now = now or datetime.now(timezone.utc)
    due = result.due_at()
    shown = [c for c in result.checks if c.shown(now, due)]
    hidden = [c for c in result.checks if not c.shown(now, due)]
    lines = [f"{result.lab}: {result.student}", ""]
    for c in shown:
        pts = f"{c.score:g}/{c.max_score:g}"
        lines.append(f" {MARKS[c.status]} {c.title}  [{c.status}, {pts}]")
        if c.status not in ("passed",) and c.feedback:
            lines += [f"     {line}" for line in c.feedback.splitlines()]
    if hidden:
        pts = sum(c.max_score for c in hidden)
        lines += [
            "",
            f" {len(hidden)} hidden check{'s' if len(hidden) != 1 else ''} "
            f"({pts:g} point{'s' if pts != 1 else ''}) graded but not shown until staff "
            "release them.",
        ]
    got = sum(c.score for c in shown if c.status != "error")
    out_of = sum(c.max_score for c in shown if c.status != "error")
    lines += [
        "",
        f"Score estimate: {got:g}/{out_of:g} on the checks shown"
        + (
            f" (hidden checks add up to {sum(c.max_score for c in hidden):g} more)"
            if hidden
            else ""
        ),
    ]
    errors = [c for c in shown if c.status == "error"]
    if errors:
        lines.append(f"{len(errors)} check(s) hit a grader error: not counted against you.")
    return "\n".join(lines) + "\n"
