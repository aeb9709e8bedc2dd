"""The runner's rules, on checks written for the test (the engine is ours to exercise)."""

from __future__ import annotations

import threading
import time

import pytest

from graders.checks import Lab, check, collect
from graders.errors import Failure, TransportError
from graders.runner import order, run_lab
from tests.conftest import session


def run(namespace: dict) -> dict:
    return {o.check: o for o in run_lab(collect(namespace), session())}


def test_dependencies_skip_and_name_the_blocker() -> None:
    @check(title="Root")
    def root(lab: Lab) -> None:
        raise Failure("root is broken")

    @check(title="Other")
    def other(lab: Lab) -> None:
        pass

    @check(title="Child", depends=["root", "other"])
    def child(lab: Lab) -> None:
        raise AssertionError("must not run")

    @check(title="Grandchild", depends=["child"])
    def grandchild(lab: Lab) -> None:
        raise AssertionError("must not run")

    res = run(locals())
    assert res["root"].status == "failed" and res["other"].status == "passed"
    assert res["child"].status == "skipped" and "root (Root)" in res["child"].message
    assert "other" not in res["child"].message
    assert res["grandchild"].status == "skipped" and "child" in res["grandchild"].message


def test_transport_faults_are_retried_and_every_attempt_kept() -> None:
    calls = []

    @check(title="Flaky", retries=2)
    def flaky(lab: Lab) -> None:
        calls.append(1)
        lab.note(f"attempt body {len(calls)}")
        if len(calls) < 3:
            raise TransportError("connection refused")

    res = run(locals())["flaky"]
    assert res.status == "passed" and res.attempts == 3 and len(calls) == 3
    assert {e.attempt for e in res.evidence} == {1, 2, 3}


def test_failed_assertions_are_never_retried() -> None:
    calls = []

    @check(title="Wrong", retries=3)
    def wrong(lab: Lab) -> None:
        calls.append(1)
        raise Failure("wrong answer")

    assert run(locals())["wrong"].status == "failed" and len(calls) == 1


def test_transport_after_retries_is_unreachable_and_5xx_is_failed() -> None:
    @check(title="Down", retries=1)
    def down(lab: Lab) -> None:
        raise TransportError("connection refused")

    @check(title="Broken", retries=1)
    def broken(lab: Lab) -> None:
        raise TransportError("HTTP 500", unreachable=False)

    res = run(locals())
    assert res["down"].status == "unreachable" and res["down"].attempts == 2
    assert res["broken"].status == "failed"


def test_grader_bugs_are_errors_and_timeouts_are_bounded() -> None:
    @check(title="Bug")
    def bug(lab: Lab) -> None:
        raise KeyError("oops")

    @check(title="Hang", timeout=0.5)
    def hang(lab: Lab) -> None:
        time.sleep(30)

    t0 = time.monotonic()
    res = run(locals())
    assert time.monotonic() - t0 < 5
    assert res["bug"].status == "error" and "KeyError" in res["bug"].message
    assert res["hang"].status == "error" and "0.5 s" in res["hang"].message


def test_a_retry_that_runs_out_of_time_is_still_unreachable() -> None:
    """The host did not answer the first attempt; the retry was still waiting on it when the
    check's time ran out: that is the host's silence, not a grader fault."""
    attempts = []

    @check(title="Silent", timeout=2.0)
    def silent(lab: Lab) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise TransportError("GET http://127.0.0.1:9/: connected, but no answer within 5 s")
        time.sleep(30)

    res = run(locals())
    assert len(attempts) == 2
    assert res["silent"].status == "unreachable", res["silent"].message


def test_independent_checks_overlap() -> None:
    inside, peak, lock = [0], [0], threading.Lock()

    def body() -> None:
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        time.sleep(0.3)
        with lock:
            inside[0] -= 1

    @check(title="A")
    def a(lab: Lab) -> None:
        body()

    @check(title="B")
    def b(lab: Lab) -> None:
        body()

    run(locals())
    assert peak[0] == 2


def test_cycles_and_unknown_parents_are_refused() -> None:
    @check(title="X", depends=["y"])
    def x(lab: Lab) -> None: ...

    @check(title="Y", depends=["x"])
    def y(lab: Lab) -> None: ...

    with pytest.raises(ValueError, match="cycle"):
        order(collect(locals()))

    @check(title="Z", depends=["nope"])
    def z(lab: Lab) -> None: ...

    with pytest.raises(ValueError, match="nope"):
        order([z.__check__])


def test_what_depends_on_a_grader_error_is_pending_not_skipped() -> None:
    """A grader fault never becomes a student's zero: what it blocked was not run, and is an
    error too (pending), while a student's failure still skips what depends on it."""
    from graders.errors import GraderFault

    @check(title="API")
    def api(lab: Lab) -> None:
        raise GraderFault("cannot reach the Chameleon API for KVM@TACC")

    @check(title="Login", depends=[api])
    def login(lab: Lab) -> None:
        raise AssertionError("must not run")

    @check(title="File", depends=[login])
    def file(lab: Lab) -> None:
        raise AssertionError("must not run")

    res = run(locals())
    assert [res[c].status for c in ("api", "login", "file")] == ["error"] * 3
    assert "not run, because api (API) hit a grader error" in res["login"].message
    assert "login (Login) hit a grader error" in res["file"].message
