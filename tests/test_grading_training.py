"""End to end on the training labs: a real MLflow tracking server and a real S3 server (moto)
per simulated host, a Ray dashboard stand-in, GPU stand-ins inside the Ray workers."""

from __future__ import annotations

import json

import pytest

from tests.conftest import graded_as_expected, loopback_rubrics, run_cli, student_of

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
        done = run_cli(env, "check", lab_id, "--student", str(student.student_file),
                       "--format", "json")
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
