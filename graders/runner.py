"""Run one student's checks for one lab: dependency order, concurrency, timeouts, retries.

Statuses: `passed`; `failed` (Failure, a server that kept answering 5xx, or a check whose
time ran out waiting on the student's system); `unreachable` (could not connect after the
retries); `skipped` (a parent did not pass); `error` (the grader broke: any other exception, a
check that outran its time in the grader's own work, and every check below an `error`, which
was not run: pending, never a zero).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from graders.checks import Check, Host, Lab, Session
from graders.errors import Failure, GraderFault, Skip, TransportError
from graders.evidence import Evidence, Observation, clean, now
from graders.limits import Clock, bind_clock
from graders.status import Status, counts_as_passed

log = logging.getLogger("labgrader.runner")
RETRY_BACKOFF_S = 0.5


def order(checks: Iterable[Check]) -> list[Check]:
    """Checks in a dependency-respecting order; refuses unknown parents and cycles."""
    by_id = {c.id: c for c in checks}
    done: list[Check] = []
    state: dict[str, int] = {}

    def visit(c: Check, path: tuple[str, ...]) -> None:
        if state.get(c.id) == 2:
            return
        if state.get(c.id) == 1:
            raise ValueError(f"dependency cycle: {' -> '.join(path + (c.id,))}")
        state[c.id] = 1
        for parent in c.depends:
            if parent not in by_id:
                raise ValueError(f"check {c.id!r} depends on unknown check {parent!r}")
            visit(by_id[parent], path + (c.id,))
        state[c.id] = 2
        done.append(c)

    for c in by_id.values():
        visit(c, ())
    return done


def run_check(
    check: Check,
    session: Session,
    given: dict[str, Any] | None = None,
    host: Host | None = None,
) -> tuple[Observation, Any]:
    """One check with its retries, inside its time budget: its observation, and the value it
    returned (None unless it passed). Never raises. `given`: its parents' values; `host`: the
    instance its ancestors found.

    The budget is the check's own time: time queued for a measurement slot is added to it."""
    started, t0 = now(), time.monotonic()
    clock = Clock()
    args = {name: (given or {})[name] for name in check.receives}

    def left() -> float:  # queueing extends the budget, by the check's own limit at most
        return t0 + check.timeout + min(clock.queued_s(), check.timeout) - time.monotonic()

    lab = Lab(session, check, host)
    if host is not None:  # which of the lab's servers this check observes (llm-chi has two)
        lab.measure("host", host.name)
    obs = Observation(check.id, Status.ERROR, started_at=started)
    attempt, outcome = 0, None
    while True:
        attempt += 1
        lab.attempt = attempt
        outcome, value = _attempt(check, lab, args, left, clock, outcome)
        if isinstance(outcome, TransportError) and attempt <= check.retries:
            wait = RETRY_BACKOFF_S * attempt
            if wait < left() - 0.5:
                lab.note(f"attempt {attempt}: {outcome.message}; retrying in {wait:.1f} s")
                time.sleep(wait)
                continue
        break
    obs.status, obs.message, obs.help = _judge(outcome, check)
    if not lab.evidence:  # every outcome keeps at least what was concluded, and when
        lab.note(f"{check.id}: {obs.status}" + (f": {obs.message}" if obs.message else ""))
    obs.measurements, obs.evidence, obs.attempts = lab.measurements, lab.evidence, attempt
    obs.duration_s = round(time.monotonic() - t0, 3)
    return obs, value if outcome is None else None


def _attempt(
    check: Check,
    lab: Lab,
    args: dict[str, Any],
    left: Callable[[], float],
    clock: Clock,
    previous: BaseException | None,
) -> tuple[BaseException | None, Any]:
    """Run the check function once in a daemon thread; give up on it when `left()` runs out.
    Its outcome (None: passed) and what it returned. `previous`: the last attempt's."""
    box: list[tuple[BaseException | None, Any]] = []

    def target() -> None:
        bind_clock(clock)
        try:
            box.append((None, check.func(lab, **args)))
        except BaseException as exc:  # noqa: BLE001 - every outcome is judged by _judge
            box.append((exc, None))

    worker = threading.Thread(target=target, name=f"check-{check.id}", daemon=True)
    worker.start()
    while worker.is_alive() and (remaining := left()) > 0:
        worker.join(min(remaining, 1.0))  # re-read: queueing may have extended the budget
    if worker.is_alive():
        lab.cancel()  # it starts nothing more, and its measurement lease ends
        return _out_of_time(check, lab, previous), None
    return box[0]


