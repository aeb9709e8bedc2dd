"""The training labs' simulated instances (mlflow-chi, mltrain-chi), through the real clients:
MLflow's client against the real MLflow servers, boto3 against the S3 servers, requests against
the Ray dashboard stand-in, fabric for docker on the instance.

Needs root (sshd on port 22 of loopback addresses, the `cc` user) and OpenSSH's sshd.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from graders.labs import load_lab
from labsim import PROFILES, Classroom
from tests.conftest import address_of, needs_root, ssh_run

pytestmark = needs_root
MLFLOW, MLTRAIN = "mlflow-chi", "mltrain-chi"
MLFLOW_PROFILES = [
    "healthy",
    "no_registered_model",
    "mlflow_down",
    "empty_bucket",
    "mlflow_garbage",
    "amd_gpus",
    "host_down",
    "tarpit",
]
MLTRAIN_PROFILES = [
    "healthy",
    "job_failed",
    "worker_missing",
    "no_checkpoints",
    "infeasible_pending",
    "amd_gpus",
    "host_down",
    "tarpit",
    "ray_train_v1",
    "true_ray_job",
    "worker1_no_gpu",
    "monitoring_down",
]
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


@pytest.fixture(scope="module")
def mlflow_room(tmp_path_factory: pytest.TempPathFactory):
    with Classroom(tmp_path_factory.mktemp("mlflow"), MLFLOW_PROFILES, labs=(MLFLOW,)) as room:
        yield room


@pytest.fixture(scope="module")
def ray_room(tmp_path_factory: pytest.TempPathFactory):
    with Classroom(tmp_path_factory.mktemp("ray"), MLTRAIN_PROFILES, labs=(MLTRAIN,)) as room:
        yield room


def s3(addr: str, secret: str = "your-secret-key"):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=f"http://{addr}:9000",
        aws_access_key_id="your-access-key",
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1}),
    )


def keys(addr: str, bucket: str) -> list[str]:
    pages = s3(addr).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


# ---- the contract ----------------------------------------------------------------------------
def test_profile_overrides_merge_with_the_dependencies() -> None:
    """A profile's own outcomes, and the checks below them skipped."""
    expected = PROFILES["mlflow_down"].expected(MLFLOW, load_lab(MLFLOW).checks)
    assert {k: v for k, v in expected.items() if v != "passed"} == {
        "containers": "failed",
        "mlflow_up": "unreachable",
        "experiment_runs": "skipped",
        "ui_model": "skipped",
        "registered_model": "skipped",
    }


