"""The @check decorator and what a check function receives.

A check is a plain function whose docstring says what it verifies:

    @check(title="The hostname starts with hello-chameleon", depends=[ssh_login],
           vantage="host")
    def hostname(lab: Lab) -> str:
        \"\"\"`hostname` on the instance starts with hello-chameleon.\"\"\"
        name = lab.run("hostname").stdout.strip()
        lab.require(name.startswith("hello-chameleon"), f"hostname is {name!r}")
        return name

It passes by returning, fails by raising `Failure`, and reports numbers with
`lab.measure(...)`. It never decides points: the rubric does.

Data between checks, check50-style but typed: what a check returns goes to the checks that
depend on it, as the argument named after it (`def hello_file_edited(lab, hello_file:
HelloFile)`); a parameter naming no parent is refused when the lab loads. The instance a
check observes is the `Host` one of its ancestors returned (`lab.host`, `lab.address`): it
flows down the dependency chain, so each chain observes the server its root found.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from graders.errors import Failure, GraderFault
from graders.evidence import MAX_EXCERPT, Evidence

if TYPE_CHECKING:
    from graders.probes.chameleon import Chameleon
    from graders.probes.github import GitHub
    from graders.probes.http import Http
    from graders.probes.load import LoadResult
    from graders.probes.s3 import S3
    from graders.probes.ssh import CommandResult, SshPool
    from graders.student import Student

VANTAGES = ("grader", "host")
DURABLE_EXCERPT = 256 * 1024  # bytes kept of a durable check's note (e.g. a bucket listing)
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Host:
    """An instance a check observes: its name (in Nova, or Zun) and its floating IP."""

    name: str
    address: str


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    func: Callable[..., Any]
    depends: tuple[str, ...] = ()
    timeout: float = 30.0
    retries: int = 1
    vantage: str = "grader"
    doc: str = ""
    receives: tuple[str, ...] = ()  # the parents whose values the function takes, by name


def check(
    title: str,
    *,
    depends: Sequence[str | Callable[..., Any]] = (),
    timeout: float = 30.0,
    retries: int = 1,
    vantage: str = "grader",
) -> Callable[[F], F]:
    """Declare a check. Its id is the function's name; `depends` lists its parents, as check
    functions or ids. Its parameters after `lab` name the parents whose values it takes."""
    if vantage not in VANTAGES:
        raise ValueError(f"vantage must be one of {VANTAGES}, not {vantage!r}")
    parents = tuple(check_id(d) for d in depends)

    def decorate(func: F) -> F:
        doc = " ".join((func.__doc__ or "").split())
        receives = tuple(inspect.signature(func).parameters)[1:]
        unknown = [name for name in receives if name not in parents]
        if unknown:
            raise ValueError(
                f"check {func.__name__} takes {', '.join(unknown)}, which it does not depend on"
            )
        func.__check__ = Check(  # type: ignore[attr-defined]
            func.__name__, title, func, parents, timeout, retries, vantage, doc, receives
        )
        return func

    return decorate


def check_id(parent: str | Callable[..., Any]) -> str:
    """A parent's id, given as the id or as the check function itself."""
    if isinstance(parent, str):
        return parent
    declared = getattr(parent, "__check__", None)
    if not isinstance(declared, Check):
        raise ValueError(f"{parent!r} is not a check: depends takes checks or their ids")
    return declared.id


def collect(namespace: dict[str, Any]) -> list[Check]:
    """The checks defined in a module, in definition order."""
    return [v.__check__ for v in namespace.values() if hasattr(v, "__check__")]


