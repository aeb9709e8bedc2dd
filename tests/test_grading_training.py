"""End to end on the training labs: a real MLflow tracking server and a real S3 server (moto)
per simulated host, a Ray dashboard stand-in, GPU stand-ins inside the Ray workers."""

from __future__ import annotations

import json

import pytest

from tests.conftest import address_of, graded_as_expected, loopback_rubrics, run_cli, student_of

PROFILES = {
    "mlflow-chi": [
        "healthy",
        "no_registered_model",
        "mlflow_down",
        "empty_bucket",
        "mlflow_garbage",
        "host_down",
        "mlflow_kvm_h100",
        "lease_expired",
        "one_liner_run",
    ],
    "mltrain-chi": [
        "healthy",
        "job_failed",
        "worker_missing",
        "no_checkpoints",
        "amd_gpus",
        "host_down",
        "lease_expired",
        "ray_train_v2",
        "ray_train_v1",
        "true_ray_job",
        "worker1_no_gpu",
        "monitoring_down",
    ],
}


def test_every_profile_is_graded_as_expected(lab_room) -> None:
    lab_id, r = lab_room
    graded_as_expected(lab_id, r.students)


def test_a_lab_of_two_sites_finds_each_student_where_they_built(lab_room, tmp_path) -> None:
    """mlflow-chi runs on bare metal at CHI@TACC or on an H100 VM at KVM@TACC. With an openrc
    for KVM@TACC only (Chameleon's credentials are per site), the VM student is graded in
    full and the result says where; the bare-metal student's server, at the site those
    credentials cannot search, is a grader error that names that site, never a zero."""
    lab_id, r = lab_room
    if lab_id != "mlflow-chi":
        pytest.skip("mlflow-chi is the training lab with two sites")
    env = {
        **r.openstack_env,
        "OS_CLIENT_CONFIG_FILE": str(tmp_path / "none.yaml"),
        "LABGRADER_RUBRICS": loopback_rubrics(r, tmp_path),
    }

    def checked(profile: str) -> dict[str, dict]:
        student = student_of(r, profile)
        done = run_cli(
            env, "check", lab_id, "--student", str(student.student_file), "--format", "json"
        )
        return {c["check"]: c for c in json.loads(done.stdout)["checks"]}

    vm = checked("mlflow_kvm_h100")
    assert vm["server_active"]["measurements"]["site"] == "KVM@TACC"
    assert {c["observed"] for c in vm.values()} == {"passed"}, vm
    bare = checked("healthy")["server_active"]
    assert bare["observed"] == "error", bare
    assert "CHI@TACC" in bare["feedback"], bare["feedback"]


def test_the_lease_check_says_the_lease_ended(lab_room) -> None:
    lab_id, r = lab_room
    [(_, result)] = graded_as_expected(lab_id, [student_of(r, "lease_expired")])
    lease = next(i for i in result.items if i.check == "lease")
    assert lease.observed == "failed" and lease.max_score == 0
    assert "TERMINATED" in lease.feedback and "no longer answer" in lease.feedback


def test_mltrain_recognises_the_manuals_entry_points_and_rays_layouts() -> None:
    """Pure: which job entrypoints run the lab's train.py, which bucket keys are checkpoints."""
    from graders.labs import load_lab

    checks = {c.id: c for c in load_lab("mltrain-chi").checks}
    module = __import__(checks["ray_jobs"].func.__module__, fromlist=["runs_script"])
    runs, layout = module.runs_script, module.checkpoint_run
    for entry in (
        "python gourmetgram-train/train.py",
        "python3 -u ./gourmetgram-train/train.py",
        "cd gourmetgram-train && python train.py",
    ):
        assert runs(entry, "train.py"), entry
    for entry in ("true", "python -c 'import ray; ray.init()'", "echo train.py", "python 'x", None):
        assert not runs(entry, "train.py"), entry
    assert layout(
        "ray_train_run-2026-03-10_14-02-11/checkpoint_2026-03-10_14-03-06.004158/checkpoint.ckpt"
    ) == ("train_v2", "ray_train_run-2026-03-10_14-02-11")
    assert layout(
        "TorchTrainer_2025-02-25_17-47-34/TorchTrainer_a64e2_00000_0_2025-02-25_17-47-34/"
        "checkpoint_000004/checkpoint.ckpt"
    ) == ("train_v1", "TorchTrainer_2025-02-25_17-47-34")
    assert layout(
        "train_func_2026-03-10_15-01-58/train_func_11f00_00000_0_batch_size=32,"
        "dropout_probability=0.4340_2026-03-10_15-02-10/checkpoint_000000/checkpoint"
    ) == ("tune", "train_func_2026-03-10_15-01-58")
    for key in (
        "TorchTrainer_x",
        "ray_train_run-2026-03-10_14-02-11/.validate_storage_marker",
        "checkpoint_000001/checkpoint.ckpt",
        "run/checkpoint_2026-03-10_14-03-06.004158/",
    ):
        assert layout(key) is None, key


