"""pytest's JUnit XML report (`--junitxml`), parsed with care, and pytest's exit codes explained.

The report comes from the student's machine, so it is untrusted input: it is size-capped, and
parsed by expat with no DTD at all (graders/probes/xmlsafe.py: no "billion laughs", no
external entities), as defusedxml would do.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from graders.probes import xmlsafe

MAX_BYTES = 200_000  # a report of a few dozen tests is a few KiB; tracebacks add some
OUTCOMES = ("passed", "failed", "error", "skipped")
COLLECTION_FAILURE = "collection failure"  # pytest's message for a file it could not import


class ReportError(ValueError):
    """The report is missing, too large, not XML, or not a JUnit report."""


@dataclass
class Case:
    classname: str
    name: str
    outcome: str  # one of OUTCOMES
    message: str = ""

    @property
    def collection_error(self) -> bool:
        return self.outcome == "error" and self.message.startswith(COLLECTION_FAILURE)

    def to_dict(self) -> dict[str, str]:
        return {"test": self.label, "outcome": self.outcome, "message": self.message}

    @property
    def label(self) -> str:
        return f"{self.classname}::{self.name}" if self.classname else self.name


@dataclass
class Report:
    """The test cases of a report. Every count is a count of those cases: the <testsuite>
    attributes (tests="1" over 9,000 cases) are whatever the student's machine wrote."""

    cases: list[Case] = field(default_factory=list)

    @property
    def tests(self) -> int:
        return len(self.cases)

    @property
    def passed(self) -> int:
        return self._count("passed")

    @property
    def failures(self) -> int:
        return self._count("failed")

    @property
    def errors(self) -> int:
        return self._count("error")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    def _count(self, outcome: str) -> int:
        return sum(c.outcome == outcome for c in self.cases)

    @property
    def collection_errors(self) -> list[Case]:
        return [c for c in self.cases if c.collection_error]

    def by_name(self) -> dict[str, Case]:
        return {c.name: c for c in self.cases}

    def summary(self) -> dict[str, int]:
        return {
            "tests": self.tests,
            "passed": self.passed,
            "failures": self.failures,
            "errors": self.errors,
            "skipped": self.skipped,
        }


def _tree(data: bytes) -> ET.Element:
    try:
        return xmlsafe.parse(data)
    except xmlsafe.XmlError as exc:
        raise ReportError(f"the report {exc}") from None


def parse(data: bytes, max_bytes: int = MAX_BYTES) -> Report:
    """A pytest JUnit report (root <testsuites> or <testsuite>); ReportError if it is not one."""
    if not data.strip():
        raise ReportError("the report is empty")
    if len(data) > max_bytes:
        raise ReportError(f"the report is larger than {max_bytes} bytes")
    root = _tree(data)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if root.tag not in ("testsuite", "testsuites") or not suites:
        raise ReportError(f"the XML is not a JUnit report (root element <{root.tag}>)")
    return Report([_case(case) for suite in suites for case in suite.iter("testcase")])


def _case(el: ET.Element) -> Case:
    outcome, message = "passed", ""
    for child, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        found = el.find(child)
        if found is not None:
            outcome, message = name, (found.get("message") or "").strip()
            if message == COLLECTION_FAILURE:  # the cause is the traceback's last E line
                causes = [
                    ln[1:].strip() for ln in (found.text or "").splitlines() if ln[:2] == "E "
                ]
                message += f": {causes[-1]}" if causes else ""
            break
    first = message.splitlines()[0] if message else ""
    return Case(el.get("classname", ""), el.get("name", ""), outcome, first[:300])


# pytest's exit codes (pytest.ExitCode)
EXIT_CODES = {
    0: "all tests passed",
    1: "some tests failed",
    2: "the run was interrupted (errors during collection)",
    3: "pytest hit an internal error",
    4: "pytest was called wrongly (e.g. the test folder does not exist)",
    5: "no tests were collected",
}


def run_problem(exit_code: int, output: str) -> str | None:
    """Why a `python -m pytest ...` run yields no usable report, or None if it should have one."""
    if "No module named pytest" in output:
        return "pytest is not installed in the container (No module named pytest)"
    if exit_code in (0, 1, 2):
        return None  # a report exists; collection errors are read from it
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    said = next(
        (ln for ln in lines if ln.startswith(("ERROR", "error"))), lines[-1] if lines else ""
    )
    reason = EXIT_CODES.get(exit_code, f"exit code {exit_code}")
    return f"pytest exited {exit_code}: {reason}" + (f" ({said[:200]})" if said else "")


def disagreement(exit_code: int, report: Report) -> str | None:
    """How the report contradicts pytest's own exit code, or None. The report is written
    inside the student's container, where a conftest.py hook can rewrite it; the exit code
    is a second witness that such a hook must also forge (exit 0: every test passed or was
    skipped; exit 1: some test failed)."""
    bad = report.failures + report.errors
    if exit_code == 0 and bad:
        return f"pytest exited 0 (every test passed) but the report has {bad} failed"
    if exit_code == 1 and not bad:
        return "pytest exited 1 (some test failed) but the report has every test passing"
    return None
