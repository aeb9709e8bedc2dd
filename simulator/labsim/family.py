"""The one interface of the classroom's lab families, and what their builders are given.

A family knows a few labs. For each student and lab the classroom asks it to build the
student's resources (in the fake cloud) and host (a SimHost, or None where the lab leaves
none to log in to); once every host is built it starts the family's servers, and at the end
it stops them. The classroom knows no lab itself: it loops over its families.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .classroom import SimStudent
    from .hosts import SimHost
    from .openstack import FakeOpenStack
    from .profiles import Profile
    from .serve import Hub
    from .tarpit import Tarpit


@dataclass(frozen=True)
class BuildContext:
    """One student's instance of one lab, about to be built."""

    student: SimStudent  # builders may add student.yaml fields (student.extra)
    profile: Profile
    address: str  # the instance's floating IP: a loopback address of its own
    next_fixed: Callable[[], str]  # the next free sharednet1 address
    hosts_dir: Path  # every host's tree lives below it
    now: datetime  # the classroom's start: every age is relative to it
    cloud: FakeOpenStack
    lab: str = ""  # the lab being built
    # A lab with a second instance per student (llm-chi's multi node): another floating IP,
    # and the further hosts registered (role -> host), built and served like the first.
    next_address: Callable[[], str] = lambda: ""
    more_hosts: dict[str, SimHost] = field(default_factory=dict)

    def site(self, usual: str) -> str:
        """The site this student built the lab at: `usual`, or the other site the manual
        allows that the profile chose (Profile.sites)."""
        return self.profile.sites.get(self.lab, usual)

    def another(self) -> BuildContext:
        """The context of one more instance of this lab, at a floating IP of its own; its
        host is registered with add_host."""
        return replace(self, address=self.next_address())

    def add_host(self, role: str, host: SimHost) -> None:
        """Register a further host of this lab (`role` names it: the classroom keeps it as
        student.hosts["<lab>/<role>"]); the builder returns the first one as before."""
        self.more_hosts[role] = host

    @property
    def root(self) -> Path:
        """The host's own tree (SimHost.root)."""
        return self.hosts_dir / self.address

    @property
    def home(self) -> Path:
        """cc's home on the host (SimHost.home)."""
        return self.root / "home"


@dataclass(frozen=True)
class StartContext:
    """What a family's servers start with, once every host is built."""

    hub: Hub  # the classroom's event loop for in-process listeners
    tarpit: Tarpit  # a tarpit host's ports are listened on here (22 and 80 already are)
    root: Path  # the classroom's folder: a family's work files go below it
    hosts_dir: Path  # the hosts' tree, resolved as sshd and the engines see it


Builder = Callable[[BuildContext], "SimHost | None"]


class Family(ABC):
    """Some labs: their hosts, built one student at a time, then served together."""

    @abstractmethod
    def builders(self) -> dict[str, Builder]:
        """Lab id -> what builds one student's host of that lab."""

    @property
    def labs(self) -> tuple[str, ...]:
        return tuple(self.builders())

    def build(self, ctx: BuildContext, lab: str) -> SimHost | None:
        return self.builders()[lab](ctx)

    def addresses(self, lab: str) -> int:
        """The most floating IPs one student's instance of `lab` takes (address planning)."""
        return 1

    @abstractmethod
    def start(self, ctx: StartContext) -> None:
        """Serve every host built since the last stop()."""

    @abstractmethod
    def stop(self) -> None:
        """Stop everything started (idempotent) and forget the hosts, ready to build anew."""

    def pids(self) -> list[int]:
        """The processes this family runs now (listeners in the classroom's own process
        have none)."""
        return []

    def env(self) -> dict[str, str]:
        """What the grader needs, beyond OpenStack's variables, to reach these services."""
        return {}
