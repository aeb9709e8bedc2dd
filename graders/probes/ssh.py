"""SSH probe (paramiko): log in as `cc` with the one key the grader was given, run commands,
copy files, every step under a hard deadline.

The student owns the host, so nothing of the grader's is lent to it: no ssh_config, no agent
(never forwarded, never asked), no known_hosts, no other key from ~/.ssh. Every operation
(connect, banner, login, channel open, exec, each read, SFTP) runs under a watchdog that
closes the connection when its time is up, so a host that accepts and never answers costs
its deadline and no more; output is read into capped buffers, so a flood costs its cap.

Host keys: Chameleon instances are re-created all the time under the same floating IP, so a
known_hosts file would reject honest students. The grader accepts the host key it is offered
(trust on first use within one grading) and records its fingerprint as evidence.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from graders.errors import Failure, GraderFault, TransportError
from graders.evidence import Evidence
from graders.limits import host_slot
from graders.probes.deadline import Watchdog

CONNECT_TIMEOUT_S = 5.0
BANNER_TIMEOUT_S = 5.0
AUTH_TIMEOUT_S = 5.0
LOGIN_DEADLINE_S = 15.0  # TCP connect, banner, key exchange and login together
SFTP_TIMEOUT_S = 20.0  # an SFTP operation with no deadline of its own (stat, mkdir, put)
# A host that let a login time out is not tried again for this long by the student's other
# checks (they would each wait the same seconds, one after another on the host's lock).
LOGIN_TIMEOUT_MEMORY_S = 30.0
MAX_OUTPUT = 1 << 20  # bytes kept of a command's stdout, and of its stderr
USER = "cc"
# Errors of the grader's own machine, not of the student's host (M1 of the security review).
LOCAL_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ENETDOWN}

# paramiko logs a traceback for every tarpit (no banner); the check's evidence says it better.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


@dataclass
class CommandResult:
    command: str
    stdout: str
    stderr: str
    exited: int
    duration_ms: float
    truncated: bool = False  # the output passed its cap: the grader stopped reading

    @property
    def ok(self) -> bool:
        return self.exited == 0 and not self.truncated


class _Expired(Exception):
    """An operation's deadline passed: the watchdog closed the connection under it."""


@dataclass
class _Conn:
    transport: Any  # paramiko.Transport
    sock: socket.socket

    def close(self) -> None:
        try:
            self.transport.close()
        finally:
            self.sock.close()


