"""`labgrader check`: grade one student's lab, as the student self-checks it (hidden items
by their points only) or as staff run it (--show-hidden), and tell the student what they
must not miss. Its JSON is never signed (graders/signing.py): staff grade from a batch."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from graders.course import Site
from graders.errors import EXIT_NOT_ALL_PASSED, EXIT_OK, BadInput
from graders.labs import LabSpec
from graders.results import Result
from graders.status import Status
from graders.student import Student


def run_check(
    lab_id: str,
    student_file: str,
    *,
    fmt: str,
    out: str | None,
    rubric_file: str | None,
    show_hidden: bool,
) -> int:
    from graders.files import check_writable, write_atomic
    from graders.grade import grade, preflight
    from graders.report import render
    from graders.rubric import load_lab_rubric
    from graders.student import load_student

    try:
        student = load_student(student_file)
        lab, rubric = load_lab_rubric(lab_id, rubric_file)
        if out:
            check_writable(out)
        site = preflight(lab)
        student = _as_owner(student, site)
    except BadInput as exc:  # Gradescope shows "failed to execute" without a results.json
        if fmt == "gradescope" and out:
            _gradescope_failure(out, str(exc))
        raise
    print(f"labgrader: grading {lab.id} for {student.netid} ...", file=sys.stderr)
    t0 = time.monotonic()
    result = grade(lab, rubric, student, site)
    now = datetime.now(timezone.utc)
    view = result if show_hidden else result.for_student(now)
    # never signed (no key is passed): a student's machine is no place for the staff key,
    # and `"signature": null` tells anyone that this file is not a staff result
    text = render(view, fmt, execution_time=time.monotonic() - t0)
    if out:
        write_atomic(out, text)
        print(f"labgrader: wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    warn(lab, result)
    return EXIT_OK if result.all_shown_passed(now) else EXIT_NOT_ALL_PASSED


def _as_owner(student: Student, site: Site | None) -> Student:
    """A self-check grades what the checking credentials' user created (a classmate's decoy
    of the same name is not theirs); staff runs take the id from the roster."""
    from graders.errors import GraderFault
    from graders.probes.chameleon import Chameleon

    if site is None or student.chameleon_user_id:
        return student
    try:
        owner = Chameleon(site).user_id()
    except GraderFault:
        return student
    return replace(student, chameleon_user_id=owner or None)


def warn(lab: LabSpec, result: Result) -> None:
    """What a student must not miss: staff cannot log in, or nothing was found at all."""
    from graders.labkit.instances import COURSE_KEY_CHECK

    for item in result.items:
        if item.check == COURSE_KEY_CHECK and item.status == Status.FAILED:
            bar = "!" * 78
            lines = [bar, "WARNING: staff cannot log in to your instance to grade it.", ""]
            lines += [line for line in item.feedback.splitlines() if line.strip()]
            print("\n".join([*lines, bar]), file=sys.stderr)
    if not any(item.status == Status.PASSED for item in result.items):
        print(
            f"labgrader: nothing of {lab.id} was found to grade. Most labs end by deleting "
            f"what is graded: grade before this step of the manual: {lab.config['grade_before']}",
            file=sys.stderr,
        )


def _gradescope_failure(path: str | Path, reason: str) -> None:
    """A results.json with the one-line reason; Gradescope shows a bare "failed to execute"
    without one."""
    from graders.files import write_atomic
    from graders.report.gradescope import failure

    try:
        write_atomic(path, failure(reason))
    except OSError:
        pass  # an --out that cannot be written: the line on stderr is all there is
