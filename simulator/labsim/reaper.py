"""Supervisor for the classroom's long-running processes; run as a script, not imported.

Why it exists: sshd puts each connection into a new session (setsid) and leaves connections
running when its listener stops, and PID 1 of a container often reaps no orphans (here it does
not). This process makes itself a child subreaper, so everything below it (sshd listeners,
their connection handlers, user commands) stays its descendant. It stops when told (SIGTERM)
or when its parent goes away (stdin reaches EOF): it terminates the listeners, then every
remaining descendant, by pid, reaps them all, and exits last.

Usage: python reaper.py '[{"argv": [...], "log": "/path"}, ...]'
It prints one JSON line, the list of started pids, once all commands are spawned.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def _ppids() -> dict[int, int]:
    result = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            result[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return result


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, found through /proc parent links."""
    children: dict[int, list[int]] = {}
    for child, parent in _ppids().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree(proc: subprocess.Popen | None) -> list[int]:
    """A running supervisor and every process below it; nothing once it has ended."""
    if proc is None or proc.poll() is not None:
        return []
    return [proc.pid, *descendants(proc.pid)]


def end_supervisor(proc: subprocess.Popen | None) -> None:
    """EOF on a supervisor's stdin tells it to end everything below it; it gets 10 s, then it
    is killed."""
    if proc is None:
        return
    try:
        proc.stdin.close()  # type: ignore[union-attr]
    except OSError:
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()  # type: ignore[union-attr]


class StopSignals:
    """A supervisor's signals: SIGTERM or SIGINT sets `stopping`, and every signal (SIGCHLD
    too) makes `wake` readable, so a select() loop wakes to reap at once."""

    def __init__(self) -> None:
        self.stopping = False
        self.wake, write_end = os.pipe()
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True


def reap() -> None:
    """Collect every finished child (this process is a subreaper: orphans land here)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def end_all(grace: float = 2.0) -> None:
    """SIGTERM every descendant, SIGKILL what is left after `grace` seconds, reap them all."""
    deadline = time.monotonic() + grace
    while True:
        reap()
        rest = descendants(os.getpid())
        if not rest:
            return
        sig = signal.SIGTERM if time.monotonic() < deadline else signal.SIGKILL
        for pid in rest:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def _kill_all(listeners: list[int], grace: float = 2.0) -> None:
    for pid in listeners:  # first stop accepting, then end what is running
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    end_all(grace)


def main() -> None:
    commands = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_CHILD_SUBREAPER) failed: errno {ctypes.get_errno()}")
    signals = StopSignals()
    listeners = []
    for command in commands:
        with open(command["log"], "ab") as log:
            proc = subprocess.Popen(
                command["argv"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        listeners.append(proc.pid)
    print(json.dumps(listeners), flush=True)

    while not signals.stopping:
        try:
            ready, _, _ = select.select([sys.stdin, signals.wake], [], [], 1.0)
        except InterruptedError:
            ready = []
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1024):
            signals.stopping = True  # our parent is gone or closed the pipe
        if signals.wake in ready:
            os.read(signals.wake, 1024)
        reap()
    _kill_all(listeners)


if __name__ == "__main__":
    main()