# ---- mlflow-chi ------------------------------------------------------------------------------
def test_mlflow_client_sees_the_students_work(mlflow_room: Classroom, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    url = f"http://{address_of(mlflow_room, 'healthy', MLFLOW)}:8000"
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment = client.get_experiment_by_name("food11-classifier")
    assert experiment is not None and experiment.artifact_location == "mlflow-artifacts:/1"
    runs = client.search_runs(
        [experiment.experiment_id], order_by=["metrics.test_accuracy DESC"], max_results=10
    )
    assert len(runs) == 5 and {r.info.status for r in runs} == {"FINISHED"}
    # the API notebook's pick: the Lightning autolog run (no gpu-info.txt, no epoch_time)
    lightning = runs[0]
    assert lightning.data.tags["mlflow.source.git.branch"] == "lightning"
    assert lightning.data.params["optimizer_name"] == "Adam"
    assert len(client.get_metric_history(lightning.info.run_id, "val_accuracy")) == 20
    assert "epoch_time" not in lightning.data.metrics
    assert client.list_artifacts(lightning.info.run_id) == []
    best = runs[1]  # train.py's run with num_workers 16, to completion
    assert 0.7 < best.data.metrics["test_accuracy"] < 0.95 and "test_loss" in best.data.metrics
    assert best.data.params["num_workers"] == "16" and best.data.params["lr"] == "0.0001"
    assert best.data.tags["mlflow.source.name"] == "train.py"
    untested = [r for r in runs[2:] if "test_accuracy" not in r.data.metrics]
    assert len(untested) == 3  # the interrupted first run, the Lightning DDP pair
    assert any(all(k.startswith("system/") for k in r.data.metrics) for r in untested)
    history = client.get_metric_history(best.info.run_id, "val_accuracy")
    assert [m.step for m in history] == list(range(20))
    assert len(client.get_metric_history(best.info.run_id, "train_loss")) == 20
    assert "system/gpu_0_utilization_percentage" in best.data.metrics
    assert [a.path for a in client.list_artifacts(best.info.run_id)] == ["gpu-info.txt"]
    info = Path(client.download_artifacts(best.info.run_id, "gpu-info.txt", str(tmp_path)))
    assert "NVIDIA-SMI" in info.read_text() and "A100-PCIE-40GB" in info.read_text()
    staging = client.get_registered_model("food11-staging")
    assert [v.version for v in staging.latest_versions] == ["1"]
    version = client.get_model_version("food11-staging", "1")
    assert version.run_id == lightning.info.run_id and version.source.startswith("models:/m-")
    assert client.get_registered_model("food11").name == "food11"


def test_mlflow_rest_shapes(mlflow_room: Classroom) -> None:
    base = f"http://{address_of(mlflow_room, 'healthy', MLFLOW)}:8000"
    health = requests.get(base + "/health", timeout=5)
    assert (health.status_code, health.text) == (200, "OK")
    api = base + "/api/2.0/mlflow"
    exp = requests.get(
        api + "/experiments/get-by-name",
        params={"experiment_name": "food11-classifier"},
        timeout=5,
    ).json()["experiment"]
    found = requests.post(
        api + "/runs/search",
        json={"experiment_ids": [exp["experiment_id"]], "filter": "status = 'FINISHED'"},
        timeout=5,
    ).json()["runs"]
    assert {m["key"] for m in found[0]["data"]["metrics"]} >= {"test_accuracy", "test_loss"}
    model = requests.get(
        api + "/registered-models/get", params={"name": "food11-staging"}, timeout=5
    ).json()["registered_model"]
    assert model["latest_versions"][0]["version"] == "1"
    missing = requests.get(
        api + "/experiments/get-by-name", params={"experiment_name": "nope"}, timeout=5
    )
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_mlflow_deviations(mlflow_room: Classroom) -> None:
    api = "http://{}:8000/api/2.0/mlflow"
    unregistered = requests.get(
        api.format(address_of(mlflow_room, "no_registered_model", MLFLOW))
        + "/registered-models/get",
        params={"name": "food11-staging"},
        timeout=5,
    )
    assert unregistered.status_code == 404
    assert unregistered.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address_of(mlflow_room, "mlflow_down", MLFLOW), 8000), timeout=2)
    garbage = api.format(address_of(mlflow_room, "mlflow_garbage", MLFLOW))
    assert requests.get(garbage.replace("/api/2.0/mlflow", "/health"), timeout=5).text == "OK"
    page = requests.get(
        garbage + "/experiments/get-by-name",
        params={"experiment_name": "food11-classifier"},
        timeout=5,
    )
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        page.json()


def test_mlflow_s3_buckets(mlflow_room: Classroom) -> None:
    from botocore.exceptions import ClientError

    healthy = address_of(mlflow_room, "healthy", MLFLOW)
    assert [b["Name"] for b in s3(healthy).list_buckets()["Buckets"]] == ["mlflow-artifacts"]
    objects = keys(healthy, "mlflow-artifacts")
    assert sum(k.endswith("/artifacts/gpu-info.txt") for k in objects) == 2
    assert any(k.startswith("1/models/m-") and k.endswith("/MLmodel") for k in objects)
    for profile in ("mlflow_down", "mlflow_garbage"):  # MinIO keeps what MLflow wrote earlier
        assert any(
            k.endswith("gpu-info.txt")
            for k in keys(address_of(mlflow_room, profile, MLFLOW), "mlflow-artifacts")
        )
    assert keys(address_of(mlflow_room, "empty_bucket", MLFLOW), "mlflow-artifacts") == []
    amd = address_of(mlflow_room, "amd_gpus", MLFLOW)
    gpu_info = next(k for k in keys(amd, "mlflow-artifacts") if k.endswith("gpu-info.txt"))
    body = s3(amd).get_object(Bucket="mlflow-artifacts", Key=gpu_info)["Body"].read().decode()
    assert "ROCm System Management Interface" in body
    with pytest.raises(ClientError) as wrong:
        s3(healthy, secret="minioadmin").list_buckets()
    assert wrong.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    anonymous = requests.get(f"http://{healthy}:9000/mlflow-artifacts", timeout=5)
    assert anonymous.status_code == 403 and "<Code>AccessDenied</Code>" in anonymous.text


