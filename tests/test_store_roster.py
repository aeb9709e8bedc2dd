"""The evidence store and the roster, on their own (no network involved)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from graders.errors import BadInput
from graders.evidence import Evidence, Observation
from graders.roster import load_roster
from graders.store import Grading, Store


def at(hour: int) -> str:
    return f"2026-03-01T{hour:02d}:00:00.000+00:00"


def grading(
    netid: str, status: str = "passed", finished: str = at(1), outcome: str = "graded"
) -> Grading:
    seen = [Observation("ssh_login", status, evidence=[Evidence.make("note", "seen")])]
    obs = seen if outcome == "graded" else []
    return Grading(
        "cloud-chi", netid, {"netid": netid}, outcome, "", obs, "0" * 64, at(0), finished, 1.5
    )


def test_store_is_append_only_and_newest_wins(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", "cloud-chi")
    store.add(grading("a", "failed"))
    store.add(grading("b"))
    store.add(grading("a", "passed", at(2)))  # a regrade adds a row
    assert store.count() == 3
    latest = {g.netid: g.observations[0].status for g in store.latest()}
    assert latest == {"a": "passed", "b": "passed"}
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("UPDATE gradings SET outcome='x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("DELETE FROM gradings")
    assert store.verify().edited == []


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


# --- the store's files, journal and the grading that counts (security review L4) ----------


def test_store_files_are_private(tmp_path: Path) -> None:
    """Evidence is the students' business: store.sqlite and its -wal/-shm are 0600 under a
    umask that would make them 0644, and an older 0644 store is narrowed when opened."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = tmp_path / "s.sqlite"
        store = Store(path, "cloud-chi")
        store.add(grading("a"))
        files = [path, path.with_name("s.sqlite-wal"), path.with_name("s.sqlite-shm")]
        assert all(p.exists() for p in files)  # WAL: both side files exist while open
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {
            p.name: 0o600 for p in files
        }
        store.close()
        path.chmod(0o644)
        Store(path, "cloud-chi").close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)


@pytest.mark.parametrize("setting, mode", [(None, "wal"), ("delete", "delete"), ("WAL", "wal")])
def test_the_journal_mode_is_configurable(
    tmp_path: Path, monkeypatch, setting: str | None, mode: str
) -> None:
    """LABGRADER_STORE_JOURNAL=delete (a store on a network volume, ci/grading-job.yaml):
    no WAL, so no -wal or -shm file ever appears."""
    if setting is None:
        monkeypatch.delenv("LABGRADER_STORE_JOURNAL", raising=False)
    else:
        monkeypatch.setenv("LABGRADER_STORE_JOURNAL", setting)
    path = tmp_path / "s.sqlite"
    store = Store(path, "cloud-chi")
    store.add(grading("a"))
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == mode
    assert path.with_name("s.sqlite-wal").exists() == (mode == "wal")
    store.close()
    with sqlite3.connect(path) as db:  # the mode is the file's own, seen by any reader
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == mode


def test_a_bad_journal_mode_is_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LABGRADER_STORE_JOURNAL", "memory")
    with pytest.raises(BadInput, match="LABGRADER_STORE_JOURNAL='memory': expected one of wal"):
        Store(tmp_path / "s.sqlite", "cloud-chi")
    assert not (tmp_path / "s.sqlite").exists()