class SshPool:
    """One SSH connection per (address, key), opened on first use and shared by the checks of
    one student; after close() it opens nothing more (an abandoned check cannot reconnect)."""

    def __init__(self, port: int = 22, user: str = USER, *, staff: bool = False) -> None:
        self.port = port
        self.user = user
        self.staff = staff  # logging in with the course staff key, not the student's
        self._conns: dict[tuple[str, str], _Conn] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self._closed = False
        self._slow: dict[str, tuple[float, LoginTimeout]] = {}  # address -> when, the fault

    # --- what the Lab handle asks ------------------------------------------------------------
    def run(
        self,
        address: str,
        key: str,
        command: str,
        *,
        timeout: float,
        record: Callable[[Evidence], None],
        max_bytes: int = MAX_OUTPUT,
    ) -> CommandResult:
        """Run `command` on the instance; its exit code and its output, each capped at
        `max_bytes` (past the cap the command is cut off and the result says so)."""
        t0 = time.perf_counter()
        with self._session(address, key, command, record, timeout) as (conn, target, dog):
            out, err, code, truncated = _execute(conn.transport, command, max_bytes, dog)
        ms = round((time.perf_counter() - t0) * 1000, 2)
        result = CommandResult(
            command,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            code,
            ms,
            truncated,
        )
        body = f"$ {command}\n{result.stdout}"
        if result.stderr:
            body += f"\n[stderr]\n{result.stderr}"
        cut = f", output cut at {max_bytes} bytes" if truncated else ""
        record(
            Evidence.make("command", f"{target}: {command} -> exit {code} ({ms:.0f} ms{cut})", body)
        )
        return result

    def fetch(
        self,
        address: str,
        key: str,
        remote: str,
        local: str,
        *,
        max_bytes: int,
        record: Callable[[Evidence], None],
        timeout: float = 120.0,
    ) -> int:
        """Copy a file from the instance over SFTP, refusing one over `max_bytes`."""
        t0 = time.perf_counter()
        what = f"sftp get {remote}"
        with self._session(address, key, what, record, timeout) as (conn, target, dog):
            with _sftp(conn.transport, dog) as sftp:
                try:
                    size = sftp.stat(remote).st_size or 0
                except FileNotFoundError:
                    raise Failure(f"{remote} does not exist on the instance") from None
                if size > max_bytes:
                    raise Failure(
                        f"{remote} on the instance is {size / 2**20:.1f} MiB, over the "
                        f"grader's {max_bytes / 2**20:.0f} MiB limit for this file"
                    )
                with open(local, "wb") as out:
                    sftp.getfo(remote, _Capped(out, max_bytes))
        ms = (time.perf_counter() - t0) * 1000
        record(Evidence.make("command", f"{target}: {what} -> {size} bytes ({ms:.0f} ms)"))
        return size

    def put(
        self, address: str, key: str, text: str, remote: str, *, record: Callable[[Evidence], None]
    ) -> None:
        """Write a small file (a script the grader runs) on the instance over SFTP."""
        what = f"sftp put {remote}"
        with self._session(address, key, what, record, SFTP_TIMEOUT_S) as (conn, target, dog):
            with _sftp(conn.transport, dog) as sftp:
                try:
                    sftp.mkdir(remote.rsplit("/", 1)[0])
                except OSError:
                    pass  # it exists
                sftp.putfo(io.BytesIO(text.encode()), remote)
        record(Evidence.make("command", f"{target}: {what} ({len(text)} bytes)", text))

    def close(self) -> None:
        """Close every connection; nothing opens again (checks still running are refused)."""
        with self._guard:
            self._closed = True
            conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            conn.close()

    # --- plumbing ---------------------------------------------------------------------------
    @contextmanager
    def _session(
        self,
        address: str,
        key: str,
        what: str,
        record: Callable[[Evidence], None],
        timeout: float,
    ) -> Iterator[tuple[_Conn, str, Watchdog]]:
        """The host's connection (opened on first use), held alone, with a watchdog that
        closes it at `timeout`; faults classified.

        One operation at a time per host: polite to small instances, and paramiko channels
        on one transport are safest opened serially."""
        target = f"{self.user}@{address}:{self.port}"
        slot = (address, key)
        with self._guard:
            lock = self._locks.setdefault(slot, threading.Lock())
        with lock, host_slot(address):
            conn = self._conns.get(slot) or self._open(slot, target, record)
            dog = Watchdog(timeout, conn.close)
            try:
                yield conn, target, dog
            except Failure:
                raise  # the student's answer (a file missing or too large): the connection holds
            except Exception as exc:  # noqa: BLE001 - classified below
                self._drop(slot, conn)
                if dog.expired:
                    fault: Exception = _timed_out(target, what, timeout)
                else:
                    fault = self._classify(exc, target)
                raise self._note(record, target, what, fault) from None
            finally:
                dog.cancel()

    def _open(
        self, slot: tuple[str, str], target: str, record: Callable[[Evidence], None]
    ) -> _Conn:
        import paramiko

        if self._closed:
            raise GraderFault("this student's grading is over: no new connection is opened")
        pkey = _load_key(slot[1])
        self._not_slow_lately(slot[0], target, record)
        try:
            sock = _connect(slot[0], self.port)
        except OSError as exc:
            fault = self._login_fault(exc, slot, target)
            raise self._note(record, target, "(login)", fault) from None
        transport = paramiko.Transport(sock)
        transport.banner_timeout = BANNER_TIMEOUT_S
        transport.auth_timeout = AUTH_TIMEOUT_S
        conn = _Conn(transport, sock)
        dog = Watchdog(LOGIN_DEADLINE_S, conn.close)
        try:
            transport.start_client(timeout=BANNER_TIMEOUT_S)
            host_key = transport.get_remote_server_key()
            transport.auth_publickey(self.user, pkey)
        except Exception as exc:  # noqa: BLE001 - classified below
            conn.close()
            fault = self._login_fault(_Expired() if dog.expired else exc, slot, target)
            raise self._note(record, target, "(login)", fault) from None
        finally:
            dog.cancel()
        record(
            Evidence.make(
                "command",
                f"SSH login {target} ok; host key {host_key.get_name()} "
                f"SHA256:{_fingerprint(host_key)}",
            )
        )
        with self._guard:
            if self._closed:
                conn.close()
                raise GraderFault("this student's grading is over: no new connection is opened")
            self._conns[slot] = conn
        return conn

    def _login_fault(self, exc: BaseException, slot: tuple[str, str], target: str) -> Exception:
        fault = self._classify(exc, target)
        if isinstance(fault, LoginTimeout):
            with self._guard:
                self._slow[slot[0]] = (time.monotonic(), fault)
        return fault

    def _not_slow_lately(
        self, address: str, target: str, record: Callable[[Evidence], None]
    ) -> None:
        """Raise what a login to `address` timed out with lately, instead of waiting again."""
        with self._guard:
            when, fault = self._slow.get(address, (0.0, None))
        age = time.monotonic() - when
        if fault is not None and age < LOGIN_TIMEOUT_MEMORY_S:
            again = LoginTimeout(
                f"{fault.message} (a login {age:.0f} s ago; not tried again)", help=fault.help
            )
            raise self._note(record, target, "(login)", again)

    def _drop(self, slot: tuple[str, str], conn: _Conn) -> None:
        with self._guard:
            if self._conns.get(slot) is conn:
                del self._conns[slot]
        conn.close()

    def _note(
        self, record: Callable[[Evidence], None], target: str, what: str, fault: Exception
    ) -> Exception:
        record(Evidence.make("command", f"{target}: {what} -> {fault}"))
        return fault

    def _classify(self, exc: BaseException, target: str) -> Exception:
        import paramiko

        text = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.errno in LOCAL_ERRNOS:
            return GraderFault(f"the grader's machine cannot open a connection: {text}")
        if isinstance(exc, paramiko.AuthenticationException) and self.staff:
            return Failure(
                f"SSH to {target}: the course staff key was refused: it is not in "
                "~cc/.ssh/authorized_keys on this instance, so staff cannot log in",
                "Add the course key (`labgrader course-key` prints it) to "
                "~cc/.ssh/authorized_keys, as the student guide shows; the instance is up.",
            )
        if isinstance(exc, paramiko.AuthenticationException):
            return Failure(
                f"SSH to {target}: the key was rejected ({text})",
                "Check that ssh_key in student.yaml is the private key whose public half "
                "was uploaded to Chameleon (id_rsa_chameleon), and that the server was "
                "launched with it.",
            )
        if isinstance(exc, ConnectionRefusedError):
            return TransportError(
                f"SSH to {target}: connection refused (nothing listening on port 22)",
                help="Is the instance running, and does its security group allow SSH (allow-ssh)?",
            )
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return LoginTimeout(
                f"SSH to {target}: no connection within {CONNECT_TIMEOUT_S:g} s",
                help="Is the floating IP attached, and does the security group allow SSH?",
            )
        if isinstance(exc, _Expired) or (
            isinstance(exc, (paramiko.SSHException, EOFError))
            and any(w in text.lower() for w in ("banner", "no existing session", "timeout"))
        ):
            limit = LOGIN_DEADLINE_S if isinstance(exc, _Expired) else BANNER_TIMEOUT_S
            return LoginTimeout(
                f"SSH to {target}: connected, but no working SSH login within {limit:g} s",
                help="The port accepts connections but sshd is not answering: is the "
                "instance overloaded or still booting?",
            )
        if isinstance(exc, (paramiko.SSHException, OSError, EOFError)):
            return TransportError(f"SSH to {target}: {text}")
        return GraderFault(f"SSH to {target}: {type(exc).__name__}: {text}")


