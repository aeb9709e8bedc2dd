"""Lab checks against hostile servers on loopback, and against a hostile instance's command
output: a student owns every port and every binary of the instance, so each answer is built
to cost or mislead the grader as much as possible. Every check must end in a status with a
message saying what was expected, and the grader must not stall on the way."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from graders.checks import Host
from graders.evidence import Observation
from graders.labkit.apis import form_value
from graders.labs import load_lab
from graders.probes.ssh import CommandResult
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


class Shell:
    """Stands in for SSH to a hostile instance: each command gets the answer of the first
    (needle, (exit code, stdout)) whose needle it contains; every command is kept."""

    def __init__(self, answers: list[tuple[str, tuple[int, str]]]) -> None:
        self.answers = answers
        self.commands: list[str] = []

    def run(self, address: str, key: str, command: str, **_: object) -> CommandResult:
        self.commands.append(command)
        code, out = next((a for n, a in self.answers if n in command), (127, ""))
        return CommandResult(command, out, "" if code == 0 else "no", code, 1.0)

    def put(self, *_: object, **__: object) -> None:
        pass


def run_lab_check(
    lab_id: str,
    check_id: str,
    ports: dict[str, int] | None = None,
    *,
    config: dict[str, Any] | None = None,
    shell: Shell | None = None,
    given: dict[str, Any] | None = None,
) -> tuple[Observation, Any]:
    """One check of a lab observing 127.0.0.1, with the lab's ports replaced by `ports` and
    its config updated by `config`, its commands answered by `shell`; what it returned."""
    lab = load_lab(lab_id)
    cfg = copy.deepcopy(lab.config)
    cfg["ports"].update(ports or {})
    cfg.update(config or {})
    grading = session(cfg)
    if shell:
        grading.ssh = shell
    check = next(c for c in lab.checks if c.id == check_id)
    return run_check(check, grading, given, host=Host("node", "127.0.0.1"))


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
    obs, _ = run_lab_check("eval-loop-chi", "airflow_dags", {"airflow": port})
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


# --- the JUnit report and the commands of eval-offline-chi -----------------------------------
FORGED = (
    '<testsuites><testsuite tests="1" failures="0">'
    + '<testcase classname="t" name="test_overall_accuracy"/>' * 4
    + '<testcase classname="t" name="test_x"><failure message="no"/></testcase>'
    + "</testsuite></testsuites>"
)


def test_pass_rate_counts_the_reports_cases_not_its_attributes() -> None:
    shell = Shell([("python -m pytest", (1, "")), ("head -c", (0, FORGED))])
    obs, report = run_lab_check("eval-offline-chi", "suite_runs", shell=shell)
    assert obs.status == Status.PASSED, obs.message
    assert (obs.measurements["tests"], obs.measurements["passed"]) == (5, 4)
    obs, _ = run_lab_check("eval-offline-chi", "tests_pass", given={"suite_runs": report})
    assert obs.status == Status.FAILED and obs.measurements["pass_rate"] == 0.8
    assert "1 of 5 tests did not pass" in obs.message


def test_lab_yaml_values_are_quoted_in_remote_commands() -> None:
    """lab.yaml is the staff's, but a value with a space or a `;` must stay one word."""
    shell = Shell([("python -m pytest", (1, "")), ("head -c", (0, FORGED))])
    run_lab_check(
        "eval-offline-chi", "suite_runs", config={"container": "jup yter;id"}, shell=shell
    )
    quoted = "docker exec -w /home/jovyan/work 'jup yter;id' "
    assert shell.commands and all(quoted in c for c in shell.commands)


def test_the_benchmark_command_quotes_container_and_model() -> None:
    bench = '{"median_ms": 1.0, "p95_ms": 2.0, "batch_fps": 3.0}'
    shell = Shell([("docker exec -i", (0, bench))])
    models = copy.deepcopy(load_lab("serve-model-chi").config["models"])
    models.update(container="jup yter;id", container_dir="/w/my models")
    obs, _ = run_lab_check(
        "serve-model-chi", "latency_baseline", config={"models": models}, shell=shell
    )
    assert obs.status == Status.PASSED, obs.message
    assert shell.commands == [
        "docker exec -i 'jup yter;id' python3 - '/w/my models/food11.onnx' 100 32 "
        "< ~/.labgrader/onnx_bench.py"
    ]
