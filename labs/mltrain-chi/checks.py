"""Training with Ray: the checks follow the lab.

Start the Ray cluster with docker compose (ray-head with the dashboard on 8265 and Prometheus on
9090, Grafana on 3000, ray-worker-0 and ray-worker-1 with one GPU each, MinIO), submit
`python gourmetgram-train/train.py` jobs from Jupyter, and train with Ray Train and Tune, which
write checkpoints to the bucket ray (Ray 2.54: Train V2's layout by default).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from graders.checks import Lab, check
from graders.errors import Failure
from graders.labkit.apis import get_json
from graders.labkit.chameleon import lease_check, server_check
from graders.labkit.containers import require_containers
from graders.labkit.gpus import gpu_tool
from graders.labkit.instances import course_key_check, login_check
from graders.labkit.objectstores import bucket_objects
from graders.probes.gpu import explain

lease = lease_check(title="Lease mltrain_<netid> is ACTIVE")

server_active = server_check("Server node-mltrain-<user> is ACTIVE with a floating IP")


ssh_login = login_check(after=server_active)


@check(title="ray-head and both workers are running", depends=[ssh_login], vantage="host")
def ray_containers(lab: Lab) -> None:
    """The containers ray-head, ray-worker-0 and ray-worker-1 are up."""
    require_containers(lab, lab.config["containers"])


@check(title="The Ray dashboard answers on port 8265", depends=[server_active])
def ray_dashboard(lab: Lab) -> None:
    """`GET /api/version` of the dashboard names the Ray version."""
    doc = get_json(lab, f"{_base(lab)}/api/version", "Ray's version document")
    lab.require(
        isinstance(doc, dict) and doc.get("ray_version"),
        f"the dashboard's /api/version has no ray_version: {str(doc)[:120]}",
    )
    lab.measure("ray_version", str(doc["ray_version"]))


@check(title="The cluster has a head and two alive workers", depends=[ray_dashboard])
def ray_cluster(lab: Lab) -> None:
    """The state API lists the head node and the two workers, all ALIVE."""
    nodes = _nodes(lab)
    alive = [n for n in nodes if n.get("state") == "ALIVE"]
    heads = [n for n in alive if n.get("is_head_node")]
    lab.measure("nodes_alive", len(alive))
    want = lab.config["workers"]
    lab.require(heads, f"no alive head node among {len(nodes)} nodes")
    lab.require(
        len(alive) - len(heads) >= want,
        f"{len(alive) - len(heads)} alive worker node(s), expected {want}",
        "Check `docker logs ray-worker-N`: a worker that cannot reach the head dies.",
    )


@check(title="A submitted training job (python .../train.py) SUCCEEDED", depends=[ray_dashboard])
def ray_jobs(lab: Lab) -> None:
    """The Jobs API lists a job submitted with `ray job submit ... -- python
    gourmetgram-train/train.py` (type SUBMISSION, the entrypoint runs the lab's train.py) that
    SUCCEEDED. Other jobs (`ray job submit -- true`, drivers that called ray.init()) do not
    count."""
    jobs = get_json(lab, f"{_base(lab)}/api/jobs/", "the Jobs API's list of jobs")
    lab.require(isinstance(jobs, list), f"the Jobs API answered {type(jobs).__name__}, not a list")
    script = lab.config["entry_script"]
    by_status: dict[str, int] = {}
    training: dict[str, int] = {}
    for j in jobs:
        status = str(j.get("status")) if isinstance(j, dict) else "?"
        by_status[status] = by_status.get(status, 0) + 1
        if isinstance(j, dict) and j.get("type") == "SUBMISSION":
            if runs_script(j.get("entrypoint"), script):
                training[status] = training.get(status, 0) + 1
    for status, n in by_status.items():
        lab.measure(f"jobs_{status.lower()}", n)
    lab.measure("training_jobs", sum(training.values()))
    lab.measure("training_jobs_succeeded", training.get("SUCCEEDED", 0))
    lab.require(
        training.get("SUCCEEDED"),
        f"no submitted `python .../{script}` job SUCCEEDED: {sum(training.values())} such "
        f"job(s) ({_counts(training)}) among {len(jobs)} ({_counts(by_status)})",
        f"Submit the training job: `ray job submit --runtime-env runtime.json "
        f"--entrypoint-num-gpus 1 --entrypoint-num-cpus 8 --working-dir . -- python "
        f"gourmetgram-train/{script}`, and let it finish (ray job status).",
    )


def runs_script(entrypoint: object, script: str) -> bool:
    """Whether a job's entrypoint (the shell command `ray job submit -- ...` was given) runs
    `script` with Python: `python gourmetgram-train/train.py`, `python3 -u ./train.py`,
    `cd gourmetgram-train && python train.py`."""
    if not isinstance(entrypoint, str):
        return False
    try:
        words = shlex.split(entrypoint)
    except ValueError:
        return False
    for i, word in enumerate(words):
        if re.fullmatch(r"python(\d+(\.\d+)?)?", word.rsplit("/", 1)[-1]):
            args = [w for w in words[i + 1 :] if not w.startswith("-")]
            if args and args[0].rsplit("/", 1)[-1] == script:
                return True
    return False


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


# Where Ray 2.54 puts a run's checkpoints under RunConfig(storage_path="s3://ray"):
# * Train V2 (the default): <run>/checkpoint_<%Y-%m-%d_%H-%M-%S.%f>/checkpoint.ckpt, the run
#   named ray_train_run-<date> unless RunConfig(name=...) says otherwise;
# * Train V1 (RAY_TRAIN_V2_ENABLED=0) and Tune: <experiment>/<trial>/checkpoint_<6 digits>/...,
#   e.g. TorchTrainer_<date>/TorchTrainer_<id>_00000_0_<date>/ and train_func_<date>/
#   train_func_<id>_<n>_<params>_<date>/.
_V2_CHECKPOINT = re.compile(
    r"(?:^|/)(?P<run>[^/]+)/checkpoint_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(?:\.\d+)?/[^/]"
)
_TRIAL_CHECKPOINT = re.compile(r"(?:^|/)(?P<run>[^/]+)/[^/]+/checkpoint_\d{6}/[^/]")


def checkpoint_run(key: str) -> tuple[str, str] | None:
    """(layout, run folder) of a file inside a checkpoint of Ray Train (V2 or V1) or Tune."""
    if m := _V2_CHECKPOINT.search(key):
        return "train_v2", m["run"]
    if m := _TRIAL_CHECKPOINT.search(key):
        return ("train_v1" if m["run"].startswith("TorchTrainer_") else "tune"), m["run"]
    return None


@check(title="Ray Train checkpoints are in the bucket ray", depends=[server_active])
def checkpoints(lab: Lab) -> None:
    """Ray Train (or Tune) stored checkpoints in MinIO's bucket ray, in one of Ray 2.54's
    layouts: `<run>/checkpoint_<date>/` (Train V2, the default), `<experiment>/<trial>/
    checkpoint_000000/` (Train V1's TorchTrainer_*, Tune's train_func_*)."""
    cfg = lab.config["s3"]
    objects = bucket_objects(lab)
    runs: dict[str, set[str]] = {}
    files = 0
    for o in objects:
        found = checkpoint_run(o["key"])
        if found:
            files += 1
            runs.setdefault(found[0], set()).add(found[1])
    lab.measure("checkpoint_objects", files)
    for layout in ("train_v2", "train_v1", "tune"):
        lab.measure(f"{layout}_runs", len(runs.get(layout, ())))
    lab.require(
        files,
        f"no checkpoint (<run>/checkpoint_<date>/... or <experiment>/<trial>/checkpoint_NNNNNN/"
        f"...) among {len(objects)} objects in bucket {cfg['bucket']}",
        "Run the Ray Train version of train.py (RunConfig(storage_path='s3://ray')) with "
        "`ray job submit`, and let it save a checkpoint.",
    )


@check(title="Ray's Grafana answers on port 3000", depends=[server_active])
def ray_grafana(lab: Lab) -> None:
    """The compose file's `grafana` (Ray's dashboards): `GET /api/health` is Grafana's health
    document, its database ok."""
    url = f"http://{lab.address}:{lab.port('grafana')}/api/health"
    doc = get_json(lab, url, "Grafana's health document")
    lab.require(
        isinstance(doc, dict) and isinstance(doc.get("version"), str) and "database" in doc,
        f"GET {url} is not Grafana's health document: {str(doc)[:120]}",
    )
    lab.measure("grafana_version", doc["version"])
    lab.require(
        doc["database"] == "ok",
        f"Grafana's database is {doc['database']!r}, not ok",
        "Check `docker logs grafana`.",
    )


@check(title="Ray's Prometheus answers on port 9090", depends=[server_active])
def ray_prometheus(lab: Lab) -> None:
    """The Prometheus that `ray metrics launch-prometheus` runs in ray-head: `GET
    /api/v1/status/buildinfo` is Prometheus's build information."""
    url = f"http://{lab.address}:{lab.port('prometheus')}/api/v1/status/buildinfo"
    doc = get_json(lab, url, "Prometheus's build information")
    data = doc.get("data") if isinstance(doc, dict) else None
    lab.require(
        isinstance(doc, dict)
        and doc.get("status") == "success"
        and isinstance(data, dict)
        and isinstance(data.get("version"), str),
        f"GET {url} is not Prometheus's build information: {str(doc)[:120]}",
    )
    assert isinstance(data, dict)  # for mypy: required above
    lab.measure("prometheus_version", data["version"])


