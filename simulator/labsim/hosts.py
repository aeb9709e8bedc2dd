"""A simulated instance on disk: a home for `cc`, a bin directory of stand-ins, a state file.

Everything here is read by `cc` (through sshd), so it lives in a tree that `cc` can traverse.
Stand-ins are installed once per classroom; each host's bin directory links to the ones the
host has. A tool the host lacks but this machine has (kubectl, docker) is shadowed by `absent`,
so it fails as on a fresh Ubuntu instance instead of running the real one.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from .profiles import Network
from .sshd import SYSTEM_PATH, SshHost

STANDINS = Path(__file__).with_name("standins")
TOOLS = ("hostname", "kubectl", "docker", "nvidia-smi", "rocm-smi", "findmnt")


def stand_in_python() -> str:
    """An interpreter `cc` can run: the system one (a venv under /root is not readable)."""
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def install_standins(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o755)
    shebang = f"#!{stand_in_python()} -IS\n"  # isolated, no site: starts in ~10 ms
    for src in STANDINS.iterdir():
        if src.name.startswith((".", "_")):
            continue
        text = src.read_text()
        if text.startswith("#!/usr/bin/env python3"):
            text = shebang + text.split("\n", 1)[1]
        target = dest / src.name
        target.write_text(text)
        target.chmod(0o755)


@dataclass
class SimHost:
    server: str  # OpenStack server name
    hostname: str
    address: str  # its floating IP: a loopback address
    fixed_ip: str  # its sharednet1 address (in the API only; no traffic goes there)
    root: Path
    network: Network = "up"
    tools: tuple[str, ...] = ("hostname",)
    web: bool = False  # GourmetGram on port 80
    sshd: bool = True  # sshd on port 22 (a Zun container on CHI@Edge has none)
    files: Mapping[str, str | bytes] = field(default_factory=dict)  # home-relative path -> content
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def ssh(self) -> SshHost:
        return SshHost(self.address, self.home, self.bin_dir, self.state_file)

    def build(self, public_key: str, standins: Path, owner: pwd.struct_passwd) -> None:
        self.root.mkdir(parents=True)
        self.root.chmod(0o755)
        self.bin_dir.mkdir(mode=0o755)
        for tool in TOOLS:
            if tool in self.tools:
                (self.bin_dir / tool).symlink_to(standins / tool)
            elif shutil.which(tool, path=SYSTEM_PATH):
                (self.bin_dir / tool).symlink_to(standins / "absent")
        state = {"hostname": self.hostname, "addresses": [self.fixed_ip], **self.state}
        self.state_file.write_text(json.dumps(state))
        self.state_file.chmod(0o644)
        # The home of cc as on an Ubuntu cloud image: skeleton files, the key cloud-init
        # installed, whatever the student made.
        self.home.mkdir(mode=0o750)
        skel = Path("/etc/skel")
        for src in skel.iterdir() if skel.is_dir() else ():
            if src.is_file():
                shutil.copy(src, self.home / src.name)
        files = {".ssh/authorized_keys": public_key, **self.files}
        for rel, content in files.items():
            path = self.home / rel
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
            path.chmod(0o600 if rel.startswith(".ssh/") else 0o664)
        for path in [self.home, *self.home.rglob("*")]:
            os.lchown(path, owner.pw_uid, owner.pw_gid)


Knob = TypeVar("Knob", bound=str)


@dataclass
class KnobbedHost(Generic[Knob]):
    """A built host and its profile's knobs: what a lab's `start` must serve on it (storage.py,
    monitoring.py)."""

    host: SimHost
    knobs: frozenset[Knob]
