"""The student's view in a terminal: a line per check, feedback under what did not pass.

It renders the result it is given: a student's own run gives it `Result.for_student()`, whose
withheld items (status `hidden`) are summed up in one line, never described. Whatever it
prints of a result is escaped to printable characters: feedback quotes the student's own
output, which must never move the cursor, recolour or conceal anything on a TA's terminal.
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


def printable(text: str) -> str:
    """`text` as a terminal may show it: every character that is not printable (an escape
    sequence, a carriage return, a bidi override) written as its Python escape, `\\x1b`."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def render(result: Result, **_: object) -> str:
    shown = [c for c in result.items if c.status != Status.HIDDEN]
    hidden_pts = sum(c.max_score for c in result.items if c.status == Status.HIDDEN)
    n_hidden = len(result.items) - len(shown)
    lines = [printable(f"{result.lab}: {result.student}"), ""]
    for c in shown:
        pts = f"{c.score:g}/{c.max_score:g}"
        lines.append(f" {MARKS[c.status]} {printable(c.title)}  [{c.status}, {pts}]")
        if c.status != Status.PASSED and c.feedback:
            # Split on newlines only: str.splitlines also breaks at \x1c-\x1e, \x85 and
            # \u2028, which printable() must see and escape instead.
            lines += [f"     {printable(line)}" for line in c.feedback.split("\n")]
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
