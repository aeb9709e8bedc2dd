"""Gradebook CSVs for a batch (reference/grading-formats.md section 5).

gradebook.csv follows otter's final_grades.csv: one row per student, a column per rubric
item, then totals and a grading_status; the first data row, `points-per-question`, holds each
column's maximum. canvas.csv is ready for Canvas's gradebook import: the five identity
columns in the order Canvas accepts, a `Points Possible` row, and one column for the lab.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from graders.results import Result

if TYPE_CHECKING:  # report reads results; the rubric is only named in annotations
    from graders.rubric import Rubric


def gradebook(results: list[tuple[dict, Result | None, str]], rubric: Rubric) -> str:
    """`results`: (roster row, result or None when grading crashed, status) per student."""
    items = [i.id for i in rubric.items]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "netid",
            "email",
            "section",
            *items,
            "total_points_earned",
            "max_score",
            "percent_correct",
            "grading_status",
        ]
    )
    w.writerow(
        [
            "points-per-question",
            "",
            "",
            *[_n(i.points) for i in rubric.items],
            _n(rubric.max_score),
            _n(rubric.max_score),
            "100",
            "",
        ]
    )
    for row, result, status in results:
        ident = [
            _safe(row.get("netid", "")),
            _safe(row.get("email") or ""),
            _safe(row.get("section") or ""),
        ]
        if result is None:
            w.writerow([*ident, *[""] * len(items), "", "", "", status])
            continue
        scores = {c.id: c for c in result.checks}
        cells = ["" if scores[i].status == "error" else _n(scores[i].score) for i in items]
        pct = 100 * result.score / result.max_score if result.max_score else 0
        w.writerow([*ident, *cells, _n(result.score), _n(result.max_score), f"{pct:.2f}", status])
    return buf.getvalue()


def canvas(results: list[tuple[dict, Result | None, str]], rubric: Rubric) -> str:
    column = f"{rubric.title} ({rubric.lab})"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column])
    w.writerow(["    Points Possible", "", "", "", "", _n(rubric.max_score)])
    for row, result, _status in results:
        score = "" if result is None else _n(result.score)
        w.writerow(["", "", "", _safe(row["netid"]), _safe(row.get("section") or ""), score])
    return buf.getvalue()


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def _safe(text: str) -> str:
    """Stop spreadsheets from evaluating a cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
