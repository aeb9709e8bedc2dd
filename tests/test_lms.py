"""LMS imports read the way Canvas and Brightspace read them (reference/grading-formats.md
section 5): a grader error or a crashed grading leaves an empty cell, flagged in our own
files, and the batch exits 1. The gradings are stored as a batch stores them: a Chameleon API
that failed mid-batch (an API down from the start stops a batch before anyone is graded), and a
crash; `merge` and `rescore` end the way `batch` does."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from graders.errors import BadInput
from graders.evidence import Observation
from graders.labs import load_lab, rubrics_dir
from graders.roster import load_roster
from graders.store import Grading, Store
from tests.conftest import run_cli

LAB = "hello-chameleon"
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
SCORE = re.compile(r"\d+(\.\d{1,2})?")  # Canvas: a number with at most 2 decimals


def read_canvas(text: str) -> tuple[list[str], dict[str, str], dict[str, dict[str, str]]]:
    """Canvas's gradebook import: (assignment columns, points possible, SIS Login ID ->
    {column: score}). Fails where Canvas would refuse the file."""
    header, possible, *rows = csv.reader(io.StringIO(text))
    assert header[:5] == CANVAS_IDENTITY, "Canvas takes the identity columns in this order only"
    columns = header[5:]
    assert possible[0] == "    Points Possible" and possible[1:5] == [""] * 4
    for cell in possible[5:]:
        assert SCORE.fullmatch(cell), cell
    scores = {}
    for row in rows:
        assert len(row) == len(header)
        for cell in row[5:]:
            assert cell == "" or SCORE.fullmatch(cell), f"Canvas cannot read {cell!r}"
        scores[row[3]] = dict(zip(columns, row[5:], strict=True))
    return columns, dict(zip(columns, possible[5:], strict=True)), scores


def canvas_assignment(column: str) -> tuple[str, int | None]:
    """(name, id): Canvas reads `Name (123)` as assignment 123, else matches the name."""
    m = re.fullmatch(r"(.*) \((\d+)\)", column)
    return (m.group(1), int(m.group(2))) if m else (column, None)


def read_brightspace(text: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Brightspace's grade import: (grade item names, Username -> {item: grade})."""
    header, *rows = csv.reader(io.StringIO(text))
    assert header[:2] == ["OrgDefinedId", "Username"]
    assert header[-1] == "End-of-Line Indicator"
    columns = header[2:-1]
    assert columns and all(c.endswith(" Points Grade") for c in columns), columns
    items = [c.removesuffix(" Points Grade") for c in columns]
    grades = {}
    for row in rows:
        assert len(row) == len(header) and row[-1] == "#", row
        assert row[0] == "" or row[0].startswith("#")
        assert row[1].startswith("#"), "Brightspace's own exports write #username"
        for cell in row[2:-1]:
            assert cell == "" or re.fullmatch(r"\d+(\.\d+)?", cell), cell
        grades[row[1].removeprefix("#")] = dict(zip(items, row[2:-1], strict=True))
    return items, grades


def table(path: Path) -> dict[str, dict[str, str]]:
    """A CSV of ours with a netid column, by netid."""
    return {r["netid"]: r for r in csv.DictReader(path.open())}


@pytest.fixture()
def rubrics(tmp_path: Path) -> Path:
    """The shipped rubrics, with a course.yaml that gives hello-chameleon's Canvas id."""
    folder = tmp_path / "rubrics"
    shutil.copytree(rubrics_dir(), folder)
    course = folder / "course.yaml"
    course.write_text(
        course.read_text() + "lms:\n  canvas_assignment_ids: {hello-chameleon: 123456}\n"
    )
    return folder


def labgrader(*args: str, rubrics: Path) -> subprocess.CompletedProcess:
    return run_cli({"LABGRADER_RUBRICS": str(rubrics)}, *args)


API_DOWN = "grader error: cannot reach the Chameleon API for KVM@TACC: Connection refused"


