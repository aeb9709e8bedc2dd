"""A hostile SSH server written with paramiko, on loopback: what a student who owns the host
could make sshd do. It accepts any public key, records what the grader offers and asks, and
misbehaves as told: never answer an exec request, flood stdout, stall SFTP, or ask for the
grader's agent."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paramiko

MODES = ("normal", "noexec", "flood", "sftpstall", "slow", "script")


@dataclass
class Seen:
    offered_keys: list[str] = field(default_factory=list)  # fingerprints the client offered
    agent_requested: bool = False
    commands: list[str] = field(default_factory=list)
    connections: int = 0


class _Server(paramiko.ServerInterface):
    def __init__(self, mode: str, seen: Seen, script: dict[str, str | tuple[str, int]]) -> None:
        self.mode, self.seen, self.script = mode, seen, script

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: Any) -> int:
        self.seen.offered_keys.append(key.fingerprint)
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_forward_agent_request(self, channel: Any) -> bool:
        self.seen.agent_requested = True
        return True

    def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:
        self.seen.commands.append(command.decode())
        if self.mode == "noexec":
            time.sleep(3600)  # holds paramiko's transport thread: no answer ever comes
        answer = next((out for part, out in self.script.items() if part in command.decode()), "")
        threading.Thread(target=self._exec, args=(channel, answer), daemon=True).start()
        return True

    def check_channel_subsystem_request(self, channel: Any, name: str) -> bool:
        if self.mode == "sftpstall":
            return True  # accepted, and then nothing: the client waits for a version
        if self.mode == "script" and name == "sftp":  # files the grader puts are taken in
            return super().check_channel_subsystem_request(channel, name)
        return False

    def _exec(self, channel: Any, answer: str | tuple[str, int]) -> None:
        time.sleep(0.1)  # after paramiko has sent the exec request's reply, as sshd does
        try:
            if self.mode == "script":  # the answer the test wrote for this command
                out, code = answer if isinstance(answer, tuple) else (answer, 0)
                channel.sendall(out.encode())
                channel.send_exit_status(code)
                channel.close()
                return
            if self.mode == "flood":
                chunk = b"x" * 65536
                while not channel.closed:
                    channel.sendall(chunk)
            if self.mode == "slow":
                time.sleep(2)
            channel.sendall(b"cc\n")
            channel.send_exit_status(0)
            channel.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass


class _Sink(paramiko.SFTPServerInterface):
    """An SFTP server that takes every file written, keeping only its size, and serves the
    files it was given, by the end of their path (script mode)."""

    sizes: dict[str, int] = {}
    files: dict[str, bytes] = {}

    def mkdir(self, path: str, attr: Any) -> int:
        return paramiko.SFTP_OK

    def _served(self, path: str) -> bytes | None:
        return next((data for end, data in self.files.items() if path.endswith(end)), None)

    def open(self, path: str, flags: int, attr: Any) -> Any:
        served = self._served(path)
        if served is not None:
            reader = paramiko.SFTPHandle(flags)
            reader.read = lambda offset, length: served[offset : offset + length]  # type: ignore[method-assign]
            return reader
        sizes = self.sizes
        sizes[path] = 0
        handle = paramiko.SFTPHandle(flags)

        def write(offset: int, data: bytes) -> int:
            sizes[path] = max(sizes[path], offset + len(data))
            return paramiko.SFTP_OK

        handle.write = write  # type: ignore[method-assign]
        return handle

    def stat(self, path: str) -> Any:
        attrs = paramiko.SFTPAttributes()
        served = self._served(path)
        attrs.st_size = len(served) if served is not None else self.sizes.get(path, 0)
        return attrs

    lstat = stat


class HostileSshd:
    """`with HostileSshd("noexec") as h:` a server on 127.0.0.1:h.port (or `address`:`port`)."""

    def __init__(
        self,
        mode: str = "normal",
        script: dict[str, str | tuple[str, int]] | None = None,
        files: dict[str, bytes] | None = None,
        address: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        assert mode in MODES, mode
        self.mode = mode
        # mode "script": command substring -> its stdout, or (stdout, exit status)
        self.script = script or {}
        # mode "script": end of a path -> the bytes SFTP serves for it
        self._sftp = type("_Served", (_Sink,), {"files": files or {}, "sizes": {}})
        self.seen = Seen()
        self.host_key = paramiko.RSAKey.generate(2048)
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((address, port))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._transports: list[Any] = []
        self._stop = False

    def __enter__(self) -> HostileSshd:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._sock.close()
        for t in self._transports:
            t.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.seen.connections += 1
            t = paramiko.Transport(conn)
            t.add_server_key(self.host_key)
            t.set_subsystem_handler("sftp", paramiko.SFTPServer, self._sftp)
            self._transports.append(t)
            try:
                t.start_server(server=_Server(self.mode, self.seen, self.script))
            except (paramiko.SSHException, EOFError, OSError):
                continue