@check(title="Both workers see their GPU", depends=[ray_containers], vantage="host")
def worker_gpus(lab: Lab) -> None:
    """Inside ray-worker-0 and ray-worker-1, nvidia-smi (or rocm-smi on AMD) lists a GPU."""
    tool = gpu_tool(lab)
    counts: dict[str, int] = {}
    problems = []
    for worker in lab.config["gpu_workers"]:
        result = lab.run(f"docker exec {worker} {_GPU_LIST[tool]}")
        if not result.ok and _not_found(result.stdout + result.stderr) and not counts:
            # The lab runs on NVIDIA (compute_liqid) or AMD (gpu_mi100) nodes: try the other.
            other = "rocm" if tool == "nvidia" else "nvidia"
            retry = lab.run(f"docker exec {worker} {_GPU_LIST[other]}")
            if retry.ok or not _not_found(retry.stdout + retry.stderr):
                tool, result = other, retry
        if not result.ok:
            problems.append(
                f"in {worker}: " + explain(tool, result.exited, result.stdout + result.stderr)
            )
            counts[worker] = 0
            continue
        counts[worker] = len(_gpus(tool, worker, result.stdout))
        if not counts[worker]:
            problems.append(f"{worker} lists no GPU")
    for worker, n in counts.items():
        lab.measure(f"gpus_{worker.replace('-', '_')}", n)
    lab.measure("worker_gpus", sum(counts.values()))
    lab.measure("gpu_tool", tool)
    lab.require(
        not problems,
        "; ".join(problems),
        "Each worker gets one GPU from the compose file (device_ids 0 and 1, or renderD128 "
        "and renderD129): start the cluster with the lab's compose file.",
    )


