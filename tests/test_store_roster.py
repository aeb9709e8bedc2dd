"""The evidence store and the roster, on their own (no network involved)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from graders.errors import BadInput
from graders.evidence import Evidence, Observation
from graders.roster import load_roster
from graders.store import Grading, Store


def grading(netid: str, status: str = "passed") -> Grading:
    obs = [Observation("ssh_login", status, evidence=[Evidence.make("note", "seen")])]
    return Grading(
        "cloud-chi", netid, {"netid": netid}, "graded", "", obs, "0" * 64, "t0", "t1", 1.5
    )


def test_store_is_append_only_and_newest_wins(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", "cloud-chi")
    store.add(grading("a", "failed"))
    store.add(grading("b"))
    store.add(grading("a", "passed"))  # a regrade adds a row
    assert store.count() == 3
    latest = {g.netid: g.observations[0].status for g in store.latest()}
    assert latest == {"a": "passed", "b": "passed"}
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("UPDATE gradings SET outcome='x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("DELETE FROM gradings")
    assert store.verify() == []


def test_store_refuses_another_lab_and_garbage(tmp_path: Path) -> None:
    Store(tmp_path / "s.sqlite", "cloud-chi").close()
    with pytest.raises(BadInput, match="holds lab 'cloud-chi'"):
        Store(tmp_path / "s.sqlite", "hello-chameleon")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BadInput, match="not a usable labgrader store"):
        Store(junk, "cloud-chi")
    with pytest.raises(BadInput, match="not a usable labgrader store"):
        Store.lab_of(junk)


def test_an_edited_store_is_refused_where_it_is_read(tmp_path: Path) -> None:
    """rescore, merge and rubric diff open stores with open_existing: a row whose observations
    no longer match their hash (the triggers dropped, a status rewritten) stops them."""
    path = tmp_path / "s.sqlite"
    store = Store(path, "cloud-chi")
    store.add(grading("a", "failed"))
    store.db.executescript(
        "DROP TRIGGER gradings_no_update;"
        "UPDATE gradings SET observations = replace(observations, 'failed', 'passed');"
    )
    store.close()
    with pytest.raises(BadInput, match="no longer match their hash .a.: the store was edited"):
        Store.open_existing(path, "cloud-chi")


def test_roster_reports_every_problem_with_line_numbers(tmp_path: Path, key: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "netid,chameleon_user,ssh_key,email,section\n"
        f"ab1,ab1_nyu,{key},ab1@nyu.edu,A\n"
        f"ab1,ab1_nyu,{key},,A\n"  # duplicate
        "cd2,cd2,/no/such/key,,B\n"  # missing key
        f"bad netid!,x,{key},,B\n"  # malformed netid
        f"ef3,ef3,{key},not-an-email,B\n"  # malformed email
        f"gh4,gh4,{key},,B,extra\n"  # too many cells
    )
    with pytest.raises(BadInput) as err:
        load_roster(roster)
    msg = str(err.value)
    assert "5 problem(s)" in msg and "\n" not in msg
    for needle in (
        "line 3: netid ab1 already on line 2",
        "line 4",
        "does not exist",
        "line 5",
        "line 6",
        "line 7: more cells",
    ):
        assert needle in msg


def test_roster_good_and_header_checked(tmp_path: Path, key: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(f"\ufeffnetid,chameleon_user,ssh_key,project\nab1,ab1_nyu,{key},7\n\n")
    (s,) = load_roster(roster)
    assert (s.netid, s.chameleon_user, s.project) == ("ab1", "ab1_nyu", 7)
    roster.write_text("netid,user\nab1,x\n")
    with pytest.raises(BadInput, match="lacks column"):
        load_roster(roster)


def test_a_roster_row_is_a_student_file(tmp_path: Path, key: Path) -> None:
    """Every student-file field works as a column (mlops-chi reads github_repo); an empty
    chameleon_user cell is refused, not silently replaced by the netid."""
    roster = tmp_path / "roster.csv"
    roster.write_text(f"netid,chameleon_user,ssh_key,github_repo\nab1,ab1_nyu,{key},g7/iac\n")
    (s,) = load_roster(roster)
    assert s.github_repo == "g7/iac"
    roster.write_text(f"netid,chameleon_user,ssh_key\nab1,,{key}\n")
    with pytest.raises(BadInput, match="line 2: chameleon_user"):
        load_roster(roster)


def test_concurrent_writers_share_one_store(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = Store(tmp_path / "s.sqlite", "cloud-chi")
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda i: store.add(grading(f"s{i:03d}")), range(300)))
    assert store.count() == 300 and len({g.netid for g in store.latest()}) == 300


def test_resume_retries_crashed_gradings(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", "cloud-chi")
    store.add(grading("a"))
    crashed = grading("b")
    crashed.outcome, crashed.reason, crashed.observations = "crashed", "KeyError: x", []
    store.add(crashed)
    assert store.finished() == {"a"}


def test_a_jobs_count_the_descriptors_cannot_carry_is_refused() -> None:
    """In a process whose hard limit is 256 open files (a child: a lowered hard limit cannot
    be raised again), 64 students at once are refused, with the count that fits."""
    import subprocess
    import sys

    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))\n"
        "from graders.batch import descriptor_budget\n"
        "from graders.errors import BadInput\n"
        "descriptor_budget(8)\n"
        "try:\n    descriptor_budget(64)\nexcept BadInput as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "lower --jobs to 12" in out.stdout


def test_students_not_started_once_the_api_is_down_are_left_for_resume(
    tmp_path: Path, monkeypatch
) -> None:
    from graders.batch import observe_all
    from graders.labs import load_lab
    from graders.probes import chameleon
    from graders.student import Student

    monkeypatch.setattr(chameleon, "_failures", chameleon.DOWN_AFTER)
    store = Store(tmp_path / "s.sqlite", "hello-chameleon")
    students = [Student(f"s{i}", f"s{i}", "/nonexistent") for i in range(5)]
    left = observe_all(load_lab("hello-chameleon"), students, None, store, "0" * 64, jobs=2)
    assert left == 5 and store.count() == 0
