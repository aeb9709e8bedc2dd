"""Hard deadlines for probes: a watchdog closes the connection under a call when its time is
up, so a peer that accepts and never answers, or answers a byte at a time, costs the deadline
and no more. One thread runs every watchdog (none per operation)."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable


class Watchdog:
    """Closes the connection when `seconds` pass, waking any call blocked on it."""

    def __init__(self, seconds: float, close: Callable[[], None]) -> None:
        self.expired = False
        self._close = close
        self._cancelled = False
        _ALARMS.add(time.monotonic() + max(seconds, 0.0), self._fire)

    def _fire(self) -> None:
        if self._cancelled:
            return
        self.expired = True
        try:
            self._close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass

    def cancel(self) -> None:
        self._cancelled = True


class _Alarms:
    """One thread that runs callbacks at their deadlines (a watchdog per SSH operation,
    without a thread per operation)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cv = threading.Condition()
        self._count = 0
        self._thread: threading.Thread | None = None

    def add(self, when: float, callback: Callable[[], None]) -> None:
        with self._cv:
            self._count += 1
            heapq.heappush(self._heap, (when, self._count, callback))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ssh-alarms", daemon=True)
                self._thread.start()
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cv.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, callback = heapq.heappop(self._heap)
            callback()


_ALARMS = _Alarms()
