"""The @check decorator and what a check function receives.

A check is a plain function whose docstring says what it verifies:

    @check(title="SSH as cc works", depends=["server_active"], vantage="host")
    def ssh_login(lab: Lab) -> None:
        \"\"\"The instance accepts the student's key for user cc on port 22.\"\"\"
        lab.run("true")

It passes by returning, fails by raising `Failure`, and reports numbers with
`lab.measure(...)`. It never decides points: the rubric does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graders.errors import Failure, GraderFault
from graders.evidence import MAX_EXCERPT, Evidence

if TYPE_CHECKING:
    from graders.probes.chameleon import Chameleon
    from graders.probes.http import Http
    from graders.probes.ssh import CommandResult, SshPool
    from graders.student import Student

VANTAGES = ("grader", "host")
DURABLE_EXCERPT = 256 * 1024  # bytes kept of a durable check's note (e.g. a bucket listing)


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    func: Callable[[Lab], None]
    depends: tuple[str, ...] = ()
    timeout: float = 30.0
    retries: int = 1
    vantage: str = "grader"
    doc: str = ""


def check(
    title: str,
    *,
    depends: list[str] | tuple[str, ...] = (),
    timeout: float = 30.0,
    retries: int = 1,
    vantage: str = "grader",
) -> Callable[[Callable[[Lab], None]], Callable[[Lab], None]]:
    """Declare a check. Its id is the function's name; `depends` lists parent check ids."""
    if vantage not in VANTAGES:
        raise ValueError(f"vantage must be one of {VANTAGES}, not {vantage!r}")

    def decorate(func: Callable[[Lab], None]) -> Callable[[Lab], None]:
        doc = " ".join((func.__doc__ or "").split())
        func.__check__ = Check(  # type: ignore[attr-defined]
            func.__name__, title, func, tuple(depends), timeout, retries, vantage, doc
        )
        return func

    return decorate


def collect(namespace: dict[str, Any]) -> list[Check]:
    """The checks defined in a module, in definition order."""
    return [v.__check__ for v in namespace.values() if hasattr(v, "__check__")]


@dataclass
class Session:
    """What the checks of one student's lab run share: identity, config, facts, connections."""

    student: Student
    config: dict[str, Any]
    chameleon: Chameleon | None
    ssh: SshPool
    facts: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Lab:
    """The handle a check function receives: probes that record evidence into its observation."""

    def __init__(self, session: Session, check: Check) -> None:
        self.session = session
        self.check = check
        self.evidence: list[Evidence] = []
        self.measurements: dict[str, Any] = {}
        self.attempt = 1

    # --- identity and names -------------------------------------------------------------
    @property
    def student(self) -> Student:
        return self.session.student

    @property
    def config(self) -> dict[str, Any]:
        return self.session.config

    @property
    def facts(self) -> dict[str, Any]:
        return self.session.facts

    def name(self, key: str, **extra: str) -> str:
        """A resource name from lab.yaml's `names`, with {netid} and {user} filled in."""
        template = self.config.get("names", {}).get(key)
        if template is None:
            raise GraderFault(f"lab.yaml has no name {key!r}")
        return template.format(netid=self.student.netid, user=self.student.chameleon_user, **extra)

    def port(self, key: str) -> int:
        return int(self.config.get("ports", {})[key])

    # --- recording -------------------------------------------------------------------------
    def record(self, evidence: Evidence) -> None:
        evidence.attempt = self.attempt
        self.evidence.append(evidence)

    def note(self, summary: str, excerpt: Any = "") -> None:
        """Record what was concluded. A durable check's notes (lab.yaml `durable`) are the
        record a later regrade relies on, so they are kept whole up to DURABLE_EXCERPT."""
        durable = self.check.id in self.config.get("durable", ())
        limit = DURABLE_EXCERPT if durable else MAX_EXCERPT
        self.record(Evidence.make("note", summary, excerpt, limit=limit))

    def measure(self, name: str, value: float | int | str | bool | None) -> None:
        self.measurements[name] = value

    # --- probes ----------------------------------------------------------------------------
    @property
    def chameleon(self) -> Chameleon:
        if self.session.chameleon is None:
            raise GraderFault("this lab run has no Chameleon access configured")
        return self.session.chameleon.bound(self.record)

    @property
    def http(self) -> Http:
        from graders.probes.http import Http

        return Http(self.record)

    @property
    def address(self) -> str:
        """The instance's floating IP, as a parent check found it."""
        try:
            return self.facts["address"]
        except KeyError:
            raise GraderFault(
                f"check {self.check.id!r} needs an address: it must depend on a check that "
                "sets lab.facts['address']"
            ) from None

    def measuring(self) -> AbstractContextManager[None]:
        """Hold a measurement slot for this instance: the grader goes quiet towards other
        hosts meanwhile (graders.limits), so its own load stays out of the figures."""
        from graders.limits import measuring

        return measuring(self.address)

    def run(self, command: str, timeout: float = 20.0) -> CommandResult:
        """Run a command on the instance over SSH as cc; the result keeps exit code and output."""
        self._host_only("runs commands on")
        return self.session.ssh.run(
            self.address, self.student.ssh_key, command, timeout=timeout, record=self.record
        )

    def fetch(self, remote: str, local: str, max_bytes: int) -> int:
        """Copy a file from the instance over SFTP (refused past `max_bytes`); its size."""
        self._host_only("copies files from")
        return self.session.ssh.fetch(
            self.address,
            self.student.ssh_key,
            remote,
            local,
            max_bytes=max_bytes,
            record=self.record,
        )

    def put(self, text: str, remote: str) -> None:
        """Write a small file on the instance, e.g. a measurement script the grader runs."""
        self._host_only("writes files on")
        self.session.ssh.put(self.address, self.student.ssh_key, text, remote, record=self.record)

    def _host_only(self, what: str) -> None:
        if self.check.vantage != "host":
            raise GraderFault(
                f"check {self.check.id!r} {what} the host but does not declare vantage='host'"
            )

    def require(self, condition: object, message: str, help: str = "") -> None:
        """Fail with `message` unless `condition` holds."""
        if not condition:
            raise Failure(message, help)
