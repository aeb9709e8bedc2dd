"""Steps many labs share, for labs/*/checks.py: find the server, log in, read docker, sample
GPUs, fetch JSON. Each raises Failure with a message a student can act on."""

from __future__ import annotations

import json
import shlex
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from graders.checks import Lab, check
from graders.errors import Failure, Skip
from graders.probes import gpu
from graders.probes.chameleon import floating_ip


def require_active_server(lab: Lab, key: str = "server") -> dict[str, Any]:
    """The lab's server exists at its site, is ACTIVE and has a floating IP (-> facts)."""
    name = lab.name(key)
    server = lab.chameleon.server(name)
    lab.require(
        server,
        f"no server named {name} at {lab.config['site']}",
        "Launch it as the lab's notebook does; the name must match exactly.",
    )
    status = server["status"]
    fault = (server.get("fault") or {}).get("message", "")
    lab.require(
        status == "ACTIVE",
        f"server {name} is {status}" + (f" ({fault})" if fault else ""),
        "Delete it and launch it again; an ERROR server does not recover.",
    )
    address = floating_ip(server)
    lab.require(
        address,
        f"server {name} is ACTIVE but has no floating IP",
        "Associate a floating IP with it (s.associate_floating_ip()).",
    )
    lab.facts["address"] = address
    lab.note(f"{name} is ACTIVE at floating IP {address}")
    return server


def require_servers_active(lab: Lab, keys: tuple[str, ...], help: str) -> None:
    """Each of the lab's servers named by `keys` (e.g. node1-3) exists and is ACTIVE."""
    problems = []
    for key in keys:
        name = lab.name(key)
        server = lab.chameleon.server(name)
        if server is None:
            problems.append(f"{name} does not exist")
        elif server["status"] != "ACTIVE":
            fault = (server.get("fault") or {}).get("message", "")
            problems.append(f"{name} is {server['status']}" + (f" ({fault})" if fault else ""))
    lab.measure("nodes_active", len(keys) - len(problems))
    lab.require(not problems, "; ".join(problems), help)


def require_floating_ip(lab: Lab, key: str, help: str) -> None:
    """The lab's server `key` has a floating IP, through which the grader reaches it (-> facts)."""
    name = lab.name(key)
    server = lab.chameleon.server(name)
    lab.require(server, f"no server named {name}")
    address = floating_ip(server)
    lab.require(address, f"{name} has no floating IP", help)
    lab.facts["address"] = address


def require_cc_login(lab: Lab) -> None:
    result = lab.run("id -un")
    lab.require(
        result.ok and result.stdout.strip() == "cc",
        f"logged in, but `id -un` said {result.stdout.strip()!r} (exit {result.exited})",
    )


COURSE_KEY_CHECK = "course_key"
MAX_AUTHORIZED_KEYS = 65536


def course_key_check(after: str) -> Callable[[Lab], None]:
    """The lab's `course_key` check, run once `after` has found the instance's address:
    `course_key = course_key_check(after="server_active")` in a lab that logs in."""

    @check(
        title="The course staff key is in ~cc/.ssh/authorized_keys",
        depends=[after],
        vantage="host",
    )
    def course_key(lab: Lab) -> None:
        """The course staff's public key is in cc's authorized_keys, so that staff can log in
        and grade; a staff run shows it by logging in with that key."""
        require_course_key(lab)

    return course_key


def require_course_key(lab: Lab) -> None:
    from graders.course import staff_key

    key = staff_key()
    if key is None:
        raise Skip("the course names no staff key (staff_key in rubrics/course.yaml)")
    if lab.student.staff_login:
        lab.run("true")  # refused with a message that says the course key is missing
        lab.note(f"logged in to {lab.address} with the course staff key ({key.fingerprint})")
        return
    result = lab.run(f"head -c {MAX_AUTHORIZED_KEYS} ~/.ssh/authorized_keys")
    if key.in_authorized_keys(result.stdout):
        lab.note(f"the course staff key ({key.fingerprint}) is in ~cc/.ssh/authorized_keys")
        return
    if key.public_line:
        add = (
            f"labgrader course-key | ssh -i {lab.student.ssh_key} cc@{lab.address} "
            "'cat >> ~/.ssh/authorized_keys'"
        )
    else:
        add = f"ask course staff for the course key ({key.fingerprint}) and add it"
    raise Failure(
        f"the course staff key ({key.fingerprint}) is not in ~cc/.ssh/authorized_keys on "
        f"{lab.address}: you can log in, staff cannot, so the staff grade of this lab would "
        "be zero",
        add,
    )


