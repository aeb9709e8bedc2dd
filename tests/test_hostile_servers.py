"""Lab checks against hostile servers on loopback, and against a hostile instance's command
output: a student owns every port and every binary of the instance, so each answer is built
to cost or mislead the grader as much as possible. Every check must end in a status with a
message saying what was expected, and the grader must not stall on the way."""

from __future__ import annotations

import copy
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from graders.checks import Host
from graders.errors import Failure, TransportError
from graders.evidence import MAX_EXCERPT, Evidence, Observation
from graders.labkit.apis import form_value
from graders.labs import load_lab
from graders.probes.s3 import S3
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
    obs, _ = run_lab_check(
        "eval-offline-chi", "verdict_overall_accuracy", given={"suite_runs": report}
    )
    assert obs.status == Status.PASSED and obs.measurements["outcome"] == "passed"


def test_lab_yaml_values_are_quoted_in_remote_commands() -> None:
    """lab.yaml is the staff's, but a value with a space or a `;` must stay one word."""
    shell = Shell([("python -m pytest", (1, "")), ("head -c", (0, FORGED))])
    run_lab_check(
        "eval-offline-chi", "suite_runs", config={"container": "jup yter;id"}, shell=shell
    )
    quoted = "docker exec -w /home/jovyan/work 'jup yter;id' "
    assert shell.commands and all(quoted in c for c in shell.commands)


def test_the_benchmark_command_quotes_container_and_model() -> None:
    bench = '{"median_ms": 1.0, "p95_ms": 2.0, "batch_fps": 900.0, "runs": 100, "batch": 32}'
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


# --- S3 (MinIO on the instance): eval-loop-chi, mlflow-chi, mltrain-chi ----------------------
LISTING = '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{ns}">'.format(
    ns="http://s3.amazonaws.com/doc/2006-03-01/"
)
ENTRY = "<Contents><Key>class_01/{n}.jpg</Key><Size>10</Size></Contents>"
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY l0 "lol">'
    + b"".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">'.encode() for i in range(1, 10))
    + b"]><ListBucketResult><Contents><Key>&l9;</Key></Contents></ListBucketResult>"
)


def endless(h: BaseHTTPRequestHandler) -> None:
    """A listing that never ends, as fast as the grader reads."""
    h.send_response(200)
    h.send_header("Content-Type", "application/xml")
    h.end_headers()
    chunk = "".join(ENTRY.format(n=n) for n in range(1000)).encode()
    try:
        h.wfile.write(LISTING.encode())
        for _ in range(10_000):  # 500 MB: far past any cap, and it ends when the grader stops
            h.wfile.write(chunk)
    except OSError:
        pass
    h.close_connection = True


def drip(h: BaseHTTPRequestHandler) -> None:
    """Headers at once, then the listing one byte every 0.2 s."""
    body = (LISTING + ENTRY.format(n=1) + "</ListBucketResult>").encode()
    h.send_response(200)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    try:
        for b in body:
            h.wfile.write(bytes([b]))
            h.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass


def s3_of(port: int, secret: str = "your-secret-key", host: str = "127.0.0.1") -> S3:
    return S3(f"http://{host}:{port}", "your-access-key", secret, lambda ev: None,
              connect_timeout=1, read_timeout=1)  # fmt: skip


@pytest.mark.parametrize(
    "route, words",
    [
        (endless, "answered more than 2 MiB; the grader stopped reading"),
        (drip, "the body stalled after"),
        (answer(200, LAUGHS), "is not an S3 answer: its body declares a DTD or entities"),
        (
            answer(200, (LISTING + ENTRY.format(n=0) * 1001 + "</ListBucketResult>").encode()),
            "listed 1001 objects when asked for at most 1000",
        ),
        (
            answer(200, f"{LISTING}<Contents><Key>k</Key><Size>-1</Size></Contents>".encode()),
            "not well-formed",  # and unclosed
        ),
        (
            answer(200, (LISTING + "<Contents><Key>k</Key><Size>x</Size></Contents>"
                         "</ListBucketResult>").encode()),  # fmt: skip
            "listed an object without a key and a size ('k', 'x')",
        ),
        (answer(200, b"<html><title>MinIO</title>"), "not an S3 answer"),
        (
            answer(404, b"<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>"),
            "NoSuchBucket (gone)",
        ),
    ],
    ids=["endless", "drip", "laughs", "too-many-keys", "broken-xml", "bad-size", "html", "404"],
)
def test_a_hostile_s3_listing_is_a_bounded_failure(hostile, route: Route, words: str) -> None:
    seen: list[Evidence] = []
    port = hostile({"/production": route})
    s3 = S3(f"http://127.0.0.1:{port}", "your-access-key", "your-secret-key", seen.append,
            connect_timeout=1, read_timeout=1)  # fmt: skip
    with pytest.raises(Failure) as failed:
        s3.objects("production")
    assert words in failed.value.message and failed.value.message.startswith("S3 list production")
    assert seen and all(len(e.excerpt.encode()) <= MAX_EXCERPT + 32 for e in seen)


