"""A classroom of simulated students, each with the Chameleon resources of the labs.

Every simulated instance gets its own loopback address (127.N.x.y, never 127.0.0.1) playing its
floating IP, with the lab's services on their real ports: a real sshd on 22 (logging in as
`cc`), GourmetGram on 80 for cloud-chi's node1. A fake Keystone/Nova/Neutron on
127.0.0.1:<port> describes every server, network and floating IP. Each student's profile
decides what is broken. The classroom knows no lab itself: each lab's family (family.py)
builds its hosts and serves them; the classroom gives every host its address, keys and sshd.
Everything started here is stopped here, by its own process ids.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO

import yaml

from .basics import CLOUD, HELLO, BasicLabs
from .evaluation import EvaluationLabs
from .family import BuildContext, Family, StartContext
from .hosts import SimHost, install_standins
from .leases import add_leases
from .mlops import MlopsLabs
from .monitoring import MonitoringLabs
from .openstack import FakeOpenStack
from .profiles import PROFILES, LabCheck
from .serve import Hub
from .serving import ServingLabs
from .sshd import SshdFleet, ensure_login_user
from .storage import StorageLabs
from .tarpit import Tarpit
from .training import TrainingLabs

MAX_SERVERS = 1010  # sharednet1 (10.56.0.0/22) addresses handed out, from 10.56.0.10


@dataclass
class SimStudent:
    """One student: the files the grader is given, and the instances it will find."""

    index: int
    netid: str
    chameleon_user: str
    profile: str
    student_file: Path
    key_path: Path
    # lab -> its instance with a FIP; a lab's further instances as "<lab>/<role>"
    hosts: dict[str, SimHost] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)  # more student.yaml fields (github_repo)

    def expected(self, lab: str, checks: Sequence[LabCheck]) -> dict[str, str]:
        """How the grader must find each of the lab's `checks` (its own, in its order)."""
        return PROFILES[self.profile].expected(lab, checks)

    def address(self, lab: str) -> str | None:
        host = self.hosts.get(lab)
        return host.address if host else None


def _traversable(path: Path) -> bool:
    """Can any user (here: cc) reach files below `path`?"""
    return all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents))


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def _claim(net: int) -> IO[bytes] | None:
    """An exclusive lock on address block 127.<net>/16 for this process, or None when another
    classroom holds it (released when the file is closed, or the process ends)."""
    lock = open(Path(tempfile.gettempdir()) / f"labgrader-sim-net-{net}.lock", "ab")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return None
    return lock