class LoginTimeout(TransportError):
    """No connection, or no login, within its deadline: the slow kind of unreachable."""


def _execute(
    transport: Any, command: str, max_bytes: int, dog: Watchdog
) -> tuple[bytes, bytes, int, bool]:
    """Run one command on a new channel: stdout, stderr (each capped), exit code, and
    whether the output passed its cap (then the channel is closed at once)."""
    chan = transport.open_session(timeout=CONNECT_TIMEOUT_S)
    try:
        chan.exec_command(command)  # the watchdog closes the transport if no answer comes
        out, err = bytearray(), bytearray()
        while True:
            if dog.expired:
                raise _Expired()
            select.select([chan], [], [], 0.25)
            while chan.recv_ready():
                out += chan.recv(65536)
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            if len(out) > max_bytes or len(err) > max_bytes:
                return bytes(out[:max_bytes]), bytes(err[:max_bytes]), -1, True
            if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                if chan.closed or chan.eof_received:
                    return bytes(out), bytes(err), chan.recv_exit_status(), False
            if chan.closed and not chan.exit_status_ready():
                raise _Expired() if dog.expired else EOFError("the channel closed mid-command")
    finally:
        chan.close()


@contextmanager
def _sftp(transport: Any, dog: Watchdog) -> Iterator[Any]:
    import paramiko

    sftp = paramiko.SFTPClient.from_transport(transport)  # the watchdog bounds its handshake
    if sftp is None:
        raise EOFError("the server refused the SFTP subsystem")
    sftp.get_channel().settimeout(SFTP_TIMEOUT_S)
    try:
        yield sftp
    finally:
        sftp.close()


def _timed_out(target: str, what: str, timeout: float) -> Failure:
    return Failure(
        f"{target}: `{what}` did not finish within {timeout:g} s",
        "Run it yourself on the instance: something is hanging.",
    )


def _load_key(path: str) -> Any:
    """The private key, read with no passphrase: an encrypted or unreadable one is the
    grader's input to fix (the roster and student.yaml refuse them when loaded)."""
    import paramiko

    try:
        return paramiko.PKey.from_path(path)
    except (paramiko.SSHException, OSError, ValueError, TypeError) as exc:
        raise GraderFault(f"the SSH key {path} cannot be used: {exc}") from None


class _Capped:
    """A file wrapper that stops a transfer growing past its cap (the file may grow
    between stat and read)."""

    def __init__(self, out: Any, cap: int) -> None:
        self.out, self.cap, self.size = out, cap, 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.cap:
            raise Failure(f"the file grew past {self.cap} bytes while it was copied")
        return self.out.write(data)


def _connect(address: str, port: int) -> socket.socket:
    """The TCP connection under SSH, with Nagle off: sshd does not disable it for sessions
    without a terminal, and with the client's delayed ACKs every command then cost 40 ms more
    (measured on loopback: login 79 -> 21 ms, a command 48 -> 21 ms)."""
    sock = socket.create_connection((address, port), timeout=CONNECT_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _fingerprint(key: Any) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return base64.b64encode(digest).decode().rstrip("=")
