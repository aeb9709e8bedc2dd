"""Grade imports for the LMS (reference/grading-formats.md section 5): Canvas and Brightspace.

A student whose grade is not known (a grader error on some item, or a crashed grading) gets an
empty cell, never 0: an LMS would record a 0 as a grade. Neither file can carry a flag (an
unknown column becomes a new assignment), so the flag is in gradebook.csv and
needs_regrade.csv.

- canvas.csv: the five identity columns in the one order Canvas accepts, a `Points Possible`
  row, and the lab's column, titled `<rubric title> (<Canvas assignment id>)` when
  rubrics/course.yaml gives the id, else the title alone (Canvas then matches it by name). The
  netid is the SIS Login ID. Identity cells are not escaped (Canvas would match the escaped
  text): the roster refuses values a spreadsheet would run as formulas.
- brightspace.csv: `OrgDefinedId,Username,<item> Points Grade,End-of-Line Indicator`, the
  ids prefixed with `#` as Brightspace's own exports write them (so spreadsheets keep them
  text), and `#` ending every row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from graders.report.csv import number, write_table
from graders.results import BatchRow

if TYPE_CHECKING:  # report reads results; the rubric is only named in annotations
    from graders.rubric import Rubric

CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def canvas(rows: list[BatchRow], rubric: Rubric, assignment_id: str | None = None) -> str:
    column = f"{rubric.title} ({assignment_id})" if assignment_id else rubric.title
    table = [
        [*CANVAS_IDENTITY, column],
        ["    Points Possible", "", "", "", "", number(rubric.max_score)],
    ]
    for row in rows:
        section = row.student.get("section") or ""
        table.append(["", "", "", row.student["netid"], section, lms_score(row)])
    return write_table(table)


def brightspace(rows: list[BatchRow], rubric: Rubric) -> str:
    table = [["OrgDefinedId", "Username", f"{rubric.title} Points Grade", "End-of-Line Indicator"]]
    for row in rows:  # the roster has no OrgDefinedId: Brightspace matches the Username
        table.append(["", _text(row.student["netid"]), lms_score(row), "#"])
    return write_table(table)


def lms_score(row: BatchRow) -> str:
    """The total, or an empty cell when some item was not judged."""
    return number(row.result.score) if row.complete and row.result else ""


def _text(value: str) -> str:
    """An id as Brightspace exports it: `#` first, so that no spreadsheet reads it as a
    number or a formula; an empty id stays empty."""
    return f"#{value}" if value else ""
