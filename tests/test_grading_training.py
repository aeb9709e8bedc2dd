"""End to end on the training labs: a real MLflow tracking server and a real S3 server (moto)
per simulated host, a Ray dashboard stand-in, GPU stand-ins inside the Ray workers."""

from __future__ import annotations

from tests.conftest import graded_as_expected

PROFILES = {
    "mlflow-chi": [
        "healthy",
        "no_registered_model",
        "mlflow_down",
        "empty_bucket",
        "mlflow_garbage",
        "host_down",
    ],
    "mltrain-chi": [
        "healthy",
        "job_failed",
        "worker_missing",
        "no_checkpoints",
        "amd_gpus",
        "host_down",
    ],
}


def test_every_profile_is_graded_as_expected(lab_room) -> None:
    lab_id, r = lab_room
    graded_as_expected(lab_id, r.students)
