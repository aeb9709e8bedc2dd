"""A tarpit: ports that complete the TCP handshake and then never send a byte.

It plays a host whose services hang (a wedged sshd, a web app stuck before answering): a
client connects at once and must rely on its own timeouts (SSH banner, HTTP read).
"""

from __future__ import annotations

import socket
import threading

from .serve import Hub


class Tarpit:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._listeners: list[socket.socket] = []
        self._held: list[socket.socket] = []  # kept open (and unread) until close()
        self._lock = threading.Lock()

    def listen(self, address: str, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(128)
        self._listeners.append(sock)
        self._hub.add(sock, self._hold)

    def _hold(self, conn: socket.socket, addr: tuple) -> None:
        with self._lock:
            self._held.append(conn)

    def close(self) -> None:
        with self._lock:
            socks, self._held = self._listeners + self._held, []
            self._listeners = []
        for sock in socks:
            sock.close()
