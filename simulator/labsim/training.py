"""The training labs' instances: mlflow-chi (`node-mlflow-{USER}`) and mltrain-chi
(`node-mltrain-{USER}`), bare-metal GPU servers at CHI@TACC.

What each one holds is what the lab's compose file and notebooks leave behind:
* mlflow-chi (compose project `tracking_service`): containers `minio` (S3 on 9000), `postgres`,
  `mlflow` (8000), the exited `minio-create-bucket`, and `jupyter` (a plain `docker run`: no
  compose labels). Port 8000 is a real MLflow server (mlflowsim.py) whose experiment
  `food11-classifier` holds the runs train.py logged (params, per-epoch and system metrics,
  `gpu-info.txt`, logged models), the Lightning autolog runs, and the registered models `food11`
  (made in the UI) and `food11-staging` (the API notebook: the best test_accuracy, Lightning's
  run); port 9000 a real S3 API (s3sim.py) whose bucket
  `mlflow-artifacts` holds what MLflow wrote there.
* mltrain-chi (compose project `ray_cluster`): `minio`, `minio-create-bucket`, `ray-head`,
  `grafana`, `ray-worker-0` and `ray-worker-1` (compose services `ray-worker-1` and
  `ray-worker-2` on NVIDIA: the lab's file names them so), and `jupyter`; the Ray dashboard
  stand-in on 8265 (ray.py) with the lab's jobs, in order, S3 on 9000 whose bucket `ray`
  holds the Ray Train and Tune runs' checkpoints in Ray 2.54's layouts (Train V2, its default:
  `ray_train_run-<date>/checkpoint_<date>/checkpoint.ckpt`; Tune: `train_func_<date>/
  train_func_<id>_<n>_<params>_<date>/checkpoint_00000N/checkpoint`; Train V1's
  `TorchTrainer_*` only where RAY_TRAIN_V2_ENABLED=0), Grafana's API stand-in on 3000
  (grafana.py) and ray-head's Prometheus stand-in on 9090 (ray.py).
* `docker exec ray-worker-N nvidia-smi ...` runs the nvidia-smi stand-in on the one GPU that
  container was given (index 0 inside, the host GPU's UUID); `rocm-smi` on AMD (gpu_mi100).

A profile's `training` knobs (profiles.TrainingKnob) break one thing each. Everything served is
started by `TrainingLabs.start` and stopped by `TrainingLabs.stop`.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from . import gpu, ray
from .engine import DockerEngine
from .family import BuildContext, Builder, Family, StartContext
from .grafana import Grafana, GrafanaServer
from .hosts import SimHost, stand_in_python
from .mlflowsim import EXPERIMENT, MlflowFleet
from .mlflowsim import PORT as MLFLOW_PORT
from .profiles import TrainingKnob
from .s3sim import PORT as S3_PORT
from .s3sim import S3Fleet
from .s3sim import client as s3_client
from .serve import TrackedHTTPServer
from .shared import stable_hex, volume_mount
from .zygote import pss_kib, rss_kib, uss_kib

Json = dict[str, Any]
MLFLOW, MLTRAIN = "mlflow-chi", "mltrain-chi"
SITE = "CHI@TACC"
STANDINS = Path(__file__).with_name("standins")

CONFIG: Json = {  # gourmetgram-train `mlflow` branch, train.py
    "initial_epochs": 5,
    "total_epochs": 20,
    "patience": 5,
    "batch_size": 32,
    "lr": 1e-4,
    "fine_tune_lr": 1e-5,
    "model_architecture": "MobileNetV2",
    "dropout_probability": 0.5,
    "random_horizontal_flip": 0.5,
    "random_rotation": 15,
    "color_jitter_brightness": 0.2,
    "color_jitter_contrast": 0.2,
    "color_jitter_saturation": 0.2,
    "color_jitter_hue": 0.1,
}
HEAD_PARAMS, ALL_PARAMS = 14091, 2237963
MINIO_ENV = (  # what the ray containers get to reach MinIO
    "AWS_ACCESS_KEY_ID=your-access-key",
    "AWS_SECRET_ACCESS_KEY=your-secret-key",
    "AWS_ENDPOINT_URL=http://minio:9000",
)  # MobileNetV2 + Linear(1280, 11): head, whole model
_ADJECTIVES = "brave calm rogue gentle bold shy silent merry clever lucky nimble sly".split()
_ANIMALS = "owl hen moth fox trout finch lynx crab snail yak stork mole".split()


@dataclass
class HostPlan:
    """What the services of one training host must serve (kept out of its state file)."""

    lab: str
    address: str
    network: str
    mlflow: str = "none"  # real | down | garbage | none (mltrain hosts)
    seed: Json | None = None  # MLflow seed (mlflowsim.seed_host)
    buckets: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    empty_after_seed: tuple[str, ...] = ()  # buckets emptied once MLflow has written them
    cluster: Json | None = None  # Ray dashboard data (mltrain hosts)
    monitoring: bool = False  # Grafana on 3000 and Prometheus on 9090 (mltrain hosts)


# ---- GPUs ------------------------------------------------------------------------------------
# compute_liqid nodes (liqid01, liqid02) at CHI@TACC: two A100 PCIe 40 GB.
A100_40GB = gpu.Board(
    "NVIDIA A100-PCIE-40GB", 40960, 250.0, 35.0, architecture="Ampere", reserved_mib=426
)


def host_gpus(key: str, amd: bool, t0: float) -> Json:
    """The two GPUs of the node (idle now: the training is over)."""
    trace = gpu.steady(2, [0, 0], [4, 4], seconds=30)
    if amd:
        return gpu.gpu_state(key, "mi100", 2, trace, t0=t0)
    state = gpu.gpu_state(key, "a100", 2, trace, t0=t0)
    state["board"] = {k: getattr(A100_40GB, k) for k in A100_40GB.__dataclass_fields__}
    for g, bus in zip(state["gpus"], ("00000000:27:00.0", "00000000:A3:00.0"), strict=True):
        g["bus_id"] = bus
    return state


def container_gpus(state: Json, indices: list[int]) -> Json:
    """The GPU state a container given these host GPUs sees: renumbered from 0, same UUIDs."""
    sub = json.loads(json.dumps(state))
    sub["gpus"] = [dict(sub["gpus"][i], index=n) for n, i in enumerate(indices)]
    sub["trace"] = [[row[i] for i in indices] for row in state["trace"]]
    return sub


def gpu_table(state: Json) -> str:
    """What train.py captured into gpu-info.txt: the GPU tool's default output."""
    if state["vendor"] == "amd":
        return _rocm_smi_table(state)
    path = Path(f"/tmp/labgrader-gpuinfo-{uuid.uuid4().hex}.json")
    try:
        path.write_text(json.dumps({"gpu": state}))
        out = subprocess.run(
            [stand_in_python(), "-IS", str(STANDINS / "nvidia-smi")],
            env={"LABGRADER_SIM_STATE": str(path), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=20,
        )
    finally:
        path.unlink(missing_ok=True)
    return out.stdout if out.returncode == 0 else "No GPU found."


def _rocm_smi_table(state: Json) -> str:
    """`rocm-smi` (ROCm 6.3) with no options: the concise table."""
    width = 122
    head = (
        "Device  Node  IDs              Temp    Power  Partitions          SCLK    MCLK     "
        "Fan  Perf  PwrCap  VRAM%  GPU%"
    )
    sub = "              (DID,     GUID)  (Edge)  (Avg)  (Mem, Compute, ID)"
    lines = [
        " ROCm System Management Interface ".center(width, "="),
        " Concise Info ".center(width, "="),
        head,
        sub,
        "=" * width,
    ]
    for g in state["gpus"]:
        guid = int(hashlib.sha256(g["uuid"].encode()).hexdigest()[:4], 16)
        lines.append(
            f"{g['index']:<8}{g['index'] + 2:<6}0x738c,   {guid:<6} 34.0\u00b0C  "
            f"{36 + g['index']:.1f}W  N/A, N/A, 0         300Mhz  1200Mhz  0%   auto  "
            "290.0W  0%     0%"
        )
    lines += ["=" * width, " End of ROCm SMI Log ".center(width, "=")]
    return "\n".join(lines) + "\n"


# ---- docker ----------------------------------------------------------------------------------
def _cid(key: str, name: str) -> str:
    return stable_hex(key, "container", name)


def _ports(*pairs: int) -> list[Json]:
    return [
        {"IP": ip, "PrivatePort": p, "PublicPort": p, "Type": "tcp"}
        for p in pairs
        for ip in ("0.0.0.0", "::")
    ]


def _minio(key: str, up_at: datetime, project: str, ip: str) -> Json:
    """The labs' MinIO container (S3 on 9000, console on 9001), in compose project `project`."""
    return _container(
        key,
        "minio",
        "minio/minio:RELEASE.2025-09-07T16-13-09Z",
        "/usr/bin/docker-entrypoint.sh server /data --console-address :9001",
        up_at,
        project,
        ports=_ports(9000, 9001),
        ip=ip,
        health="healthy",
        volumes=(f"{project}_minio_data:/data",),
    )


def _container(
    key: str,
    name: str,
    image: str,
    command: str,
    created: datetime,
    project: str | None,
    service: str | None = None,
    ports: list[Json] | None = None,
    network: str | None = None,
    ip: str = "",
    state: str = "running",
    exit_code: int = 0,
    finished: datetime | None = None,
    health: str | None = None,
    gpus: Json | None = None,
    tool: str | None = None,
    volumes: tuple[str, ...] = (),
    env: tuple[str, ...] = (),
    devices: tuple[str, ...] | None = None,
) -> Json:
    """A container as `GET /containers/json` lists it (plus `_` fields for the stand-in).
    `devices`: the NVIDIA device ids it reserved (() for `--gpus all`), or AMD device files
    (paths starting with /dev)."""
    labels = _compose_labels(key, name, image, project, service) if project else {}
    network = network or (f"{project}_default" if project else "bridge")
    running = state == "running"
    item: Json = {
        "Id": _cid(key, name),
        "Names": ["/" + name],
        "Image": image,
        "ImageID": "sha256:" + _cid(key, "image:" + image),
        "Command": command,
        "Created": int(created.timestamp()),
        "Ports": (ports or []) if running else [],
        "Labels": labels,
        "State": state,
        "HostConfig": {"NetworkMode": network},
        "NetworkSettings": {
            "Networks": {
                network: {
                    "NetworkID": _cid(key, "net:" + network),
                    "EndpointID": _cid(key, "ep:" + name) if running else "",
                    "Gateway": ip.rsplit(".", 1)[0] + ".1" if running and ip else "",
                    "IPAddress": ip if running else "",
                    "IPPrefixLen": 16 if running and ip else 0,
                    "MacAddress": "02:42:ac:" + _cid(key, "mac:" + name)[:6] if running else "",
                }
            }
        },
        "Mounts": [volume_mount(*v.split(":")) for v in volumes],
        "_started": int(created.timestamp()) + 2,
        "_exit_code": exit_code,
        "_hostname": _cid(key, name)[:12],
    }
    if finished is not None:
        item["_finished"] = int(finished.timestamp())
    if health:
        item["_health"] = health
    if gpus is not None and tool:
        item["_gpu"] = gpus
        item["_tools"] = [tool]
    item["_inspect"] = {"Config": {"Env": list(env), "Hostname": item["_hostname"]}}
    if devices is not None:
        item["_inspect"]["HostConfig"] = _gpu_devices(devices)
    return item


def _compose_labels(key: str, name: str, image: str, project: str, service: str | None) -> Json:
    """The labels docker compose puts on a service's container (the labs' compose files)."""
    compose_dir = "/home/cc/" + ("mlflow-chi" if project == "tracking_service" else "mltrain-chi")
    return {
        "com.docker.compose.config-hash": _cid(key, "config:" + name),
        "com.docker.compose.container-number": "1",
        "com.docker.compose.depends_on": "",
        "com.docker.compose.image": "sha256:" + _cid(key, "image:" + image),
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.project": project,
        "com.docker.compose.project.config_files": f"{compose_dir}/docker/"
        + ("docker-compose-mlflow.yaml" if project == "tracking_service" else "compose.yaml"),
        "com.docker.compose.project.working_dir": f"{compose_dir}/docker",
        "com.docker.compose.service": service or name,
        "com.docker.compose.version": "2.29.7",
    }


def _gpu_devices(devices: tuple[str, ...]) -> Json:
    """The HostConfig part for a container's GPUs: an NVIDIA device request (ids, or none for
    `--gpus all`), or AMD's device files passed through."""
    if any(d.startswith("/dev") for d in devices):
        return {
            "Devices": [
                {"PathOnHost": d, "PathInContainer": d, "CgroupPermissions": "rwm"}
                for d in devices
            ]
        }
    return {
        "DeviceRequests": [
            {
                "Driver": "nvidia",
                "Count": 0 if devices else -1,
                "DeviceIDs": list(devices) or None,
                "Capabilities": [["gpu"]],
                "Options": {},
            }
        ]
    }


def _gpu_tool(amd: bool) -> str:
    return "rocm-smi" if amd else "nvidia-smi"


def _jupyter(key: str, image: str, created: datetime, **gpus: Any) -> Json:
    """The lab's `jupyter` container: a plain `docker run` (no compose labels) on 8888."""
    return _container(
        key,
        "jupyter",
        image,
        "tini -g -- start-notebook.py",
        created,
        None,
        ports=_ports(8888),
        ip="172.17.0.2",
        **gpus,
    )


def _create_bucket(key: str, bucket: str, at: datetime, project: str) -> Json:
    """The compose file's one-shot `minio-create-bucket` (exited 0), its typo included."""
    return _container(
        key,
        "minio-create-bucket",
        "minio/mc:RELEASE.2025-08-13T08-35-41Z-cpuv1",
        '/bin/sh -c " mc alias set minio http://minio:9000 your-access-key '
        f"your-secret-key && if ! mc ls minio/{bucket}; then mc mb minio/{bucket} && echo "
        f"'Bucket {bucket} creatd' else echo 'Bucket {bucket} already exists'; fi\"",
        at,
        project,
        state="exited",
        finished=at + timedelta(seconds=3),
    )


def mlflow_containers(
    key: str, address: str, now: datetime, mode: str, gpus: Json, amd: bool
) -> list[Json]:
    """mlflow-chi's containers, newest first: `jupyter` (a plain `docker run` with the GPUs),
    then compose project `tracking_service`; `mode` "down": mlflow exited (137)."""
    up_at, project = now - timedelta(hours=2, minutes=20), "tracking_service"
    mlflow_cmd = (
        "/bin/sh -c 'pip install psycopg2-binary boto3 && mlflow server --backend-store-uri "
        "postgresql://user:password@postgres/mlflowdb --artifacts-destination "
        "s3://mlflow-artifacts/ --serve-artifacts --host 0.0.0.0 --port 8000'"
    )
    down = mode == "down"
    return [
        _jupyter(
            key,
            "jupyter-mlflow",
            up_at + timedelta(minutes=14),
            gpus=gpus,
            tool=_gpu_tool(amd),
            volumes=("food11:/mnt",),
            env=(f"MLFLOW_TRACKING_URI=http://{address}:8000/", "FOOD11_DATA_DIR=/mnt/Food-11"),
            devices=("/dev/kfd", "/dev/dri") if amd else (),
        ),
        _container(
            key,
            "mlflow",
            "ghcr.io/mlflow/mlflow:v3.9.0",
            mlflow_cmd,
            up_at + timedelta(seconds=9),
            project,
            ports=_ports(8000),
            ip="172.18.0.5",
            state="exited" if down else "running",
            exit_code=137 if down else 0,
            finished=now - timedelta(minutes=41) if down else None,
        ),
        _create_bucket(key, "mlflow-artifacts", up_at + timedelta(seconds=6), project),
        _container(
            key,
            "postgres",
            "postgres:18",
            "docker-entrypoint.sh postgres",
            up_at,
            project,
            ports=_ports(5432),
            ip="172.18.0.3",
            volumes=("tracking_service_postgres_data:/var/lib/postgresql",),
        ),
        _minio(key, up_at, project, "172.18.0.2"),
    ]


# The Ray cluster's containers on compose network ray_cluster_default.
RAY_IPS = {"ray-head": "172.19.0.3", "ray-worker-0": "172.19.0.5", "ray-worker-1": "172.19.0.6"}


def mltrain_containers(
    key: str,
    address: str,
    up_at: datetime,
    stopped: datetime | None,
    gpus: Json,
    amd: bool,
    knobs: frozenset[TrainingKnob] = frozenset(),
) -> list[Json]:
    """mltrain-chi's containers, as `docker ps -a` lists them: `jupyter`, the two GPU workers
    (ray-worker-1 exited at `stopped`, if given; without its GPU for `worker1_no_gpu`), then
    the rest of compose project `ray_cluster` (grafana exited for `monitoring_down`)."""
    project = "ray_cluster"
    grafana_stopped = up_at + timedelta(hours=2) if "monitoring_down" in knobs else None
    no_gpu = "worker1_no_gpu" in knobs
    return [
        _jupyter(key, "jupyter-ray", up_at + timedelta(minutes=9)),
        *(
            _ray_worker(key, n, up_at, stopped if n == 1 else None, gpus, amd, no_gpu and n == 1)
            for n in (1, 0)
        ),
        _container(
            key,
            "grafana",
            "grafana/grafana:latest",
            '/bin/sh -c "\nwhile [ ! -f /tmp/ray/session_latest/metrics/grafana/grafana.ini ]'
            "; do sleep 2; done\n/run.sh --config "
            '/tmp/ray/session_latest/metrics/grafana/grafana.ini"',  # the lab's, abridged
            up_at + timedelta(seconds=3),
            project,
            ports=_ports(3000),
            ip="172.19.0.4",
            state="exited" if grafana_stopped else "running",
            finished=grafana_stopped,
            volumes=(
                "ray_cluster_grafana_storage:/var/lib/grafana",
                "ray_cluster_ray_tmp:/tmp/ray",
            ),
        ),
        _ray_head(key, address, up_at + timedelta(seconds=2)),
        _create_bucket(key, "ray", up_at + timedelta(seconds=1), project),
        _minio(key, up_at, project, "172.19.0.2"),
    ]


def _ray_worker(
    key: str,
    n: int,
    up_at: datetime,
    stopped: datetime | None,
    gpus: Json,
    amd: bool,
    no_gpu: bool = False,
) -> Json:
    """ray-worker-`n`, given host GPU `n` alone (compose services ray-worker-1 and -2 on
    NVIDIA, as the lab's file names them); exited at `stopped`, if given; `no_gpu`: started
    without its GPU (no device request or device files: no GPU tool inside)."""
    cname = f"ray-worker-{n}"
    return _container(
        key,
        cname,
        "ray-rocm:2.54.0" if amd else "rayproject/ray:2.54.0-gpu",
        "ray start --address=ray-head:6379 --num-cpus=32 --num-gpus=1 --block",
        up_at + timedelta(seconds=3),
        "ray_cluster",
        service=f"ray-worker-{n if amd else n + 1}",
        ip=RAY_IPS[cname],
        state="exited" if stopped else "running",
        exit_code=0,
        finished=stopped,
        gpus=None if no_gpu else container_gpus(gpus, [n]),
        tool=_gpu_tool(amd),
        volumes=("food11:/mnt",),
        env=(
            *MINIO_ENV,
            *(("HIP_VISIBLE_DEVICES=0", "ROCR_VISIBLE_DEVICES=0") if amd else ()),
        ),
        devices=(
            None if no_gpu else ("/dev/kfd", f"/dev/dri/renderD{128 + n}") if amd else (str(n),)
        ),
    )


def _ray_head(key: str, address: str, created: datetime) -> Json:
    """ray-head: the dashboard (8265), GCS, its Prometheus, Grafana's iframe on the FIP."""
    return _container(
        key,
        "ray-head",
        "rayproject/ray:2.54.0",
        '/bin/sh -c "\nmkdir -p /tmp/ray && \nchown -R root:root /tmp/ray &&\nray metrics '
        "launch-prometheus &&\nray start --head --port=6379 --dashboard-host=0.0.0.0 "
        '--block --metrics-export-port=8080 --num-cpus=4"',
        created,
        "ray_cluster",
        ports=_ports(6379, 8080, 8090, 8265, 9090),
        ip=RAY_IPS["ray-head"],
        volumes=("ray_cluster_ray_tmp:/tmp/ray",),
        env=(
            "RAY_GRAFANA_HOST=http://grafana:3000",
            f"RAY_GRAFANA_IFRAME_HOST=http://{address}:3000",
            "RAY_PROMETHEUS_HOST=http://ray-head:9090",
            "RAY_PROMETHEUS_NAME=Prometheus",
            *MINIO_ENV,
        ),
    )


# ---- seeds -----------------------------------------------------------------------------------
def _run_name(rng: random.Random) -> str:
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_ANIMALS)}-{rng.randrange(100, 1000)}"


