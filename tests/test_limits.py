"""The measurement leases and the quiet gate: other hosts wait while one is measured, held work
goes before the next measurement, queueing never eats a check's own time limit (and extends
it by that limit at most), and no lease holder, hung or abandoned, keeps the batch waiting."""

from __future__ import annotations

import threading
import time

from graders.checks import Lab, check, collect
from graders.evidence import Evidence
from graders.limits import host_slot, measured_hosts, measuring
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
        with measuring(A, lease_s=30):
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
        with measuring(A, lease_s=30):
            first_in.set()
            release.wait(5)
        events.append("first done")

    def second() -> None:
        with measuring(A, lease_s=30):
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
        with measuring(A, lease_s=30):
            hold.set()
            time.sleep(1.5)

    @check(title="Short limit", timeout=1.0)
    def short(lab: Lab) -> None:
        with host_slot(B):  # held for ~1.5 s behind A's measurement: within 1 + 1 s
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


def test_queueing_extends_a_checks_time_by_its_own_limit_at_most() -> None:
    """A measurement that never ends (a hung student) cannot hold another check for ever."""
    hold, release = threading.Event(), threading.Event()

    def measure_for_ever() -> None:
        with measuring(A, lease_s=30):
            hold.set()
            release.wait(30)

    @check(title="Waits behind it", timeout=0.4)
    def waiting(lab: Lab) -> None:
        with host_slot(B):
            pass

    t = _in_thread(measure_for_ever)
    assert hold.wait(5)
    t0 = time.monotonic()
    (obs,) = run_lab(collect({"waiting": waiting}), session())
    waited = time.monotonic() - t0
    release.set()
    t.join(5)
    assert obs.status == "error" and waited < 10, (obs.status, waited)


def test_an_expired_lease_holds_no_one() -> None:
    events: list[str] = []
    hold, release = threading.Event(), threading.Event()

    def hung() -> None:
        with measuring(A, lease_s=0.3):  # its holder never comes back in time
            hold.set()
            release.wait(30)

    t = _in_thread(hung)
    assert hold.wait(5)
    def other() -> None:
        with host_slot(B):
            events.append("B worked")

    o = _in_thread(other)
    o.join(10)
    release.set()
    t.join(5)
    assert events == ["B worked"]


def test_an_abandoned_checks_lease_is_revoked() -> None:
    """The runner gives up on a check stuck inside its measurement: the lease ends with it."""

    @check(title="Stuck measuring", timeout=0.5)
    def stuck(lab: Lab) -> None:
        with measuring(A, lease_s=60, owner=lab):
            time.sleep(3)

    (obs,) = run_lab(collect({"stuck": stuck}), session())
    assert obs.status == "error"
    assert measured_hosts() == []


def test_time_spent_waiting_on_the_students_system_is_the_students() -> None:
    """A check whose time ran out while it talked to the student's system (many slow answers,
    each within its own deadline) failed; one that ran out in the grader's own work is an
    error."""

    @check(title="Slow answers", timeout=0.5)
    def slow_answers(lab: Lab) -> None:
        lab.record(Evidence.make("http", "GET http://127.9.0.1/version -> 200 (400 ms)"))
        time.sleep(3)

    (obs,) = run_lab(collect({"slow_answers": slow_answers}), session())
    assert obs.status == "failed" and "answers too slowly" in obs.message
