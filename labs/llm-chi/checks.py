"""Large-scale model training: the grader looks at both of the lab's GPU servers.

The single part runs on node-llm-single-<user> (one A100 80GB or H100): build llm-jupyter, run
it as the container jupyter with --gpus all on port 8888, and fine-tune BLIP-2 with
fine-tune-blip.py (and fine-tune-blip-lora.py) in it. The multi part runs on a second server,
node-llm-multi-<user> (four GPUs, its own lease), with the same container, training on four
GPUs at once (DDP, then FSDP). Each chain of checks observes its own server: the single checks
the single node, the multi checks the multi node; a part whose server is gone fails there.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from graders.checks import Host, Lab, check
from graders.errors import Failure
from graders.labkit.chameleon import lease_check, require_active_server, server_check
from graders.labkit.containers import containers, inspect_container
from graders.labkit.gpus import GpuProcess, gpu_processes, sample_gpus
from graders.labkit.instances import (
    course_key_check,
    login_check,
    require_cc_login,
    require_course_key,
)
from graders.probes.gpu import explain

# What fine-tune-blip.py and fine-tune-blip-lora.py print when a run finishes (on_train_end):
# the line a run leaves in the saved outputs of the notebook that ran it.
FINISHED_RUN = r"\[done\] train time: [0-9.]+ s \| peak memory: [0-9.]+ GB"
MAX_RUNS_READ = 1000


def part(lab: Lab, name: str) -> dict[str, Any]:
    """lab.yaml's settings for one part of the lab: `single` or `multi`."""
    return dict(lab.config[name])


def require_part_container(lab: Lab, name: str) -> str:
    """The part's container runs (its image, its port) with the GPUs attached: its name."""
    cfg = part(lab, name)
    running = containers(lab)
    wanted = cfg.get("container")
    if wanted:
        row = running.get(wanted)
        lab.require(
            row,
            f"container {wanted} is not running (running: {', '.join(sorted(running)) or 'none'})",
            f"Start it with `docker run ... --gpus all --name {wanted} {cfg['image']}:latest` "
            "as the lab shows.",
        )
    else:
        wanted, row = next(
            (
                (n, r)
                for n, r in running.items()
                if str(r.get("Image", "")).startswith(cfg["image"])
            ),
            ("", None),
        )
        lab.require(row, f"no container of image {cfg['image']} is running")
    assert row is not None
    lab.require(
        str(row.get("Image", "")).startswith(cfg["image"]),
        f"container {wanted} runs image {row.get('Image')!r}, not {cfg['image']}",
    )
    if cfg.get("port"):
        port = lab.port(cfg["port"])
        lab.require(
            f":{port}->" in str(row.get("Ports", "")),
            f"container {wanted} does not publish port {port}",
        )
    doc = inspect_container(lab, wanted)
    requests = (doc.get("HostConfig") or {}).get("DeviceRequests") or []
    lab.require(
        [r for r in requests if ["gpu"] in (r.get("Capabilities") or [])],
        f"container {wanted} has no GPUs attached",
        "Start it with `docker run --gpus all ...` as the lab shows.",
    )
    return wanted


def part_containers(lab: Lab, name: str) -> list[str]:
    """The running containers the part trains in: its named one, or those of its image."""
    cfg = part(lab, name)
    running = containers(lab)
    if cfg.get("container"):
        return [cfg["container"]] if cfg["container"] in running else []
    return [n for n, r in running.items() if str(r.get("Image", "")).startswith(cfg["image"])]


def training_processes(lab: Lab, name: str) -> tuple[list[GpuProcess], list[GpuProcess]]:
    """The GPU processes that are the part's training, run in its container, and the rest."""
    pattern = re.compile(part(lab, name)["training"])
    procs = gpu_processes(lab, part_containers(lab, name))
    training = [p for p in procs if p.container and pattern.search(p.args)]
    return training, [p for p in procs if p not in training]


def shown(procs: list[GpuProcess]) -> str:
    return "; ".join(p.shown() for p in procs[:8]) + ("; ..." if len(procs) > 8 else "")


# ---- the single part, on node-llm-single ------------------------------------------------
lease = lease_check(title="Lease llm_single_<netid> is ACTIVE")

server_active = server_check("Server node-llm-single-<user> is ACTIVE with a floating IP")


ssh_login = login_check(after=server_active, title="SSH as cc works (single node)")


@check(
    title="The jupyter container runs with the GPU attached (single node)",
    depends=[ssh_login],
    vantage="host",
)
def jupyter_container(lab: Lab) -> None:
    """On the single node, container jupyter (image llm-jupyter) publishes 8888 and was
    started with --gpus all."""
    require_part_container(lab, "single")


