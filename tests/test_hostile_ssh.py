"""The SSH probe against a hostile sshd (tests/hostile_sshd.py): nothing of the grader's is
lent to the student's host, and no answer, or no end of answer, costs more than its deadline
and its cap."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import paramiko
import pytest

from graders.errors import Failure, GraderFault
from graders.probes.ssh import SshPool
from tests.hostile_sshd import HostileSshd


def fingerprint(key_file: Path) -> str:
    return paramiko.PKey.from_path(str(key_file)).fingerprint


def call(fn, *args, **kwargs):
    """Run a probe call in a thread; fail the test (not hang it) if it never returns."""
    box: list = []

    def target() -> None:
        try:
            box.append(("ok", fn(*args, **kwargs)))
        except Exception as exc:  # noqa: BLE001 - returned to the test
            box.append(("raised", exc))

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(60)
    assert box, f"{fn.__name__} never returned"
    return box[0]


def pool_for(server: HostileSshd) -> SshPool:
    return SshPool(port=server.port)


def test_only_the_given_key_is_offered_and_no_agent_is_forwarded(
    tmp_path: Path, key: Path, monkeypatch
) -> None:
    """The TA's ~/.ssh/config asks for agent forwarding and adds an identity; an agent is
    running. The student's host sees the one key the grader was given, and no agent request."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    ta_key = home / ".ssh" / "ta_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ta_key)], check=True)
    (home / ".ssh" / "config").write_text(
        f"Host *\n  ForwardAgent yes\n  IdentityFile {ta_key}\n  User ta\n"
    )
    agent = socket.socket(socket.AF_UNIX)
    agent.bind(str(tmp_path / "agent.sock"))
    agent.listen(1)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
    with HostileSshd("normal") as server:
        outcome, result = call(
            pool_for(server).run, "127.0.0.1", str(key), "id -un", timeout=10, record=lambda e: 0
        )
    agent.close()
    assert outcome == "ok" and result.stdout == "cc\n", result
    assert server.seen.offered_keys == [fingerprint(key)]
    assert not server.seen.agent_requested


def test_an_exec_never_answered_costs_its_deadline(key: Path) -> None:
    with HostileSshd("noexec") as server:
        outcome, exc = call(
            pool_for(server).run, "127.0.0.1", str(key), "id -un", timeout=2, record=lambda e: 0
        )
    assert outcome == "raised" and isinstance(exc, Failure), exc
    assert "did not finish within 2 s" in exc.message


def test_a_flood_of_output_is_cut_at_its_cap(key: Path) -> None:
    with HostileSshd("flood") as server:
        outcome, result = call(
            pool_for(server).run,
            "127.0.0.1",
            str(key),
            "hostname",
            timeout=20,
            record=lambda e: 0,
            max_bytes=200_000,
        )
    assert outcome == "ok", result
    assert result.truncated and not result.ok and len(result.stdout) == 200_000


def test_an_sftp_that_never_answers_costs_its_deadline(key: Path, tmp_path: Path) -> None:
    with HostileSshd("sftpstall") as server:
        outcome, exc = call(
            pool_for(server).fetch,
            "127.0.0.1",
            str(key),
            "models/food11.onnx",
            str(tmp_path / "model.onnx"),
            max_bytes=1 << 20,
            record=lambda e: 0,
            timeout=2,
        )
    assert outcome == "raised" and isinstance(exc, Failure), exc
    assert "did not finish within 2 s" in exc.message


def test_a_closed_pool_opens_nothing_again(key: Path) -> None:
    """An abandoned check that wakes up after the student's grading ended cannot reconnect."""
    with HostileSshd("normal") as server:
        pool = pool_for(server)
        assert call(pool.run, "127.0.0.1", str(key), "true", timeout=5, record=lambda e: 0)[0]
        pool.close()
        before = server.seen.connections
        outcome, exc = call(pool.run, "127.0.0.1", str(key), "true", timeout=5, record=lambda e: 0)
    assert outcome == "raised" and isinstance(exc, GraderFault)
    assert server.seen.connections == before


@pytest.mark.skipif(os.geteuid() != 0, reason="lowering RLIMIT_NOFILE to provoke EMFILE")
def test_the_grader_out_of_descriptors_is_its_own_fault(key: Path) -> None:
    """EMFILE is the grader's machine, not the student's host: an error, never unreachable."""
    import resource

    with HostileSshd("normal") as server:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        held = []
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
            while True:
                try:
                    held.append(socket.socket())
                except OSError:
                    break
            outcome, exc = call(
                pool_for(server).run, "127.0.0.1", str(key), "true", timeout=5, record=lambda e: 0
            )
        finally:
            for s in held:
                s.close()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert outcome == "raised" and isinstance(exc, GraderFault), exc


def test_a_login_that_timed_out_is_not_waited_for_again(key: Path) -> None:
    """A host that accepts and never speaks (a tarpit) costs the banner timeout once per
    student, not once per check: the student's other checks get the same answer at once."""
    import time

    from graders.probes.ssh import LoginTimeout

    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
    pool = SshPool(port=silent.getsockname()[1])
    try:
        t0 = time.monotonic()
        first = call(pool.run, "127.0.0.1", str(key), "true", timeout=30, record=lambda e: 0)
        t1 = time.monotonic()
        again = call(pool.run, "127.0.0.1", str(key), "true", timeout=30, record=lambda e: 0)
        t2 = time.monotonic()
    finally:
        pool.close()
        silent.close()
        for conn in held:
            conn.close()
    assert first[0] == "raised" and isinstance(first[1], LoginTimeout), first
    assert first[1].unreachable and t1 - t0 >= 4.5
    assert again[0] == "raised" and isinstance(again[1], LoginTimeout)
    assert "not tried again" in again[1].message and t2 - t1 < 1
