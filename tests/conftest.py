"""Shared fixtures: one simulated classroom for the session, real servers, torn down at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

ALL_PROFILES = [
    "healthy",
    "missing_file",
    "unedited_file",
    "server_error",
    "endpoint_500",
    "missing_k8s_object",
    "host_down",
    "tarpit",
]


@pytest.fixture(scope="session")
def classroom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Every profile once, both first labs, with the OpenStack variables set."""
    root = Path(tmp_path_factory.mktemp("class"))
    with running_classroom(root, ALL_PROFILES, ("hello-chameleon", "cloud-chi")) as room:
        yield room


@pytest.fixture(scope="session")
def by_profile(classroom) -> dict[str, object]:
    return {s.profile: s for s in classroom.students}


@contextmanager
def running_classroom(root: Path, profiles: list[str], labs: tuple[str, ...]) -> Iterator[object]:
    """A started classroom, with the OpenStack variables pointing at its API while it runs."""
    if os.geteuid() != 0:
        pytest.skip("the simulator needs root (sshd, ports 22 and 80)")
    from graders.probes.chameleon import reset_cache
    from graders.sim import Classroom

    room = Classroom(root, profiles, labs=labs)
    room.start()
    saved = {k: os.environ.get(k) for k in room.openstack_env}
    os.environ.update(room.openstack_env)
    reset_cache()
    try:
        yield room
    finally:
        room.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_cache()


def lab_classroom(root: Path, lab: str, profiles: list[str]) -> AbstractContextManager[object]:
    return running_classroom(root, profiles, (lab,))


def graded_as_expected(lab_id: str, students: list, lab=None) -> list:
    """Grade each student (6 at a time); assert every check ends as the profile says, every
    item keeps evidence, and nothing that did not pass lacks feedback. Returns the results."""
    from concurrent.futures import ThreadPoolExecutor

    import jsonschema

    from graders.files import schema
    from graders.grade import grade, site_for
    from graders.labs import load_lab
    from graders.rubric import load_rubric, rubric_path
    from graders.student import load_student

    lab = lab or load_lab(lab_id)
    rubric = load_rubric(rubric_path(lab_id), lab)
    with ThreadPoolExecutor(6) as pool:
        graded = list(
            pool.map(
                lambda s: (s, grade(lab, rubric, load_student(s.student_file), site_for(lab))),
                students,
            )
        )
    wrong = {}
    for s, result in graded:
        got = {c.check: c.observed for c in result.checks}
        if got != s.expected(lab_id):
            wrong[s.profile] = {
                k: (v, got.get(k)) for k, v in s.expected(lab_id).items() if got.get(k) != v
            }
        jsonschema.validate(result.to_dict(), schema("result"))
        for c in result.checks:
            assert c.evidence, f"{s.profile}: {c.id} kept no evidence"
            if c.observed not in ("passed", "skipped"):
                assert c.feedback and "grader error" not in c.feedback, (s.profile, c.feedback)
    assert not wrong, wrong
    return graded
