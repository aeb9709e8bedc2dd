"""Large-scale model training: the grader looks while the student's fine-tuning runs.

Launch node-llm-single-<user> (an A100 or H100 node), build llm-jupyter and run it as the
container jupyter with --gpus all on port 8888, then train: the GPUs must be busy. The multi-GPU
part of the lab trains on several GPUs at once.
"""

from __future__ import annotations

from typing import Any

from graders.checks import Lab, check
from graders.labkit.chameleon import server_check
from graders.labkit.containers import inspect_container, require_containers
from graders.labkit.gpus import sample_gpus
from graders.labkit.instances import course_key_check, login_check
from graders.probes.gpu import explain

server_active = server_check("Server node-llm-single-<user> is ACTIVE with a floating IP")


ssh_login = login_check(after=server_active)


@check(
    title="The jupyter container runs with the GPUs attached", depends=[ssh_login], vantage="host"
)
def jupyter_container(lab: Lab) -> None:
    """Container jupyter (image llm-jupyter) publishes 8888 and was started with --gpus all."""
    cfg = lab.config["jupyter"]
    row = require_containers(lab, [cfg["container"]])[cfg["container"]]
    lab.require(
        str(row.get("Image", "")).startswith(cfg["image"]),
        f"container {cfg['container']} runs image {row.get('Image')!r}, not {cfg['image']}",
    )
    lab.require(
        f":{lab.port('jupyter')}->" in str(row.get("Ports", "")),
        f"container {cfg['container']} does not publish port {lab.port('jupyter')}",
    )
    doc = inspect_container(lab, cfg["container"])
    requests = (doc.get("HostConfig") or {}).get("DeviceRequests") or []
    gpus = [r for r in requests if ["gpu"] in (r.get("Capabilities") or [])]
    lab.require(
        gpus,
        f"container {cfg['container']} has no GPUs attached",
        "Start it with `docker run --gpus all ...` as the lab shows.",
    )


@check(title="nvidia-smi lists the node's GPUs", depends=[ssh_login], vantage="host")
def gpus_present(lab: Lab) -> None:
    """`nvidia-smi -L` answers and lists at least one GPU."""
    result = lab.run("nvidia-smi -L")
    lab.require(result.ok, explain("nvidia", result.exited, result.stdout + result.stderr))
    gpus = [line for line in result.stdout.splitlines() if line.startswith("GPU ")]
    lab.measure("gpu_count", len(gpus))
    lab.measure(
        "gpu_names",
        "; ".join(sorted({g.split(": ", 1)[1].split(" (UUID")[0] for g in gpus if ": " in g})),
    )
    lab.require(gpus, "nvidia-smi lists no GPU")


@check(
    title="The GPUs are busy while training runs",
    depends=[gpus_present],
    vantage="host",
    timeout=60,
)
def gpu_busy(lab: Lab) -> dict[str, Any]:
    """Once-a-second samples of utilization and memory, per GPU, over a short window."""
    summary = sample_gpus(lab, int(lab.config["gpu"]["window_s"]))
    lab.require(summary.get("gpu_samples"), "no GPU sample could be read")
    return summary


@check(title="Several GPUs are busy together", depends=[gpu_busy])
def multi_gpu(lab: Lab, gpu_busy: dict[str, Any]) -> None:
    """In at least one sample, two or more GPUs were busy at the same moment (multi-GPU part)."""
    together = gpu_busy.get("gpus_busy_together", 0)
    lab.measure("gpus_busy_together", together)
    lab.require(
        together >= 2,
        f"at most {together} GPU was busy at any one moment",
        "Train with devices > 1 (ddp or fsdp) while the grader looks.",
    )


course_key = course_key_check(after=server_active)
