"""Bad input: one clear line on stderr, exit 2, nothing written (but Gradescope's results.json,
which says why)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from graders.cli import main
from graders.files import schema


def student(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "student.yaml"
    p.write_text(text)
    return p


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


CASES = {
    "missing file": (None, "no such file"),
    "malformed yaml": ("netid: [unclosed\n", "not valid YAML"),
    "not a mapping": ("- a\n- b\n", "expected a mapping"),
    "schema": ("netid: ab1\nssh_key: k\nfavourite_colour: blue\n", "favourite_colour"),
    "missing key file": ("netid: ab1\nssh_key: /nonexistent/key\n", "does not exist"),
    "public key given": ("netid: ab1\nssh_key: {key}.pub\n", "public key"),
    "key is a directory": ("netid: ab1\nssh_key: {dir}\n", "not a file"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_student_file(case: str, tmp_path: Path, key: Path, capsys) -> None:
    text, needle = CASES[case]
    path = tmp_path / "absent.yaml"
    if text is not None:
        path = student(tmp_path, text.format(key=key, dir=tmp_path))
    out = tmp_path / "result.json"
    code, line = run(
        capsys,
        "check",
        "hello-chameleon",
        "--student",
        str(path),
        "--format",
        "json",
        "--out",
        str(out),
    )
    assert code == 2 and needle in line and line.startswith("labgrader: ")
    assert not out.exists()


def test_unknown_lab_names_the_known_ones(tmp_path: Path, key: Path, capsys) -> None:
    path = student(tmp_path, f"netid: ab1\nssh_key: {key}\n")
    code, line = run(capsys, "check", "no-such-lab", "--student", str(path))
    assert code == 2 and "unknown lab 'no-such-lab'" in line and "hello-chameleon" in line


def test_rubric_failing_its_schema(tmp_path: Path, key: Path, capsys) -> None:
    path = student(tmp_path, f"netid: ab1\nssh_key: {key}\n")
    rubric = tmp_path / "r.yaml"
    rubric.write_text("lab: hello-chameleon\nitems:\n  - {check: ssh_login, points: lots}\n")
    code, line = run(
        capsys, "check", "hello-chameleon", "--student", str(path), "--rubric", str(rubric)
    )
    assert code == 2 and "points" in line
    code, line = run(capsys, "rubric", "validate", str(rubric))
    assert code == 2 and "points" in line


def test_missing_chameleon_credentials(tmp_path: Path, key: Path, capsys, monkeypatch) -> None:
    for var in (
        "OS_APPLICATION_CREDENTIAL_ID",
        "OS_APPLICATION_CREDENTIAL_SECRET",
        "OS_USERNAME",
        "OS_PASSWORD",
    ):
        monkeypatch.delenv(var, raising=False)
    path = student(tmp_path, f"netid: ab1\nssh_key: {key}\n")
    code, line = run(capsys, "check", "hello-chameleon", "--student", str(path))
    assert code == 2 and "OS_APPLICATION_CREDENTIAL_ID" in line


def test_help_is_fast_because_heavy_imports_wait() -> None:
    code = (
        "import sys, graders.cli; graders.cli._parser(); "
        "print(sorted(m for m in ('chi', 'fabric', 'requests', 'rich', 'jsonschema') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "lab, text, needle",
    [
        ("hello-chameleon", "netid: [unclosed\n", "not valid YAML"),
        ("no-such-lab", "netid: ab1\nssh_key: {key}\n", "unknown lab"),
    ],
)
def test_bad_input_still_writes_a_gradescope_results_json(
    lab: str, text: str, needle: str, tmp_path: Path, key: Path, capsys
) -> None:
    """Without results.json Gradescope only says "failed to execute": the reason goes in it."""
    path = student(tmp_path, text.format(key=key))
    out = tmp_path / "results" / "results.json"
    argv = ["check", lab, "--student", str(path), "--format", "gradescope", "--out", str(out)]
    code, line = run(capsys, *argv)
    assert code == 2 and needle in line
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema("gradescope"))
    assert doc["score"] == 0 and line == f"labgrader: {doc['output']}"
    (test,) = doc["tests"]
    assert test["name"] == "Grading could not start" and test["status"] == "failed"
    assert test["output"] == doc["output"] and test["max_score"] == 0


def test_an_unwritable_gradescope_out_gives_the_line_only(tmp_path: Path, capsys) -> None:
    out = tmp_path / "a-folder"
    out.mkdir()
    argv = ["--student", str(tmp_path / "absent.yaml"), "--format", "gradescope"]
    code, line = run(capsys, "check", "hello-chameleon", *argv, "--out", str(out))
    assert code == 2 and "no such file" in line
    assert out.is_dir() and not any(out.iterdir()) and not list(tmp_path.glob(".a-folder*"))