@check(title="nvidia-smi lists the single node's GPU", depends=[ssh_login], vantage="host")
def gpus_present(lab: Lab) -> None:
    """`nvidia-smi -L` on the single node answers and lists at least one GPU."""
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
    title="The lab's fine-tuning ran on the single node",
    depends=[ssh_login],
    vantage="host",
    timeout=45,
)
def single_training(lab: Lab) -> None:
    """The single part's runs finished (each leaves `[done] train time ...` in the saved
    outputs of the notebook under ~/llm-chi/single/workspace that ran it), or one runs now:
    a GPU process running fine-tune-blip*.py inside the jupyter container."""
    cfg = part(lab, "single")
    runs = 0
    if cfg.get("notebooks"):
        folder = "~/" + shlex.quote(cfg["notebooks"])
        result = lab.run(
            f"grep -rhoE --include='*.ipynb' --exclude-dir=.ipynb_checkpoints "
            f"'{FINISHED_RUN}' {folder} 2>/dev/null | head -n {MAX_RUNS_READ}"
        )
        runs = len([line for line in result.stdout.splitlines() if line.startswith("[done]")])
        lab.measure("single_runs_finished", runs)
        if runs:
            lab.note(f"{runs} finished run(s) in the saved notebook outputs under {folder}")
            return
    try:
        training, others = training_processes(lab, "single")
    except Failure as exc:
        training, others, why = [], [], f" ({exc.message})"
    else:
        why = f"; GPU processes: {shown(others)}" if others else ""
    lab.measure("training_processes", len(training))
    if training:
        lab.note(f"training now: {shown(training)}")
        return
    where = f"the notebooks under ~/{cfg['notebooks']} record" if cfg.get("notebooks") else ""
    raise Failure(
        (f"{where} no finished run, and " if where else "")
        + f"no GPU process is the lab's training ({cfg['training']}) in its container{why}",
        "Run the single-GPU experiments from the lab's notebook in the jupyter container, "
        "and save the notebook with its outputs.",
    )


course_key = course_key_check(after=server_active)


# ---- the multi part, on node-llm-multi ---------------------------------------------------
lease_multi = lease_check("lease_multi", "Lease llm_multi_<netid> is ACTIVE")


@check(title="Server node-llm-multi-<user> is ACTIVE with a floating IP")
def server_multi_active(lab: Lab) -> Host:
    """The multi part's server exists at a site the lab allows, Nova reports it ACTIVE, and it
    has a floating IP: the multi checks observe it."""
    return require_active_server(lab, "server_multi")


@check(title="SSH as cc works (multi node)", depends=[server_multi_active], vantage="host")
def ssh_login_multi(lab: Lab) -> None:
    """The multi node accepts the grader's key for user cc on port 22 (the student's own in a
    self-check, the course staff key in a staff run)."""
    require_cc_login(lab)


@check(
    title="The jupyter container runs with the GPUs attached (multi node)",
    depends=[ssh_login_multi],
    vantage="host",
)
def jupyter_container_multi(lab: Lab) -> None:
    """On the multi node, container jupyter (image llm-jupyter) publishes 8888 and was
    started with --gpus all."""
    require_part_container(lab, "multi")


@check(
    title="The multi node's GPUs are busy while training runs",
    depends=[ssh_login_multi],
    vantage="host",
    timeout=60,
)
def gpu_busy(lab: Lab) -> dict[str, Any]:
    """Once-a-second samples of utilization and memory, per GPU of the multi node, over a
    short window."""
    summary = sample_gpus(lab, int(lab.config["gpu"]["window_s"]))
    lab.require(summary.get("gpu_samples"), "no GPU sample could be read")
    return summary


@check(
    title="The GPU work is the lab's training, in the jupyter container",
    depends=[gpu_busy],
    vantage="host",
    timeout=45,
)
def gpu_training(lab: Lab) -> int:
    """`nvidia-smi --query-compute-apps` lists a process that runs fine-tune-blip*.py inside
    the jupyter container (`docker top jupyter` maps host pids to command lines); any other
    GPU work, a matmul loop in a notebook or a burner on the host, does not count. Returns
    how many such training processes there are (one per GPU in a DDP or FSDP run)."""
    cfg = part(lab, "multi")
    training, others = training_processes(lab, "multi")
    pids = {p.pid for p in training}  # a process on several GPUs is listed once per GPU
    lab.measure("training_processes", len(pids))
    lab.measure("other_gpu_processes", len({p.pid for p in others}))
    if training:
        lab.note(f"training: {shown(training)}" + (f"; also {shown(others)}" if others else ""))
    lab.require(
        training,
        f"no GPU process is the lab's training ({cfg['training']}) in its container"
        + (f"; GPU processes: {shown(others)}" if others else ": no process uses the GPUs"),
        "Run fine-tune-blip.py from the lab's notebook in the jupyter container while the "
        "grader looks.",
    )
    return len(pids)


@check(title="Several GPUs train together", depends=[gpu_busy, gpu_training])
def multi_gpu(lab: Lab, gpu_busy: dict[str, Any], gpu_training: int) -> None:
    """In at least one sample two or more GPUs were busy at the same moment, and two or more
    of the lab's training processes hold the GPUs (a DDP or FSDP run with devices > 1)."""
    together = gpu_busy.get("gpus_busy_together", 0)
    lab.measure("gpus_busy_together", together)
    lab.require(
        together >= 2,
        f"at most {together} GPU was busy at any one moment",
        "Train with devices > 1 (ddp or fsdp) while the grader looks.",
    )
    lab.require(
        gpu_training >= 2,
        f"{gpu_training} training process holds the GPUs: a run on one device",
        "Set devices to 4 and strategy to ddp or fsdp, as the lab's multi-GPU section does.",
    )


@check(
    title="The course staff key is in ~cc/.ssh/authorized_keys (multi node)",
    depends=[server_multi_active],
    vantage="host",
)
def course_key_multi(lab: Lab) -> None:
    """The course staff's public key is in cc's authorized_keys on the multi node too, so
    that staff can log in there and grade."""
    require_course_key(lab)