@dataclass
class Session:
    """What the checks of one student's lab run share: identity, config, connections, and
    what several checks read once (`Lab.shared`)."""

    student: Student
    config: dict[str, Any]
    chameleon: Chameleon | None
    ssh: SshPool
    shared: dict[Callable[..., Any], Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Lab:
    """The handle a check function receives: probes that record evidence into its observation.

    I/O goes through it (chameleon, http, run, fetch, put, s3, measuring), so every probe
    records what it saw; see graders/probes/__init__.py for the convention."""

    def __init__(self, session: Session, check: Check, host: Host | None = None) -> None:
        self.session = session
        self.check = check
        self.host_found = host  # the Host its ancestors returned, if any
        self.evidence: list[Evidence] = []
        self.measurements: dict[str, Any] = {}
        self.attempt = 1
        self.cancelled = False

    # --- identity and names -------------------------------------------------------------
    @property
    def student(self) -> Student:
        return self.session.student

    @property
    def config(self) -> dict[str, Any]:
        return self.session.config

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
        self._alive()
        if self.session.chameleon is None:
            raise GraderFault("this lab run has no Chameleon access configured")
        return self.session.chameleon.bound(self.record)

    @property
    def http(self) -> Http:
        from graders.probes.http import Http

        self._alive()
        return Http(self.record)

    @property
    def github(self) -> GitHub:
        """The GitHub API (LABGRADER_GITHUB_API, LABGRADER_GITHUB_TOKEN): records that
        outlive the instance, such as the student's Actions runs."""
        from graders.probes.github import GitHub

        self._alive()
        return GitHub(self.record)

    def s3(self, endpoint: str, access_key: str, secret_key: str) -> S3:
        """An S3 API (MinIO on the instance), with short timeouts and capped listings."""
        from graders.probes.s3 import S3

        self._alive()
        return S3(endpoint, access_key, secret_key, self.record)

    def load(self, url: str, **options: Any) -> LoadResult:
        """Requests at a concurrency from a worker process, every sample kept, under this
        check's measurement lease (graders/probes/load.py: run_load's options)."""
        from graders.probes.load import run_load

        with self.measuring():
            return run_load(url, record=self.record, **options)

    @property
    def host(self) -> Host:
        """The instance this check observes: the Host one of its ancestors returned."""
        if self.host_found is None:
            raise GraderFault(
                f"check {self.check.id!r} observes no instance: it must depend on a check that "
                "returns the Host it found"
            )
        return self.host_found

    @property
    def address(self) -> str:
        """The floating IP of the instance this check observes."""
        return self.host.address

    def shared(self, compute: Callable[[Lab], T]) -> T:
        """What `compute` reads, read once per student and handed to every check that asks
        (one kubectl call for several checks); the others wait for the first."""
        with self.session.lock:
            if compute not in self.session.shared:
                self.session.shared[compute] = compute(self)
            return self.session.shared[compute]

    def measuring(self) -> AbstractContextManager[None]:
        """Hold a measurement lease on this instance for at most the check's own time: the
        grader goes quiet towards other hosts meanwhile (graders.limits), so its own load
        stays out of the figures. The runner revokes it if it gives up on the check."""
        from graders.limits import measuring

        self._alive()
        return measuring(self.address, lease_s=self.check.timeout, owner=self)

    def run(
        self, command: str, timeout: float = 20.0, max_bytes: int | None = None
    ) -> CommandResult:
        """Run a command on the instance over SSH as cc; the result keeps exit code and output
        (each stream capped at `max_bytes`, else the probe's default; past it the command is
        cut off and `truncated` says so)."""
        self._host_only("runs commands on")
        cap = {"max_bytes": max_bytes} if max_bytes else {}
        return self.session.ssh.run(
            self.address, self.student.ssh_key, command, timeout=timeout, record=self.record,
            **cap,
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

    def cancel(self) -> None:
        """The runner gave up on this check: its measurement lease ends, and it starts
        nothing more (a probe it calls from now on is refused)."""
        from graders.limits import revoke

        self.cancelled = True
        revoke(self)

    def _alive(self) -> None:
        if self.cancelled:
            raise GraderFault(f"check {self.check.id!r} ran out of time and was stopped")

    def _host_only(self, what: str) -> None:
        self._alive()
        if self.check.vantage != "host":
            raise GraderFault(
                f"check {self.check.id!r} {what} the host but does not declare vantage='host'"
            )

    def require(self, value: T | None, message: str, help: str = "") -> T:
        """`value`, or a Failure with `message` when it is empty or false; a type checker
        then knows it is not None."""
        if not value:
            raise Failure(message, help)
        return value
