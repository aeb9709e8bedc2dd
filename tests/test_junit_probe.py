"""The JUnit probe on reports real pytest writes, and on hostile or broken ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from graders.probes import junit

SUITE = """
import pytest

def test_overall_accuracy():
    assert 91.2 > 85

def test_cake_looks_like_accuracy():
    acc = 40.0
    assert acc >= 60, f"cake_looks_like accuracy too low: {acc:.2f}%"

@pytest.mark.skip(reason="no GPU here")
def test_template_permutations():
    pass
"""


def _pytest_report(tmp_path: Path, files: dict[str, str]) -> tuple[int, bytes]:
    tests = tmp_path / "tests"
    tests.mkdir()
    for name, text in files.items():
        (tests / name).write_text(text)
    report = tmp_path / "report.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider",
         "--junitxml", str(report)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return run.returncode, report.read_bytes()


def test_a_real_report_with_a_failure_and_a_skip(tmp_path: Path) -> None:
    code, data = _pytest_report(tmp_path, {"test_food11.py": SUITE})
    assert code == 1 and junit.run_problem(code, "") is None
    report = junit.parse(data)
    assert report.summary() == {"tests": 3, "passed": 1, "failures": 1, "errors": 0, "skipped": 1}
    cases = report.by_name()
    assert cases["test_overall_accuracy"].outcome == "passed"
    assert cases["test_cake_looks_like_accuracy"].outcome == "failed"
    assert "too low: 40.00%" in cases["test_cake_looks_like_accuracy"].message
    assert cases["test_template_permutations"].outcome == "skipped"
    assert cases["test_overall_accuracy"].label == "tests.test_food11::test_overall_accuracy"
    assert not report.collection_errors


def test_a_real_collection_error(tmp_path: Path) -> None:
    code, data = _pytest_report(
        tmp_path, {"test_ok.py": "def test_a():\n    pass\n", "test_b.py": "def test_x(:\n"}
    )
    assert code == 2 and junit.run_problem(code, "") is None
    report = junit.parse(data)
    assert [c.name for c in report.collection_errors] == ["tests.test_b"]
    assert report.errors == 1
    assert "SyntaxError" in report.collection_errors[0].message


def test_run_problems_in_words() -> None:
    missing = junit.run_problem(1, "/opt/conda/bin/python: No module named pytest\n")
    assert missing and "not installed" in missing
    no_dir = junit.run_problem(4, "ERROR: file or directory not found: tests\n\n")
    assert no_dir and "exited 4" in no_dir and "not found: tests" in no_dir
    assert "no tests were collected" in (junit.run_problem(5, "no tests ran") or "")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"Traceback (most recent call last):\n  oops", "not well-formed"),
        (b"\x00\xff\xfe<garbage>", "not well-formed"),
        (b"<html><body>hello</body></html>", "not a JUnit report"),
        (b"<testsuites><testcase/>", "not well-formed"),
    ],
)
def test_garbage_is_refused_in_words(data: bytes, words: str) -> None:
    with pytest.raises(junit.ReportError, match=words):
        junit.parse(data)


@pytest.mark.parametrize(
    "suites, tests, passed, failures",
    [
        (['<testsuite tests="1">' + '<testcase name="t"/>' * 9000 + "</testsuite>"], 9000, 9000, 0),
        (
            [
                '<testsuite tests="5" failures="0"><testcase name="a"><failure/></testcase>'
                "</testsuite>",
                '<testsuite tests="-5"><testcase name="b"/></testsuite>',
            ],
            2,
            1,
            1,
        ),
        (["<testsuite tests='x' failures='many'><testcase name='c'/></testsuite>"], 1, 1, 0),
    ],
    ids=["tests=1 over 9000 cases", "tests=5 and tests=-5", "counts that are not numbers"],
)
def test_counts_come_from_the_cases_not_the_attributes(
    suites: list[str], tests: int, passed: int, failures: int
) -> None:
    report = junit.parse(("<testsuites>" + "".join(suites) + "</testsuites>").encode())
    assert (report.tests, report.passed, report.failures) == (tests, passed, failures)
    assert report.summary()["tests"] == tests


def test_oversize_is_refused_before_parsing() -> None:
    big = b"<testsuites>" + b"<!-- padding -->" * 20_000 + b"</testsuites>"
    with pytest.raises(junit.ReportError, match="larger than"):
        junit.parse(big)


@pytest.mark.parametrize(
    "doc",
    [
        # billion laughs: nested entities that would expand to gigabytes
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'.encode() for i in range(1, 10)
        ).replace(b"&lol0;", b"&lol;")
        + b']><testsuites><testsuite tests="1">&lol9;</testsuite></testsuites>',
        # an external entity reading a local file
        b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<testsuite tests="1"><testcase name="&x;"/></testsuite>',
        # a bare DOCTYPE is refused too: pytest never writes one
        b'<!DOCTYPE testsuite><testsuite tests="0"/>',
    ],
)
def test_entities_and_dtds_are_refused(doc: bytes) -> None:
    with pytest.raises(junit.ReportError, match="DTD or entities"):
        junit.parse(doc)
