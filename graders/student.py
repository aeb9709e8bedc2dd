"""The student file (student.yaml): who the student is and which key the grader logs in with."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from graders.errors import BadInput
from graders.files import load_yaml


@dataclass(frozen=True)
class Student:
    netid: str
    chameleon_user: str
    ssh_key: str
    project: int | None = None
    repo: str | None = None
    github_repo: str | None = None  # owner/name: GitHub Actions runs are read there
    email: str | None = None
    section: str | None = None
    staff_login: bool = False  # ssh_key is the course staff key (a staff run), not the student's
    chameleon_user_id: str | None = None  # Keystone's id of the student: owner of their servers


def from_dict(
    data: dict, base: Path, label: str, staff_key: Path | None = None
) -> Student:
    """A Student from validated fields; the key path is resolved against `base` and checked.
    Without an ssh_key of its own, a staff run logs in with `staff_key`, the course key."""
    if data.get("ssh_key"):
        key = Path(os.path.expanduser(data["ssh_key"]))
        if not key.is_absolute():
            key = base / key
        check_key(key, label)
    elif staff_key is not None:
        key = staff_key
    else:
        raise BadInput(f"{label}: ssh_key is missing (the private key the grader logs in with)")
    return Student(
        netid=data["netid"],
        chameleon_user=data.get("chameleon_user") or data["netid"],
        ssh_key=str(key),
        project=data.get("project"),
        repo=data.get("repo"),
        github_repo=data.get("github_repo"),
        email=data.get("email"),
        section=data.get("section"),
        staff_login=key == staff_key,
        chameleon_user_id=data.get("chameleon_user_id"),
    )


def check_key(key: Path, label: str) -> None:
    if not key.exists():
        raise BadInput(f"{label}: ssh_key {key} does not exist")
    if not key.is_file():
        raise BadInput(f"{label}: ssh_key {key} is not a file")
    try:
        head = key.read_bytes()[:64]
    except OSError as exc:
        raise BadInput(f"{label}: ssh_key {key} cannot be read ({exc.strerror})") from None
    if b"PRIVATE KEY" not in head:
        hint = " (that is a public key; give the private one)" if head.startswith(b"ssh-") else ""
        raise BadInput(f"{label}: ssh_key {key} is not a private key{hint}")
    problem = key_problem(key)
    if problem:
        raise BadInput(f"{label}: ssh_key {key} {problem}")


def key_problem(path: Path) -> str:
    """Why a private key cannot log in (encrypted, unreadable); "" when it can. Found here, at
    load, it is the user's to fix; found at login, it would read as the student's host."""
    import paramiko

    try:
        paramiko.PKey.from_path(str(path))
    except (paramiko.SSHException, OSError, ValueError, TypeError) as exc:
        if isinstance(exc, paramiko.PasswordRequiredException) or "password" in str(exc).lower():
            return "is encrypted with a passphrase; the grader needs a key without one"
        return f"cannot be read as a private key ({exc})"
    return ""


def load_student(path: str | Path) -> Student:
    data = load_yaml(path, "student", "student file")
    return from_dict(data, Path(path).resolve().parent, f"student file {path}")
