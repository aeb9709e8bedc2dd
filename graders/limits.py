"""Process-wide concurrency limits shared by the probes.

Per host: at most HOST_SLOTS requests or commands at once against one address, however many
checks or students want it, so a batch never hammers one small instance.

Measurement: timing work (latency runs, model benchmarks) holds a slot of a small separate
pool, and while any measurement runs the grader is quiet: a request or command for a host
not being measured waits at the gate (work already under way finishes). On a busy grader
machine the batch's own CPU use would otherwise show up in the measured latencies. So that
the rest of the batch is not starved, a measurement that finds work waiting at the gate lets
it through first. Time a check spends queued here is not its own: the runner adds it to the
check's time limit (see `Clock`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

HOST_SLOTS = 4
MEASUREMENT_SLOTS = 1  # one at a time: two loads at once skew each other

_guard = threading.Lock()
_hosts: dict[str, threading.BoundedSemaphore] = {}
_measure = threading.BoundedSemaphore(MEASUREMENT_SLOTS)
_gate = threading.Condition()
_measured: Counter[str] = Counter()  # address -> measurements running against it
_held = 0  # ordinary operations waiting at the gate
_local = threading.local()


class Clock:
    """Seconds one check spent queued for the measurement pool or at the quiet gate."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waited = 0.0
        self._since: float | None = None

    def queued_s(self) -> float:
        with self._lock:
            ongoing = time.monotonic() - self._since if self._since is not None else 0.0
            return self._waited + ongoing

    @contextmanager
    def queued(self) -> Iterator[None]:
        with self._lock:
            self._since = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._waited += time.monotonic() - (self._since or time.monotonic())
                self._since = None


def bind_clock(clock: Clock | None) -> None:
    """Charge this thread's queueing to `clock` (the runner binds each check's thread)."""
    _local.clock = clock


@contextmanager
def _queued() -> Iterator[None]:
    clock: Clock | None = getattr(_local, "clock", None)
    if clock is None:
        yield
    else:
        with clock.queued():
            yield


@contextmanager
def host_slot(address: str) -> Iterator[None]:
    _pass_gate(address)
    with _guard:
        sem = _hosts.setdefault(address, threading.BoundedSemaphore(HOST_SLOTS))
    with sem:
        yield


def _pass_gate(address: str) -> None:
    """Wait while other hosts are being measured (a measurement's own work passes)."""
    global _held
    if getattr(_local, "measuring", None):
        return
    with _gate:
        if not _measured or address in _measured:
            return
        _held += 1
        try:
            with _queued():
                _gate.wait_for(lambda: not _measured or address in _measured)
        finally:
            _held -= 1
            _gate.notify_all()


@contextmanager
def measuring(address: str) -> Iterator[None]:
    """Hold a measurement slot for `address`, the grader quiet towards every other host.

    Re-entrant within a thread, so a check can hold one across a load run and the sampling
    beside it while the probes inside ask again."""
    if getattr(_local, "measuring", None):
        yield
        return
    with _queued():
        _measure.acquire()
        with _gate:  # work held by the last measurement goes first
            _gate.wait_for(lambda: _held == 0)
            _measured[address] += 1
            _gate.notify_all()  # work for this host, held until now, may pass
    _local.measuring = address
    try:
        yield
    finally:
        _local.measuring = None
        with _gate:
            _measured[address] -= 1
            if not _measured[address]:
                del _measured[address]
            _gate.notify_all()
        _measure.release()