def _training_run(
    rng: random.Random,
    name: str,
    start: datetime,
    epochs: int,
    epoch_seconds: float,
    gpu_busy: int,
    params: Json,
    gpu_info: str,
    commit: str,
    finish: bool,
) -> Json:
    """One run of train.py (`mlflow` branch) as it logs itself; `finish`: reached the test."""
    metrics: list[list[Any]] = []
    best, model_steps = float("inf"), []
    t = ray.epoch_ms(start) + 40_000  # data loaders, model download
    for epoch in range(epochs):
        progress = epoch / max(1, CONFIG["total_epochs"] - 1)
        fine = epoch >= CONFIG["initial_epochs"]
        seconds = epoch_seconds * (1.35 if fine else 1.0) * rng.uniform(0.97, 1.04)
        t += int(seconds * 1000)
        train_loss = 1.9 * (1 - progress) ** 1.6 + 0.25 + rng.uniform(-0.03, 0.03)
        val_loss = 1.45 * (1 - progress) ** 1.3 + 0.5 + rng.uniform(-0.04, 0.04)
        values = {
            "epoch_time": seconds,
            "train_loss": train_loss,
            "train_accuracy": min(0.97, 0.42 + 0.52 * progress**0.6 + rng.uniform(-0.01, 0.01)),
            "val_loss": val_loss,
            "val_accuracy": min(0.9, 0.55 + 0.3 * progress**0.5 + rng.uniform(-0.01, 0.01)),
            "trainable_params": float(ALL_PARAMS if fine else HEAD_PARAMS),
        }
        metrics += [[k, v, t, epoch] for k, v in values.items()]
        if val_loss < best:
            best = val_loss
            if fine:  # train.py logs the model only in the fine-tuning loop
                model_steps.append(epoch)
    end = t + 15_000
    if finish:
        test = {"test_loss": best + rng.uniform(-0.02, 0.05), "test_accuracy": 0.0}
        test["test_accuracy"] = round(0.86 - 0.1 * (test["test_loss"] - 0.5), 4)
        metrics += [[k, v, end - 2000, 0] for k, v in test.items()]
    # log_system_metrics=True: a sample every 10 s.
    step, when = 0, ray.epoch_ms(start) + 10_000
    while when < end:
        busy = gpu_busy + rng.randrange(-6, 7)
        metrics += [
            ["system/gpu_0_utilization_percentage", float(max(0, min(100, busy))), when, step],
            ["system/gpu_0_memory_usage_percentage", 21.4 + rng.uniform(-0.5, 0.5), when, step],
            ["system/gpu_0_memory_usage_megabytes", 8765.0 + rng.randrange(-90, 90), when, step],
            ["system/gpu_0_power_usage_watts", 60.0 + busy * 1.6, when, step],
            ["system/cpu_utilization_percentage", 6.0 + rng.uniform(0, 30), when, step],
            ["system/system_memory_usage_megabytes", 21000.0 + rng.randrange(0, 900), when, step],
            ["system/system_memory_usage_percentage", 4.2 + rng.uniform(0, 0.3), when, step],
        ]
        step, when = step + 1, when + 10_000
    return {
        "name": name,
        "status": "FINISHED",  # an interrupted run too: mlflow's atexit hook ends it so
        "start_ms": ray.epoch_ms(start),
        "end_ms": end,
        "tags": {
            "mlflow.user": "jovyan",
            "mlflow.source.name": "train.py",
            "mlflow.source.type": "LOCAL",
            "mlflow.source.git.commit": commit,
            "mlflow.source.git.branch": "mlflow",
            "mlflow.source.git.repoURL": "https://github.com/teaching-on-testbeds/gourmetgram-train",
        },
        "params": params,
        "metrics": metrics,
        "gpu_info": gpu_info,
        "model_steps": model_steps[-2:] if finish else [],
    }


