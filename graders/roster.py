"""The roster (CSV): checked whole before anything connects, every problem reported at once."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from graders.errors import BadInput
from graders.files import FORMULA_STARTS, validate
from graders.student import Student, from_dict

MAX_LISTED = 20
REQUIRED = ("netid", "chameleon_user")  # columns; a roster names each user
LMS_IDENTITY = ("netid", "section")  # written unescaped into Canvas's identity columns


def load_roster(path: str | Path, staff_key: Path | None = None) -> list[Student]:
    """Students of a roster; BadInput lists every bad row (with its line number) together.

    Staff log in with one course key (`staff_key`, batch --ssh-key); a row's own `ssh_key`
    overrides it for that student."""
    p = Path(path)
    reader = _reader(p)
    problems: list[str] = []
    students: list[Student] = []
    first_seen: dict[str, int] = {}
    users: dict[str, int] = {}  # chameleon_user (and user id) -> the line that has it
    for n, raw in enumerate(reader, start=2):
        if None in raw:
            problems.append(f"line {n}: more cells than the header has columns")
            continue
        row = {k.strip(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue  # blank line
        try:
            student = _student(row, n, p.resolve().parent, staff_key)
        except BadInput as exc:
            problems.append(str(exc))
            continue
        if student.netid in first_seen:
            problems.append(
                f"line {n}: netid {student.netid} already on line {first_seen[student.netid]}"
            )
            continue
        shared = [u for u in (student.chameleon_user, student.chameleon_user_id) if u in users]
        if shared:
            problems.append(
                f"line {n}: chameleon user {shared[0]} is already line {users[shared[0]]}'s: "
                "two students would be graded on the same resources"
            )
            continue
        first_seen[student.netid] = n
        users.update({u: n for u in (student.chameleon_user, student.chameleon_user_id) if u})
        students.append(student)
    if problems:
        shown = "; ".join(problems[:MAX_LISTED])
        more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise BadInput(f"roster {p}: {len(problems)} problem(s): {shown}{more}")
    if not students:
        raise BadInput(f"roster {p}: no students")
    return students


def _reader(p: Path) -> csv.DictReader[str]:
    """The roster's rows, its header checked for the required columns."""
    try:
        text = p.read_text(encoding="utf-8-sig")  # Excel writes a BOM
    except FileNotFoundError:
        raise BadInput(f"roster {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"roster {p}: cannot read ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    missing = set(REQUIRED) - set(header)
    if missing:
        raise BadInput(
            f"roster {p}: header lacks column(s) {', '.join(sorted(missing))} "
            f"(found: {', '.join(header) or 'nothing'})"
        )
    return reader


def _student(row: dict[str, str], n: int, base: Path, staff_key: Path | None) -> Student:
    """A row is a student file (the same schema), with chameleon_user required: empty cells
    are left out, except the required ones, so that an empty one is refused."""
    cells: dict[str, Any] = {k: v for k, v in row.items() if v != "" or k in REQUIRED}
    formula = next((k for k in LMS_IDENTITY if cells.get(k, "").startswith(FORMULA_STARTS)), "")
    if formula:
        raise BadInput(
            f"line {n}: {formula} {cells[formula]!r} starts with {cells[formula][0]!r}, which "
            "a spreadsheet runs as a formula, and Canvas's identity columns cannot escape it: "
            "correct the roster"
        )
    if cells.get("project", "").isdigit():
        cells["project"] = int(cells["project"])
    validate(cells, "student", f"line {n}")
    if not cells.get("ssh_key") and staff_key is None:
        raise BadInput(f"line {n}: no ssh_key: give the course key with --ssh-key")
    return from_dict(cells, base, f"line {n}", staff_key)
