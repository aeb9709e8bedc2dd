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
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "no-clouds.yaml"))
    monkeypatch.delenv("OS_CLOUD", raising=False)
    path = student(tmp_path, f"netid: ab1\nssh_key: {key}\n")
    code, line = run(capsys, "check", "hello-chameleon", "--student", str(path))
    assert code == 2 and "OS_APPLICATION_CREDENTIAL_ID" in line


def test_help_is_fast_because_heavy_imports_wait() -> None:
    code = (
        "import sys, graders.cli; graders.cli._parser(); "
        "print(sorted(m for m in ('chi', 'paramiko', 'requests', 'rich', 'jsonschema') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture()
def no_credentials(tmp_path: Path, monkeypatch) -> None:
    """Nothing that reaches Chameleon: a bad input found later than these would say so."""
    for var in ("OS_APPLICATION_CREDENTIAL_ID", "OS_USERNAME", "OS_TOKEN", "OS_CLOUD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "no-clouds.yaml"))


@pytest.mark.parametrize(
    "where, needle",
    [
        ("missing/result.json", "does not exist"),
        ("afile/result.json", "is a file, not a folder"),
        ("/proc/labgrader-result.json", "cannot be written"),  # a read-only file system
        (".", "is a directory"),
    ],
)
def test_unwritable_out_is_found_before_grading(
    where: str, needle: str, tmp_path: Path, key: Path, capsys, no_credentials
) -> None:
    (tmp_path / "afile").write_text("x")
    path = student(tmp_path, f"netid: ab1\nssh_key: {key}\n")
    out = where if where.startswith("/") else str(tmp_path / where)
    code, line = run(capsys, "check", "hello-chameleon", "--student", str(path), "--out", out)
    assert code == 2 and "--out" in line and needle in line, line


def test_an_unwritable_batch_folder_is_found_before_grading(
    tmp_path: Path, key: Path, capsys, no_credentials
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(f"netid,chameleon_user,ssh_key\nab1,ab1,{key}\n")
    code, line = run(
        capsys, "batch", "hello-chameleon", "--roster", str(roster), "--out", "/proc/lg-out"
    )
    assert code == 2 and "--out" in line and "cannot be written" in line


def test_a_date_that_does_not_exist_is_one_line(tmp_path: Path, capsys) -> None:
    rubric = tmp_path / "r.yaml"
    rubric.write_text(
        "lab: hello-chameleon\ndue: 2026-02-30\nitems:\n  - {check: ssh_login, points: 1}\n"
    )
    code, line = run(capsys, "rubric", "validate", str(rubric))
    assert code == 2 and "line 2: 2026-02-30 is not a date" in line


def test_schema_problems_are_all_listed_with_examples(tmp_path: Path, key: Path, capsys) -> None:
    path = student(tmp_path, f"netid: a b\nssh_key: {key}\nemail: nobody\ncolour: blue\n")
    code, line = run(capsys, "check", "hello-chameleon", "--student", str(path))
    assert code == 2 and "3 problems" in line
    assert "netid: 'a b' is not of the expected form; for example 'ab1234'" in line
    assert "email: 'nobody'" in line and "colour" in line
    assert "^[" not in line  # an example, never a regular expression


def test_rubric_without_an_action_prints_its_help(capsys) -> None:
    code = main(["rubric"])
    assert code == 2 and "validate" in capsys.readouterr().out


def write_lab(root: Path, body: str) -> None:
    lab = root / "broken-lab"
    lab.mkdir(parents=True)
    (lab / "lab.yaml").write_text(
        "id: broken-lab\ntitle: Broken\nsite: KVM@TACC\ngrade_before: never\n"
    )
    (lab / "checks.py").write_text("from graders.checks import check\n" + body)


@pytest.mark.parametrize(
    "body, needle",
    [
        (
            "@check(title='a', depends=['nope'])\ndef a(lab): pass\n",
            "depends on unknown check 'nope'",
        ),
        (
            "@check(title='a', depends=['b'])\ndef a(lab): pass\n"
            "@check(title='b', depends=['a'])\ndef b(lab): pass\n",
            "dependency cycle",
        ),
    ],
)
def test_a_lab_with_broken_dependencies_is_refused_at_load(
    body: str, needle: str, tmp_path: Path, key: Path, capsys, monkeypatch
) -> None:
    write_lab(tmp_path / "labs", body)
    monkeypatch.setenv("LABGRADER_LABS", str(tmp_path / "labs"))
    path = student(tmp_path, f"netid: ab1\nssh_key: {key}\n")
    code, line = run(capsys, "check", "broken-lab", "--student", str(path))
    assert code == 2 and "lab broken-lab" in line and needle in line


@pytest.mark.parametrize(
    "extra, needle",
    [
        ("weights: {labs: 50, project: 40}\n", "= 90, not 100"),
        ("staff_key: not-a-key\n", "staff_key"),
        ("sites: {KVM@TACC: {auth_url: kvm.example}}\n", "for example"),
    ],
)
def test_course_validate(extra: str, needle: str, tmp_path: Path, capsys) -> None:
    course = tmp_path / "course.yaml"
    base = "sites: {KVM@TACC: {auth_url: 'https://kvm.example:5000/v3'}}\n"
    course.write_text(extra if extra.startswith("sites") else base + extra)
    code, line = run(capsys, "course", "validate", str(course))
    assert code == 2 and needle in line, line
    course.write_text(base + "weights: {labs: 60, project: 40}\n")
    assert main(["course", "validate", str(course)]) == 0


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


def laughs(levels: int = 8) -> str:
    """A billion-laughs document: 10**levels strings from a few hundred bytes of aliases."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 10) + "]")
    return "netid: ab1\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text, needle",
    [
        (laughs(8), "line 2, column 5: YAML anchors and aliases"),  # 10**8 leaves
        ("netid: &n ab1\n", "anchors and aliases"),  # an anchor alone is refused too
        ("netid: ab1\nx: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 32 levels"),
        ("netid: ab1\n" + "# padding\n" * 120_000, "larger than 1 MiB"),
    ],
    ids=["billion-laughs", "anchor", "deep", "huge"],
)
def test_yaml_bombs_are_one_line_bad_input(text: str, needle: str, tmp_path: Path, capsys) -> None:
    path = student(tmp_path, text)
    code, line = run(capsys, "check", "hello-chameleon", "--student", str(path))
    assert code == 2 and needle in line and line.startswith("labgrader: student file ")


def test_rubrics_and_course_files_refuse_aliases_too(tmp_path: Path) -> None:
    from graders.errors import BadInput
    from graders.files import load_yaml

    rubric = tmp_path / "r.yaml"
    rubric.write_text(
        "lab: hello-chameleon\nitems:\n  - &i {check: ssh_login, points: 1}\n  - *i\n"
    )
    with pytest.raises(BadInput, match="anchors and aliases"):
        load_yaml(rubric, "rubric", "rubric")
    with pytest.raises(BadInput, match="no such file"):
        load_yaml(tmp_path / "absent.yaml", "rubric", "rubric")