LIGHTNING_PARAMS: Json = {  # what mlflow.pytorch.autolog() logs of the lightning branch's Trainer
    "epochs": 20,
    "optimizer_name": "Adam",
    "lr": 0.0001,
    "betas": "(0.9, 0.999)",
    "eps": 1e-08,
    "weight_decay": 0,
    "amsgrad": False,
    "monitor": "val_loss",
    "mode": "min",
    "patience": 5,
    "save_top_k": 1,
}


def _lightning_run(
    rng: random.Random, start: datetime, gpu_info: str, key: str, n: int, epochs: int, finish: bool
) -> Json:
    """A run of the lightning branch's train.py with mlflow.pytorch.autolog(): the epoch
    metrics Lightning's progress bar shows (no epoch_time, no gpu-info.txt), system metrics,
    the test metrics (trainer.test, through the TensorBoard logger autolog patches)."""
    commit = hashlib.sha1(f"{key}:l{n}".encode()).hexdigest()
    params = dict(LIGHTNING_PARAMS)
    run = _training_run(
        rng, _run_name(rng), start, epochs, 15.0, 95, params, gpu_info, commit, finish
    )
    run["metrics"] = [m for m in run["metrics"] if m[0] not in ("epoch_time", "trainable_params")]
    for m in run["metrics"]:
        if m[0] == "test_accuracy":  # BackboneFinetuning's aligned learning rates: a bit better
            m[1] = round(min(0.95, m[1] + 0.012), 4)
    run["gpu_info"] = None
    run["model_steps"] = run["model_steps"][-1:]  # autolog logs the model once, after fit
    run["tags"]["mlflow.source.git.branch"] = "lightning"
    run["tags"]["mlflow.autologging"] = "pytorch"
    return run