def test_the_grading_that_counts_is_chosen_by_time_not_row_id(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", "cloud-chi")
    store.add(grading("a", "passed", at(5)))  # stored first, but the newest
    store.add(grading("a", "failed", at(3)))
    store.add(grading("b", "passed", at(2)))
    store.add(grading("b", "", at(4), outcome="crashed"))  # a later crash hides nothing
    store.add(grading("c", "", at(1), outcome="crashed"))
    store.add(grading("c", "", at(2), outcome="crashed"))  # crashes only: the newest
    chosen = {g.netid: (g.outcome, g.finished_at) for g in store.latest()}
    assert chosen == {"a": ("graded", at(5)), "b": ("graded", at(2)), "c": ("crashed", at(2))}
    a = next(g for g in store.latest() if g.netid == "a")
    assert [when for when, _ in store.earlier(a)] == [at(3)]


def test_merge_in_either_order_gives_the_same_outputs(tmp_path: Path, capsys) -> None:
    """merge a b and merge b a write the same files byte for byte: the newest graded
    grading counts, wherever it was stored."""
    from graders.batch import merge
    from graders.rubric import load_lab_rubric

    lab, rubric = load_lab_rubric("hello-chameleon", None)

    def hello(netid: str, status: str, finished: str, outcome: str = "graded") -> Grading:
        obs = [Observation(c.id, status) for c in lab.checks] if outcome == "graded" else []
        return Grading(
            lab.id, netid, {"netid": netid}, outcome, "", obs, rubric.sha256, at(0), finished, 1
        )

    a, b = Store(tmp_path / "a.sqlite", lab.id), Store(tmp_path / "b.sqlite", lab.id)
    a.add(hello("x1", "failed", at(1)))
    b.add(hello("x1", "passed", at(2)))  # x1: the newer grading is in b
    a.add(hello("y2", "passed", at(3)))
    b.add(hello("y2", "failed", at(1)))  # y2: the newer one is in a
    a.add(hello("z3", "passed", at(1)))
    b.add(hello("z3", "", at(4), "crashed"))  # z3: a later crash hides nothing
    a.close()
    b.close()
    outputs = {}
    for name, order in (("ab", ["a", "b"]), ("ba", ["b", "a"])):
        out = tmp_path / name
        merge(lab, rubric, [tmp_path / f"{s}.sqlite" for s in order], out)
        outputs[name] = {
            str(p.relative_to(out)): p.read_bytes()
            for p in sorted(out.rglob("*"))
            if p.suffix == ".csv" or "students" in p.relative_to(out).parts and p.is_file()
        }
    capsys.readouterr()
    assert outputs["ab"] == outputs["ba"]
    assert len(outputs["ab"]) == 3 * 2 + 4  # result.json, results.json each; four CSVs
    scores = {
        n: json.loads(outputs["ab"][f"students/{n}/result.json"])["score"]
        for n in ("x1", "y2", "z3")
    }
    assert scores["x1"] == scores["y2"] == scores["z3"] > 0


def test_write_atomic_syncs_the_file_and_its_folder(tmp_path: Path, monkeypatch) -> None:
    """The data reaches the disk before the rename makes it the file, and the rename reaches
    it before write_atomic returns."""
    import os

    from graders import files

    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        import stat

        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    files.write_atomic(tmp_path / "r.json", "{}\n")
    assert events == ["fsync file", "rename", "fsync dir"]
    assert (tmp_path / "r.json").read_text() == "{}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


# --- HMACs of stored rows with the staff signing key ---------------------------------------


def signing_key(tmp_path: Path, name: str = "staff.key"):
    from graders.signing import load_key

    path = tmp_path / name
    path.write_text(f"{name}-0123456789abcdef0123456789abcdef\n")
    return load_key(path)


def forge(path: Path, sql: str) -> None:
    """Edit a store as someone who can write the file would: drop the trigger, change a
    row, and recompute its plain hash."""
    import hashlib

    with sqlite3.connect(path) as db:
        db.create_function("sha256", 1, lambda t: hashlib.sha256(t.encode()).hexdigest())
        db.executescript(
            f"DROP TRIGGER gradings_no_update; {sql}; "
            "UPDATE gradings SET sha256 = sha256(observations);"
        )


def test_a_keyed_store_catches_an_edit_whose_hash_was_recomputed(tmp_path: Path, capsys) -> None:
    key = signing_key(tmp_path)
    path = tmp_path / "s.sqlite"
    store = Store(path, "cloud-chi", key=key)
    store.add(grading("a", "failed"))
    store.add(grading("b", "passed"))
    assert all(g.hmac.startswith(key.key_id + ":") for g in store.latest())
    store.close()
    Store.open_existing(path, "cloud-chi", key).close()  # as written: fine
    forge(path, "UPDATE gradings SET observations = replace(observations, 'failed', 'passed')")
    with pytest.raises(
        BadInput, match=r"1 stored grading\(s\) no longer match their hash or HMAC \(a\)"
    ):
        Store.open_existing(path, "cloud-chi", key)
    # without the key only the plain hash can be checked, and that is said
    Store.open_existing(path, "cloud-chi").close()
    assert "HMACs of 2 gradings were not checked" in capsys.readouterr().err


def test_moving_a_grading_to_another_student_is_caught(tmp_path: Path) -> None:
    """The HMAC covers the whole row, not only its observations: who, outcome and when."""
    key = signing_key(tmp_path)
    path = tmp_path / "s.sqlite"
    store = Store(path, "cloud-chi", key=key)
    store.add(grading("good", "passed"))
    store.add(grading("weak", "failed"))
    store.close()
    forge(path, "UPDATE gradings SET finished_at = '2027-01-01' WHERE netid = 'weak'")
    with pytest.raises(BadInput, match=r"\(weak\)"):
        Store.open_existing(path, "cloud-chi", key)


def test_rows_without_an_hmac_are_checked_by_their_plain_hash_and_said_so(
    tmp_path: Path, capsys
) -> None:
    key = signing_key(tmp_path)
    path = tmp_path / "s.sqlite"
    store = Store(path, "cloud-chi")  # no key: a batch run without one
    store.add(grading("a"))
    store.close()
    store = Store(path, "cloud-chi", key=key)
    store.add(grading("b"))
    assert store.verify().plain == 1 and store.verify().edited == []
    store.close()
    Store.open_existing(path, "cloud-chi", key).close()
    err = capsys.readouterr().err
    assert "1 of 2 gradings were stored without a signing key: only their plain hash" in err
    assert len(err.strip().splitlines()) == 1


def test_a_store_made_with_another_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path, "cloud-chi", key=signing_key(tmp_path, "ours.key"))
    store.add(grading("a"))
    store.close()
    theirs = signing_key(tmp_path, "theirs.key")
    with pytest.raises(BadInput, match=r"were stored with another signing key than .*theirs.key"):
        Store.open_existing(path, "cloud-chi", theirs)


def test_a_store_from_before_row_hmacs_still_opens(tmp_path: Path) -> None:
    """A store written before the hmac column existed gains it, empty: plain hash only."""
    from graders.store import _DDL

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(_DDL.replace(",\n    hmac TEXT NOT NULL DEFAULT ''", ""))
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("lab", "cloud-chi"), ("schema", "1"), ("created_at", "t")],
        )
    assert "hmac" not in {
        r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(gradings)")
    }
    store = Store(path, "cloud-chi")
    store.add(grading("a"))
    store.close()
    store = Store.open_existing(path, "cloud-chi")
    assert [g.netid for g in store.latest()] == ["a"] and store.verify().plain == 1


def test_the_kubernetes_job_keeps_wal_off_its_network_volume() -> None:
    """ci/grading-job.yaml writes each shard's store on a ReadWriteMany volume: its pods set
    the journal mode SQLite supports there, and sign with a key mounted from a Secret."""
    import yaml

    from graders.signing import ENV
    from graders.store import JOURNAL_ENV

    job = yaml.safe_load(Path("ci/grading-job.yaml").read_text())
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env[JOURNAL_ENV] == "delete"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    key_volume = volumes[mounts[str(Path(env[ENV]).parent)]]
    assert key_volume["secret"]["defaultMode"] == 0o400
