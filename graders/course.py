"""The course file (rubrics/course.yaml): its sites and their credentials, the staff key,
the year, the grade weights. Read once, again only when the file changes."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graders.errors import BadInput
from graders.files import load_yaml
from graders.paths import rubrics_dir

STAFF_KEY_ENV = "LABGRADER_STAFF_KEY"  # a public key line or SHA256 fingerprint; wins


def course_path() -> Path:
    return rubrics_dir() / "course.yaml"


def course() -> dict[str, Any]:
    """rubrics/course.yaml, validated."""
    path = course_path()
    return _course(str(path), path.stat().st_mtime_ns if path.is_file() else 0)


@functools.lru_cache(maxsize=4)
def _course(path: str, mtime_ns: int) -> dict[str, Any]:
    return load_course(path)


def load_course(path: str | Path) -> dict[str, Any]:
    """A course file checked whole: its schema, then what a schema cannot say."""
    data = load_yaml(path, "course", "course file")
    problems = policy_problems(data)
    if problems:
        raise BadInput(f"course file {path}: {'; '.join(problems)}")
    return data


def policy_problems(data: dict[str, Any]) -> list[str]:
    problems = []
    weights = data.get("weights")
    if weights is not None:
        total = sum(float(weights.get(k, 0)) for k in ("labs", "project"))
        if abs(total - 100) > 1e-9:
            problems.append(
                f"weights: labs {weights.get('labs', 0):g} + project "
                f"{weights.get('project', 0):g} = {total:g}, not 100"
            )
    key = data.get("staff_key")
    if key is not None and StaffKey.parse(key) is None:
        problems.append(
            "staff_key: neither a public key line (ssh-ed25519 AAAA... course-staff) nor a "
            "fingerprint (SHA256:...)"
        )
    return problems


def course_if_any() -> dict[str, Any]:
    """The course file, or nothing when there is none (an instructor's own labs folder)."""
    return course() if course_path().is_file() else {}


def course_year() -> int | None:
    """The course's year (`year`), which picks each lab's variant."""
    return course_if_any().get("year")


def canvas_assignment_id(lab_id: str) -> str | None:
    """The lab's Canvas assignment id (`lms.canvas_assignment_ids`), if given."""
    found = course_if_any().get("lms", {}).get("canvas_assignment_ids", {}).get(lab_id)
    return None if found is None else str(found)


@dataclass(frozen=True)
class Site:
    name: str  # region, e.g. KVM@TACC
    auth_url: str
    cloud: str = ""  # its entry in clouds.yaml, when credentials come from there


def site_named(name: str, who: str = "a lab") -> Site:
    """A Chameleon site by name, with its auth URL and clouds.yaml entry from course.yaml."""
    sites = course()["sites"]
    if name not in sites:
        raise BadInput(f"{who} uses site {name!r}, which rubrics/course.yaml does not list")
    entry = sites[name]
    return Site(name, entry["auth_url"], entry.get("cloud", ""))


@dataclass(frozen=True)
class StaffKey:
    """The course staff's public key, or only its fingerprint."""

    public_line: str  # "ssh-ed25519 AAAA... comment", or "" when only the fingerprint is known
    fingerprint: str  # "SHA256:..." as ssh-keygen -l prints it

    @classmethod
    def parse(cls, text: str) -> StaffKey | None:
        text = " ".join(str(text).split())
        if text.startswith("SHA256:") and len(text) > 20:
            return cls("", text)
        found = key_fingerprint(text)
        return cls(text, found) if found else None

    def in_authorized_keys(self, content: str) -> bool:
        return any(key_fingerprint(line) == self.fingerprint for line in content.splitlines())


KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-", "sk-ssh-ed25519", "sk-ecdsa-sha2-")


def key_fingerprint(line: str) -> str:
    """SHA256 fingerprint of the key on an authorized_keys line (options allowed); "" when the
    line holds no key."""
    words = line.strip().split()
    for kind, blob in zip(words, words[1:], strict=False):
        if kind.startswith(KEY_TYPES):
            try:
                raw = base64.b64decode(blob, validate=True)
            except (binascii.Error, ValueError):
                return ""
            digest = base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
            return f"SHA256:{digest}"
    return ""


def staff_key() -> StaffKey | None:
    """The course key staff log in with: LABGRADER_STAFF_KEY, else course.yaml `staff_key`."""
    text = os.environ.get(STAFF_KEY_ENV) or course_if_any().get("staff_key")
    if not text:
        return None
    key = StaffKey.parse(text)
    if key is None:
        raise BadInput(f"{STAFF_KEY_ENV} is neither a public key line nor a SHA256 fingerprint")
    return key


def private_key_fingerprint(path: Path) -> str:
    """SHA256 fingerprint of a private key's public half; "" when paramiko cannot read it
    (the login will then say why)."""
    import paramiko

    try:
        key = paramiko.PKey.from_path(str(path))
    except Exception:  # noqa: BLE001 - an unreadable key is reported where it is used
        return ""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def course_key_line() -> str:
    """The course staff key's public line, which students add to authorized_keys."""
    key = staff_key()
    if key is None:
        raise BadInput("the course names no staff key (staff_key in rubrics/course.yaml)")
    if not key.public_line:
        raise BadInput(
            f"the course file names only the staff key's fingerprint ({key.fingerprint}); "
            "ask course staff for the key itself"
        )
    return key.public_line


def course_key_file(path: str) -> Path:
    """The course key's private half (batch --ssh-key): a private key, and the one the
    course file names."""
    from graders.student import check_key

    key = Path(path).expanduser().resolve()
    check_key(key, "--ssh-key")
    named = staff_key()
    if named is not None:
        found = private_key_fingerprint(key)
        if found and found != named.fingerprint:
            raise BadInput(
                f"--ssh-key {key} is not the course staff key: its fingerprint is {found}, "
                f"rubrics/course.yaml names {named.fingerprint}"
            )
    return key


def describe() -> str:
    """The course file as a TA checks it: sites and where their credentials come from."""
    data = course()
    lines = [f"{course_path()}: {data.get('course', '')} {data.get('year', '')}".rstrip()]
    for name, site in data["sites"].items():
        cloud = f"clouds.yaml entry {site['cloud']!r}" if site.get("cloud") else "OS_* only"
        lines.append(f"  site {name:9} {site['auth_url']}  ({cloud})")
    key = staff_key()
    lines.append(f"  staff key: {key.fingerprint if key else 'none named'}")
    if data.get("weights"):
        lines.append("  weights: " + ", ".join(f"{k} {v:g}" for k, v in data["weights"].items()))
    return "".join(f"{line}\n" for line in lines)