def containers(lab: Lab) -> dict[str, dict[str, Any]]:
    """Running containers by name, from `docker ps --format '{{json .}}'`."""
    result = lab.run("docker ps --format '{{json .}}'")
    lab.require(
        result.ok,
        f"`docker ps` failed: {result.stderr.strip()[:200]}",
        "Is Docker installed, and is cc in the docker group?",
    )
    found = {}
    for line in result.stdout.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise Failure(
                f"`docker ps` printed something that is not JSON: {line[:120]!r}"
            ) from None
        for name in str(row.get("Names", "")).split(","):
            found[name] = row
    return found


def require_containers(lab: Lab, names: list[str]) -> dict[str, dict[str, Any]]:
    running = containers(lab)
    missing = [n for n in names if n not in running]
    lab.measure("containers_running", len(names) - len(missing))
    lab.require(
        not missing,
        f"container(s) not running: {', '.join(missing)} "
        f"(running: {', '.join(sorted(running)) or 'none'})",
        "Start them with the lab's docker compose file; check `docker ps -a` for ones that exited.",
    )
    return running


def inspect_container(lab: Lab, name: str) -> dict[str, Any]:
    result = lab.run(f"docker inspect {shlex.quote(name)}")
    lab.require(result.ok, f"`docker inspect {name}` failed: {result.stderr.strip()[:200]}")
    try:
        return json.loads(result.stdout)[0]
    except (json.JSONDecodeError, IndexError, KeyError):
        raise Failure(f"`docker inspect {name}` did not print a container") from None


def gpu_tool(lab: Lab) -> str:
    return "rocm" if lab.config.get("gpu", {}).get("vendor") == "amd" else "nvidia"


def sample_gpus(lab: Lab, seconds: int) -> dict[str, Any]:
    """Sample the GPUs for `seconds`; the summary (and every reading) goes to facts."""
    tool = gpu_tool(lab)
    result = lab.run(gpu.sampling_command(tool, seconds), timeout=seconds + 20)
    if not result.ok:
        problem = gpu.explain(tool, result.exited, result.stdout + result.stderr)
        lab.facts["gpu_problem"] = problem
        raise Failure(problem)
    readings = gpu.parse_samples(tool, result.stdout)
    summary = gpu.summarize(readings, lab.config.get("gpu", {}).get("busy_util", 10))
    lab.facts["gpu"] = summary
    for k, v in summary.items():
        lab.measure(k, v)
    return summary


