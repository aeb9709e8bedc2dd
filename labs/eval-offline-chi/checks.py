"""Offline evaluation: the checks follow the lab.

Launch node-eval-offline-<user>, start the `jupyter` container with the workspace mounted at
/home/jovyan/work, evaluate the model in the notebook, then write the pytest suite in
workspace/tests/ and run it (`pytest --verbose --tb=no tests/`). The grader runs that suite
itself, in the same container, and scores the JUnit report pytest writes, never console text.
"""

from __future__ import annotations

import shlex
import uuid

from graders.checks import Lab, check
from graders.errors import Failure
from graders.labkit.chameleon import server_check
from graders.labkit.containers import require_containers
from graders.labkit.instances import course_key_check, login_check
from graders.probes import junit

server_active = server_check("Server node-eval-offline-<user> is ACTIVE with a floating IP")


ssh_login = login_check(after=server_active)


@check(title="The jupyter container is running", depends=[ssh_login], vantage="host")
def jupyter_container(lab: Lab) -> None:
    """`docker ps` lists the container `jupyter`, where the suite runs."""
    require_containers(lab, [lab.config["container"]])


@check(title="The test suite is in workspace/tests", depends=[ssh_login], vantage="host")
def test_files(lab: Lab) -> None:
    """~/eval-offline-chi/workspace/tests holds test_*.py files (the lab's four files)."""
    folder = f"{lab.config['workspace']}/{lab.config['tests_dir']}"
    result = lab.run(f"ls -1 ~/{shlex.quote(folder)}")
    lab.require(
        result.ok,
        f"no folder ~/{folder} ({result.stderr.strip()[:160]})",
        "Write the suite (conftest.py and the test_food11_*.py files) in workspace/tests.",
    )
    names = set(result.stdout.split())
    tests = sorted(n for n in names if n.startswith("test_") and n.endswith(".py"))
    lab.measure("test_files", len(tests))
    lab.measure("lab_files", len(names & set(lab.config["test_files"])))
    lab.require(
        tests, f"~/{folder} has no test_*.py file (it holds: {', '.join(names) or 'nothing'})"
    )


@check(
    title="pytest runs the suite in the jupyter container",
    depends=[jupyter_container, test_files],
    vantage="host",
    timeout=660,
)
def suite_runs(lab: Lab) -> junit.Report:
    """`python -m pytest tests` runs in the container and writes a JUnit report that parses,
    with every test file collected."""
    cfg = lab.config
    name = f".labgrader-junit-{uuid.uuid4().hex[:8]}.xml"  # never a stale report
    where, container = shlex.quote(cfg["container_workspace"]), shlex.quote(cfg["container"])
    exec_ = f"docker exec -w {where} {container}"
    run = lab.run(
        f"{exec_} python -m pytest {shlex.quote(cfg['tests_dir'])} -q --tb=short "
        f"-p no:cacheprovider --junitxml {name}",
        timeout=cfg["pytest"]["timeout_s"],
    )
    cap = int(cfg["pytest"]["report_max_bytes"])
    read = lab.run(f"{exec_} head -c {cap + 1} {name}; s=$?; {exec_} rm -f {name}; exit $s")
    problem = junit.run_problem(run.exited, run.stdout + run.stderr)
    lab.measure("pytest_exit", run.exited)
    lab.require(not problem, f"{problem}", "Run the suite yourself in the container first.")
    lab.require(
        read.ok,
        f"pytest exited {run.exited} but left no report ({read.stderr.strip()[:160]})",
    )
    try:
        report = junit.parse(read.stdout.encode(), cap)
    except junit.ReportError as exc:
        raise Failure(f"the JUnit report pytest wrote is unusable: {exc}") from None
    for key, value in report.summary().items():
        lab.measure(key, value)
    contradiction = junit.disagreement(run.exited, report)
    lab.require(
        not contradiction,
        f"the JUnit report is not pytest's own: {contradiction}",
        "Leave pytest's reporting alone (no conftest.py hook that rewrites the report).",
    )
    lab.note(
        f"JUnit report: {report.tests} tests, {report.failures} failed, {report.errors} "
        f"errors, {report.skipped} skipped",
        [c.to_dict() for c in report.cases],
    )
    broken = report.collection_errors
    lab.require(
        not broken,
        "pytest could not collect "
        + "; ".join(f"{c.name.replace('.', '/')}.py ({c.message})" for c in broken),
        "Fix the error in that file, then run `pytest --verbose --tb=no tests/` again.",
    )
    lab.require(report.tests, "pytest collected no tests", "Name the test functions test_*.")
    return report


@check(title="The lab's five tests are in the suite", depends=[suite_runs])
def lab_tests(lab: Lab, suite_runs: junit.Report) -> None:
    """The report has the lab's tests: overall and per-class accuracy, template permutations,
    cake-looks-like and Indian desserts."""
    cases = suite_runs.by_name()
    wanted = lab.config["lab_tests"]
    missing = [t for t in wanted if t not in cases]
    lab.measure("lab_tests_found", len(wanted) - len(missing))
    lab.require(
        not missing,
        f"the report has no {', '.join(missing)}",
        "Keep the lab's test names; pytest runs functions whose names start with test_.",
    )


@check(title="Every test in the suite passes", depends=[suite_runs])
def tests_pass(lab: Lab, suite_runs: junit.Report) -> None:
    """No test failed or errored, as the JUnit report says."""
    report = suite_runs
    lab.measure("pass_rate", round(report.passed / report.tests, 3))
    bad = [c for c in report.cases if c.outcome in ("failed", "error")]
    lab.require(
        not bad,
        f"{len(bad)} of {report.tests} tests did not pass: "
        + "; ".join(f"{c.name} ({c.outcome}: {c.message[:120]})" for c in bad),
        "Improve the model or the evaluation until these tests pass.",
    )


course_key = course_key_check(after=server_active)
