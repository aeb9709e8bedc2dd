"""A stand-in for the Ray 2.54 dashboard (port 8265) of the mltrain-chi cluster.

No Ray can run here (its head alone is a GCS server, a raylet and a dashboard of several
processes, and the lab's workers need GPUs), so this answers the dashboard's REST endpoints a
grader uses, with the bodies Ray 2.54 builds (ray `python/ray/dashboard`):
* `GET /api/version` (job_head.py): `{"version": "4", "ray_version", "ray_commit",
  "session_name"}`;
* `GET /api/jobs/` (job_head.py `list_jobs`): a JSON list of JobDetails (pydantic_models.py):
  `type`, `job_id`, `submission_id`, `driver_info`, `status`, `entrypoint`, `message`,
  `error_type`, `start_time`, `end_time`, `metadata`, `runtime_env`,
  `driver_agent_http_address`, `driver_node_id`, `driver_exit_code`; `GET
  /api/jobs/{submission_id or job_id}` one of them, or 404 text `Job X does not exist`.
  Note the trailing slash: `/api/jobs` (no slash) is aiohttp's 404, as on a real head.
  Submission jobs come first, then DRIVER jobs (a script that called `ray.init()` on the
  cluster: no submission_id, SUCCEEDED once the driver is dead; utils.py `get_driver_jobs`);
* `GET /api/jobs/{id}/logs` (job_head.py `get_job_logs`): `{"logs": "..."}` for a submission
  job, 400 text `Can only get logs of submission type jobs` for a driver job;
* `GET /api/v0/nodes` (state API, state_head.py + state_api_utils.py): `{"result": true, "msg":
  "", "data": {"result": ListApiResponse}}` where ListApiResponse is `{"total",
  "num_after_truncation", "num_filtered", "result": [NodeState], "partial_failure_warning",
  "warnings"}` and NodeState is `node_id, node_ip, is_head_node, state (ALIVE|DEAD),
  state_message, node_name, resources_total, labels` (+ `start_time_ms`, `end_time_ms` with
  `detail=1`). Dead nodes stay listed (GCS keeps them), so a cluster with a stopped worker shows it
  DEAD. `filter_keys`/`filter_predicates`/`filter_values` and `limit` work as there;
* `GET /` the dashboard's HTML; anything else aiohttp's `404: Not Found`.
The cluster itself (nodes, jobs, logs) is data in the host's state (built by training.py).

`RayPrometheus` stands in for the Prometheus that `ray metrics launch-prometheus` downloads
(the latest release, 3.x in 2026) and runs in ray-head on 9090: `/-/ready`, `/-/healthy`,
`/api/v1/status/buildinfo`, Prometheus's texts and JSON (tests compare them with a real
Prometheus), and Go's `404 page not found` elsewhere.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .serve import TrackedHTTPServer
from .shared import stable_hex

Json = dict[str, Any]
PORT = 8265
SERVER = "Python/3.12 aiohttp/3.11.18"
NODE_COLUMNS = (
    "node_id",
    "node_ip",
    "is_head_node",
    "state",
    "state_message",
    "node_name",
    "resources_total",
    "labels",
)
NODE_DETAIL_COLUMNS = ("start_time_ms", "end_time_ms")
NODE_FILTERABLE = ("node_id", "node_ip", "is_head_node", "state", "node_name")
INDEX = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"/>'
    '<link rel="shortcut icon" href="./favicon.ico"/>'
    '<meta name="viewport" content="width=device-width,initial-scale=1"/>'
    '<meta name="theme-color" content="#000000"/><title>Ray Dashboard</title>'
    '<script defer="defer" src="./static/js/main.js"></script>'
    '<link href="./static/css/main.css" rel="stylesheet"></head><body>'
    "<noscript>You need to enable JavaScript to run this app.</noscript>"
    '<div id="root"></div></body></html>'
)


class RayDashboard(TrackedHTTPServer):
    def __init__(self, address: str, cluster: Json) -> None:
        super().__init__((address, PORT), _Handler)
        self.cluster = cluster


def list_nodes(nodes: list[Json], query: dict[str, list[str]]) -> tuple[int, Json]:
    """The state API's list_nodes answer for `query` (status code, body)."""
    detail = query.get("detail", ["false"])[-1].lower() in ("1", "true", "yes")
    try:
        limit = int(query.get("limit", ["100"])[-1])
    except ValueError:
        return 500, {"result": False, "msg": "invalid limit", "data": {}}
    if limit > 10000:
        message = (
            f"Given limit {limit} exceeds the supported limit 10000. Use a lower limit, or set "
            "the `RAY_MAX_LIMIT_FROM_API_SERVER` environment variable to a larger value."
        )
        return 400, {"result": False, "msg": message, "data": {"result": None}}
    keys = query.get("filter_keys", [])
    predicates = query.get("filter_predicates", [])
    values = query.get("filter_values", [])
    selected = []
    for node in nodes:
        keep = True
        for key, predicate, value in zip(keys, predicates, values, strict=False):
            key = key.lower()
            if key not in NODE_FILTERABLE:
                message = (
                    f"The given filter column {key} is not supported. Enter filters with "
                    "–-filter key=value or –-filter key!=value Supported filter columns: "
                    f"{set(NODE_FILTERABLE)}"
                )
                return 400, {"result": False, "msg": message, "data": {"result": None}}
            have = node.get(key)
            if isinstance(have, bool):
                equal = have == (value.lower() in ("1", "true", "yes"))
            else:
                equal = str(have).lower() == value.lower()
            if predicate == "=":
                keep = keep and equal
            elif predicate == "!=":
                keep = keep and not equal
            else:
                message = (
                    f"Unsupported filter predicate {predicate} is given. Available predicates: "
                    "=, !=."
                )
                return 400, {"result": False, "msg": message, "data": {"result": None}}
        if keep:
            columns = NODE_COLUMNS + (NODE_DETAIL_COLUMNS if detail else ())
            selected.append({c: node.get(c) for c in columns})
    body = {
        "total": len(nodes),
        "num_after_truncation": len(nodes),
        "num_filtered": len(selected),
        "result": selected[:limit],
        "partial_failure_warning": "",
        "warnings": None,
    }
    return 200, {"result": True, "msg": "", "data": {"result": body}}


