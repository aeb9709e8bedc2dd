"""The HTTP probe against real, badly behaved HTTP servers on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from graders.errors import Failure, TransportError
from graders.evidence import Evidence
from graders.probes.http import Http


class Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def send(self, code: int, body: bytes, **headers: str) -> None:
        self.send_response(code)
        for k, v in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        host = self.headers["Host"]
        if self.path == "/ok":
            self.send(200, b"Bread")
        elif self.path == "/away":
            self.send(302, b"", Location="http://127.9.9.9/elsewhere")
        elif self.path == "/here":
            self.send(302, b"", Location=f"http://{host}/ok")
        elif self.path == "/away-lower":  # header names are case-insensitive (uvicorn: lower)
            self.send(302, b"", location="http://127.9.9.9/elsewhere")
        elif self.path == "/500":
            self.send(500, b"<h1>Internal Server Error</h1>")
        elif self.path == "/huge":
            self.send_response(200)
            self.send_header("Content-Length", str(50 << 20))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(800):
                    self.wfile.write(chunk)
            except OSError:
                pass
        elif self.path == "/hdrdrip":  # the status line, then a header byte every 0.5 s
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(200):
                    self.wfile.write(b"X")
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                pass
        elif self.path == "/deepjson":
            self.send(200, b"[" * 100_000 + b"]" * 100_000, **{"Content-Type": "application/json"})
        elif self.path == "/whoami":  # what the grader sent: its credentials must not be there
            self.send(200, repr(self.headers.get("Authorization")).encode())
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.3)
            except OSError:
                pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture()
def http() -> tuple[Http, list[Evidence]]:
    seen: list[Evidence] = []
    return Http(seen.append, connect_timeout=1, read_timeout=1), seen


def test_plain_answer_is_recorded(server: str, http) -> None:
    probe, seen = http
    resp = probe.get(server + "/ok")
    assert resp.status == 200 and resp.text == "Bread"
    assert "GET" in seen[0].summary and "-> 200" in seen[0].summary


def test_redirect_within_host_is_followed_off_host_refused(server: str, http) -> None:
    probe, _ = http
    assert probe.get(server + "/here").text == "Bread"
    with pytest.raises(Failure, match="another host"):
        probe.get(server + "/away")
    with pytest.raises(Failure, match="another host"):
        probe.get(server + "/away-lower")


def test_5xx_is_a_retryable_fault_that_is_not_unreachable(server: str, http) -> None:
    probe, _ = http
    with pytest.raises(TransportError) as err:
        probe.get(server + "/500")
    assert not err.value.unreachable and "HTTP 500" in err.value.message


def test_huge_body_is_capped(server: str, http) -> None:
    probe, seen = http
    probe.max_body = 100_000
    resp = probe.get(server + "/huge")
    assert resp.truncated and len(resp.body) == 100_000
    assert "truncated" in seen[-1].summary


def test_dripping_body_cannot_outlast_the_deadline(server: str, http) -> None:
    probe, _ = http
    t0 = time.monotonic()
    # headers came, so the server answered: a stalled body is judged (failed), not retried
    with pytest.raises(Failure, match=r"HTTP 200 arrived, then the body stalled after \d+ bytes"):
        probe.get(server + "/drip")
    assert time.monotonic() - t0 < 4  # connect 1 s + read 1 s budget, plus slack


def test_refused_and_tarpit_are_unreachable(http) -> None:
    probe, _ = http
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError, match="refused") as err:
        probe.get(f"http://127.0.0.1:{port}/")
    assert err.value.unreachable
    tarpit = socket.socket()
    tarpit.bind(("127.0.0.1", 0))
    tarpit.listen(8)  # accepts (kernel backlog) but never answers
    try:
        with pytest.raises(TransportError, match="no answer"):
            probe.get(f"http://127.0.0.1:{tarpit.getsockname()[1]}/")
    finally:
        tarpit.close()


def test_a_page_title_is_found_without_a_regular_expression() -> None:
    """A student's page of up to 1 MiB: a backtracking search of it once froze the grader;
    title_of only scans forward (str.find)."""
    from graders.labkit.apis import title_of

    assert title_of("<html><TITLE lang='en'>\n GourmetGram:  Snap.\n</title>") == (
        "GourmetGram: Snap."
    )
    assert title_of("<html><body>no title here</body>") == "no <title>"
    hostile = "<title>" + "<title>" * 150_000 + "x" * 100_000  # ~1.15 MB, never closed
    assert title_of(hostile) == "no <title>"


def test_headers_a_byte_at_a_time_cost_the_total_deadline(server: str) -> None:
    """The total deadline runs from connecting to the last byte, headers included."""
    http = Http(lambda e: None, connect_timeout=1, read_timeout=2)
    with pytest.raises(Failure, match="no whole answer within 3 s"):
        http.get(f"{server}/hdrdrip")


def test_deep_json_is_not_json_not_a_crash(server: str) -> None:
    resp = Http(lambda e: None).get(f"{server}/deepjson")
    with pytest.raises(ValueError, match="nested too deeply"):
        resp.json()


def test_the_tas_netrc_and_proxies_never_reach_a_student(
    server: str, tmp_path, monkeypatch
) -> None:
    """A `default` entry in ~/.netrc would be sent as Basic auth to every student endpoint,
    and a proxy variable would route student traffic through the TA's proxy."""
    (tmp_path / ".netrc").write_text("default login ta-account password hunter2-course-secret\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens: a used proxy fails
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    resp = Http(lambda e: None).get(f"{server}/whoami")
    assert resp.status == 200 and resp.text == "None"
