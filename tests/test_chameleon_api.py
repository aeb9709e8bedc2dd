"""Chameleon's API slow or down, against a Keystone on loopback that answers slowly or not
at all: one fetch for every check that asks (not one each, in a queue), a failure remembered
for a while, and a streak of failures that tells a batch to stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from graders.course import Site
from graders.errors import GraderFault
from graders.probes import chameleon
from graders.probes.chameleon import Chameleon, api_down, reset_cache


class SlowKeystone(BaseHTTPRequestHandler):
    """Every request waits `delay` seconds, then answers 503."""

    protocol_version = "HTTP/1.1"
    delay = 1.0
    requests = 0

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        type(self).requests += 1
        time.sleep(self.delay)
        body = b'{"error": {"code": 503, "title": "Service Unavailable"}}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 - http.server's names


@pytest.fixture()
def keystone(monkeypatch) -> Iterator[Site]:
    SlowKeystone.requests = 0
    srv = ThreadingHTTPServer(("127.0.0.1", 0), SlowKeystone)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_port}/identity/v3"
    for var in ("OS_CLOUD", "OS_AUTH_URL", "OS_REGION_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", "/nonexistent/clouds.yaml")
    monkeypatch.setenv("OS_AUTH_TYPE", "v3applicationcredential")
    monkeypatch.setenv("OS_APPLICATION_CREDENTIAL_ID", "id")
    monkeypatch.setenv("OS_APPLICATION_CREDENTIAL_SECRET", "secret")
    reset_cache()
    yield Site("KVM@TACC", url)
    reset_cache()
    srv.shutdown()
    srv.server_close()


def test_one_fetch_answers_every_check_that_asks(keystone: Site) -> None:
    outcomes: list[BaseException | None] = []

    def ask() -> None:
        try:
            Chameleon(keystone).servers()
            outcomes.append(None)
        except GraderFault as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outcomes) == 6 and all(isinstance(o, GraderFault) for o in outcomes)
    first = SlowKeystone.requests
    assert first <= 2  # keystoneauth's token request (and discovery): once, not six times


def test_a_failure_is_remembered_for_a_while(keystone: Site) -> None:
    with pytest.raises(GraderFault):
        Chameleon(keystone).servers()
    asked = SlowKeystone.requests
    for _ in range(5):
        with pytest.raises(GraderFault):
            Chameleon(keystone).servers()
    assert SlowKeystone.requests == asked


def test_a_streak_of_failures_counts_as_the_api_down(keystone: Site, monkeypatch) -> None:
    monkeypatch.setattr(chameleon, "FAILURE_TTL_S", 0.0)  # every call asks again
    assert not api_down()
    for _ in range(chameleon.DOWN_AFTER):
        with pytest.raises(GraderFault):
            Chameleon(keystone).servers()
    assert api_down()
    reset_cache()
    assert not api_down()