class Background(threading.Thread):
    """Run a step (e.g. GPU sampling) while the check does something else (e.g. load)."""

    def __init__(self, fn: Any, *args: Any) -> None:
        super().__init__(daemon=True)
        self.fn, self.args = fn, args
        self.result: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.fn(*self.args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by outcome()
            self.error = exc

    def outcome(self, timeout: float) -> Any:
        self.join(timeout)
        if self.error:
            raise self.error
        return self.result


def require_whole(lab: Lab, resp: Any) -> None:
    """Fail on an answer larger than the grader reads: no API answer here is that big."""
    lab.require(
        not resp.truncated,
        f"{resp.method} {resp.url} sent more than "
        f"{len(resp.body) // 2**20} MiB; the grader stopped reading",
        "An API answer of that size is a bug in the server.",
    )


T = TypeVar("T")


def once(lab: Lab, key: str, compute: Callable[[], T]) -> T:
    """A fact computed once per student and shared by the checks that read it (one kubectl
    call for several checks); concurrent checks wait for the first to compute it."""
    with lab.session.lock:
        if key not in lab.facts:
            lab.facts[key] = compute()
        return lab.facts[key]


def kubectl_json(lab: Lab, args: str, missing: str = "") -> dict[str, Any]:
    """`kubectl ARGS` on the instance, its JSON object. A failure gives kubectl's first error
    line; `missing` is the help when the cluster lacks the resource type (a CRD)."""
    result = lab.run(f"kubectl {args}")
    if not result.ok:
        err = (result.stderr or result.stdout).strip().splitlines()
        first = err[0] if err else f"exit {result.exited}"
        help = (
            missing
            if missing and "doesn't have a resource type" in first
            else "Run it yourself on node1 as cc; is ~/.kube/config in place?"
        )
        raise Failure(f"`kubectl {args}` failed: {first[:200]}", help)
    try:
        doc = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise Failure(f"`kubectl {args}` did not print JSON: {result.stdout[:80]!r}") from None
    lab.require(isinstance(doc, dict), f"`kubectl {args}` printed JSON that is not an object")
    return doc


def mlflow_api(
    lab: Lab, method: str, path: str, what: str, body: Any = None, help: str = ""
) -> dict[str, Any]:
    """MLflow's REST API on the lab's `mlflow` port: a JSON object, or a Failure saying what
    MLflow lacks (its error_code answer) or that this is not MLflow."""
    url = f"http://{lab.address}:{lab.port('mlflow')}/api/2.0/mlflow/{path}"
    resp = lab.http.request(method, url, json=body) if body else lab.http.request(method, url)
    require_whole(lab, resp)
    try:
        doc = resp.json()
    except ValueError:
        raise Failure(
            f"{method} {url} did not answer JSON (HTTP {resp.status}, "
            f"{resp.headers.get('Content-Type', '?')}); is this MLflow?"
        ) from None
    if resp.status == 404 or (isinstance(doc, dict) and doc.get("error_code")):
        message = doc.get("message", resp.status) if isinstance(doc, dict) else resp.status
        raise Failure(f"MLflow has no {what}: {str(message)[:160]}", help)
    lab.require(
        resp.status == 200 and isinstance(doc, dict), f"{method} {url} answered HTTP {resp.status}"
    )
    return doc


def lab_s3(lab: Lab) -> Any:
    """The instance's S3 API (MinIO) on the lab's `s3` port, with lab.yaml's keys."""
    from graders.probes.s3 import S3

    cfg = lab.config["s3"]
    return S3(
        f"http://{lab.address}:{lab.port('s3')}", cfg["access_key"], cfg["secret_key"], lab.record
    )


def get_json(lab: Lab, url: str, what: str, *, login: str = "", help: str = "", **send: Any) -> Any:
    """GET a JSON document; anything else (HTML, garbage, an error code) is a Failure.

    `send`: headers or auth for the request; `login` names those credentials, so that a
    401/403 says they were refused. `help`: what to do when the answer is not JSON."""
    resp = lab.http.get(url, **send)
    if login and resp.status in (401, 403):
        raise Failure(
            f"GET {url} refused {login} (HTTP {resp.status}: {resp.text[:80]!r})",
            "The grader logs in with the lab's own credentials: keep them while grading runs.",
        )
    lab.require(resp.status == 200, f"GET {url} answered HTTP {resp.status} ({what})")
    require_whole(lab, resp)
    try:
        return resp.json()
    except ValueError:
        ctype = resp.headers.get("Content-Type", "?")
        raise Failure(
            f"GET {url} did not answer JSON ({ctype}: {resp.text[:80]!r}); expected {what}", help
        ) from None


def bucket_objects(lab: Lab) -> list[dict[str, Any]]:
    """Objects of the lab's bucket, through the instance's S3 API (MinIO) with lab.yaml's keys."""
    return lab_s3(lab).objects(lab.config["s3"]["bucket"])