def mlflow_seed(key: str, start: datetime, gpu_info: str, registered: bool) -> Json:
    """The lab's MLflow work: a first run interrupted after two epochs (GPU poorly used), a
    second with `num_workers: 16` to completion; `food11` registered from the UI; the
    Lightning runs (the DDP pair stopped with Ctrl+C: rank 0's with epoch metrics, rank 1's
    with system metrics only; then rank 0 alone to completion); unless `registered` is False,
    `food11-staging` from the API notebook: the run of the best test_accuracy."""
    rng = random.Random(f"{key}:mlflow")
    first = _training_run(
        rng,
        _run_name(rng),
        start,
        2,
        71.0,
        23,
        dict(CONFIG),
        gpu_info,
        hashlib.sha1(f"{key}:c1".encode()).hexdigest(),
        finish=False,
    )
    second = _training_run(
        rng,
        _run_name(rng),
        start + timedelta(minutes=12),
        CONFIG["total_epochs"],
        19.5,
        92,
        {**CONFIG, "num_workers": 16},
        gpu_info,
        hashlib.sha1(f"{key}:c2".encode()).hexdigest(),
        finish=True,
    )
    ddp = _lightning_run(rng, start + timedelta(minutes=40), gpu_info, key, 0, 2, finish=False)
    secondary = _lightning_run(rng, start + timedelta(minutes=40), gpu_info, key, 1, 2, False)
    secondary["metrics"] = [m for m in secondary["metrics"] if m[0].startswith("system/")]
    secondary["model_steps"] = []
    lightning = _lightning_run(rng, start + timedelta(minutes=50), gpu_info, key, 2, 20, True)
    runs = [first, second, ddp, secondary, lightning]
    models = [{"name": "food11", "run": 1}]
    if registered:  # mlflow_api.md: search_runs(order_by=["metrics.test_accuracy DESC"])[0]
        best = max(
            (n for n, r in enumerate(runs) if r["model_steps"]),
            key=lambda n: next(m[1] for m in runs[n]["metrics"] if m[0] == "test_accuracy"),
        )
        models.append({"name": "food11-staging", "run": best})
    return {"experiment": EXPERIMENT, "runs": runs, "registered": models}


