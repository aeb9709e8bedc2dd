"""Warm, forked servers: one supervisor process imports a heavy server once, then forks one
child per simulated host, each serving on that host's own address.

Why: a real MLflow tracking server costs ~3.5 s of imports and ~230 MB before it serves its first
request, moto ~0.5 s and ~60 MB. Forked from a warm parent, a host's server starts in
milliseconds and shares the parent's pages copy-on-write, yet each host still has its own process,
its own state (database, buckets) and its own listening socket, as on separate instances.

Protocol between the classroom (`Zygote`, here) and a supervisor (a module's `main()`, run as
`python -c "from <module> import main; main()" CONFIG`, using `serve_children` and friends):
* the supervisor prints one JSON line per phase on stdout: first `{"pids": {key: pid}}` once
  every child is forked (their sockets are bound and listening before the fork, so connections
  queue from then on), then whatever else the module reports;
* the classroom may send command lines on stdin (`Zygote.send`);
* EOF on stdin (the classroom closed it, or died) or SIGTERM stops the supervisor: it terminates
  its children, then every remaining descendant, by pid, reaps them, and exits last (it is a
  child subreaper, as reaper.py, so nothing escapes it).
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .reaper import StopSignals, end_all, end_supervisor, reap, tree

PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG = 36, 1


# ---- classroom side --------------------------------------------------------------------------
class Zygote:
    """A supervisor script run as a child of the classroom, talked to by JSON lines."""

    def __init__(self, module: str, config: dict[str, Any], workdir: Path) -> None:
        self.module = module
        self.config = config
        self.workdir = workdir
        self.log = workdir / f"{module.rsplit('.', 1)[-1]}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / f"{self.module.rsplit('.', 1)[-1]}.json"
        config.write_text(json.dumps(self.config))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", f"from {self.module} import main; main()", str(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env={**os.environ, **(env or {})},
                cwd=self.workdir,
            )

    def read(self, timeout: float) -> dict[str, Any]:
        """The supervisor's next JSON line; RuntimeError (with its log) if none comes in time."""
        assert self.proc and self.proc.stdout
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            why = "exited" if self.proc.poll() is not None else f"said nothing in {timeout} s"
            raise RuntimeError(f"{self.module} {why}; log:\n{self.logs()[-3000:]}")
        return json.loads(line)

    def send(self, line: str) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def pids(self) -> list[int]:
        return tree(self.proc)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        end_supervisor(proc)


# ---- supervisor side -------------------------------------------------------------------------
_protocol: Any = None


def become_subreaper() -> None:
    """Adopt every orphan below us, and keep stdout for the protocol alone: anything the
    imported libraries print goes to stderr (the log) instead."""
    global _protocol
    _protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_CHILD_SUBREAPER) failed: errno {ctypes.get_errno()}")


def listen(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(128)
    return sock


def emit(message: dict[str, Any]) -> None:
    out = _protocol or sys.stdout
    out.write(json.dumps(message) + "\n")
    out.flush()


def serve_children(
    servers: list[tuple[str, socket.socket, Callable[[socket.socket], None]]],
) -> dict[str, int]:
    """Fork one child per (key, listening socket, serve function); returns key -> pid.

    A child keeps only its own socket, and exits (never returning here) when its serve function
    returns or raises. The parent closes its copies of the sockets."""
    pids: dict[str, int] = {}
    parent = os.getpid()
    gc.freeze()  # the parent's objects stay out of the children's collections: fewer copied pages
    for key, sock, serve in servers:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                os.setpgid(0, 0)  # its own group: a ^C meant for the classroom is not for it
                # and it dies with the supervisor, even if that one is killed outright
                ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                if os.getppid() != parent:
                    os._exit(1)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)  # the supervisor's stdin/stdout are its protocol
                if _protocol is not None:
                    os.close(_protocol.fileno())
                for _, other, _ in servers:
                    if other is not sock:
                        other.close()
                serve(sock)
            except BaseException as exc:  # noqa: BLE001  # report, never unwind into the parent's code
                sys.stderr.write(f"[{key}] server failed: {exc!r}\n")
                code = 1
            finally:
                sys.stderr.flush()
                os._exit(code)
        pids[key] = pid
    for _, sock, _ in servers:
        sock.close()
    return pids


def supervise(on_command: Callable[[str], None] | None = None) -> None:
    """Serve command lines from stdin until EOF or SIGTERM/SIGINT, then end every descendant."""
    signals = StopSignals()
    buffer = b""
    stdin = sys.stdin.fileno()
    while not signals.stopping:
        try:
            ready, _, _ = select.select([stdin, signals.wake], [], [], 1.0)
        except InterruptedError:
            ready = []
        if stdin in ready:
            chunk = os.read(stdin, 4096)
            if not chunk:
                break  # our parent is gone or closed the pipe
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if on_command is not None:
                    on_command(line.decode())
        if signals.wake in ready:
            os.read(signals.wake, 1024)
        reap()
    end_all()


def rss_kib(pid: int) -> int:
    """Resident set size of a process, KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rollup(pid: int) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return {line.split(":")[0]: int(line.split()[1]) for line in f if line.endswith("kB\n")}
    except OSError:
        return {}


def pss_kib(pid: int) -> int:
    """Proportional set size (shared pages split among their sharers), KiB; 0 if unknown."""
    return _rollup(pid).get("Pss", 0)


def uss_kib(pid: int) -> int:
    """Unique set size (pages only this process has), KiB: what one more forked child costs."""
    rollup = _rollup(pid)
    return rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)