def test_an_s3_that_is_not_there_or_broken_is_a_transport_error(hostile) -> None:
    port = hostile({"/production": answer(500, b"<Error><Code>InternalError</Code></Error>")})
    with pytest.raises(TransportError) as broken:
        s3_of(port).objects("production")
    assert not broken.value.unreachable and "HTTP 500" in broken.value.message
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    free = closed.getsockname()[1]
    closed.close()
    with pytest.raises(TransportError) as refused:
        s3_of(free).objects("production")
    assert refused.value.unreachable and "Is MinIO running" in refused.value.help


@pytest.fixture(scope="module")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The simulator's S3 server (moto behind MinIO's signature checks) on a loopback address
    of its own, with a bucket whose keys need escaping; stopped at the end of the module."""
    from labsim.s3sim import S3Fleet, client

    address = "127.77.0.9"
    fleet = S3Fleet([address], Path(tmp_path_factory.mktemp("minio")))
    fleet.start()
    try:
        fleet.wait()
        store = client(address)
        store.create_bucket(Bucket="production")
        for key, tags in (("class_01/a b+ü=1.jpg", {"predicted_class": "1", "x y": "z/w"}),
                          ("class_02/plain.jpg", {})):  # fmt: skip
            store.put_object(Bucket="production", Key=key, Body=b"jpg")
            if tags:
                tagging = {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
                store.put_object_tagging(Bucket="production", Key=key, Tagging=tagging)
        yield address
    finally:
        fleet.stop()


def test_signed_requests_read_minio_listings_and_tags(minio: str) -> None:
    s3 = s3_of(9000, host=minio)
    assert s3.buckets() == ["production"]
    objects = s3.objects("production")
    assert objects == [
        {"key": "class_01/a b+ü=1.jpg", "size": 3},
        {"key": "class_02/plain.jpg", "size": 3},
    ]
    assert [o["key"] for o in s3.objects("production", prefix="class_02/")] == [
        "class_02/plain.jpg"
    ]
    assert s3.tags("production", "class_01/a b+ü=1.jpg") == {"predicted_class": "1", "x y": "z/w"}
    assert s3.tags("production", "class_02/plain.jpg") == {}
    with pytest.raises(Failure, match="NoSuchBucket"):
        s3.objects("nothing-here")
    with pytest.raises(Failure, match="SignatureDoesNotMatch"):
        s3_of(9000, secret="minioadmin", host=minio).objects("production")


def test_a_listing_of_several_pages_is_read_whole(minio: str) -> None:
    """More keys than a page holds (S3's 1,000; 10 here, to keep the test quick): every page is
    read (continuation tokens), and the record says how many objects in how many pages."""
    from labsim.s3sim import client

    store = client(minio)
    store.create_bucket(Bucket="many")
    keys = [f"1/{n:04d}/artifacts/checkpoint.pth" for n in range(21)] + ["1/zz/gpu-info.txt"]
    for key in keys:
        store.put_object(Bucket="many", Key=key, Body=b"x")
    seen: list[Evidence] = []
    s3 = S3(f"http://{minio}:9000", "your-access-key", "your-secret-key", seen.append,
            page_keys=10)  # fmt: skip
    listing = s3.objects("many")
    assert [o["key"] for o in listing] == keys  # the last key is on the third page
    assert listing.complete and listing.pages == 3
    assert "22 objects in 3 pages" in seen[-1].summary
    cut = s3.objects("many", max_pages=2)
    assert len(cut) == 20 and not cut.complete and "at most 2 pages" in cut.stopped
    assert cut.at_limit and not listing.at_limit


def _page(token: str, more: bool, next_token: str | None) -> Route:
    then = f"<NextContinuationToken>{next_token}</NextContinuationToken>" if next_token else ""
    more_ = f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>"
    body = LISTING + ENTRY.format(n=token or "first") + more_ + then + "</ListBucketResult>"
    return answer(200, body.encode())


@pytest.mark.parametrize(
    "next_token, words",
    [("same", "the same continuation token again"), (None, "no continuation token")],
    ids=["repeated-token", "no-token"],
)
def test_a_listing_that_never_ends_stops_where_it_loops(
    hostile, next_token: str | None, words: str
) -> None:
    """A store that always says there is more, with its one token again or with none: the
    grader stops after the page that repeats itself, and says why."""
    port = hostile({"/production": _page("same", True, next_token)})
    listing = s3_of(port).objects("production")
    assert not listing.complete and not listing.at_limit and words in listing.stopped
    assert listing.pages == (2 if next_token else 1)