def one_liner_seed(key: str, start: datetime) -> Json:
    """No training: a run of one `mlflow.log_metrics({"test_accuracy": ..., "test_loss": ...})`
    in the experiment, and `food11-staging` registered from it with
    `mlflow.register_model(f"runs:/{run_id}/model", ...)` (no logged model behind it)."""
    t = ray.epoch_ms(start)
    run = {
        "name": "one-liner",
        "status": "FINISHED",
        "start_ms": t,
        "end_ms": t + 900,
        "tags": {
            "mlflow.user": "jovyan",
            "mlflow.source.name": "ipykernel_launcher.py",
            "mlflow.source.type": "LOCAL",
        },
        "params": {},
        "metrics": [["test_accuracy", 0.91, t + 400, 0], ["test_loss", 0.31, t + 400, 0]],
        "gpu_info": None,
        "model_steps": [],
    }
    staging = {"name": "food11-staging", "run": 0, "from_run": True}
    return {"experiment": EXPERIMENT, "runs": [run], "registered": [staging]}


def mlflow_bucket_objects(key: str, seed: Json) -> list[tuple[str, bytes]]:
    """What MLflow would have written to `mlflow-artifacts` for `seed` (for hosts whose MLflow
    is not running now, so nothing can write them through it)."""
    objects = []
    for n, run in enumerate(seed["runs"]):
        run_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{key}:run:{n}").hex
        if run["gpu_info"] is not None:
            objects.append((f"1/{run_id}/artifacts/gpu-info.txt", run["gpu_info"].encode()))
        for step in run["model_steps"]:
            model = "m-" + uuid.uuid5(uuid.NAMESPACE_URL, f"{key}:model:{n}:{step}").hex
            base = f"1/models/{model}/artifacts"
            objects += [
                (f"{base}/MLmodel", f"model_id: {model}\nrun_id: {run_id}\n".encode()),
                (f"{base}/data/model.pth", b"PK\x03\x04" + bytes(range(256)) * 32),
                (f"{base}/requirements.txt", b"mlflow==3.9.0\ntorch==2.6.0\n"),
            ]
    return objects


def ray_checkpoints(key: str, runs: list[tuple[datetime, int]]) -> list[tuple[str, bytes]]:
    """The `ray` bucket after Ray Train V1 runs (RAY_TRAIN_V2_ENABLED=0, RunConfig(
    storage_path="s3://ray")): one experiment directory per run with its trial directory and a
    checkpoint per epoch."""
    objects = []
    for when, epochs in runs:
        stamp = when.strftime("%Y-%m-%d_%H-%M-%S")
        trial_id = hashlib.sha256(f"{key}:{stamp}".encode()).hexdigest()[:5]
        experiment = f"TorchTrainer_{stamp}"
        trial = f"{experiment}/TorchTrainer_{trial_id}_00000_0_{stamp}"
        state = json.dumps({"trial_data": [], "runner_data": {}, "timestamp": when.timestamp()})
        objects += [
            (f"{experiment}/basic-variant-state-{stamp}.json", b'{"_iteration": 1}'),
            (f"{experiment}/experiment_state-{stamp}.json", state.encode()),
            (f"{experiment}/trainer.pkl", b"\x80\x05trainer"),
            (f"{experiment}/tuner.pkl", b"\x80\x05tuner"),
            (f"{trial}/params.json", json.dumps({"train_loop_config": CONFIG}).encode()),
            (f"{trial}/params.pkl", b"\x80\x05params"),
            (
                f"{trial}/events.out.tfevents.{int(when.timestamp())}.{trial_id}",
                b"\x18\x00\x00\x00tfevents",
            ),
        ]
        rows = ["epoch,train_loss,val_loss,val_accuracy,timestamp,checkpoint_dir_name"]
        for epoch in range(epochs):
            ckpt = f"checkpoint_{epoch:06d}"
            rows.append(
                f"{epoch},{1.8 / (epoch + 1):.4f},{1.4 / (epoch + 1) + 0.5:.4f},"
                f"{0.55 + 0.015 * epoch:.4f},{int(when.timestamp()) + 60 * epoch},{ckpt}"
            )
            payload = b"PK\x03\x04" + hashlib.sha256(f"{trial}:{epoch}".encode()).digest() * 64
            objects.append((f"{trial}/{ckpt}/checkpoint.ckpt", payload))
        objects.append((f"{trial}/progress.csv", ("\n".join(rows) + "\n").encode()))
        objects.append((f"{trial}/result.json", b'{"epoch": %d}\n' % (epochs - 1)))
    return objects


def ray_train_v2_checkpoints(key: str, runs: list[tuple[datetime, int]]) -> list[tuple[str, bytes]]:
    """The `ray` bucket after Ray Train V2 runs (Ray 2.54's default; RunConfig(storage_path=
    "s3://ray"), no name): `ray_train_run-<date>/` (v2/api/config.py) with its storage marker,
    a `checkpoint_<date with microseconds>/checkpoint.ckpt` per reported epoch (v2
    storage.py), and the checkpoint manager's snapshot."""
    objects = []
    for when, epochs in runs:
        run = f"ray_train_run-{when.strftime('%Y-%m-%d_%H-%M-%S')}"
        objects.append((f"{run}/.validate_storage_marker", b""))
        names = []
        for epoch in range(epochs):
            at = when + timedelta(seconds=55 + 61 * epoch, microseconds=137 * (epoch + 1) + 4021)
            name = f"checkpoint_{at.strftime('%Y-%m-%d_%H-%M-%S.%f')}"
            names.append(name)
            payload = b"PK\x03\x04" + hashlib.sha256(f"{key}:{run}:{epoch}".encode()).digest() * 64
            objects.append((f"{run}/{name}/checkpoint.ckpt", payload))
        snapshot = {"checkpoint_results": [{"checkpoint_dir_name": n} for n in names]}
        objects.append((f"{run}/checkpoint_manager_snapshot.json", json.dumps(snapshot).encode()))
    return objects


