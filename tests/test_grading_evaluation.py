"""End to end on the evaluation labs: eval-offline-chi's pytest suite really run in the
simulated jupyter container (JUnit report parsed), and eval-loop-chi's production bucket on a
real S3 server (moto) with Label Studio and Airflow stand-ins."""

from __future__ import annotations

from graders.labs import load_lab
from labsim.evaluation import OFFLINE, suite_sha256
from tests.conftest import graded_as_expected

# The tarpit first: its checks wait out their timeouts, so it should not wait for a free slot.
PROFILES = {
    "eval-offline-chi": [
        "tarpit",
        "healthy",
        "offline_terminal_run",
        "offline_template_unlucky",
        "clone_only",
        "offline_no_data",
        "tests_tampered",
        "host_down",
    ],
    "eval-loop-chi": [
        "tarpit",
        "healthy",
        "production_empty",
        "production_untagged",
        "loop_no_feedback",
        "labelstudio_no_project",
        "empty_ls_projects",
        "airflow_later_run_failed",
        "airflow_never_succeeded",
        "pipelines_unrun",
        "loop_api_garbage",
        "host_down",
    ],
}


def test_every_profile_is_graded_as_expected(lab_room) -> None:
    lab_id, r = lab_room
    lab = load_lab(lab_id)
    if lab_id == OFFLINE:
        # lab.yaml lists the sha256 of the lab's real test files, which the simulator does not
        # ship: its students hold stand-ins (labsim/evalsuite/), whose hashes this grading adds.
        known = lab.config["test_files"]
        ours = suite_sha256()
        real = {digest for digests in known.values() for digest in digests}
        assert set(ours) == set(known) and not set(ours.values()) & real
        lab.config["test_files"] = {name: [*known[name], ours[name]] for name in known}
    graded = {s.profile: result for s, result in graded_as_expected(lab_id, r.students, lab)}
    checks = {p: {c.id: c for c in result.items} for p, result in graded.items()}
    if lab_id == "eval-offline-chi":
        healthy = checks["healthy"]
        assert sum(i.score for i in healthy.values()) == sum(i.max_score for i in healthy.values())
        # The lab's real tests ran on the simulated course model: 2 pass, 3 fail on their own
        # assertions (as the manual expects), and each scores for its verdict.
        run = healthy["suite_runs"].measurements
        assert (run["tests"], run["passed"], run["failures"], run["errors"]) == (5, 2, 3, 0)
        cake = healthy["verdict_cake_looks_like_accuracy"]
        assert cake.measurements["outcome"] == "failed" and cake.score == cake.max_score
        assert "cake_looks_like: 40.00% called Dessert, under 60%" in cake.measurements["message"]
        assert healthy["food11_data"].measurements["images"] == 66
        unlucky = checks["offline_template_unlucky"]["verdict_template_permutations"]
        assert unlucky.measurements["outcome"] == "failed" and unlucky.score == unlucky.max_score
        cheap = checks["clone_only"]
        assert sum(i.score for i in cheap.values()) <= 4  # server, login, container, the clone
        assert "0 of its 6 code cells" in cheap["notebook_executed"].feedback
        nodata = checks["offline_no_data"]["verdict_overall_accuracy"]
        assert nodata.measurements["outcome"] == "error" and "no verdict" in nodata.feedback
        assert "test_food11_test_cases.py" in checks["tests_tampered"]["test_files"].feedback
    else:
        healthy = checks["healthy"]
        assert sum(i.score for i in healthy.values()) == sum(i.max_score for i in healthy.values())
        bucket = healthy["production_bucket"]
        assert bucket.measurements["tagged_objects"] == 12 and bucket.score == bucket.max_score
        tags = healthy["feedback_tags"].measurements
        assert (tags["flagged"], tags["corrected"]) == (2, 1)
        assert healthy["labelstudio_projects"].measurements["projects"] == 12
        assert healthy["labelstudio_annotated"].measurements["continuous_x_annotated"] == 4
        assert healthy["fastapi_server"].measurements["title"] == "Food Classification API"
        assert healthy["flask_app"].measurements["test_answer"] == "Vegetable/Fruit"
        buckets = healthy["pipeline_buckets"].measurements
        assert (buckets["production-noisy"], buckets["production-clean"]) == (9, 4)
        later = checks["airflow_later_run_failed"]
        assert sum(i.score for i in later.values()) == sum(i.max_score for i in later.values())
        never = checks["airflow_never_succeeded"]["dag_runs"].feedback
        assert "pipeline_2_process_labeled_data has no successful run" in never
        assert "is failed" in never
        assert "never ran" in checks["pipelines_unrun"]["dag_runs"].feedback
        empty = checks["empty_ls_projects"]["labelstudio_annotated"].feedback
        assert "'Food11 Production' (0 tasks)" in empty
        assert "flagged=true" in checks["loop_no_feedback"]["feedback_tags"].feedback
        assert "did not answer JSON" in checks["loop_api_garbage"]["labelstudio_projects"].feedback
        assert "MiB" in checks["loop_api_garbage"]["airflow_dags"].feedback
        assert "is empty" in checks["production_empty"]["production_bucket"].feedback
