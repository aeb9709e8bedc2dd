"""The batch's own CSVs (reference/grading-formats.md section 5); the LMS imports are in lms.py.

gradebook.csv follows otter's final_grades.csv: one row per student, a column per rubric
item, then totals and a grading_status; the first data row, `points-per-question`, holds each
column's maximum. An item a grader error kept from being judged, and the totals of a student
with such an item or whose grading crashed, are empty cells, never 0; grading_status says
"needs regrade" and why. needs_regrade.csv lists exactly those students for staff.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from graders.evidence import clean
from graders.files import FORMULA_STARTS
from graders.results import BatchRow
from graders.status import Status

if TYPE_CHECKING:  # report reads results; the rubric is only named in annotations
    from graders.rubric import Rubric

REGRADE = "needs regrade"


def gradebook(rows: list[BatchRow], rubric: Rubric) -> str:
    items = [i.id for i in rubric.items]
    table = [
        [
            "netid",
            "email",
            "section",
            *items,
            "total_points_earned",
            "max_score",
            "percent_correct",
            "grading_status",
        ],
        [
            "points-per-question",
            "",
            "",
            *[number(i.points) for i in rubric.items],
            number(rubric.max_score),
            number(rubric.max_score),
            "100",
            "",
        ],
    ]
    for row in rows:
        result = row.result
        by_id = {c.id: c for c in result.items} if result else {}
        cells = [
            number(by_id[i].score) if i in by_id and by_id[i].status != Status.ERROR else ""
            for i in items
        ]
        totals = ["", "", ""]
        if row.complete and result:
            pct = 100 * result.score / result.max_score if result.max_score else 0
            totals = [number(result.score), number(result.max_score), f"{pct:.2f}"]
        table.append([*identity(row), *cells, *totals, grading_status(row)])
    return write_table(table)


def needs_regrade(rows: list[BatchRow], rubric: Rubric) -> str:
    """The students whose grade is not known yet: the reason and the items not judged."""
    table = [["netid", "email", "section", "reason", "items_not_judged"]]
    for row in rows:
        if row.complete:
            continue
        if row.result is None:
            not_judged = [i.id for i in rubric.items]
        else:
            not_judged = row.result.not_judged()
        table.append([*identity(row), reason(row), " ".join(not_judged)])
    return write_table(table)


def reason(row: BatchRow) -> str:
    """Why a student's grade is not known yet (in one line); "" when it is."""
    if row.result is None:  # cleaned again: a store may predate cleaned reasons
        return clean(f"grader crashed: {row.crash}".splitlines()[0])
    errors = [c for c in row.result.items if c.status == Status.ERROR]
    if not errors:
        return ""
    first = errors[0].feedback.splitlines()[0] if errors[0].feedback else ""
    return f"grader error on {len(errors)} item(s): {first}".rstrip(": ")


def grading_status(row: BatchRow) -> str:
    return "ok" if row.complete else f"{REGRADE}: {reason(row)}"


def identity(row: BatchRow) -> list[str]:
    s = row.student
    return [s.get("netid") or "", s.get("email") or "", s.get("section") or ""]


def number(x: float) -> str:
    """At most 2 decimals, as Canvas writes scores."""
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def safe(text: str) -> str:
    """Stop spreadsheets from evaluating a cell as a formula (CSV injection)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_table(table: list[list[str]]) -> str:
    """Every CSV we write, every cell guarded: none starts with = + - @ TAB or CR (`safe`),
    and a CR inside a cell becomes a newline, which the writer quotes (a bare CR is not
    quoted, and a spreadsheet starts a new row at it, whose first cell is then unguarded).
    Our numbers are never negative, and the LMS identity cells (netid, section) are refused
    at roster load when they would need the guard (graders/roster.py), so this changes only
    what no roster should hold: a store written without that check, a rubric's odd id."""
    buf = io.StringIO()
    rows = ([safe(c).replace("\r\n", "\n").replace("\r", "\n") for c in row] for row in table)
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()