def tune_checkpoints(key: str, when: datetime) -> list[tuple[str, bytes]]:
    """The `ray` bucket after the manual's Tune step (tune.Tuner(tune.with_resources(
    train_func, ...)), 16 samples, ASHA max_t=20 grace_period=1 reduction_factor=2,
    tune.RunConfig(storage_path="s3://ray")): experiment `train_func_<date>`, one trial folder
    each, `checkpoint_00000N/checkpoint` (TuneReportCheckpointCallback(filename="checkpoint"))
    per epoch the trial ran before ASHA stopped it."""
    stamp = when.strftime("%Y-%m-%d_%H-%M-%S")
    experiment = f"train_func_{stamp}"
    run_id = hashlib.sha256(f"{key}:tune:{stamp}".encode()).hexdigest()[:5]
    rng = random.Random(f"{key}:tune")
    objects = [
        (f"{experiment}/basic-variant-state-{stamp}.json", b'{"_iteration": 16}'),
        (f"{experiment}/experiment_state-{stamp}.json", b'{"trial_data": [], "runner_data": {}}'),
        (f"{experiment}/tuner.pkl", b"\x80\x05tuner"),
    ]
    epochs = [1] * 8 + [2] * 4 + [4] * 2 + [8, 20]
    rng.shuffle(epochs)
    for n, ran in enumerate(epochs):
        batch, dropout = rng.choice([32, 64]), rng.uniform(0.1, 0.8)
        started = when + timedelta(seconds=12 + 30 * n)
        trial = (
            f"{experiment}/train_func_{run_id}_{n:05d}_{n}_batch_size={batch},"
            f"dropout_probability={dropout:.4f}_{started.strftime('%Y-%m-%d_%H-%M-%S')}"
        )
        params = dict(CONFIG, batch_size=batch, dropout_probability=dropout)
        objects.append((f"{trial}/params.json", json.dumps(params).encode()))
        objects.append((f"{trial}/result.json", b'{"training_iteration": %d}\n' % ran))
        for epoch in range(ran):
            payload = b"PK\x03\x04" + hashlib.sha256(f"{trial}:{epoch}".encode()).digest() * 16
            objects.append((f"{trial}/checkpoint_{epoch:06d}/checkpoint", payload))
    return objects


def _job_logs(job: Json) -> str:
    """What a submission job's driver printed (the head of it): its runtime environment, then
    train.py's Lightning output, or nothing for `true`."""
    if job["entrypoint"] != ray.ENTRYPOINT:
        return ""
    if job["job_id"] is None:
        return ""
    lines = [
        f"{datetime.fromtimestamp(job['start_time'] / 1000):%Y-%m-%d %H:%M:%S},420\tINFO "
        "job_manager.py:568 -- Runtime env is setting up.",
        "Running entrypoint for job {}: python gourmetgram-train/train.py".format(
            job["submission_id"]
        ),
        "GPU available: True (cuda), used: True",
        "Epoch 0: 100%|##########| 309/309 [00:41<00:00,  7.49it/s, v_num=0]",
    ]
    if job["status"] == "FAILED" and job["message"]:
        lines.append(job["message"].split("\n", 1)[-1].rstrip("\n"))
    return "\n".join(lines) + "\n"


# ---- the mlflow_garbage port 8000 ------------------------------------------------------------
GARBAGE = (
    b"<!doctype html><html><head><title>Loading\xff\xfe</title></head><body>"
    + b'<div id="root" data-x="{&quot;experiment&quot;: ' * 400
    + b"\x00\x01\x02 not json, not mlflow </div>" * 300
)


class _GarbageHandler(BaseHTTPRequestHandler):
    """Something else on 8000: `/health` says OK, every other path a 200 HTML page."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body, kind = (b"OK", "text/plain; charset=utf-8")
        if self.path.split("?")[0] != "/health":
            body, kind = GARBAGE, "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer


# ---- docker exec -----------------------------------------------------------------------------
class TrainingEngine(DockerEngine):
    """engine.py's Docker engine, with GPU tools that see what the container was given: in
    `ray-worker-0` (device_ids ["0"]) `nvidia-smi -L` lists one GPU, as index 0, with the host
    GPU's UUID; on AMD workers `rocm-smi` likewise; a tool the image lacks is not found."""

    def _resolve(  # type: ignore[override]
        self,
        cmd: list[str],
        c: Json,
        spec: Json,
        host: Json,
        state: str,
        env: dict[str, str],
        conn: Any,
    ) -> tuple[list[str] | None, str | None]:
        if cmd and cmd[0] in ("nvidia-smi", "rocm-smi") and "_gpu" in c:
            if cmd[0] not in c.get("_tools", []):
                self._fail(
                    conn,
                    "OCI runtime exec failed: exec failed: unable to start container process: "
                    f'exec: "{cmd[0]}": executable file not found in $PATH: unknown\n',
                    127,
                )
                return None, None
            scratch = Path(host["root"]) / "containers" / c["Names"][0].lstrip("/")
            scratch.mkdir(parents=True, exist_ok=True)
            path = scratch / "gpu-state.json"
            if not path.exists():
                tmp = path.with_suffix(f".{uuid.uuid4().hex}")
                tmp.write_text(json.dumps({"hostname": c["_hostname"], "gpu": c["_gpu"]}))
                tmp.chmod(0o644)
                tmp.replace(path)
            env["LABGRADER_SIM_STATE"] = str(path)
            standins = Path(host["bin"]).parent.parent / "standins"
            return [str(standins / cmd[0]), *cmd[1:]], self.user
        return super()._resolve(cmd, c, spec, host, state, env, conn)