def graded(
    netid: str, outcome: str = "graded", reason: str = "", section: str = "C", error: bool = False
) -> Grading:
    who = {"netid": netid, "email": f"{netid}@nyu.edu", "section": section}
    obs = [Observation(c.id, "passed") for c in load_lab(LAB).checks] if outcome == "graded" else []
    if error:  # the API calls (the lease, the server) met the API down; below them, not run
        obs = [
            Observation(o.check, "error", API_DOWN)
            if o.check in ("lease", "server_active")
            else Observation(o.check, "skipped", "skipped because server_active did not pass")
            for o in obs
        ]
    t = "2026-02-01T10:00:00.000+00:00"
    return Grading(LAB, netid, who, outcome, reason, obs, "0" * 64, t, t, 1.0)


def test_grader_errors_and_crashes_leave_lms_cells_empty(tmp_path: Path, rubrics: Path) -> None:
    errors = Store(tmp_path / "errors.sqlite", LAB)
    errors.add(graded("ab1", section="A", error=True))
    errors.add(graded("ab2", section="B", error=True))
    errors.close()
    out = tmp_path / "batch"
    stored = str(tmp_path / "errors.sqlite")
    proc = labgrader("merge", LAB, stored, "--out", str(out), rubrics=rubrics)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "2 student(s)" in last and str(out / "needs_regrade.csv") in last

    columns, possible, scores = read_canvas((out / "canvas.csv").read_text())
    assert canvas_assignment(columns[0]) == ("Hello, Chameleon", 123456)
    assert possible == {columns[0]: "10"}
    assert scores == {"ab1": {columns[0]: ""}, "ab2": {columns[0]: ""}}
    items, grades = read_brightspace((out / "brightspace.csv").read_text())
    assert items == ["Hello, Chameleon"] and grades == {n: {items[0]: ""} for n in ("ab1", "ab2")}
    book = table(out / "gradebook.csv")
    assert book["ab1"]["grading_status"].startswith("needs regrade: grader error on 2 item")
    assert book["ab1"]["server_active"] == "" and book["ab1"]["total_points_earned"] == ""
    regrade = table(out / "needs_regrade.csv")
    assert set(regrade) == {"ab1", "ab2"} and regrade["ab2"]["section"] == "B"
    assert set(regrade["ab1"]["items_not_judged"].split()) == {"lease", "server_active"}
    assert "Chameleon API" in regrade["ab1"]["reason"]

    # merge (like rescore, it ends the way batch does) with a crash and a complete student
    other = Store(tmp_path / "other.sqlite", LAB)
    other.add(graded("cd3", "crashed", "KeyError: 'addresses'"))
    other.add(graded("ef4"))
    other.close()
    merged = tmp_path / "merged"
    stores = [str(out / "store.sqlite"), str(tmp_path / "other.sqlite")]
    proc = labgrader("merge", LAB, *stores, "--out", str(merged), rubrics=rubrics)
    assert proc.returncode == 1 and "3 student(s)" in proc.stderr, proc.stderr
    columns, _, scores = read_canvas((merged / "canvas.csv").read_text())
    assert {k: v[columns[0]] for k, v in scores.items()} == {
        "ab1": "",
        "ab2": "",
        "cd3": "",
        "ef4": "10",
    }
    _, grades = read_brightspace((merged / "brightspace.csv").read_text())
    assert grades["cd3"] == {"Hello, Chameleon": ""} and grades["ef4"] == {"Hello, Chameleon": "10"}
    regrade = table(merged / "needs_regrade.csv")
    assert set(regrade) == {"ab1", "ab2", "cd3"}
    assert regrade["cd3"]["reason"] == "grader crashed: KeyError: 'addresses'"
    assert set(regrade["cd3"]["items_not_judged"].split()) == {c.id for c in load_lab(LAB).checks}
    book = table(merged / "gradebook.csv")
    assert book["cd3"]["grading_status"].startswith("needs regrade: grader crashed")
    assert book["ef4"]["grading_status"] == "ok" and book["ef4"]["total_points_earned"] == "10"