def test_mlflow_containers(mlflow_room: Classroom) -> None:
    out = ssh_run(mlflow_room, "healthy", MLFLOW, "docker ps --format '{{json .}}'").stdout
    rows = {r["Names"]: r for r in map(json.loads, out.splitlines())}
    assert set(rows) == {"minio", "postgres", "mlflow", "jupyter"}
    assert all(r["State"] == "running" for r in rows.values())
    assert "com.docker.compose.project=tracking_service" in rows["mlflow"]["Labels"]
    assert rows["jupyter"]["Labels"] == ""  # started with `docker run`, not compose
    assert rows["minio"]["Status"].endswith("(healthy)")
    down = ssh_run(
        mlflow_room, "mlflow_down", MLFLOW, "docker ps -a --format '{{.Names}} {{.Status}}'"
    )
    status = dict(line.split(" ", 1) for line in down.stdout.splitlines())
    assert status["mlflow"].startswith("Exited (137) ") and status[
        "minio-create-bucket"
    ].startswith("Exited (0) ")
    state = ssh_run(
        mlflow_room,
        "mlflow_down",
        MLFLOW,
        "docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' mlflow",
    )
    assert state.stdout == "exited 137\n"


def test_mlflow_unreachable_hosts(mlflow_room: Classroom) -> None:
    for port in (8000, 9000):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(
                (address_of(mlflow_room, "host_down", MLFLOW), port), timeout=2
            )
        with socket.create_connection((address_of(mlflow_room, "tarpit", MLFLOW), port), 2) as sock:
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):
                sock.recv(1)


# ---- mltrain-chi -----------------------------------------------------------------------------
def test_ray_dashboard_shapes(ray_room: Classroom) -> None:
    base = f"http://{address_of(ray_room, 'healthy', MLTRAIN)}:8265"
    version = requests.get(base + "/api/version", timeout=5).json()
    assert set(version) == {"version", "ray_version", "ray_commit", "session_name"}
    assert (version["version"], version["ray_version"]) == ("4", "2.54.0")
    jobs = requests.get(base + "/api/jobs/", timeout=5).json()
    fields = {
        "type", "job_id", "submission_id", "driver_info", "status", "entrypoint", "message",
        "error_type", "start_time", "end_time", "metadata", "runtime_env",
        "driver_agent_http_address", "driver_node_id", "driver_exit_code",
    }  # fmt: skip
    assert all(set(j) == fields for j in jobs)
    assert [j["status"] for j in jobs].count("SUCCEEDED") == 8
    infeasible = next(j for j in jobs if j["status"] != "SUCCEEDED")
    assert infeasible["error_type"] == "JOB_SUPERVISOR_ACTOR_START_TIMEOUT"
    assert infeasible["job_id"] is None and infeasible["driver_info"] is None
    first = jobs[0]
    assert first["entrypoint"] == "python gourmetgram-train/train.py"
    assert first["submission_id"].startswith("raysubmit_") and first["driver_exit_code"] == 0
    one = requests.get(base + "/api/jobs/" + first["submission_id"], timeout=5).json()
    assert one == first
    missing = requests.get(base + "/api/jobs/raysubmit_nope", timeout=5)
    assert (missing.status_code, missing.text) == (404, "Job raysubmit_nope does not exist")
    assert requests.get(base + "/api/jobs", timeout=5).status_code == 404
    nodes = requests.get(base + "/api/v0/nodes", timeout=5).json()
    assert nodes["result"] is True and nodes["msg"] == ""
    listing = nodes["data"]["result"]
    assert (listing["total"], listing["num_filtered"]) == (3, 3)
    assert [n["is_head_node"] for n in listing["result"]] == [True, False, False]
    assert {n["state"] for n in listing["result"]} == {"ALIVE"}
    assert [n["resources_total"].get("GPU") for n in listing["result"]] == [None, 1.0, 1.0]
    assert "start_time_ms" not in listing["result"][0]
    detail = requests.get(base + "/api/v0/nodes", params={"detail": "1"}, timeout=5).json()
    assert detail["data"]["result"]["result"][0]["start_time_ms"] > 0


