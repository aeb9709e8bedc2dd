"""End to end on the evaluation labs: eval-offline-chi's pytest suite really run in the
simulated jupyter container (JUnit report parsed), and eval-loop-chi's production bucket on a
real S3 server (moto) with Label Studio and Airflow stand-ins."""

from __future__ import annotations

from tests.conftest import graded_as_expected

# The tarpit first: its checks wait out their timeouts, so it should not wait for a free slot.
PROFILES = {
    "eval-offline-chi": [
        "tarpit",
        "healthy",
        "tests_failing",
        "tests_collection_error",
        "host_down",
    ],
    "eval-loop-chi": [
        "tarpit",
        "healthy",
        "production_empty",
        "production_untagged",
        "labelstudio_no_project",
        "airflow_dag_failed",
        "loop_api_garbage",
        "host_down",
    ],
}


def test_every_profile_is_graded_as_expected(lab_room) -> None:
    lab_id, r = lab_room
    graded = {s.profile: result for s, result in graded_as_expected(lab_id, r.students)}
    checks = {p: {c.id: c for c in result.items} for p, result in graded.items()}
    if lab_id == "eval-offline-chi":
        healthy = checks["healthy"]["suite_runs"].measurements
        assert (healthy["tests"], healthy["passed"], healthy["failures"]) == (5, 5, 0)
        failing = checks["tests_failing"]["tests_pass"]
        assert failing.measurements["pass_rate"] == 0.6
        assert "test_cake_looks_like_accuracy" in failing.feedback
        broken = checks["tests_collection_error"]["suite_runs"].feedback
        assert "test_food11_test_cases.py" in broken and "SyntaxError" in broken
    else:
        bucket = checks["healthy"]["production_bucket"]
        assert bucket.measurements["tagged_objects"] == 12 and bucket.score == bucket.max_score
        assert bucket.measurements["flagged"] == 2 and bucket.measurements["corrected"] == 1
        assert checks["healthy"]["labelstudio_projects"].measurements["projects"] == 12
        assert "did not answer JSON" in checks["loop_api_garbage"]["labelstudio_projects"].feedback
        assert "MiB" in checks["loop_api_garbage"]["airflow_dags"].feedback
        assert "is failed" in checks["airflow_dag_failed"]["dag_runs"].feedback
        assert "is empty" in checks["production_empty"]["production_bucket"].feedback
