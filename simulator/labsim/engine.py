"""A tiny "Docker engine" for `docker exec` on simulated hosts.

The `docker` stand-in runs as `cc` inside an SSH session, but what `docker exec jupyter
python3 - ...` must run is a Python with onnxruntime and numpy: the project's virtual
environment, which `cc` may not be able to read (a CI checkout can sit under a 0700 home).
So, as with the real Docker, the CLI asks a daemon: this engine listens on a Unix socket
(mode 0666, in the host tree), owned by the classroom process (root). The CLI sends one JSON
line (the host's state file, the container, the command, whether stdin is attached), then
stdin until it half-closes; the engine answers with frames (1 byte stream: 1 stdout, 2 stderr,
3 exit; 4 bytes big-endian length; payload) and the exit code last.

What runs, for a running container of that host (its spec is the host's state file):
`python`/`python3` -> this process's interpreter (the venv), as root; `jupyter server list`
-> the running server's line; `nvidia-smi` -> the host's stand-in if the container was given
GPUs; a CLI of the image that the container's `_tools` names (psql, rpk, mc) -> its stand-in
(standins/imagetools); anything else on the system PATH, as `cc`. Paths inside the container map
to the host through the container's Mounts (`/home/jovyan/work/models/x.onnx` ->
`~/serve-model-chi/workspace/models/x.onnx`) in the arguments and the working directory, so a
script handed container paths opens the host's files; a container with a `_rootfs` (a host
folder) has the paths no mount covers there (`docker exec grafana cat /var/lib/grafana/...`).
A child dies with its client (the SSH session ends) and with the engine; the engine reports
every child's pid.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Self

from .serve import Hub

STDOUT, STDERR, EXIT = 1, 2, 3
PYTHONS = (
    "python",
    "python3",
    "python3.11",
    "python3.12",
    "/usr/bin/python3",
    "/opt/conda/bin/python",
)
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BI", kind, len(payload)) + payload


def map_path(path: str, mounts: list[dict[str, Any]]) -> str | None:
    """The host path of a container path, through the longest matching mount; None if no
    mount covers it."""
    best = None
    for m in mounts:
        dest = m["Destination"].rstrip("/")  # "" for a mount on / (a `_rootfs`)
        if path == (dest or "/") or path.startswith(dest + "/"):
            if best is None or len(dest) > len(best[0]):
                best = (dest, m["Source"])
    if best is None:
        return None
    return best[1] + path[len(best[0]) :]


class DockerEngine:
    def __init__(self, socket_path: Path, user: str = "cc") -> None:
        self.socket_path = socket_path
        self.user = user
        self.python = sys.executable
        self._hosts: dict[str, dict[str, Any]] = {}  # state file -> {"root", "bin"}
        self._sock: socket.socket | None = None
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._closing = False
        self._temp: Path | None = None

    @classmethod
    def under(cls, hosts_dir: Path, name: str) -> Self:
        """An engine whose socket is `hosts_dir/name`, or in a short temporary folder when
        that path is too long for AF_UNIX (107 bytes); close() removes that folder."""
        path, temp = hosts_dir / name, None
        if len(str(path)) > 100:
            temp = Path(tempfile.mkdtemp(prefix="labgrader-dockerd-"))
            temp.chmod(0o755)
            path = temp / name
        engine = cls(path)
        engine._temp = temp
        return engine

    def register(self, state_file: Path, root: Path, bin_dir: Path) -> None:
        self._hosts[str(state_file)] = {"root": root, "bin": bin_dir}

    def start(self, hub: Hub) -> None:
        self.socket_path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.socket_path))
        self.socket_path.chmod(0o666)
        sock.listen(128)
        self._sock = sock
        hub.add(sock, self._accept)

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs if p.poll() is None]

    def close(self) -> None:
        self._closing = True
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.socket_path.unlink(missing_ok=True)
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _kill(proc)
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    # ---- one exec ----------------------------------------------------------------------
    def _accept(self, conn: socket.socket, addr: Any) -> None:
        threading.Thread(
            target=self._serve, args=(conn,), name="sim-docker-exec", daemon=True
        ).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                self._exec(conn)
        except OSError:
            pass

    def _exec(self, conn: socket.socket) -> None:
        header = b""
        while not header.endswith(b"\n"):
            chunk = conn.recv(1)
            if not chunk or len(header) > 65536:
                return
            header += chunk
        req = json.loads(header)
        host = self._hosts.get(req.get("state", ""))
        if host is None or self._closing:
            return self._fail(conn, "Error response from daemon: unknown host\n", 1)
        with open(req["state"]) as f:
            containers = (json.load(f).get("docker") or {}).get("containers", [])
        name = req.get("container", "")
        found = [
            c
            for c in containers
            if "/" + name in c["Names"] or (len(name) >= 4 and c["Id"].startswith(name))
        ]
        if not found:
            return self._fail(conn, f"Error response from daemon: No such container: {name}\n", 1)
        c = found[0]
        if c["State"] != "running":
            return self._fail(
                conn, f"Error response from daemon: container {c['Id']} is not running\n", 1
            )
        spec = c.get("_inspect", {})
        mounts = c.get("Mounts", [])
        if c.get("_rootfs"):  # the container's own layer: paths no mount covers
            mounts = [*mounts, {"Destination": "/", "Source": c["_rootfs"]}]
        scratch = Path(host["root"]) / "containers" / name
        (scratch / "home").mkdir(parents=True, exist_ok=True)
        cmd = [str(a) for a in req.get("cmd") or []]
        config = spec.get("Config", {})
        workdir = req.get("workdir") or config.get("WorkingDir") or "/"
        cwd = map_path(workdir, mounts) or str(scratch / "home")
        env = {
            "PATH": SYSTEM_PATH,
            "HOME": str(scratch / "home"),
            "LANG": "C.UTF-8",
            "HOSTNAME": c["Id"][:12],
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for item in [*config.get("Env", []), *req.get("env", [])]:
            key, _, value = item.partition("=")
            if key not in ("PATH", "HOME"):
                env[key] = value
        argv, user = self._resolve(cmd, c, spec, host, req["state"], env, conn)
        if argv is None:
            return
        executable = argv[0]
        # argv[0] as typed (`ls: cannot access ...`), except for Python: it finds its venv
        # (sys.prefix) through argv[0].
        name0 = executable if executable == self.python else cmd[0]
        argv = [name0, *[map_path(a, mounts) or a for a in argv[1:]]]
        try:
            proc = subprocess.Popen(
                argv,
                executable=executable,
                stdin=subprocess.PIPE if req.get("stdin") else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd if os.path.isdir(cwd) else str(scratch / "home"),
                env=env,
                user=user,
                start_new_session=True,
            )
        except OSError as exc:
            return self._fail(conn, f"OCI runtime exec failed: {exc}: unknown\n", 126)
        with self._lock:
            self._procs.add(proc)
        try:
            self._pump(conn, proc)
        finally:
            with self._lock:
                self._procs.discard(proc)

    def _resolve(
        self,
        cmd: list[str],
        c: dict[str, Any],
        spec: dict[str, Any],
        host: dict[str, Any],
        state: str,
        env: dict[str, str],
        conn: socket.socket,
    ) -> tuple[list[str] | None, str | None]:
        if not cmd:
            self._fail(conn, "docker: 'docker exec' requires at least 2 arguments.\n", 1)
            return None, None
        if cmd[0] in PYTHONS:
            return [self.python, *cmd[1:]], None
        if cmd[:3] == ["jupyter", "server", "list"] or cmd[:3] == ["jupyter", "notebook", "list"]:
            token = spec.get("_token", "")
            text = (
                "Currently running servers:\n"
                f"http://{c['Id'][:12]}:8888/lab?token={token} :: /home/jovyan\n"
            )
            self._send(conn, STDOUT, text.encode())
            self._send(conn, EXIT, b'{"code": 0}')
            return None, None
        tools = spec.get("_tools") or {}
        if cmd[0] in tools:  # the image's own CLI (psql, rpk, mc): its stand-in, as cc
            env["LABGRADER_SIM_STATE"] = state
            env["LABGRADER_SIM_CONTAINER"] = c["Names"][0].lstrip("/")
            env["LABGRADER_SIM_TOOL"] = cmd[0]
            standins = Path(host["root"]).parent / "standins"  # installed per classroom
            return [str(standins / tools[cmd[0]]), *cmd[1:]], self.user
        gpus = (spec.get("HostConfig") or {}).get("DeviceRequests") or []
        if cmd[0] == "nvidia-smi" and gpus:
            env["LABGRADER_SIM_STATE"] = state
            return [str(Path(host["bin"]) / "nvidia-smi"), *cmd[1:]], self.user
        found = shutil.which(cmd[0], path=SYSTEM_PATH) if cmd[0] != "nvidia-smi" else None
        if not found:
            self._fail(
                conn,
                "OCI runtime exec failed: exec failed: unable to start container process: exec: "
                f'"{cmd[0]}": executable file not found in $PATH: unknown\n',
                127,
            )
            return None, None
        return [found, *cmd[1:]], self.user

    def _pump(self, conn: socket.socket, proc: subprocess.Popen) -> None:
        send_lock = threading.Lock()
        gone = threading.Event()

        def feed() -> None:  # the client's stdin -> the process, until it half-closes
            try:
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    if proc.stdin:
                        proc.stdin.write(chunk)
                        proc.stdin.flush()
            except (OSError, ValueError):
                pass
            finally:
                if proc.stdin:
                    try:
                        proc.stdin.close()
                    except OSError:
                        pass

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        streams = {proc.stdout.fileno(): STDOUT, proc.stderr.fileno(): STDERR}  # type: ignore[union-attr]
        poller = select.poll()
        for fd in streams:
            poller.register(fd, select.POLLIN)
        poller.register(conn.fileno(), 0)  # POLLHUP only: the client went away
        open_fds = set(streams)
        while open_fds and not gone.is_set():
            for fd, event in poller.poll(500):
                if fd == conn.fileno():
                    if event & (select.POLLHUP | select.POLLERR):
                        gone.set()
                    continue
                data = os.read(fd, 65536)
                if not data:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    continue
                try:
                    with send_lock:
                        conn.sendall(frame(streams[fd], data))
                except OSError:
                    gone.set()
        if gone.is_set():
            _kill(proc)
        code = proc.wait()
        if code < 0:  # killed by a signal: a shell's 128 + n
            code = 128 - code
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
        if not gone.is_set():
            try:
                with send_lock:
                    conn.sendall(frame(EXIT, json.dumps({"code": code}).encode()))
            except OSError:
                pass

    def _send(self, conn: socket.socket, kind: int, payload: bytes) -> None:
        conn.sendall(frame(kind, payload))

    def _fail(self, conn: socket.socket, message: str, code: int) -> None:
        self._send(conn, STDERR, message.encode())
        self._send(conn, EXIT, json.dumps({"code": code}).encode())


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
