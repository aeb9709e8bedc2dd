"""Lab checks against hostile servers on loopback: a student owns every port of the instance,
so each answer is built to cost the grader as much as possible. Every check must end in a
status with a message saying what was expected, and the grader must not stall on the way."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from graders.checks import Host
from graders.evidence import Observation
from graders.labkit.apis import form_value
from graders.labs import load_lab
from graders.runner import run_check
from graders.status import Status
from tests.conftest import session

MIB = 1 << 20
Route = Callable[[BaseHTTPRequestHandler], None]


def answer(code: int, body: bytes, **headers: str) -> Route:
    def respond(h: BaseHTTPRequestHandler) -> None:
        h.send_response(code)
        for k, v in {"Content-Length": str(len(body)), **headers}.items():
            h.send_header(k.replace("_", "-"), v)
        h.end_headers()
        try:
            h.wfile.write(body)
        except OSError:
            pass  # the grader stopped reading: that is the point

    return respond


@pytest.fixture()
def hostile() -> Iterator[Callable[[dict[str, Route]], int]]:
    """Start a server on 127.0.0.1 answering each path (without its query) by its route, 404
    otherwise; its port. Stopped at the end of the test."""
    servers: list[ThreadingHTTPServer] = []

    def start(routes: dict[str, Route]) -> int:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                routes.get(self.path.split("?")[0], answer(404, b"no"))(self)

            do_POST = do_GET  # noqa: N815

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv.server_port

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def run_lab_check(lab_id: str, check_id: str, ports: dict[str, int]) -> Observation:
    """One check of a lab, observing 127.0.0.1 with the lab's ports replaced by `ports`."""
    lab = load_lab(lab_id)
    config = copy.deepcopy(lab.config)
    config["ports"].update(ports)
    check = next(c for c in lab.checks if c.id == check_id)
    obs, _ = run_check(check, session(config), host=Host("node", "127.0.0.1"))
    return obs


# --- Airflow's login form (eval-loop-chi) ---------------------------------------------------
@pytest.mark.parametrize(
    "page",
    [
        b'name="csrf_token"' * (MIB // 17),  # the old regex re-scanned the rest from each one
        b'<input name="csrf_token" ' + b'value="' * (MIB // 7),  # a value never closed
        b"<input " + b"<" * MIB + b'name="csrf_token" value="x">',  # the tag's start too far
    ],
    ids=["names", "open-value", "far-tag"],
)
def test_a_hostile_airflow_login_page_is_a_failure(hostile, page: bytes) -> None:
    port = hostile(
        {
            "/api/v1/dags": answer(401, b"{}"),
            "/login/": answer(200, page, Set_Cookie="session=abc; Path=/"),
        }
    )
    obs = run_lab_check("eval-loop-chi", "airflow_dags", {"airflow": port})
    assert obs.status == Status.FAILED, obs.message
    assert "without Airflow's login form" in obs.message


def test_the_csrf_token_is_read_from_the_input_tag() -> None:
    real = '<form><input id="csrf_token" name="csrf_token" type="hidden" value="IjA.Zz"></form>'
    assert form_value(real, "csrf_token") == "IjA.Zz"
    assert form_value('<input value="v1" name="csrf_token">', "csrf_token") == "v1"
    assert form_value('<input data-value="no" name="csrf_token"\n value="v2">', "csrf_token") == (
        "v2"
    )
    for page in ('<input name="csrf_token" value="">', '<input name="csrf_token">', "<p>"):
        assert form_value(page, "csrf_token") is None
