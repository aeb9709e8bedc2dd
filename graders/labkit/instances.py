"""Logging in to the lab's instance as cc, and the course staff key on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graders.checks import Lab, check
from graders.errors import Failure, Skip

# `id -un` and reading authorized_keys answer at once on any instance, however busy; a host
# that sits on them longer is hanging them on purpose, and the student's other checks wait
# behind it on the one connection.
QUICK_COMMAND_S = 10.0


def require_cc_login(lab: Lab) -> None:
    result = lab.run("id -un", timeout=QUICK_COMMAND_S)
    lab.require(
        result.ok and result.stdout.strip() == "cc",
        f"logged in, but `id -un` said {result.stdout.strip()!r} (exit {result.exited})",
    )


def login_check(after: Callable[..., Any], title: str = "SSH as cc works") -> Callable[[Lab], None]:
    """The lab's `ssh_login` check, once `after` has found the instance:
    `ssh_login = login_check(after=server_active)`."""

    @check(title=title, depends=[after], vantage="host")
    def ssh_login(lab: Lab) -> None:
        """The instance accepts the grader's key for user cc on port 22 (the student's own in
        a self-check, the course staff key in a staff run)."""
        require_cc_login(lab)

    return ssh_login


COURSE_KEY_CHECK = "course_key"
MAX_AUTHORIZED_KEYS = 65536


def course_key_check(after: Callable[..., Any]) -> Callable[[Lab], None]:
    """The lab's `course_key` check, run once `after` has found the instance:
    `course_key = course_key_check(after=server_active)` in a lab that logs in."""

    @check(
        title="The course staff key is in ~cc/.ssh/authorized_keys",
        depends=[after],
        vantage="host",
    )
    def course_key(lab: Lab) -> None:
        """The course staff's public key is in cc's authorized_keys, so that staff can log in
        and grade; a staff run shows it by logging in with that key."""
        require_course_key(lab)

    return course_key


def require_course_key(lab: Lab) -> None:
    from graders.course import staff_key

    key = staff_key()
    if key is None:
        raise Skip("the course names no staff key (staff_key in rubrics/course.yaml)")
    if lab.student.staff_login:
        lab.run("true", timeout=QUICK_COMMAND_S)  # refused: the message names the course key
        lab.note(f"logged in to {lab.address} with the course staff key ({key.fingerprint})")
        return
    keys = f"head -c {MAX_AUTHORIZED_KEYS} ~/.ssh/authorized_keys"
    result = lab.run(keys, timeout=QUICK_COMMAND_S)
    if key.in_authorized_keys(result.stdout):
        lab.note(f"the course staff key ({key.fingerprint}) is in ~cc/.ssh/authorized_keys")
        return
    if key.public_line:
        add = (
            f"labgrader course-key | ssh -i {lab.student.ssh_key} cc@{lab.address} "
            "'cat >> ~/.ssh/authorized_keys'"
        )
    else:
        add = f"ask course staff for the course key ({key.fingerprint}) and add it"
    raise Failure(
        f"the course staff key ({key.fingerprint}) is not in ~cc/.ssh/authorized_keys on "
        f"{lab.address}: you can log in, staff cannot, so the staff grade of this lab would "
        "be zero",
        add,
    )