def _gpus(tool: str, worker: str, out: str) -> list[str]:
    if tool == "nvidia":
        return [x for x in out.splitlines() if x.startswith("GPU ")]
    try:
        return [k for k in json.loads(out) if k.startswith("card")]
    except (json.JSONDecodeError, AttributeError, TypeError):
        raise Failure(f"rocm-smi in {worker} did not print JSON: {out[:80]!r}") from None


_GPU_LIST = {"nvidia": "nvidia-smi -L", "rocm": "rocm-smi --showuse --json"}


def _not_found(text: str) -> bool:
    return "executable file not found" in text or "command not found" in text


# --- helpers ----------------------------------------------------------------------------------
def _base(lab: Lab) -> str:
    return f"http://{lab.address}:{lab.port('dashboard')}"


def _nodes(lab: Lab) -> list[dict[str, Any]]:
    """Nodes from the state API (`/api/v0/nodes`), or the older `/nodes?view=summary`."""
    resp = lab.http.get(f"{_base(lab)}/api/v0/nodes")
    if resp.status == 200:
        try:
            return list(resp.json()["data"]["result"]["result"])
        except (ValueError, KeyError, TypeError):
            raise Failure(
                f"the state API's node list has an unexpected shape: {resp.text[:120]!r}"
            ) from None
    doc = get_json(lab, f"{_base(lab)}/nodes?view=summary", "the dashboard's node summary")
    try:
        rows = doc["data"]["summary"]
        return [
            {"state": r["raylet"]["state"], "is_head_node": r["raylet"].get("isHeadNode")}
            for r in rows
        ]
    except (KeyError, TypeError):
        raise Failure(f"the node summary has an unexpected shape: {str(doc)[:120]}") from None


course_key = course_key_check(after=server_active)
