"""One accept loop for every in-process listener of a classroom.

A classroom of 200 students has hundreds of listening sockets (web apps, tarpits, the fake
OpenStack). `serve_forever` would need a thread per socket and stopping each takes up to half a
second; here one selector thread accepts on all of them and hands each connection on.
"""

from __future__ import annotations

import selectors
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer

OnAccept = Callable[[socket.socket, tuple], None]


class Hub:
    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pending: list[tuple[socket.socket, OnAccept]] = []  # registered by the loop itself
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="sim-hub", daemon=True)
        self._thread.start()

    def add(self, sock: socket.socket, on_accept: OnAccept) -> None:
        """Accept on `sock` (already listening) and pass each new connection to `on_accept`."""
        sock.setblocking(False)
        with self._lock:
            self._pending.append((sock, on_accept))
        self._wake_w.send(b"x")

    def stop(self) -> None:
        """Stop accepting; the caller closes the listening sockets it owns."""
        if self._stopping:
            return
        self._stopping = True
        self._wake_w.send(b"x")
        self._thread.join(5)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _loop(self) -> None:
        while not self._stopping:
            for key, _ in self._selector.select():
                if key.data is None:  # wake-up: new sockets registered, or stop
                    try:
                        self._wake_r.recv(4096)
                    except BlockingIOError:
                        pass
                    with self._lock:
                        pending, self._pending = self._pending, []
                    for sock, on_accept in pending:
                        self._selector.register(sock, selectors.EVENT_READ, on_accept)
                    continue
                try:
                    conn, addr = key.fileobj.accept()  # type: ignore[union-attr]
                except (BlockingIOError, OSError):
                    continue
                conn.setblocking(True)
                try:
                    key.data(conn, addr)
                except Exception:
                    conn.close()


class TrackedHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer fed by a Hub, which can cut its open (keep-alive) connections."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the address back to a name (getfqdn): 67 ms per
        # loopback address here, 10 s for a 200-student classroom. Nothing needs that name.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def accept(self, conn: socket.socket, addr: tuple) -> None:
        with self._open_lock:
            self._open.add(conn)
        self.process_request(conn, addr)  # ThreadingMixIn: one thread per connection

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close(self) -> None:
        """Close the listening socket and every connection still open."""
        self.server_close()
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
