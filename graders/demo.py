"""`labgrader demo`: a simulated class on loopback, graded end to end, then torn down.

Each simulated student has a profile (healthy, host down, tarpit, ...) with the results it
should get; the demo shows both, so a reader sees the grader held to them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from graders.errors import BadInput
from graders.files import write_atomic
from graders.results import Result
from graders.status import Status, counts_as_passed

DEMO_PROFILES = [
    "healthy",
    "missing_file",
    "server_error",
    "endpoint_500",
    "missing_k8s_object",
    "host_down",
    "tarpit",
]


def run_demo(out: Path, labs: list[str]) -> int:
    from graders.labs import load_lab
    from graders.rubric import load_rubric, rubric_path

    try:
        from labsim import Classroom
    except ImportError:
        raise BadInput(
            "the demo needs the classroom simulator, which the plain install leaves out: "
            "from a clone of labgrader, run `bash scripts/demo.sh`"
        ) from None
    if os.geteuid() != 0:
        raise BadInput(
            "the simulator needs root (sshd and ports 22/80 on loopback addresses); "
            "run the demo with sudo or in a container"
        )
    specs = [load_lab(lab_id) for lab_id in labs]
    rubrics = {s.id: load_rubric(rubric_path(s.id), s) for s in specs}

    profiles = DEMO_PROFILES
    with tempfile.TemporaryDirectory(prefix="labgrader-sim-") as root:
        print(
            f"demo: starting a simulated class of {len(profiles)} students on loopback ...",
            file=sys.stderr,
        )
        with Classroom(Path(root), profiles, labs=tuple(labs)) as room:
            os.environ.update(room.openstack_env)
            t0 = time.monotonic()
            rows = _grade_all(room, specs, rubrics, out)
            took = time.monotonic() - t0
    mismatches = _print_summary(rows, took, out)
    return 0 if not mismatches else 1


def _grade_all(room, specs, rubrics, out: Path) -> list[tuple]:
    from graders.grade import grade, site_for
    from graders.probes.chameleon import reset_cache
    from graders.report import render
    from graders.student import load_student

    reset_cache()
    jobs = [(st, spec) for st in room.students for spec in specs]

    def one(job):
        st, spec = job
        student = load_student(st.student_file)
        t0 = time.monotonic()
        result = grade(spec, rubrics[spec.id], student, site_for(spec))
        folder = out / spec.id / student.netid
        write_atomic(folder / "result.json", render(result, "json"))
        write_atomic(
            folder / "results.json",
            render(result, "gradescope", execution_time=time.monotonic() - t0),
        )
        return st, spec, result, time.monotonic() - t0

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, jobs))


def _print_summary(rows: list[tuple], took: float, out: Path) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"labgrader demo: {len(rows)} gradings in {took:.1f} s")
    for col in ("student", "profile", "lab", "score", "not passed", "as expected", "time"):
        table.add_column(col)
    mismatches = 0
    for st, spec, result, secs in rows:
        expected = st.expected(spec.id, spec.checks)
        got = {c.check: c.observed for c in result.items}
        wrong = {k: (v, got.get(k)) for k, v in expected.items() if got.get(k) != v}
        mismatches += bool(wrong)
        table.add_row(
            st.netid,
            st.profile,
            spec.id,
            f"{result.score:g}/{result.max_score:g}",
            _not_passed(result) or "-",
            "yes"
            if not wrong
            else "NO: " + ", ".join(f"{k} {g} (expected {e})" for k, (e, g) in wrong.items()),
            f"{secs:.1f} s",
        )
    console = Console(stderr=False, width=max(Console().width, 140))
    console.print(table)
    console.print(f"Results: {out}/<lab>/<netid>/result.json and Gradescope results.json")
    if mismatches:
        console.print(f"[red]{mismatches} gradings differ from their profile's expectation[/]")
    return mismatches


def _not_passed(result: Result) -> str:
    """What went wrong, naming the root causes; what they blocked is only counted."""
    causes = [
        f"{c.id} ({c.observed})"
        for c in result.items
        if c.observed and not counts_as_passed(c.observed) and c.observed != Status.SKIPPED
    ]
    skipped = sum(c.observed == Status.SKIPPED for c in result.items)
    return ", ".join(causes) + (f"; {skipped} skipped" if skipped else "")