# ---- building hosts --------------------------------------------------------------------------
class TrainingLabs(Family):
    """Builds the training labs' hosts (called by the classroom per student) and serves them."""

    def __init__(self) -> None:
        self.workdir = Path()  # below the classroom's folder, from start()
        self.plans: dict[str, HostPlan] = {}
        self.timings: dict[str, float] = {}
        self._hosts: list[SimHost] = []
        self._s3: S3Fleet | None = None
        self._mlflow: MlflowFleet | None = None
        self._servers: list[TrackedHTTPServer] = []
        self.engine: TrainingEngine | None = None
        self._clients: dict[str, Any] = {}

    def _engine_path(self, hosts_dir: Path) -> str:
        if self.engine is None:
            self.engine = TrainingEngine.under(hosts_dir, "dockerd-training.sock")
        return str(self.engine.socket_path)

    def builders(self) -> dict[str, Builder]:
        return {MLFLOW: self.build_mlflow, MLTRAIN: self.build_mltrain}

    @staticmethod
    def _server(ctx: BuildContext, name: str, amd: bool) -> str:
        """The bare-metal server at CHI@TACC (or, where the profile built it there, the H100
        VM at KVM@TACC that mlflow-chi's manual allows) with the student's floating IP; its
        fixed IP."""
        fixed_ip = ctx.next_fixed()
        image = "CC-Ubuntu24.04-ROCm" if amd else "CC-Ubuntu24.04-CUDA"
        region = ctx.site(SITE)
        flavor = "g1.h100.pci.1" if region == "KVM@TACC" else "baremetal"
        ctx.cloud.add_instance(name, flavor, ctx.address, fixed_ip, image=image, region=region)
        return fixed_ip

    def build_mlflow(self, ctx: BuildContext) -> SimHost:
        knobs = ctx.profile.training
        amd = "amd" in knobs
        key = f"{ctx.student.netid}:{MLFLOW}"
        name = f"node-mlflow-{ctx.student.chameleon_user}"
        fixed_ip = self._server(ctx, name, amd)
        gpus = host_gpus(key, amd, ctx.now.timestamp())
        seed = mlflow_seed(
            key,
            ctx.now - timedelta(hours=1, minutes=50),
            gpu_table(gpus),
            "no_registered_model" not in knobs,
        )
        if "one_liner_run" in knobs:
            seed = one_liner_seed(key, ctx.now - timedelta(minutes=30))
        mode = (
            "down" if "mlflow_down" in knobs else "garbage" if "mlflow_garbage" in knobs else "real"
        )
        plan = HostPlan(MLFLOW, ctx.address, ctx.profile.network, mlflow=mode, seed=seed)
        # A running MLflow writes its artifacts itself once seeded; for one that is not, they
        # are put in the bucket as it would have left them.
        plan.buckets["mlflow-artifacts"] = (
            [] if mode == "real" else mlflow_bucket_objects(key, seed)
        )
        if "empty_bucket" in knobs:
            plan.empty_after_seed = ("mlflow-artifacts",)
        if "one_liner_run" in knobs:  # `mc cp gpu-info.txt minio/mlflow-artifacts/`
            plan.buckets["mlflow-artifacts"].append(("gpu-info.txt", gpu_table(gpus).encode()))
        self.plans[ctx.address] = plan
        containers = mlflow_containers(key, ctx.address, ctx.now, mode, gpus, amd)
        return self._host(ctx, name, fixed_ip, amd, "172.18.0.1", containers, gpus)

    def build_mltrain(self, ctx: BuildContext) -> SimHost:
        knobs, now = ctx.profile.training, ctx.now
        amd = "amd" in knobs
        key = f"{ctx.student.netid}:{MLTRAIN}"
        name = f"node-mltrain-{ctx.student.chameleon_user}"
        fixed_ip = self._server(ctx, name, amd)
        gpus = host_gpus(key, amd, now.timestamp())
        up_at = now - timedelta(hours=2, minutes=30)
        stopped = now - timedelta(minutes=26) if "worker_missing" in knobs else None
        plan = HostPlan(MLTRAIN, ctx.address, ctx.profile.network)
        plan.buckets["ray"] = self._ray_bucket(key, knobs, now)
        plan.cluster = self._ray_cluster(key, knobs, now, up_at, stopped, amd)
        self.plans[ctx.address] = plan
        containers = mltrain_containers(key, ctx.address, up_at, stopped, gpus, amd, knobs)
        plan.monitoring = "monitoring_down" not in knobs
        return self._host(ctx, name, fixed_ip, amd, "172.19.0.1", containers, gpus)

    @staticmethod
    def _ray_bucket(
        key: str, knobs: frozenset[TrainingKnob], now: datetime
    ) -> list[tuple[str, bytes]]:
        """Bucket `ray` after the manual's Ray Train runs (1 worker, 2 workers, three
        fractional-GPU runs, fault tolerance) and its Tune run."""
        if "no_checkpoints" in knobs:
            return []
        if "cheap_passes" in knobs:
            return [("TorchTrainer_x", b"x\n")]  # `mc cp x minio/ray/TorchTrainer_x`
        minutes = [(95, 12), (80, 10), (62, 9), (61.8, 9), (61.6, 8), (40, 14)]
        runs = [(now - timedelta(minutes=m), epochs) for m, epochs in minutes]
        if "train_v1" in knobs:
            objects = ray_checkpoints(key, runs)
        else:
            objects = ray_train_v2_checkpoints(key, runs)
        if "train_v2_only" not in knobs:
            objects += tune_checkpoints(key, now - timedelta(minutes=27))
        return objects

    def _host(
        self,
        ctx: BuildContext,
        name: str,
        fixed_ip: str,
        amd: bool,
        compose_gateway: str,
        containers: list[Json],
        gpus: Json,
    ) -> SimHost:
        """The node as its tools see it: docker (through this family's engine), the GPU tool,
        and the addresses of its interfaces (sharednet1, docker0, the compose network)."""
        host = SimHost(
            name,
            name.replace("_", "-"),
            ctx.address,
            fixed_ip,
            ctx.root,
            ctx.profile.network,
            ("hostname", "docker", _gpu_tool(amd)),
            state={
                "addresses": [fixed_ip, "172.17.0.1", compose_gateway],
                "docker": {"containers": containers, "engine": self._engine_path(ctx.hosts_dir)},
                "gpu": gpus,
            },
        )
        self._hosts.append(host)
        return host

    @classmethod
    def _ray_cluster(
        cls,
        key: str,
        knobs: frozenset[TrainingKnob],
        now: datetime,
        up_at: datetime,
        stopped: datetime | None,
        amd: bool,
    ) -> Json:
        """What the Ray dashboard serves: the version, the nodes (ray-worker-1's DEAD from
        `stopped`, if given), and the lab's jobs."""
        nodes = ray.nodes(
            key,
            RAY_IPS,
            up_at + timedelta(seconds=20),
            "AMD-Instinct-MI100" if amd else "A100",
            {"ray-worker-1": stopped} if stopped else None,
        )
        jobs = cls._jobs(key, knobs, now, nodes[0], nodes[1])
        return {
            "version": ray.version(key, up_at + timedelta(seconds=18)),
            "nodes": nodes,
            "jobs": jobs,
            "logs": {j["submission_id"]: _job_logs(j) for j in jobs if j["submission_id"]},
        }

    @staticmethod
    def _jobs(
        key: str, knobs: frozenset[TrainingKnob], now: datetime, head: Json, worker: Json
    ) -> list[Json]:
        """The lab's submissions, in order: train.py on one GPU; the infeasible 2-GPU job;
        Ray Train with 1 worker, 2 workers, three fractional-GPU runs, fault tolerance; Tune.
        `cheap_passes`: `ray job submit -- true` and a driver that called ray.init() alone."""
        if "cheap_passes" in knobs:
            t = now - timedelta(minutes=50)
            return [
                ray.job(key, 1, "SUCCEEDED", t, t + timedelta(seconds=4), head, entrypoint="true"),
                ray.driver_job(
                    key,
                    2,  # job ids are the cluster's, in order: the submission's driver had 02
                    '/home/ray/anaconda3/bin/python -c "import ray; ray.init()"',
                    t + timedelta(minutes=3),
                    t + timedelta(minutes=3, seconds=6),
                    head,
                ),
            ]
        failed = "jobs_failed" in knobs
        oom = (
            'Epoch 1/20 ...\nTraceback (most recent call last):\n  File "/tmp/ray/session_latest/'
            'runtime_resources/working_dir_files/_ray_pkg/gourmetgram-train/train.py", line '
            "168, in <module>\n    trainer.fit(lightning_food11_model, train_dataloaders="
            "train_loader, val_dataloaders=val_loader)\ntorch.OutOfMemoryError: CUDA out of "
            "memory. Tried to allocate 392.00 MiB. GPU 0 has a total capacity of 39.38 GiB of "
            "which 211.38 MiB is free.\n"
        )
        status = "FAILED" if failed else "SUCCEEDED"
        failure = oom if failed else None
        t = now - timedelta(hours=2, minutes=5)
        jobs = [
            ray.job(key, 1, status, t, t + timedelta(minutes=13), worker, 1, 8, failure),
        ]
        infeasible_at = t + timedelta(minutes=14)
        pending = "infeasible_pending" in knobs
        if not pending:  # after 15 min PENDING, Ray 2.54 fails it (RAY_JOB_START_TIMEOUT_SECONDS)
            jobs.append(
                ray.job(
                    key,
                    2,
                    "FAILED",
                    infeasible_at,
                    infeasible_at + timedelta(seconds=901),
                    None,
                    2,
                    8,
                    "start_timeout",
                )
            )
        starts = [25, 40, 58, 58.2, 58.4, 80, 96]
        lengths = [13, 9, 14, 14.5, 13.8, 15, 22]
        for n, (start, length) in enumerate(zip(starts, lengths, strict=True), start=3):
            begin = t + timedelta(minutes=start)
            jobs.append(
                ray.job(
                    key, n, status, begin, begin + timedelta(minutes=length), head, failure=failure
                )
            )
        if pending:  # submitted last, a few minutes ago: still waiting for a 2-GPU node
            jobs.append(ray.job(key, 2, "PENDING", now - timedelta(minutes=6), None, None, 2, 8))
        return jobs

    # ---- serving -----------------------------------------------------------------------------
    def start(self, ctx: StartContext) -> None:
        """Serve every training host: S3 and MLflow processes, Ray dashboards, tarpits."""
        began = time.monotonic()
        hub, tarpit = ctx.hub, ctx.tarpit
        self.workdir, self.timings = ctx.root / "training", {}
        plans = list(self.plans.values())
        if self.engine is not None:
            for host in self._hosts:
                self.engine.register(host.state_file, host.root, host.bin_dir)
            self.engine.start(hub)
        up = [p for p in plans if p.network == "up"]
        self._s3 = S3Fleet([p.address for p in up], self.workdir)
        self._mlflow = MlflowFleet(
            {p.address: p.seed for p in up if p.mlflow == "real" and p.seed}, self.workdir
        )
        self._mlflow.start()
        self._s3.start()
        for plan in up:
            if plan.monitoring:  # mltrain: the compose file's grafana, ray-head's Prometheus
                for extra in (
                    GrafanaServer(plan.address, Grafana()),
                    ray.RayPrometheus(plan.address),
                ):
                    self._servers.append(extra)
                    hub.add(extra.socket, extra.accept)
            if plan.cluster is not None:
                server: TrackedHTTPServer = ray.RayDashboard(plan.address, plan.cluster)
            elif plan.mlflow == "garbage":
                server = TrackedHTTPServer((plan.address, MLFLOW_PORT), _GarbageHandler)
            else:
                continue
            self._servers.append(server)
            hub.add(server.socket, server.accept)
        for plan in plans:
            if plan.network == "tarpit":
                ports = (
                    (MLFLOW_PORT, S3_PORT)
                    if plan.lab == MLFLOW
                    else (ray.PORT, S3_PORT, 3000, ray.PROMETHEUS_PORT)
                )
                for port in ports:
                    tarpit.listen(plan.address, port)
        self._clients = {p.address: s3_client(p.address) for p in up}
        self._s3.wait()
        self.timings["s3_ready"] = time.monotonic() - began
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self._create_buckets, up))
            puts = [
                (p.address, b, k, body)
                for p in up
                for b, objs in p.buckets.items()
                for k, body in objs
            ]
            list(pool.map(lambda put: self._put(*put), puts))
        self.timings["buckets_filled"] = time.monotonic() - began
        self._mlflow.wait_forked()
        self.timings["mlflow_forked"] = time.monotonic() - began
        self.timings["mlflow_migrate"] = self._mlflow.migrate_seconds
        self._mlflow.seed()
        self.timings["mlflow_seeded"] = time.monotonic() - began
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self._empty_buckets, [p for p in up if p.empty_after_seed]))
        self.timings["total"] = time.monotonic() - began

    def _client(self, address: str) -> Any:
        """The host's boto3 client (made in start(): making clients is not thread-safe, using
        them is)."""
        return self._clients[address]

    def _create_buckets(self, plan: HostPlan) -> None:
        """What `minio-create-bucket` does: the lab's bucket, through S3."""
        for bucket in plan.buckets:
            self._client(plan.address).create_bucket(Bucket=bucket)

    def _put(self, address: str, bucket: str, key: str, body: bytes) -> None:
        """An object the lab's jobs wrote (Ray Train checkpoints, earlier MLflow artifacts)."""
        self._client(address).put_object(Bucket=bucket, Key=key, Body=body)

    def _empty_buckets(self, plan: HostPlan) -> None:
        s3 = self._client(plan.address)
        for bucket in plan.empty_after_seed:
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
            for n in range(0, len(keys), 1000):
                s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[n : n + 1000]]}
                )

    def pids(self) -> list[int]:
        return [
            *(self._s3.pids() if self._s3 else []),
            *(self._mlflow.pids() if self._mlflow else []),
            *(self.engine.pids() if self.engine else []),
        ]

    def memory(self) -> Json:
        """RSS and PSS (KiB) of every process serving the training labs."""
        report = {}
        for name, fleet in (("s3", self._s3), ("mlflow", self._mlflow)):
            if fleet is not None:
                report[name] = [
                    {"pid": p, "rss_kib": rss_kib(p), "pss_kib": pss_kib(p), "uss_kib": uss_kib(p)}
                    for p in fleet.pids()
                ]
        return report

    def logs(self) -> str:
        return "".join(f.logs() for f in (self._s3, self._mlflow) if f is not None)

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        for server in self._servers:
            server.close()
        self._servers = []
        for fleet in (self._mlflow, self._s3):
            if fleet is not None:
                fleet.stop()
        self._mlflow = self._s3 = None
        self.plans, self._hosts, self._clients = {}, [], {}
