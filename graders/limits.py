"""Process-wide concurrency limits shared by the probes.

Per host: at most HOST_SLOTS requests or commands at once against one address, however many
checks or students want it, so a batch never hammers one small instance. Measurement: timing
work (latency runs, GPU sampling) takes a slot of a small separate pool, so the grader's own
load cannot distort what it measures.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

HOST_SLOTS = 4
MEASUREMENT_SLOTS = 2

_guard = threading.Lock()
_hosts: dict[str, threading.BoundedSemaphore] = {}
_measure = threading.BoundedSemaphore(MEASUREMENT_SLOTS)


@contextmanager
def host_slot(address: str) -> Iterator[None]:
    with _guard:
        sem = _hosts.setdefault(address, threading.BoundedSemaphore(HOST_SLOTS))
    with sem:
        yield


@contextmanager
def measurement_slot() -> Iterator[None]:
    with _measure:
        yield
