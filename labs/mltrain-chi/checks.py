"""Training with Ray: the checks follow the lab.

Start the Ray cluster with docker compose (ray-head with the dashboard on 8265, ray-worker-0
and ray-worker-1 with one GPU each, MinIO), submit training jobs from Jupyter, and train with
Ray Train, which writes TorchTrainer checkpoints to the bucket ray.
"""

from __future__ import annotations

import json
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


@check(title="A training job SUCCEEDED", depends=[ray_dashboard])
def ray_jobs(lab: Lab) -> None:
    """The Jobs API lists the submitted jobs, and at least one SUCCEEDED."""
    jobs = get_json(lab, f"{_base(lab)}/api/jobs/", "the Jobs API's list of jobs")
    lab.require(isinstance(jobs, list), f"the Jobs API answered {type(jobs).__name__}, not a list")
    by_status: dict[str, int] = {}
    for j in jobs:
        status = str(j.get("status")) if isinstance(j, dict) else "?"
        by_status[status] = by_status.get(status, 0) + 1
    for status, n in by_status.items():
        lab.measure(f"jobs_{status.lower()}", n)
    lab.require(
        by_status.get("SUCCEEDED"),
        f"no SUCCEEDED job among {len(jobs)} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(by_status.items())) or 'none'})",
        "Submit the training job again and wait for it to finish (ray job status).",
    )


@check(title="TorchTrainer checkpoints are in the bucket ray", depends=[server_active])
def checkpoints(lab: Lab) -> None:
    """Ray Train stored checkpoints under TorchTrainer_* in MinIO's bucket ray."""
    cfg = lab.config["s3"]
    objects = bucket_objects(lab)
    ckpt = [o for o in objects if cfg["checkpoint_prefix"] in o["key"]]
    lab.measure("checkpoint_objects", len(ckpt))
    lab.require(
        ckpt,
        f"no {cfg['checkpoint_prefix']}* objects among {len(objects)} in bucket {cfg['bucket']}",
        "Run the Ray Train notebook with RunConfig(storage_path='s3://ray').",
    )


@check(title="The workers see their GPUs", depends=[ray_containers], vantage="host")
def worker_gpus(lab: Lab) -> None:
    """Inside ray-worker-0, nvidia-smi (or rocm-smi on AMD) lists a GPU."""
    tool = gpu_tool(lab)
    result = lab.run(f"docker exec ray-worker-0 {_GPU_LIST[tool]}")
    if not result.ok and _not_found(result.stdout + result.stderr):
        # The lab runs on NVIDIA (compute_liqid) or AMD (gpu_mi100) nodes: try the other tool.
        tool = "rocm" if tool == "nvidia" else "nvidia"
        result = lab.run(f"docker exec ray-worker-0 {_GPU_LIST[tool]}")
    lab.require(
        result.ok,
        "in ray-worker-0: " + explain(tool, result.exited, result.stdout + result.stderr),
    )
    if tool == "nvidia":
        gpus = [x for x in result.stdout.splitlines() if x.startswith("GPU ")]
    else:
        try:
            gpus = [k for k in json.loads(result.stdout) if k.startswith("card")]
        except (json.JSONDecodeError, AttributeError):
            raise Failure(
                f"rocm-smi in ray-worker-0 did not print JSON: {result.stdout[:80]!r}"
            ) from None
    lab.measure("worker_gpus", len(gpus))
    lab.measure("gpu_tool", tool)
    lab.require(gpus, "ray-worker-0 lists no GPU")


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
