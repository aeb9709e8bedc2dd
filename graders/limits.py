"""Process-wide concurrency limits shared by the probes.

Per host: at most HOST_SLOTS requests or commands at once against one address, however many
checks or students want it, so a batch never hammers one small instance.

Measurement: timing work (latency runs, model benchmarks) holds a slot of a small separate
pool, and while any measurement runs the grader is quiet: a request or command for a host
not being measured waits at the gate (work already under way finishes). On a busy grader
machine the batch's own CPU use would otherwise show up in the measured latencies. So that
the rest of the batch is not starved, a measurement that finds work waiting at the gate lets
it through first. Time a check spends queued here is not its own: the runner adds it to the
check's time limit (see `Clock`), up to the check's own limit once more. A measurement is a
lease that expires with its check's time, and the runner revokes the lease of a check it
gives up on, so no holder can keep the batch waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

HOST_SLOTS = 4
MEASUREMENT_SLOTS = 1  # one at a time: two loads at once skew each other

_guard = threading.Lock()
_hosts: dict[str, threading.BoundedSemaphore] = {}
_gate = threading.Condition()
_held = 0  # ordinary operations waiting at the gate
_local = threading.local()


@dataclass(eq=False)
class Lease:
    """A measurement of one host, held until it ends or `expires` (monotonic): a holder that
    hangs, or that the runner abandoned, cannot keep the rest of the batch waiting."""

    address: str
    expires: float
    owner: object  # what revoke() names it by: the check's Lab handle


_leases: list[Lease] = []


def _active() -> list[Lease]:
    """The leases in force (caller holds _gate); expired ones are dropped here."""
    now = time.monotonic()
    _leases[:] = [lease for lease in _leases if lease.expires > now]
    return _leases


def _until_expiry() -> float | None:
    """Seconds to the next lease expiry, for a wait that must re-check then."""
    return max(0.01, min(le.expires for le in _leases) - time.monotonic()) if _leases else None


def revoke(owner: object) -> None:
    """End every lease `owner` holds (a check the runner gave up on): the measurement it was
    taking is discarded with the check, and the batch stops waiting for it."""
    with _gate:
        _leases[:] = [lease for lease in _leases if lease.owner is not owner]
        _gate.notify_all()


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
    """Wait while other hosts are being measured (a measurement's own work passes); an
    expired lease no longer holds anyone."""
    global _held
    if getattr(_local, "measuring", None):
        return
    with _gate:
        if not _active() or any(le.address == address for le in _leases):
            return
        _held += 1
        try:
            with _queued():
                while _active() and not any(le.address == address for le in _leases):
                    _gate.wait(_until_expiry())
        finally:
            _held -= 1
            _gate.notify_all()


@contextmanager
def measuring(address: str, lease_s: float, owner: object = None) -> Iterator[None]:
    """Hold a measurement lease on `address` for at most `lease_s`, the grader quiet towards
    every other host meanwhile.

    Re-entrant within a thread, so a check can hold one across a load run and the sampling
    beside it while the probes inside ask again."""
    if getattr(_local, "measuring", None):
        yield
        return
    with _queued(), _gate:  # work held by the last measurement goes first
        while len(_active()) >= MEASUREMENT_SLOTS or _held:
            _gate.wait(_until_expiry() if _leases and not _held else 0.5)
        lease = Lease(address, time.monotonic() + lease_s, owner)
        _leases.append(lease)
        _gate.notify_all()  # work for this host, held until now, may pass
    _local.measuring = address
    try:
        yield
    finally:
        _local.measuring = None
        with _gate:
            if lease in _leases:
                _leases.remove(lease)
            _gate.notify_all()


def measured_hosts() -> list[str]:
    """The hosts under measurement now (tests and the batch's watchdog read it)."""
    with _gate:
        return [le.address for le in _active()]