def _find_job(jobs: list[Json], wanted: str) -> Json | None:
    for job in jobs:
        if wanted in (job["submission_id"], job["job_id"]):
            return job
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: RayDashboard

    def log_message(self, *args: object) -> None:
        pass

    def version_string(self) -> str:
        return SERVER

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, body: Any) -> None:
        self._send(code, json.dumps(body).encode(), "application/json; charset=utf-8")

    def _text(self, code: int, text: str) -> None:
        self._send(code, text.encode(), "text/plain; charset=utf-8")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        cluster = self.server.cluster
        if path == "/api/version":
            return self._json(200, cluster["version"])
        if path == "/api/jobs/":
            return self._json(200, cluster["jobs"])
        if path.startswith("/api/jobs/") and path.count("/") == 3:
            wanted = path.rsplit("/", 1)[1]
            found = _find_job(cluster["jobs"], wanted)
            if found is None:
                return self._text(404, f"Job {wanted} does not exist")
            return self._json(200, found)
        if path.startswith("/api/jobs/") and path.endswith("/logs") and path.count("/") == 4:
            wanted = path.split("/")[3]
            found = _find_job(cluster["jobs"], wanted)
            if found is None:
                return self._text(404, f"Job {wanted} does not exist")
            if found["type"] != "SUBMISSION":
                return self._text(400, "Can only get logs of submission type jobs")
            logs = cluster.get("logs", {}).get(found["submission_id"], "")
            return self._json(200, {"logs": logs})
        if path == "/api/v0/nodes":
            return self._json(*list_nodes(cluster["nodes"], query))
        if path in ("/", "/index.html"):
            return self._send(200, INDEX.encode(), "text/html")
        self._text(404, "404: Not Found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        path = urlsplit(self.path).path
        if path == "/api/jobs/":
            # This cluster takes no new work: a submission is refused as by a head whose job
            # agents are gone.
            return self._text(500, "No available agent to submit job, please try again later.")
        if path in ("/api/version", "/api/v0/nodes", "/") or path.startswith("/api/jobs/"):
            return self._text(405, "405: Method Not Allowed")
        self._text(404, "404: Not Found")


# ---- the cluster a student's compose file makes ----------------------------------------------
RAY_VERSION = "2.54.0"
AGENT_PORT = 52365  # the dashboard agent's HTTP port on every node
ENTRYPOINT = "python gourmetgram-train/train.py"
RUNTIME_PIP = ["torch", "torchvision", "lightning", "boto3", "s3fs"]


def epoch_ms(when: Any) -> int:
    """A datetime as milliseconds since the epoch (Ray's and MLflow's timestamps)."""
    return int(when.timestamp() * 1000)


def nodes(
    key: str,
    ips: dict[str, str],
    started: Any,
    accelerator: str,
    dead: dict[str, Any] | None = None,
) -> list[Json]:
    """NodeState of the head and the two GPU workers (`ips`: container name -> IP). `dead`:
    container name -> when it was stopped (its node is then DEAD, as after `docker stop`)."""
    dead = dead or {}
    result = []
    for i, (name, ip) in enumerate(ips.items()):
        head = name == "ray-head"
        node_id = stable_hex(key, "node", name, n=56)
        resources: Json = {
            "CPU": 4.0 if head else 32.0,
            "memory": 96636764160.0 if head else 173946175488.0,
            "object_store_memory": 12884901888.0 - 1024.0 * (i + 1) * 997,
            f"node:{ip}": 1.0,
        }
        labels = {"ray.io/node-id": node_id}
        if head:
            resources["node:__internal_head__"] = 1.0
        else:
            resources["GPU"] = 1.0
            resources[f"accelerator_type:{accelerator}"] = 1.0
            labels["ray.io/accelerator-type"] = accelerator
        stopped = dead.get(name)
        result.append(
            {
                "node_id": node_id,
                "node_ip": ip,
                "is_head_node": head,
                "state": "DEAD" if stopped else "ALIVE",
                "state_message": "Expected termination: received SIGTERM" if stopped else None,
                "node_name": ip,
                "resources_total": dict(sorted(resources.items())),
                "labels": labels,
                "start_time_ms": epoch_ms(started) + 1500 * i + 37,
                "end_time_ms": epoch_ms(stopped) if stopped else 0,
            }
        )
    return result


def job(
    key: str,
    n: int,
    status: str,
    start: Any,
    end: Any | None,
    driver_node: Json | None,
    num_gpus: float | None = None,
    num_cpus: float | None = None,
    failure: str | None = None,
    entrypoint: str = ENTRYPOINT,
) -> Json:
    """One JobDetails as `ray job submit --runtime-env runtime.json --working-dir . -- python
    gourmetgram-train/train.py` leaves it (`n`: the submission's order in the cluster), or
    `ray job submit -- <entrypoint>`."""
    import random

    rng = random.Random(f"{key}:job:{n}")
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz123456789"
    submission_id = "raysubmit_" + "".join(rng.choice(alphabet) for _ in range(16))
    started_driver = status != "PENDING" and failure != "start_timeout"
    job_id = f"{n + 1:02x}000000" if started_driver else None
    message = {
        "SUCCEEDED": "Job finished successfully.",
        "RUNNING": "Job is currently running.",
        "STOPPED": "Job was intentionally stopped.",
    }.get(status)
    error_type = exit_code = None
    if status == "PENDING":
        message = "Job has not started yet."
        if num_gpus or num_cpus:
            message += (
                " It may be waiting for resources (CPUs, GPUs, memory, custom resources) to "
                "become available."
            )
        message += " It may be waiting for the runtime environment to be set up."
    elif status == "SUCCEEDED":
        exit_code = 0
    elif failure == "start_timeout":
        message = (
            "Job supervisor actor failed to start within 900.0 seconds. This timeout can be "
            "configured by setting the environment variable RAY_JOB_START_TIMEOUT_SECONDS. This "
            "may be because the job entrypoint's specified resources (entrypoint_num_cpus, "
            "entrypoint_num_gpus, entrypoint_resources, entrypoint_memory)aren't available on "
            "the cluster. Try checking the cluster's available resources with `ray status` and "
            "specifying fewer resources for the job entrypoint."
        )
        error_type = "JOB_SUPERVISOR_ACTOR_START_TIMEOUT"
    elif status == "FAILED":
        message = (
            "Job entrypoint command failed with exit code 1, last available logs (truncated "
            "to 20,000 chars):\n" + (failure or "")
        )
        error_type, exit_code = "JOB_ENTRYPOINT_COMMAND_ERROR", 1
    working_dir = "gcs://_ray_pkg_" + stable_hex(key, "pkg", str(n // 3), n=16) + ".zip"
    return {
        "type": "SUBMISSION",
        "job_id": job_id,
        "submission_id": submission_id,
        "driver_info": (
            {
                "id": job_id,
                "node_ip_address": driver_node["node_ip"],
                "pid": str(rng.randrange(300, 4000)),
            }
            if job_id and driver_node
            else None
        ),
        "status": status,
        "entrypoint": entrypoint,
        "message": message,
        "error_type": error_type,
        "start_time": epoch_ms(start),
        "end_time": epoch_ms(end) if end is not None else None,
        "metadata": {},
        "runtime_env": {
            "working_dir": working_dir,
            "pip": {"packages": list(RUNTIME_PIP), "pip_check": False},
            "env_vars": {"FOOD11_DATA_DIR": "/mnt/Food-11"},
        },
        "driver_agent_http_address": (
            f"http://{driver_node['node_ip']}:{AGENT_PORT}" if job_id and driver_node else None
        ),
        "driver_node_id": driver_node["node_id"] if job_id and driver_node else None,
        "driver_exit_code": exit_code,
    }


def driver_job(key: str, n: int, entrypoint: str, start: Any, end: Any, node: Json) -> Json:
    """A DRIVER job: a script run on the cluster that called `ray.init()` (not submitted),
    e.g. `docker exec ray-head python -c "import ray; ray.init()"`; `entrypoint` is its
    command line (list2cmdline of the process's argv). SUCCEEDED once the driver exited."""
    job_id = f"{n + 1:02x}000000"
    return {
        "type": "DRIVER",
        "job_id": job_id,
        "submission_id": None,
        "driver_info": {
            "id": job_id,
            "node_ip_address": node["node_ip"],
            "pid": str(int(stable_hex(key, "driver", str(n), n=4), 16) % 3700 + 300),
        },
        "status": "SUCCEEDED" if end is not None else "RUNNING",
        "entrypoint": entrypoint,
        "message": None,
        "error_type": None,
        "start_time": epoch_ms(start),
        "end_time": epoch_ms(end) if end is not None else 0,
        "metadata": {},
        "runtime_env": {},
        "driver_agent_http_address": None,
        "driver_node_id": None,
        "driver_exit_code": None,
    }


def version(key: str, started: Any) -> Json:
    stamp = started.strftime("%Y-%m-%d_%H-%M-%S")
    micro = int(stable_hex(key, "session", n=5), 16) % 1000000
    return {
        "version": "4",
        "ray_version": RAY_VERSION,
        "ray_commit": stable_hex("ray", RAY_VERSION, n=40),  # a stand-in: 40 hex digits, not Ray's
        "session_name": f"session_{stamp}_{micro:06d}_1",
    }


# ---- ray-head's Prometheus (port 9090) -------------------------------------------------------
PROMETHEUS_PORT = 9090
PROMETHEUS_VERSION = "3.5.0"  # the release `ray metrics launch-prometheus` fetched


def prometheus_buildinfo() -> Json:
    return {
        "status": "success",
        "data": {
            "version": PROMETHEUS_VERSION,
            "revision": stable_hex("prometheus", PROMETHEUS_VERSION, n=40),  # a stand-in
            "branch": "HEAD",
            "buildUser": "root@4e1a8a2b1c3d",
            "buildDate": "20250714-16:15:23",
            "goVersion": "go1.24.5",
        },
    }


class RayPrometheus(TrackedHTTPServer):
    def __init__(self, address: str) -> None:
        super().__init__((address, PROMETHEUS_PORT), _PrometheusHandler)


class _PrometheusHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes, content_type: str, *extra: tuple[str, str]) -> None:
        self.send_response_only(code)  # Go's net/http sends no Server header
        self.send_header("Content-Type", content_type)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        text = "text/plain; charset=utf-8"
        if path == "/-/ready":
            return self._send(200, b"Prometheus Server is Ready.\n", text)
        if path == "/-/healthy":
            return self._send(200, b"Prometheus Server is Healthy.\n", text)
        if path == "/api/v1/status/buildinfo":
            body = json.dumps(prometheus_buildinfo(), separators=(",", ":")).encode()
            return self._send(200, body, "application/json")
        if path == "/":
            return self._send(
                302,
                b'<a href="/query">Found</a>.\n\n',
                "text/html; charset=utf-8",
                ("Location", "/query"),
            )
        self._send(404, b"404 page not found\n", text, ("X-Content-Type-Options", "nosniff"))
