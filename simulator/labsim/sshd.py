"""Real OpenSSH servers for every simulated host, logging in as `cc` like a Chameleon instance.

How hosts share sshd processes (measured with OpenSSH 9.2p1):
* One listener can bind at most 16 addresses (sshd's MAX_LISTEN_SOCKS: with a 17th it exits,
  "Too many listen sockets. Enlarge MAX_LISTEN_SOCKS"), so hosts are packed 16 to a listener:
  200 students with two hosts each need 25 listeners, not 400.
* Each host is a `Match LocalAddress <its address>` block: its own `AuthorizedKeysFile` (that
  student's key only) and its own `SetEnv` (HOME, PATH with the host's stand-in bin directory
  first, the host's state file for stand-ins). SetEnv in Match works, and it overrides the HOME
  that sshd takes from passwd.
* But sshd still starts the session in the passwd home (/home/cc). A `ForceCommand` wrapper
  (`session`) enters $HOME and then runs the client's command exactly as sshd would have with
  Chameleon's login shell (`bash -c "<command>"` with argv[0] "bash"; a login shell when there
  is no command; sftp-server for the sftp subsystem, which scp uses), so relative paths and
  error messages are as on a real instance, whatever the local cc's shell.
* One host key for all hosts (sshd allows HostKey only globally); clients see every simulated
  instance with the same key.
A host whose SSH is "down" gets no ListenAddress: connecting is refused. Listeners and every
session below them run under reaper.py, which reaps them all on stop.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .reaper import end_supervisor, tree

SSHD = "/usr/sbin/sshd"
MAX_LISTEN_SOCKS = 16
USER = "cc"
# Ubuntu's PATH for ssh sessions (/etc/environment via pam_env); the host's bin comes first.
SYSTEM_PATH = (
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games"
    ":/snap/bin"
)
SFTP_SERVERS = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server")

SESSION = """#!/bin/bash
# ForceCommand of every simulated host: sshd starts sessions in the passwd home (/home/cc) even
# when SetEnv sets HOME, so enter the host's home, then do what sshd would have done with cc's
# login shell on Chameleon (bash), whatever the shell of the local cc account.
cd "$HOME" || exit 1
if [ -z "${SSH_ORIGINAL_COMMAND+set}" ]; then
    exec -a -bash /bin/bash
fi
command=$SSH_ORIGINAL_COMMAND
unset SSH_ORIGINAL_COMMAND
if [ "$command" = internal-sftp ]; then
    exec @SFTP@
fi
exec -a bash /bin/bash -c "$command"
"""


@dataclass(frozen=True)
class SshHost:
    address: str
    home: Path
    bin_dir: Path
    state_file: Path

    @property
    def authorized_keys(self) -> Path:
        return self.home / ".ssh" / "authorized_keys"


def ensure_login_user() -> pwd.struct_passwd:
    """Create `cc` (bash, home in /home) if missing; unlock it, since with UsePAM no sshd
    refuses a locked account ('User cc not allowed because account is locked')."""
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", USER], check=True)
        entry = pwd.getpwnam(USER)
    try:
        with open("/etc/shadow") as f:
            locked = any(
                line.startswith(f"{USER}:!") or line.startswith(f"{USER}:*LK*") for line in f
            )
    except OSError:
        locked = False
    if locked:
        subprocess.run(["usermod", "-p", "*", USER], check=True)
    return entry


def _quote(value: str) -> str:
    if any(c in value for c in '"\n'):
        raise ValueError(f"cannot put {value!r} in sshd_config")
    return f'"{value}"'


class SshdFleet:
    """sshd listeners (16 hosts each) under one supervisor (reaper.py) that reaps them all."""

    def __init__(self, config_dir: Path, public_dir: Path, port: int = 22) -> None:
        self.config_dir = config_dir  # root only: host key, configs, logs
        self.public_dir = public_dir  # readable by cc: the session wrapper
        self.port = port
        self.listener_pids: list[int] = []
        self._supervisor: subprocess.Popen | None = None

    def _write_common(self) -> tuple[Path, Path]:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        host_key = self.config_dir / "ssh_host_ed25519_key"
        if not host_key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sim-host", "-f", host_key],
                check=True,
            )
        sftp = next((p for p in SFTP_SERVERS if os.path.exists(p)), "internal-sftp-missing")
        session = self.public_dir / "session"
        session.write_text(SESSION.replace("@SFTP@", sftp))
        session.chmod(0o755)
        return host_key, session

    def _config(self, hosts: list[SshHost], host_key: Path, session: Path) -> str:
        lines = [f"ListenAddress {h.address}:{self.port}" for h in hosts]
        lines += [
            f"HostKey {host_key}",
            "PidFile none",
            "UsePAM no",
            "StrictModes no",  # homes live under temporary folders
            f"AllowUsers {USER}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            "AuthorizedKeysFile none",  # only a host's Match block names its key file
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "AcceptEnv LANG LC_*",
            "X11Forwarding no",
            "MaxStartups 1000",  # 200 graders may connect at once
            "MaxSessions 100",
            "LoginGraceTime 60",
            "Subsystem sftp internal-sftp",
            "LogLevel INFO",
        ]
        for h in hosts:
            env = {
                "HOME": str(h.home),
                "PATH": f"{h.bin_dir}:{SYSTEM_PATH}",
                "LANG": "C.UTF-8",
                "SHELL": "/bin/bash",
                "LABGRADER_SIM_STATE": str(h.state_file),
            }
            lines += [
                f"Match LocalAddress {h.address}",
                f"    AuthorizedKeysFile {_quote(str(h.authorized_keys))}",
                "    SetEnv " + " ".join(_quote(f"{k}={v}") for k, v in env.items()),
                f"    ForceCommand {_quote(str(session))}",
            ]
        return "\n".join(lines) + "\n"

    def start(self, hosts: Iterable[SshHost]) -> None:
        hosts = list(hosts)
        if not hosts:
            return
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation directory
        host_key, session = self._write_common()
        commands = []
        for n in range(0, len(hosts), MAX_LISTEN_SOCKS):
            config = self.config_dir / f"sshd-{n // MAX_LISTEN_SOCKS:03d}.conf"
            config.write_text(self._config(hosts[n : n + MAX_LISTEN_SOCKS], host_key, session))
            commands.append(
                {
                    "argv": [SSHD, "-D", "-e", "-f", str(config)],
                    "log": str(config.with_suffix(".log")),
                }
            )
        reaper = Path(__file__).with_name("reaper.py")
        self._supervisor = subprocess.Popen(
            [sys.executable, str(reaper), json.dumps(commands)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        line = self._supervisor.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self.stop()
            raise RuntimeError("sshd supervisor exited before starting sshd")
        self.listener_pids = json.loads(line)

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.config_dir.glob("*.log")))

    def pids(self) -> list[int]:
        """The supervisor and every process below it (listeners, sessions, commands)."""
        return tree(self._supervisor)

    def stop(self) -> None:
        proc, self._supervisor = self._supervisor, None
        end_supervisor(proc)
