"""Shared fixtures: one simulated classroom for the session, real servers, torn down at the end."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

ALL_PROFILES = [
    "healthy",
    "missing_file",
    "unedited_file",
    "edited_in_place",
    "edited_windows",
    "server_error",
    "endpoint_500",
    "missing_k8s_object",
    "k8s_wrong_image",
    "k8s_no_probe",
    "k8s_service_floating_ip",
    "k8s_hpa_values",
    "k8s_public_nodes",
    "k8s_torn_down",
    "ports_with_security",
    "skipped_bind_mount",
    "host_down",
    "tarpit",
    "lease_expired",
]
# For the modules that start a Classroom themselves (sshd on port 22 of loopback addresses).
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd"),
    reason="the simulator needs root and OpenSSH's sshd",
)


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
    from labsim import Classroom

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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`lab_room`: one classroom per lab of the module's PROFILES ({lab: [profile, ...]})."""
    if "lab_room" in metafunc.fixturenames:
        labs = list(metafunc.module.PROFILES)
        metafunc.parametrize("lab_room", labs, indirect=True, scope="module", ids=labs)


@pytest.fixture(scope="module")
def lab_room(request, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """(lab, started classroom of that lab's profiles in the module's PROFILES)."""
    lab = request.param
    with lab_classroom(tmp_path_factory.mktemp(lab), lab, request.module.PROFILES[lab]) as r:
        yield lab, r


def run_cli(env: dict[str, str | None], *args: str, **kw) -> subprocess.CompletedProcess:
    """`labgrader ARGS` in a subprocess, with `env` added to this process's environment (a
    None value removes that variable)."""
    merged = {**os.environ, **{k: v for k, v in env.items() if v is not None}}
    return subprocess.run(
        [sys.executable, "-m", "graders.cli", *args],
        env={k: v for k, v in merged.items() if env.get(k, "") is not None},
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def student_of(room, profile: str):
    """The room's first student of that profile."""
    return next(s for s in room.students if s.profile == profile)


def address_of(room, profile: str, lab: str) -> str:
    found = student_of(room, profile).address(lab)
    assert found, (profile, lab)
    return found


def ssh_connect(room, profile: str, lab: str, key_of: str | None = None):
    """A fabric Connection as `cc` to the student's instance of the lab, with the student's
    key (or, with key_of, another profile's), and short timeouts."""
    from fabric import Connection

    key = student_of(room, key_of or profile).key_path
    return Connection(
        address_of(room, profile, lab),
        user="cc",
        connect_timeout=5,
        connect_kwargs={
            "key_filename": str(key),
            "look_for_keys": False,
            "allow_agent": False,
            "banner_timeout": 5,
            "auth_timeout": 5,
        },
    )


def ssh_run(room, profile: str, lab: str, command: str):
    """Run a command over SSH on the student's instance; its fabric Result (warn: no raise)."""
    with ssh_connect(room, profile, lab) as c:
        return c.run(command, hide=True, warn=True, timeout=30, in_stream=False)


@pytest.fixture()
def key(tmp_path: Path) -> Path:
    """A fresh ed25519 private key without a passphrase (its .pub beside it)."""
    k = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)], check=True)
    return k


def session(config: dict | None = None):
    """A grading Session for a student whose key does not exist, with no site and no SSH."""
    from graders.checks import Session
    from graders.probes.ssh import SshPool
    from graders.student import Student

    return Session(Student("s1", "s1", "/nonexistent"), config or {}, None, SshPool())


_ABSENT = "<absent>"


def expected(student, lab_id: str, checks=None) -> dict[str, str]:
    """How the student's profile says the grader must find each check of the lab: the lab's
    own checks (labs/<lab>/checks.py, unless `checks` gives them), the profile's outcomes."""
    from graders.labs import load_lab

    return student.expected(lab_id, load_lab(lab_id).checks if checks is None else checks)


def assert_as_expected(
    student, lab_id: str, result, strict_feedback: bool = False, checks=None
) -> None:
    """One student's result: every check ends as the profile says (no more, no fewer), the
    result validates, every item keeps evidence, and every check that did not pass has
    feedback that is not a grader error (skipped checks too with strict_feedback)."""
    import jsonschema

    from graders.files import schema

    got = {c.check: c.observed for c in result.items}
    want = expected(student, lab_id, checks)
    wrong = {
        k: (want.get(k, _ABSENT), got.get(k, _ABSENT))
        for k in {**want, **got}
        if want.get(k, _ABSENT) != got.get(k, _ABSENT)
    }
    assert not wrong, f"{student.profile}: (expected, observed) {wrong}"
    jsonschema.validate(result.to_dict(), schema("result"))
    for c in result.items:
        assert c.evidence, f"{student.profile}: {c.id} kept no evidence"
        if c.observed == "passed" or (c.observed == "skipped" and not strict_feedback):
            continue
        assert c.feedback, f"{student.profile}: {c.id} {c.observed} without feedback"
        assert "grader error" not in c.feedback, (student.profile, c.id, c.feedback)


def graded_as_expected(lab_id: str, students: list, lab=None) -> list:
    """Grade each student (6 at a time); assert_as_expected on each, every failing student
    named at once. Returns the (student, result) pairs."""
    from concurrent.futures import ThreadPoolExecutor

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
    failed = []
    for s, result in graded:
        try:
            assert_as_expected(s, lab_id, result, checks=lab.checks)
        except AssertionError as e:
            failed.append(str(e))
    assert not failed, "\n".join(failed)
    return graded


def loopback_rubrics(room, tmp_path: Path) -> str:
    """The course's rubrics, with every site's Keystone the class's (tests stay on loopback)."""
    import shutil

    import yaml

    from graders.paths import rubrics_dir

    folder = tmp_path / "rubrics"
    shutil.copytree(rubrics_dir(), folder)
    course = yaml.safe_load((folder / "course.yaml").read_text())
    for site in course["sites"].values():
        site["auth_url"] = room.openstack_env["OS_AUTH_URL"]
    (folder / "course.yaml").write_text(yaml.safe_dump(course))
    return str(folder)