def test_ray_deviations(ray_room: Classroom) -> None:
    def get(profile: str, path: str):
        return requests.get(
            f"http://{address_of(ray_room, profile, MLTRAIN)}:8265{path}", timeout=5
        )

    failed = get("job_failed", "/api/jobs/").json()
    assert {j["status"] for j in failed} == {"FAILED"}
    crashed = [j for j in failed if j["error_type"] == "JOB_ENTRYPOINT_COMMAND_ERROR"]
    assert len(crashed) == 8 and all(j["driver_exit_code"] == 1 for j in crashed)
    assert crashed[0]["message"].startswith("Job entrypoint command failed with exit code 1")
    pending = [
        j for j in get("infeasible_pending", "/api/jobs/").json() if j["status"] == "PENDING"
    ]
    assert len(pending) == 1 and pending[0]["message"].startswith("Job has not started yet.")
    query = "?filter_keys=state&filter_predicates=%3D&filter_values=ALIVE"
    alive = get("worker_missing", "/api/v0/nodes" + query).json()["data"]["result"]
    assert (alive["total"], alive["num_filtered"]) == (3, 2)
    everything = get("worker_missing", "/api/v0/nodes").json()["data"]["result"]["result"]
    dead = [n for n in everything if n["state"] == "DEAD"]
    assert len(dead) == 1 and dead[0]["state_message"] == "Expected termination: received SIGTERM"


def test_ray_checkpoints(ray_room: Classroom) -> None:
    """Ray 2.54's layouts: Train V2 (the default) `ray_train_run-<date>/checkpoint_<date>/`,
    Tune `train_func_<date>/<trial>/checkpoint_00000N/`; V1's TorchTrainer_* only with
    RAY_TRAIN_V2_ENABLED=0."""
    objects = keys(address_of(ray_room, "healthy", MLTRAIN), "ray")
    assert not [k for k in objects if "TorchTrainer" in k]
    runs = {k.split("/")[0] for k in objects}
    train = sorted(r for r in runs if r.startswith("ray_train_run-"))
    assert len(train) == 6 and len([r for r in runs if r.startswith("train_func_")]) == 1
    v2 = [k for k in objects if k.startswith("ray_train_run-") and k.endswith("/checkpoint.ckpt")]
    assert len(v2) == 12 + 10 + 9 + 9 + 8 + 14
    assert all(
        re.fullmatch(r"ray_train_run-[0-9_-]{19}/checkpoint_[0-9_-]{19}\.\d{6}/checkpoint.ckpt", k)
        for k in v2
    ), v2[:3]
    assert f"{train[0]}/.validate_storage_marker" in objects
    assert f"{train[0]}/checkpoint_manager_snapshot.json" in objects
    tune = [k for k in objects if k.startswith("train_func_") and "/checkpoint_0" in k]
    assert len(tune) == 8 * 1 + 4 * 2 + 2 * 4 + 8 + 20
    assert all(
        re.search(
            r"/train_func_[0-9a-f]{5}_\d{5}_\d+_batch_size=\d+,dropout_probability="
            r"0\.\d{4}_[0-9_-]{19}/checkpoint_\d{6}/checkpoint$",
            k,
        )
        for k in tune
    )
    v1 = keys(address_of(ray_room, "ray_train_v1", MLTRAIN), "ray")
    assert {k.split("/")[0].split("_")[0] for k in v1} == {"TorchTrainer", "train"}
    assert keys(address_of(ray_room, "true_ray_job", MLTRAIN), "ray") == ["TorchTrainer_x"]
    assert keys(address_of(ray_room, "no_checkpoints", MLTRAIN), "ray") == []
    assert keys(address_of(ray_room, "job_failed", MLTRAIN), "ray")  # epochs before the crash