def test_a_complete_batch_exits_0_and_canvas_matches_by_title_without_an_id(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "s.sqlite", LAB)
    store.add(graded("ef4"))
    store.close()
    out = tmp_path / "out"
    proc = labgrader(
        "merge", LAB, str(tmp_path / "s.sqlite"), "--out", str(out), rubrics=rubrics_dir()
    )
    assert proc.returncode == 0, proc.stderr
    assert len((out / "needs_regrade.csv").read_text().splitlines()) == 1  # the header only
    columns, _, scores = read_canvas((out / "canvas.csv").read_text())
    assert canvas_assignment(columns[0]) == ("Hello, Chameleon", None)
    assert scores["ef4"] == {"Hello, Chameleon": "10"}


@pytest.mark.parametrize("cell", ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)"])
def test_roster_refuses_a_section_a_spreadsheet_would_run(
    tmp_path: Path, key: Path, cell: str
) -> None:
    roster = tmp_path / "roster.csv"
    with roster.open("w", newline="") as f:
        csv.writer(f).writerows(
            [["netid", "chameleon_user", "ssh_key", "section"], ["ab1", "ab1", str(key), cell]]
        )
    with pytest.raises(BadInput) as err:
        load_roster(roster)
    msg = str(err.value)
    assert "line 2: section" in msg and "formula" in msg and "\n" not in msg


def test_our_own_csvs_guard_tab_and_cr_too() -> None:
    from graders.report.csv import safe

    for text in ("=1+1", "\t=1", "\r=1", "-1", "@x", "+x"):
        assert safe(text) == "'" + text
    assert safe("ab1@nyu.edu") == "ab1@nyu.edu"


@pytest.mark.parametrize("value", ["abc", 0, "-5"])
def test_course_refuses_a_bad_canvas_id(rubrics: Path, monkeypatch, value: object) -> None:
    from graders.course import canvas_assignment_id

    course = rubrics / "course.yaml"
    course.write_text(course.read_text().replace("123456", repr(value)))
    monkeypatch.setenv("LABGRADER_RUBRICS", str(rubrics))
    with pytest.raises(BadInput, match="lms.canvas_assignment_ids"):
        canvas_assignment_id(LAB)


def test_no_cell_of_any_csv_we_write_starts_a_formula(tmp_path: Path, rubrics: Path) -> None:
    """A store written without the roster's check (an older batch, a hand-made shard) still
    gives no spreadsheet a formula, TAB- and CR-led cells included."""
    from graders.files import FORMULA_STARTS

    store = Store(tmp_path / "s.sqlite", LAB)
    hostile = graded("ab1", section='\t=HYPERLINK("http://x")')
    hostile.student["email"] = "=cmd|' /C calc'!A0@x"
    store.add(hostile)
    crashed = graded("ab2", "crashed", "@SUM(1)", section="\r=1+1")
    store.add(crashed)
    store.add(graded("ab3", section="-2+3", error=True))
    store.close()
    out = tmp_path / "out"
    labgrader("merge", LAB, str(tmp_path / "s.sqlite"), "--out", str(out), rubrics=rubrics)
    for name in ("gradebook.csv", "needs_regrade.csv", "canvas.csv", "brightspace.csv"):
        cells = [c for row in csv.reader(io.StringIO((out / name).read_text())) for c in row]
        assert cells and not [c for c in cells if c.startswith(FORMULA_STARTS)], name
    assert table(out / "gradebook.csv")["ab1"]["section"] == '\'\t=HYPERLINK("http://x")'


@pytest.mark.parametrize("cell", ["\t=1+1", " =1+1", "\r\t@SUM(A1)"])
def test_roster_refuses_a_formula_behind_blanks(tmp_path: Path, key: Path, cell: str) -> None:
    """Cells are stripped before the check, so blanks cannot hide a formula from it."""
    roster = tmp_path / "roster.csv"
    roster.write_text(f'netid,chameleon_user,ssh_key,section\nab1,ab1,{key},"{cell}"\n')
    with pytest.raises(BadInput, match="formula"):
        load_roster(roster)
