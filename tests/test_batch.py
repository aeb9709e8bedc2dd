"""TA batch grading through the real CLI, in subprocesses, against a simulated class:
outputs, kill and resume, shards and merge, and rescoring with the simulator stopped."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from graders.files import schema
from tests.conftest import expected, run_cli, student_of
from tests.test_lms import SCORE, canvas_assignment, read_brightspace, read_canvas

PROFILES = ["healthy"] * 5 + ["missing_file", "server_error", "endpoint_500", "host_down", "tarpit"]


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if os.geteuid() != 0:
        pytest.skip("the simulator needs root")
    from labsim import Classroom

    r = Classroom(tmp_path_factory.mktemp("batch-class"), PROFILES)
    r.start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def roster(room, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("roster") / "roster.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["netid", "chameleon_user", "ssh_key", "email", "section"])
        for s in room.students:
            w.writerow([s.netid, s.chameleon_user, s.key_path, f"{s.netid}@nyu.edu", "A"])
    return path


def labgrader(room, *args: str, **kw) -> subprocess.CompletedProcess:
    return run_cli(room.openstack_env, *args, **kw)


def observed(out: Path, netid: str) -> dict[str, str]:
    doc = json.loads((out / "students" / netid / "result.json").read_text())
    return {c["check"]: c["observed"] for c in doc["checks"]}


def stored(path: Path) -> list[str]:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return [r[0] for r in db.execute("SELECT netid FROM gradings ORDER BY id")]
    except sqlite3.OperationalError:  # the batch has created the file, not yet its tables
        return []


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("staff") / "signing.key"
    path.write_text("3c5a0e9f1b7d4c2a8e6f0b1d3c5a7e9f\n")
    return path


@pytest.fixture(scope="module")
def batch(room, roster, signing_key, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("b") / "cloud"
    args = ["batch", "cloud-chi", "--roster", str(roster), "--out", str(out), "--jobs", "16"]
    proc = labgrader(room, *args, "--signing-key", str(signing_key))
    return out, proc


def test_batch_writes_every_output_as_expected(room, batch) -> None:
    out, proc = batch
    assert proc.returncode == 0, proc.stderr
    for s in room.students:
        assert observed(out, s.netid) == expected(s, "cloud-chi"), s.profile
        jsonschema.validate(
            json.loads((out / "students" / s.netid / "result.json").read_text()), schema("result")
        )
        jsonschema.validate(
            json.loads((out / "students" / s.netid / "results.json").read_text()),
            schema("gradescope"),
        )
    rows = list(csv.reader((out / "gradebook.csv").open()))
    assert rows[0][:3] == ["netid", "email", "section"] and rows[0][-1] == "grading_status"
    assert rows[1][0] == "points-per-question" and len(rows) == 2 + len(room.students)
    # every result is complete: a number for everyone in both LMS files, nobody to regrade
    columns, _, canvas = read_canvas((out / "canvas.csv").read_text())
    assert canvas_assignment(columns[0]) == ("Cloud computing on Chameleon", None)
    assert sorted(canvas) == sorted(s.netid for s in room.students)
    assert all(SCORE.fullmatch(v[columns[0]]) for v in canvas.values())
    items, grades = read_brightspace((out / "brightspace.csv").read_text())
    assert items == ["Cloud computing on Chameleon"]
    assert {n: g[items[0]] for n, g in grades.items()} == {
        n: c[columns[0]] for n, c in canvas.items()
    }
    assert (out / "needs_regrade.csv").read_text().splitlines() == [
        "netid,email,section,reason,items_not_judged"
    ]
    for needle in ("Batch summary", "Time per check", "Item analysis", "web_test"):
        assert needle in proc.stdout
    assert sorted(stored(out / "store.sqlite")) == sorted(s.netid for s in room.students)


def test_a_signed_batch_verifies_and_an_edit_does_not(room, batch, signing_key, tmp_path) -> None:
    out, proc = batch
    assert "signing key" not in proc.stderr
    ok = labgrader(room, "verify", str(out), "--signing-key", str(signing_key))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert len(ok.stdout.splitlines()) == 2 * len(room.students)
    assert all(line.endswith(": ok") for line in ok.stdout.splitlines())
    with sqlite3.connect(out / "store.sqlite") as db:  # every stored row carries an HMAC
        assert all(h for (h,) in db.execute("SELECT hmac FROM gradings"))
    doc = json.loads((out / "students" / room.students[0].netid / "results.json").read_text())
    doc["score"] += 1
    edited = tmp_path / "results.json"
    edited.write_text(json.dumps(doc))
    bad = labgrader(room, "verify", str(edited), "--signing-key", str(signing_key))
    assert bad.returncode == 1
    assert bad.stdout == f"{edited}: signature does not match: edited or not ours\n"


def test_out_folder_of_another_lab_is_refused(room, roster, batch) -> None:
    out, _ = batch
    before = (out / "gradebook.csv").read_bytes()
    proc = labgrader(room, "batch", "hello-chameleon", "--roster", str(roster), "--out", str(out))
    assert proc.returncode == 2 and "holds results of lab cloud-chi" in proc.stderr
    again = labgrader(room, "batch", "cloud-chi", "--roster", str(roster), "--out", str(out))
    assert again.returncode == 2 and "--resume" in again.stderr
    assert (out / "gradebook.csv").read_bytes() == before


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_batch_resumes_without_loss_or_duplicates(room, roster, tmp_path, sig) -> None:
    out = tmp_path / "hello"
    args = ["batch", "hello-chameleon", "--roster", str(roster), "--out", str(out), "--jobs", "1"]
    env = {**os.environ, **room.openstack_env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "graders.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    store = out / "store.sqlite"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if store.exists() and len(stored(store)) >= 2:
                break
            time.sleep(0.05)
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = stored(store)
    assert 2 <= len(before) < len(room.students), "the kill came too late to prove anything"
    assert len(before) == len(set(before))
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "--resume" in err
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    resumed = labgrader(room, *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    after = stored(store)
    assert sorted(after) == sorted(s.netid for s in room.students)  # each exactly once
    assert after[: len(before)] == before  # nothing stored before was touched
    for s in room.students:
        assert observed(out, s.netid) == expected(s, "hello-chameleon"), s.profile


def test_ctrl_c_stops_a_batch_stuck_on_a_student_within_seconds(room, tmp_path) -> None:
    """Only tarpit students (they accept and never answer): Ctrl-C ends the batch now, not
    when their deadlines have run out, and says how to finish."""
    tarpits = [s for s in room.students if s.profile == "tarpit"]
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "netid,chameleon_user,ssh_key\n"
        + "".join(f"{s.netid},{s.chameleon_user},{s.key_path}\n" for s in tarpits)
    )
    args = ["batch", "hello-chameleon", "--roster", str(roster), "--out", str(tmp_path / "o")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "graders.cli", *args],
        env={**os.environ, **room.openstack_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    try:
        time.sleep(3)  # the tarpit students are being graded: their SSH waits on a banner
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "--resume" in err


def test_an_encrypted_key_in_the_roster_is_bad_input(room, tmp_path) -> None:
    """Found at load, the grader's input to fix; at login it would read as the student's."""
    key = tmp_path / "enc"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f", str(key)], check=True
    )
    roster = tmp_path / "roster.csv"
    roster.write_text(f"netid,chameleon_user,ssh_key\nab1,ab1,{key}\n")
    done = labgrader(
        room, "batch", "hello-chameleon", "--roster", str(roster), "--out", str(tmp_path / "o")
    )
    assert done.returncode == 2 and "encrypted with a passphrase" in done.stderr


def test_four_shards_merged_equal_one_batch(room, roster, batch, tmp_path) -> None:
    single, _ = batch
    shard_stores = []
    for k in range(1, 5):
        out = tmp_path / f"shard-{k}"
        proc = labgrader(
            room,
            "batch",
            "cloud-chi",
            "--roster",
            str(roster),
            "--out",
            str(out),
            "--shard",
            f"{k}/4",
            "--jobs",
            "8",
        )
        assert proc.returncode == 0, proc.stderr
        shard_stores.append(str(out / "store.sqlite"))
    sizes = [len(stored(Path(p))) for p in shard_stores]
    assert sum(sizes) == len(room.students) and max(sizes) < len(room.students)
    merged = tmp_path / "merged"
    proc = labgrader(room, "merge", "cloud-chi", *shard_stores, "--out", str(merged))
    assert proc.returncode == 0, proc.stderr
    for s in room.students:
        a = json.loads((single / "students" / s.netid / "result.json").read_text())
        b = json.loads((merged / "students" / s.netid / "result.json").read_text())
        assert [(c["id"], c["status"], c["score"]) for c in a["checks"]] == [
            (c["id"], c["status"], c["score"]) for c in b["checks"]
        ]


def test_rescore_and_rubric_diff_need_no_network(room, batch, signing_key, tmp_path) -> None:
    out, _ = batch
    room.stop()  # from here on nothing answers: rescoring must not need to
    first = {
        s.netid: (out / "students" / s.netid / "result.json").read_text() for s in room.students
    }
    store, key = str(out / "store.sqlite"), str(signing_key)
    proc = labgrader(room, "rescore", "cloud-chi", "--store", store, "--signing-key", key)
    assert proc.returncode == 0, proc.stderr  # the same key: the same signed files
    for netid, text in first.items():
        assert (out / "students" / netid / "result.json").read_text() == text
    rubric = Path("rubrics/cloud-chi.yaml").read_text()
    new = tmp_path / "new.yaml"
    new.write_text(
        rubric.replace("  - check: web_test\n    points: 2", "  - check: web_test\n    points: 6")
    )
    diff = labgrader(
        room,
        "rubric",
        "diff",
        "rubrics/cloud-chi.yaml",
        str(new),
        "--store",
        str(out / "store.sqlite"),
    )
    assert diff.returncode == 0, diff.stderr
    # everyone's max changes (web_test is worth more); endpoint_500 loses more than others
    assert f"{len(first)} of {len(first)} students change score" in diff.stdout
    assert "before" in diff.stdout and "after" in diff.stdout
    rescored = tmp_path / "rescored"
    proc = labgrader(
        room,
        "rescore",
        "cloud-chi",
        "--store",
        str(out / "store.sqlite"),
        "--rubric",
        str(new),
        "--out",
        str(rescored),
    )
    assert proc.returncode == 0, proc.stderr
    healthy = student_of(room, "healthy")
    doc = json.loads((rescored / "students" / healthy.netid / "result.json").read_text())
    assert doc["max_score"] == json.loads(first[healthy.netid])["max_score"] + 4


def test_bad_stores_are_refused(room, batch, tmp_path) -> None:
    out, _ = batch
    proc = labgrader(room, "rescore", "hello-chameleon", "--store", str(out / "store.sqlite"))
    assert proc.returncode == 2 and "holds lab cloud-chi" in proc.stderr
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    proc = labgrader(
        room, "rescore", "cloud-chi", "--store", str(junk), "--out", str(tmp_path / "x")
    )
    assert proc.returncode == 2 and "not a usable labgrader store" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _default_sigint() -> None:
    """Ctrl-C as a terminal delivers it: a test suite started in the background (`cmd &`)
    has SIGINT ignored, which its children would inherit, and Python then installs no
    KeyboardInterrupt for it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