def test_ray_job_logs_and_drivers(ray_room: Classroom) -> None:
    """`/api/jobs/{id}/logs` as job_head.py answers it; DRIVER jobs as utils.py lists them."""
    base = f"http://{address_of(ray_room, 'healthy', MLTRAIN)}:8265"
    first = requests.get(base + "/api/jobs/", timeout=5).json()[0]
    logs = requests.get(f"{base}/api/jobs/{first['submission_id']}/logs", timeout=5)
    assert logs.status_code == 200 and set(logs.json()) == {"logs"}
    assert "python gourmetgram-train/train.py" in logs.json()["logs"]
    by_job_id = requests.get(f"{base}/api/jobs/{first['job_id']}/logs", timeout=5).json()
    assert by_job_id == logs.json()
    missing = requests.get(base + "/api/jobs/raysubmit_nope/logs", timeout=5)
    assert (missing.status_code, missing.text) == (404, "Job raysubmit_nope does not exist")
    cheap = f"http://{address_of(ray_room, 'true_ray_job', MLTRAIN)}:8265"
    jobs = requests.get(cheap + "/api/jobs/", timeout=5).json()
    assert [(j["type"], j["status"], j["entrypoint"]) for j in jobs] == [
        ("SUBMISSION", "SUCCEEDED", "true"),
        ("DRIVER", "SUCCEEDED", '/home/ray/anaconda3/bin/python -c "import ray; ray.init()"'),
    ]
    driver = jobs[1]
    assert driver["submission_id"] is None and driver["driver_info"]["id"] == driver["job_id"]
    refused = requests.get(f"{cheap}/api/jobs/{driver['job_id']}/logs", timeout=5)
    assert (refused.status_code, refused.text) == (400, "Can only get logs of submission type jobs")
    assert requests.get(f"{cheap}/api/jobs/{jobs[0]['submission_id']}/logs", timeout=5).json() == {
        "logs": ""
    }


def test_ray_grafana_and_prometheus(ray_room: Classroom, tmp_path: Path) -> None:
    """Grafana's /api/health on 3000; the Prometheus stand-in on 9090 answers as a real
    Prometheus does (Debian's, started here on loopback) for the paths a grader reads."""
    address = address_of(ray_room, "healthy", MLTRAIN)
    health = requests.get(f"http://{address}:3000/api/health", timeout=5).json()
    assert set(health) == {"commit", "database", "version"} and health["database"] == "ok"
    real = _real_prometheus(tmp_path)
    try:
        for path in ("/-/ready", "/-/healthy", "/api/v1/status/buildinfo", "/nope"):
            ours = requests.get(f"http://{address}:9090{path}", timeout=5)
            theirs = requests.get(f"{real[0]}{path}", timeout=5)
            assert ours.status_code == theirs.status_code, path
            assert ours.headers["Content-Type"] == theirs.headers["Content-Type"], path
            if path == "/api/v1/status/buildinfo":
                assert ours.json()["status"] == theirs.json()["status"] == "success"
                assert set(ours.json()["data"]) == set(theirs.json()["data"])
            else:
                assert ours.text == theirs.text, path
    finally:
        real[1].terminate()
        real[1].wait(10)
    for port in (3000, 9090):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(
                (address_of(ray_room, "monitoring_down", MLTRAIN), port), timeout=2
            )
    names = ssh_run(ray_room, "monitoring_down", MLTRAIN, "docker ps --format '{{.Names}}'")
    assert "grafana" not in names.stdout.split() and "ray-head" in names.stdout.split()