def _keygen(path: Path, comment: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path.with_suffix(".pub").read_text()


def _write_student_file(student: SimStudent) -> None:
    """student.yaml as the grader reads it, with what builders added (github_repo)."""
    student.student_file.write_text(
        yaml.safe_dump(
            {
                "netid": student.netid,
                "chameleon_user": student.chameleon_user,
                "ssh_key": str(student.key_path),
                **student.extra,
            },
            sort_keys=False,
        )
    )


class Classroom:
    def __init__(
        self,
        root: Path,
        profiles: list[str],
        labs: tuple[str, ...] = (HELLO, CLOUD),
        net: int | None = None,
        ready_timeout: float = 20.0,
    ) -> None:
        unknown = [p for p in profiles if p not in PROFILES]
        if unknown:
            raise ValueError(f"unknown profiles {unknown}; known: {', '.join(PROFILES)}")
        # Started in this order, stopped in it too; their pids are the classroom's.
        self.families: tuple[Family, ...] = (
            BasicLabs(),  # hello-chameleon, cloud-chi
            TrainingLabs(),  # mlflow-chi, mltrain-chi
            ServingLabs(),  # serve-system/-model/-edge-chi, llm-chi
            EvaluationLabs(),  # eval-offline-chi, eval-loop-chi
            StorageLabs(),  # data-persist-chi, data-platform-chi
            MonitoringLabs(),  # eval-online-chi
            MlopsLabs(),  # mlops-chi
        )
        self._family_of = {lab: f for f in self.families for lab in f.labs}
        bad_labs = [lab for lab in labs if lab not in self._family_of]
        if bad_labs:
            raise ValueError(f"unknown labs {bad_labs}; known: {', '.join(self._family_of)}")
        if len(profiles) * 4 > MAX_SERVERS:
            raise ValueError(f"at most {MAX_SERVERS // 4} students: sharednet1 is a /22")
        self.root = Path(root).resolve()
        self.profiles = list(profiles)
        self.labs = tuple(labs)
        self.net = net  # second octet of the hosts' addresses; None: first free one
        self.ready_timeout = ready_timeout
        self.students: list[SimStudent] = []
        # What the grader needs to reach this class: OpenStack credentials (OS_* for the
        # default site, clouds.yaml with every site's), the course staff key, the GitHub API.
        self.openstack_env: dict[str, str] = {}
        self.course_key_path = self.root / "course" / "id_ed25519"  # the staff's private key
        self.cloud: FakeOpenStack | None = None
        self.start_seconds = 0.0
        self._hub: Hub | None = None
        self._sshd: SshdFleet | None = None
        self._tarpit: Tarpit | None = None
        self._temp_hosts: Path | None = None
        self._net_lock: IO[bytes] | None = None  # held while the picked block is in use
        self._started = False

    def family(self, lab: str) -> Family:
        """The family that builds and serves `lab`."""
        return self._family_of[lab]

    # ---- lifecycle ------------------------------------------------------------------
    def __enter__(self) -> Classroom:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def start(self) -> Classroom:
        if self._started:
            return self
        self._started = True
        began = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop everything started (idempotent): sshd and all its sessions, every listener."""
        for family in self.families:
            family.stop()
        if self._sshd:
            self._sshd.stop()
        if self._hub:
            self._hub.stop()
        if self._tarpit:
            self._tarpit.close()
        if self.cloud:
            self.cloud.close()
        if self._temp_hosts:
            shutil.rmtree(self._temp_hosts, ignore_errors=True)
            (self.root / "hosts").unlink(missing_ok=True)
            self._temp_hosts = None
        self._sshd = self._hub = self._tarpit = None
        if self._net_lock is not None:  # a block this classroom picked: free it for others
            self._net_lock.close()
            self._net_lock = None
            self.net = None
        self._started = False

    def pids(self) -> list[int]:
        """Every process this classroom runs now (sshd supervisor, listeners, sessions)."""
        return [
            *(self._sshd.pids() if self._sshd else []),
            *(p for f in self.families for p in f.pids()),
        ]

    def sshd_logs(self) -> str:
        return self._sshd.logs() if self._sshd else ""

    # ---- building -------------------------------------------------------------------
    def _hosts_dir(self) -> Path:
        """A fresh tree for host files that cc can traverse (pytest's tmp dirs are 0700)."""
        self.root.mkdir(parents=True, exist_ok=True)
        link = self.root / "hosts"
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.exists():
            shutil.rmtree(link)
        if _traversable(self.root):
            link.mkdir(mode=0o755)
            return link
        self._temp_hosts = Path(tempfile.mkdtemp(prefix="labgrader-sim-"))
        self._temp_hosts.chmod(0o755)
        link.symlink_to(self._temp_hosts)
        return self._temp_hosts

    def _pick_net(self, hosts: int) -> int:
        """The given block, or the first free one that no other classroom on this machine
        holds: a lock file per block, held while this classroom runs, so that two test
        processes starting at once never build on the same addresses."""
        if self.net is not None:
            return self.net
        for net in range(1, 255):
            lock = _claim(net)
            if lock is None:
                continue
            addresses = [self._address(net, k) for k in range(hosts)]
            if all(_bindable(a, p) for a in addresses for p in (22, 80)):
                self._net_lock = lock
                return net
            lock.close()
        raise RuntimeError(
            "no 127.N.0.0/16 block with ports 22 and 80 free for every host; is something "
            "listening on 0.0.0.0:22 or 0.0.0.0:80 (a system sshd or web server)?"
        )

    @staticmethod
    def _address(net: int, k: int) -> str:
        return f"127.{net}.{k // 250}.{k % 250 + 1}"

    def _start(self) -> None:
        self.students = []
        owner = ensure_login_user()
        hosts_dir = self._hosts_dir()
        standins = hosts_dir / "standins"
        install_standins(standins)
        students_dir = self.root / "students"
        netids = [f"st{i:03d}" for i in range(len(self.profiles))]
        public_keys, course_key = self._keys(students_dir, netids)
        now = datetime.now(UTC).replace(microsecond=0)
        per_student = sum(self._family_of[lab].addresses(lab) for lab in self.labs)
        self.net = self._pick_net(len(self.profiles) * per_student)
        cloud = self._open_cloud(course_key)
        fixed = iter(range(10, 10 + MAX_SERVERS))

        def next_fixed() -> str:
            n = next(fixed)
            return f"10.56.{n // 256}.{n % 256}"

        addresses = (self._address(self.net, k) for k in itertools.count())
        for i, (netid, name) in enumerate(zip(netids, self.profiles, strict=True)):
            profile = PROFILES[name]
            student_dir = students_dir / netid
            student = SimStudent(
                i,
                netid,
                f"{netid}_nyu",
                name,
                student_dir / "student.yaml",
                student_dir / "id_ed25519",
            )
            keys = public_keys[i] + (course_key if profile.course_key else "")
            for lab in self.labs:
                ctx = BuildContext(
                    student,
                    profile,
                    next(addresses),
                    next_fixed,
                    hosts_dir,
                    now,
                    cloud,
                    lab,
                    lambda: next(addresses),
                )
                servers, containers = len(cloud.servers), len(cloud.containers)
                host = self._family_of[lab].build(ctx, lab)
                add_leases(ctx, lab, servers, containers)
                built = {lab: host, **{f"{lab}/{r}": h for r, h in ctx.more_hosts.items()}}
                for key, each in built.items():
                    if each is not None:
                        each.build(keys, standins, owner)
                        student.hosts[key] = each
            _write_student_file(student)
            self.students.append(student)
        self._serve()

    def _keys(self, students_dir: Path, netids: list[str]) -> tuple[list[str], str]:
        """A fresh key pair per student and the course staff's; their public halves."""
        shutil.rmtree(students_dir, ignore_errors=True)
        with ThreadPoolExecutor(8) as pool:
            public_keys = list(
                pool.map(lambda n: _keygen(students_dir / n / "id_ed25519", n), netids)
            )
        if self.course_key_path.exists():
            shutil.rmtree(self.course_key_path.parent)
        return public_keys, _keygen(self.course_key_path, "course-staff")

    def _open_cloud(self, course_key: str) -> FakeOpenStack:
        """The fake OpenStack, serving, and what the grader needs to reach it."""
        self.cloud = cloud = FakeOpenStack()
        self._hub = Hub()
        cloud.start(self._hub)
        clouds = self.root / "clouds.yaml"
        clouds.write_text(cloud.clouds_yaml())
        clouds.chmod(0o600)
        self.openstack_env = {
            **cloud.env,
            "OS_CLIENT_CONFIG_FILE": str(clouds),
            "LABGRADER_STAFF_KEY": course_key.strip(),
        }
        return cloud

    # ---- serving --------------------------------------------------------------------
    def _serve(self) -> None:
        """sshd on every host that has one, tarpits on 22 and 80, then each family's servers."""
        assert self._hub
        hosts = [h for s in self.students for h in s.hosts.values()]
        up = [h for h in hosts if h.network == "up"]
        self._tarpit = Tarpit(self._hub)
        for host in hosts:
            if host.network == "tarpit":
                self._tarpit.listen(host.address, 22)
                self._tarpit.listen(host.address, 80)
        hosts_dir = (self.root / "hosts").resolve()
        self._sshd = SshdFleet(self.root / "sshd", hosts_dir)
        self._sshd.start(h.ssh() for h in up if h.sshd)
        ctx = StartContext(self._hub, self._tarpit, self.root, hosts_dir)
        for family in self.families:
            family.start(ctx)  # eval-online-chi's waits for Prometheus's first scrape
            self.openstack_env = {**self.openstack_env, **family.env()}  # + the GitHub API's
        self._wait_listening([h.address for h in up if h.sshd])

    def _wait_listening(self, addresses: list[str]) -> None:
        """Poll TCP connects to every sshd address until each answers, within a deadline."""
        deadline = time.monotonic() + self.ready_timeout
        pending = list(addresses)
        while pending:
            still = []
            for address in pending:
                try:
                    socket.create_connection((address, 22), timeout=1).close()
                except OSError:
                    still.append(address)
            pending = still
            if pending and time.monotonic() > deadline:
                raise RuntimeError(
                    f"sshd not listening on {pending[:5]} after {self.ready_timeout} s; "
                    f"logs:\n{self.sshd_logs()[-2000:]}"
                )
            if pending:
                time.sleep(0.02)