def _out_of_time(check: Check, lab: Lab, previous: BaseException | None) -> Exception:
    """A check past its limit: unreachable still, when it ran out retrying a system that did
    not answer; the student's, when its time went waiting on the student's system (its last
    evidence is an exchange with it: every probe bounds each exchange, so many slow answers
    add up); the grader's otherwise."""
    if isinstance(previous, TransportError):
        return previous
    last = lab.evidence[-1] if lab.evidence else None
    if last is not None and last.kind in ("http", "command"):
        return Failure(
            f"the check ran out of its {check.timeout:g} s waiting on the system, which answers "
            f"too slowly (last: {last.summary})",
            "Each answer came, but slowly: look at the service's load and logs.",
        )
    return GraderFault(f"the check did not finish within its {check.timeout:g} s limit")


def _judge(outcome: BaseException | None, check: Check) -> tuple[Status, str, str]:
    if outcome is None:
        return Status.PASSED, "", ""
    if isinstance(outcome, Failure):
        return Status.FAILED, outcome.message, outcome.help
    if isinstance(outcome, Skip):
        return Status.SKIPPED, outcome.message, ""
    if isinstance(outcome, TransportError):
        status = Status.UNREACHABLE if outcome.unreachable else Status.FAILED
        return status, outcome.message, outcome.help
    if isinstance(outcome, GraderFault):
        return Status.ERROR, f"grader error: {outcome}", ""
    # The traceback carries the exception's text, which may quote a student's answer: cleaned
    # before it reaches the TA's terminal.
    trace = "".join(traceback.format_exception(outcome))
    log.error("check %s raised\n%s", check.id, clean(trace, 16384))
    return Status.ERROR, f"grader error: {type(outcome).__name__}: {outcome}", ""


def run_lab(checks: list[Check], session: Session, *, workers: int = 4) -> list[Observation]:
    """Run every check, independent ones concurrently; results in dependency order.

    A check receives its parents' values, and observes the Host its nearest ancestor returned
    (the first parent, in `depends` order, that has one)."""
    ordered = order(checks)
    results: dict[str, Observation] = {}
    values: dict[str, Any] = {}
    hosts: dict[str, Host | None] = {}
    pending = list(ordered)
    finished: queue.Queue[tuple[Observation, Any, Host | None]] = queue.Queue()
    running = 0
    titles = {c.id: c.title for c in ordered}

    def start(c: Check) -> None:
        host = next((hosts[p] for p in c.depends if hosts.get(p)), None)

        def work() -> None:
            obs, value = run_check(c, session, values, host)
            finished.put((obs, value, value if isinstance(value, Host) else host))

        threading.Thread(target=work, name=f"run-{c.id}", daemon=True).start()

    while pending or running:
        for c in list(pending):
            if running >= workers:
                break
            if not all(p in results for p in c.depends):
                continue
            pending.remove(c)
            blocked = [p for p in c.depends if not counts_as_passed(results[p].status)]
            if blocked:
                results[c.id] = _not_run(c, blocked, results, titles)
                values[c.id], hosts[c.id] = None, None
                continue
            start(c)
            running += 1
        if running:
            obs, value, host = finished.get()
            results[obs.check], values[obs.check], hosts[obs.check] = obs, value, host
            running -= 1
    return [results[c.id] for c in ordered]


def _not_run(
    c: Check, blocked: list[str], results: dict[str, Observation], titles: dict[str, str]
) -> Observation:
    """A check whose parent did not pass: skipped, naming the blocker; or, below a grader
    error, an error itself (pending: it was never judged, so it is never charged)."""
    errors = [b for b in blocked if results[b].status == Status.ERROR]
    if errors:
        names = ", ".join(f"{b} ({titles[b]})" for b in errors)
        status, message = Status.ERROR, f"grader error: not run, because {names} hit a grader error"
    else:
        names = ", ".join(f"{b} ({titles[b]})" for b in blocked)
        status, message = Status.SKIPPED, f"skipped because {names} did not pass"
    obs = Observation(c.id, status, message, started_at=now())
    obs.evidence.append(Evidence.make("note", obs.message))
    return obs