def _mlflow_only(lab_id: str) -> None:
    if lab_id != "mlflow-chi":
        pytest.skip("mlflow-chi's MLflow checks")


def test_the_training_evidence_is_one_runs_and_the_registered_run_may_be_another(
    lab_room,
) -> None:
    """The healthy student did the whole manual: train.py's run holds the validation history
    (20 epochs), the GPU system metrics and gpu-info.txt; the API notebook registered the run
    of the best test_accuracy, the Lightning autolog run (no gpu-info.txt of its own), which
    is a training run of the experiment too. The bucket's whole listing is the record kept.
    The one-liner run passes none of it."""
    import requests

    lab_id, r = lab_room
    _mlflow_only(lab_id)
    graded = graded_as_expected(lab_id, [student_of(r, p) for p in ("healthy", "one_liner_run")])
    healthy, cheat = ({i.check: i for i in result.items} for _, result in graded)
    runs, staging = healthy["experiment_runs"], healthy["registered_model"]
    assert runs.measurements["history_steps"] == 20 and runs.measurements["gpu_metrics"] >= 1
    assert staging.measurements["run_id"] != runs.measurements["run_id"]
    api = f"http://{address_of(r, 'healthy', lab_id)}:8000/api/2.0/mlflow"
    asked = {"run_id": staging.measurements["run_id"]}
    registered = requests.get(api + "/runs/get", params=asked, timeout=5).json()["run"]
    tags = {t["key"]: t["value"] for t in registered["data"]["tags"]}
    assert tags["mlflow.source.git.branch"] == "lightning"
    files = requests.get(api + "/artifacts/list", params=asked, timeout=5).json().get("files")
    assert "gpu-info.txt" not in [f["path"] for f in files or []]
    bucket = healthy["artifact_bucket"]
    [note] = [e for e in bucket.evidence if e["kind"] == "note"]
    assert len(note["excerpt"].splitlines()) == bucket.measurements["objects"] > 2
    assert bucket.measurements["runs_with_artifact"] == 2 and not note["truncated"]

    assert "no GPU system metrics" in cheat["experiment_runs"].feedback
    assert "logged val_accuracy at 0 steps" in cheat["registered_model"].feedback
    assert "no version of registered model food11" in cheat["ui_model"].feedback
    assert "no run's gpu-info.txt" in cheat["artifact_bucket"].feedback


def test_each_part_of_a_training_runs_record_is_required(lab_room) -> None:
    """Runs that game one part each (test metrics and GPU system metrics, but the validation
    metric at one step; or everything but gpu-info.txt) fail experiment_runs; a run with all
    of it, in the same run, passes."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from graders.checks import Host
    from graders.labs import load_lab
    from graders.runner import run_check
    from graders.status import Status
    from tests.conftest import session

    lab_id, r = lab_room
    _mlflow_only(lab_id)
    address = address_of(r, "healthy", lab_id)
    url = f"http://{address}:8000"
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment = client.create_experiment("gamed")
    lab = load_lab(lab_id)
    check = next(c for c in lab.checks if c.id == "experiment_runs")

    def run(steps: int, gpu_info: bool) -> str:
        run_id = client.create_run(experiment).info.run_id
        t = 1_790_000_000_000
        metrics = [Metric("val_accuracy", 0.5 + s / 100, t + s, s) for s in range(steps)]
        metrics += [
            Metric("test_accuracy", 0.9, t, 0),
            Metric("test_loss", 0.3, t, 0),
            Metric("system/gpu_0_utilization_percentage", 80.0, t, 0),
        ]
        client.log_batch(run_id, metrics=metrics, synchronous=True)
        if gpu_info:
            client.log_text(run_id, "NVIDIA-SMI 570.86", "gpu-info.txt")
        client.set_terminated(run_id)
        return run_id

    def observed():
        grading = session({**lab.config, "experiment": "gamed"})
        return run_check(check, grading, None, host=Host("node", address))[0]

    run(1, gpu_info=True)
    run(5, gpu_info=False)
    first = observed()
    assert first.status == Status.FAILED, first.message
    assert "val_accuracy logged at 1 steps" in first.message
    assert "no gpu-info.txt among its 0 artifacts" in first.message
    whole = run(3, gpu_info=True)
    then = observed()
    assert then.status == Status.PASSED, then.message
    assert then.measurements["run_id"] == whole and then.measurements["history_steps"] == 3