def _real_prometheus(tmp_path: Path) -> tuple[str, subprocess.Popen]:
    exe = shutil.which("prometheus")
    if exe is None:
        pytest.skip("no prometheus binary (apt-get install prometheus)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "prometheus.yml"
    (tmp_path / "sd.json").write_text("[]")
    cfg.write_text(  # Ray's own prometheus.yml, its service-discovery file here
        "global:\n  scrape_interval: 10s\nscrape_configs:\n- job_name: 'ray'\n"
        f"  file_sd_configs:\n  - files:\n    - '{tmp_path / 'sd.json'}'\n"
    )
    proc = subprocess.Popen(
        [exe, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if requests.get(url + "/-/ready", timeout=1).status_code == 200:
                return url, proc
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise AssertionError("the real Prometheus did not get ready")


def test_ray_containers_and_gpus(ray_room: Classroom) -> None:
    out = ssh_run(
        ray_room,
        "healthy",
        MLTRAIN,
        "docker ps --format '{{.Names}}\t{{.Label \"com.docker.compose.project\"}}'",
    )
    rows = dict(line.split("\t") for line in out.stdout.splitlines())
    assert {k: v for k, v in rows.items() if k.startswith("ray-")} == {
        "ray-head": "ray_cluster",
        "ray-worker-0": "ray_cluster",
        "ray-worker-1": "ray_cluster",
    }
    gpus = {}
    for worker in ("ray-worker-0", "ray-worker-1"):
        listed = ssh_run(ray_room, "healthy", MLTRAIN, f"docker exec {worker} nvidia-smi -L")
        assert listed.exited == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert len(lines) == 1 and lines[0].startswith("GPU 0: NVIDIA A100-PCIE-40GB (UUID: GPU-")
        gpus[worker] = lines[0]
    assert gpus["ray-worker-0"] != gpus["ray-worker-1"]  # one GPU each, different UUIDs
    requests_ = ssh_run(
        ray_room,
        "healthy",
        MLTRAIN,
        "docker inspect -f '{{json .HostConfig.DeviceRequests}}' ray-worker-1",
    )
    assert json.loads(requests_.stdout)[0]["DeviceIDs"] == ["1"]
    missing = ssh_run(ray_room, "healthy", MLTRAIN, "docker exec ray-worker-9 nvidia-smi -L")
    assert (missing.exited, missing.stderr) == (
        1,
        "Error response from daemon: No such container: ray-worker-9\n",
    )
    tty = ssh_run(
        ray_room, "healthy", MLTRAIN, "docker exec -it ray-worker-0 nvidia-smi --list-gpus"
    )
    assert (tty.exited, tty.stderr) == (1, "the input device is not a TTY\n")
    stopped = ssh_run(ray_room, "worker_missing", MLTRAIN, "docker ps --format '{{.Names}}'")
    assert "ray-worker-1" not in stopped.stdout.split() and "ray-worker-0" in stopped.stdout
    bare = ssh_run(ray_room, "worker1_no_gpu", MLTRAIN, "docker exec ray-worker-1 nvidia-smi -L")
    assert bare.exited == 127 and "executable file not found" in bare.stdout + bare.stderr
    kept = ssh_run(ray_room, "worker1_no_gpu", MLTRAIN, "docker exec ray-worker-0 nvidia-smi -L")
    assert kept.exited == 0 and kept.stdout.startswith("GPU 0: NVIDIA A100"), kept.stderr
    amd = ssh_run(
        ray_room, "amd_gpus", MLTRAIN, "docker exec ray-worker-1 rocm-smi --showproductname --json"
    )
    assert amd.exited == 0 and "MI100" in amd.stdout, amd.stderr
    no_nvidia = ssh_run(ray_room, "amd_gpus", MLTRAIN, "docker exec ray-worker-1 nvidia-smi -L")
    assert (
        no_nvidia.exited != 0 and "executable file not found" in no_nvidia.stdout + no_nvidia.stderr
    )


def test_ray_unreachable_hosts(ray_room: Classroom) -> None:
    for port in (8265, 9000, 3000, 9090):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address_of(ray_room, "host_down", MLTRAIN), port), timeout=2)
        with socket.create_connection((address_of(ray_room, "tarpit", MLTRAIN), port), 2) as sock:
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):
                sock.recv(1)


# ---- lifecycle -------------------------------------------------------------------------------
def test_stop_ends_every_process_and_port(tmp_path: Path) -> None:
    room = Classroom(tmp_path, ["healthy"], labs=(MLFLOW, MLTRAIN)).start()
    try:
        memory = room.family(MLFLOW).memory()
        timings = dict(room.family(MLFLOW).timings)
        pids = room.pids()
        servers = [address_of(room, "healthy", MLFLOW), address_of(room, "healthy", MLTRAIN)]
        assert len(memory["mlflow"]) == 2 and len(memory["s3"]) == 3  # supervisors + children
        assert set(p["pid"] for f in memory.values() for p in f) <= set(pids)
    finally:
        began = time.monotonic()
        room.stop()
        room.stop()  # idempotent
        stop_seconds = time.monotonic() - began
    print(f"\nstart {room.start_seconds:.2f} s {timings}; stop {stop_seconds:.2f} s; {memory}")
    assert [p for p in pids if os.path.exists(f"/proc/{p}")] == []
    for addr, port in [
        (servers[0], 8000),
        (servers[0], 9000),
        (servers[1], 8265),
        (servers[1], 9000),
    ]:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((addr, port), timeout=2)
