"""Signed results (security review M7): a batch's results carry the staff HMAC, `labgrader
verify` tells ours from edited, unsigned and another key's, and a self-check never signs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from graders.cli import main
from graders.evidence import Observation
from graders.files import schema
from graders.labs import load_lab
from graders.report import render
from graders.rubric import load_rubric, rubric_path, score
from graders.signing import (
    ENV,
    MISMATCH,
    OK,
    OTHER_KEY,
    UNSIGNED,
    SigningKey,
    check_document,
    load_key,
)
from graders.store import Grading, Store

LAB = "hello-chameleon"
WHEN = "2026-02-01T10:00:00.000+00:00"


def key_file(folder: Path, name: str = "staff.key") -> Path:
    path = folder / name
    path.write_text(f"{name}:9f2c1d0b8a7e6f5d4c3b2a1908f7e6d5\n")
    return path


@pytest.fixture()
def key(tmp_path: Path) -> SigningKey:
    return load_key(key_file(tmp_path))


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(ENV, raising=False)


def result():
    lab = load_lab(LAB)
    observations = [Observation(c.id, "passed") for c in lab.checks]
    return score(observations, load_rubric(rubric_path(LAB), lab), student="ab1", graded_at=WHEN)


@pytest.mark.parametrize("fmt", ["json", "gradescope"])
def test_a_signed_result_verifies_and_an_edited_score_does_not(key, fmt: str) -> None:
    doc = json.loads(render(result(), fmt, key=key))
    jsonschema.validate(doc, schema("result" if fmt == "json" else "gradescope"))
    sig = doc["signature"] if fmt == "json" else doc["extra_data"]["signature"]
    assert sig["alg"] == "HMAC-SHA256" and sig["key_id"] == key.key_id
    assert key.secret.decode() not in json.dumps(doc)
    assert check_document(doc, key) == OK
    if fmt == "json":
        doc["checks"][0]["score"] += 1
    else:
        doc["tests"][0]["score"] += 1
    assert check_document(doc, key) == MISMATCH


def test_another_key_and_a_forged_key_id_are_not_ours(key, tmp_path: Path) -> None:
    theirs = load_key(key_file(tmp_path, "theirs.key"))
    doc = json.loads(render(result(), "json", key=theirs))
    assert check_document(doc, key) == OTHER_KEY
    doc["signature"]["key_id"] = key.key_id  # claiming our key does not make it ours
    assert check_document(doc, key) == MISMATCH


@pytest.mark.parametrize("fmt", ["json", "gradescope"])
def test_a_self_check_result_is_marked_unsigned(key, fmt: str) -> None:
    """What `labgrader check` writes: the student's view, never signed, and saying so; a
    --show-hidden run shows everything and is not signed either."""
    view = result().for_student(datetime(2026, 2, 1, tzinfo=UTC))
    doc = json.loads(render(view, fmt))
    jsonschema.validate(doc, schema("result" if fmt == "json" else "gradescope"))
    marks = doc if fmt == "json" else doc["extra_data"]
    assert marks["signature"] is None and marks["view"] == "student"
    assert check_document(doc, key) == UNSIGNED
    staff_run = json.loads(render(result(), fmt))  # check --show-hidden: whole, still unsigned
    assert check_document(staff_run, key) == UNSIGNED


def test_the_signature_covers_a_canonical_form_not_the_layout(key) -> None:
    doc = json.loads(render(result(), "json", key=key))
    reordered = json.loads(json.dumps(dict(reversed(list(doc.items())))))
    assert check_document(reordered, key) == OK


# --- through the command line: merge (a batch's outputs without a network) and verify ----


def stored(folder: Path) -> Path:
    lab = load_lab(LAB)
    path = folder / "shard.sqlite"
    store = Store(path, LAB)
    for netid in ("ab1", "cd2"):
        obs = [Observation(c.id, "passed") for c in lab.checks]
        rubric_sha = load_rubric(rubric_path(LAB), lab).sha256
        store.add(
            Grading(LAB, netid, {"netid": netid}, "graded", "", obs, rubric_sha, WHEN, WHEN, 1)
        )
    store.close()
    return path


def test_a_signed_batch_verifies_and_one_edited_score_fails(tmp_path: Path, capsys) -> None:
    k = key_file(tmp_path)
    out = tmp_path / "out"
    assert (
        main(["merge", LAB, str(stored(tmp_path)), "--out", str(out), "--signing-key", str(k)]) == 0
    )
    assert "warning" not in capsys.readouterr().err
    files = sorted(out.glob("students/*/result*.json"))
    assert len(files) == 4
    assert main(["verify", str(out), "--signing-key", str(k)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{f}: ok" for f in files]

    edited = out / "students/ab1/result.json"
    doc = json.loads(edited.read_text())
    doc["score"] = doc["max_score"] + 5
    edited.write_text(json.dumps(doc, indent=2))
    assert main(["verify", *map(str, files), "--signing-key", str(k)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"{edited}: {MISMATCH}" in lines
    assert sum(line.endswith(": ok") for line in lines) == 3


def test_verify_reads_the_key_the_environment_names(tmp_path: Path, capsys, monkeypatch) -> None:
    k = key_file(tmp_path)
    monkeypatch.setenv(ENV, str(k))
    out = tmp_path / "out"
    assert main(["merge", LAB, str(stored(tmp_path)), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", str(out / "students/ab1/result.json")]) == 0
    other = key_file(tmp_path, "other.key")
    assert main(["verify", str(out / "students/ab1/result.json"), "--signing-key", str(other)]) == 1
    assert capsys.readouterr().out.strip().endswith(f": {OTHER_KEY}")


def test_an_unsigned_batch_warns_once_and_reads_as_unsigned(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["merge", LAB, str(stored(tmp_path)), "--out", str(out)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "signing key" in line]
    assert len(warnings) == 1 and "written unsigned" in warnings[0]
    doc = json.loads((out / "students/ab1/result.json").read_text())
    assert doc["signature"] is None and doc["view"] == "full"
    assert main(["verify", str(out), "--signing-key", str(key_file(tmp_path))]) == 1
    assert {line.split(": ", 1)[1] for line in capsys.readouterr().out.splitlines()} == {UNSIGNED}


@pytest.mark.parametrize("command", ["verify", "merge"])
def test_a_missing_key_file_is_exit_2_with_one_line(tmp_path: Path, capsys, command: str) -> None:
    missing = tmp_path / "nope.key"
    args = {
        "verify": ["verify", str(tmp_path)],
        "merge": ["merge", LAB, str(stored(tmp_path)), "--out", str(tmp_path / "out")],
    }[command]
    assert main([*args, "--signing-key", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"labgrader: --signing-key {missing}: no such file"
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_verify_without_any_key_or_with_a_short_one_is_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["verify", str(tmp_path)]) == 2
    assert "verify needs the signing key: --signing-key FILE or LABGRADER_SIGNING_KEY" in (
        capsys.readouterr().err
    )
    short = tmp_path / "short.key"
    short.write_text("abc\n")
    assert main(["verify", str(tmp_path), "--signing-key", str(short)]) == 2
    assert "at least 16 bytes" in capsys.readouterr().err


def test_verify_a_file_that_is_no_result_is_exit_2(tmp_path: Path, capsys) -> None:
    k = str(key_file(tmp_path))
    (tmp_path / "notes.json").write_text("not json")
    (tmp_path / "other.json").write_text('{"a": 1}')
    argv = [
        "verify",
        str(tmp_path / "notes.json"),
        str(tmp_path / "other.json"),
        "--signing-key",
        k,
    ]
    assert main(argv) == 2
    assert capsys.readouterr().out.splitlines() == [
        f"{tmp_path / 'notes.json'}: not JSON",
        f"{tmp_path / 'other.json'}: not a labgrader result.json or Gradescope results.json",
    ]
