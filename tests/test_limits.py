"""The measurement pool and the quiet gate: other hosts wait while one is measured, held work
goes before the next measurement, and queueing never eats a check's own time limit."""

from __future__ import annotations

import threading
import time

from graders.checks import Lab, check, collect
from graders.limits import host_slot, measuring
from graders.runner import run_lab
from tests.conftest import session

A, B = "127.9.0.1", "127.9.0.2"


def _in_thread(fn) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def test_other_hosts_wait_while_one_is_measured() -> None:
    events: list[str] = []
    measuring_now = threading.Event()
    release = threading.Event()

    def measure() -> None:
        with measuring(A):
            measuring_now.set()
            with host_slot(A):  # the measurement's own work passes its gate
                events.append("A measured")
            release.wait(5)
            events.append("A done")

    def other() -> None:
        with host_slot(B):
            events.append("B worked")

    m = _in_thread(measure)
    assert measuring_now.wait(5)
    o = _in_thread(other)
    time.sleep(0.3)
    assert events == ["A measured"]  # B is held at the gate
    release.set()
    m.join(5)
    o.join(5)
    assert events == ["A measured", "A done", "B worked"]


def test_held_work_goes_before_the_next_measurement() -> None:
    events: list[str] = []
    first_in = threading.Event()
    release = threading.Event()

    def first() -> None:
        with measuring(A):
            first_in.set()
            release.wait(5)
        events.append("first done")

    def second() -> None:
        with measuring(A):
            events.append("second measured")

    def held() -> None:
        with host_slot(B):
            events.append("B let through")

    t1 = _in_thread(first)
    assert first_in.wait(5)
    t2 = _in_thread(held)
    time.sleep(0.2)
    t3 = _in_thread(second)
    time.sleep(0.2)
    release.set()
    for t in (t1, t2, t3):
        t.join(5)
    assert events.index("B let through") < events.index("second measured")


def test_time_queued_at_the_gate_is_not_the_checks_own() -> None:
    hold = threading.Event()

    def measure_elsewhere() -> None:
        with measuring(A):
            hold.set()
            time.sleep(1.5)

    @check(title="Short limit", timeout=0.5)
    def short(lab: Lab) -> None:
        with host_slot(B):  # held for ~1.5 s behind A's measurement
            pass

    t = _in_thread(measure_elsewhere)
    assert hold.wait(5)
    (obs,) = run_lab(collect({"short": short}), session())
    t.join(5)
    assert obs.status == "passed", obs.message
    assert obs.duration_s >= 1.0


def test_a_check_that_outruns_its_own_time_is_still_an_error() -> None:
    @check(title="Slow", timeout=0.3)
    def slow(lab: Lab) -> None:
        time.sleep(1.0)

    (obs,) = run_lab(collect({"slow": slow}), session())
    assert obs.status == "error" and "0.3 s limit" in obs.message
