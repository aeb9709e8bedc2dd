"""End to end on mlops-chi: real sshd with the kubectl stand-in (Argo and ArgoCD objects), the
real MLflow server holding GourmetGramFood11Model and its aliases, GourmetGram's `workflow`
branch on 8082/8081/8080, and the GitHub API stand-in for the CI runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.conftest import graded_as_expected, lab_classroom

LAB = "mlops-chi"
PROFILES = [
    "healthy",
    "staging_test_failed",
    "canary_stale",
    "argocd_degraded",
    "argo_missing",
    "version_garbage",
    "ci_failed",
    "no_github_repo",
    "gateway_no_canary",
    "host_down",
    "tarpit",
]


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> Iterator[object]:
    with lab_classroom(tmp_path_factory.mktemp(LAB), LAB, PROFILES) as r:
        yield r


def test_every_profile_is_graded_as_expected(room) -> None:
    graded = graded_as_expected(LAB, room.students)
    by = {s.profile: {c.id: c for c in result.items} for s, result in graded}
    # The failures name what was seen.
    assert "test-staging" in by["staging_test_failed"]["argo_workflows"].feedback
    assert "canary serves 1.0.2" in by["canary_stale"]["versions_agree"].feedback
    assert (
        "gourmetgram-canary is OutOfSync/Degraded" in by["argocd_degraded"]["argocd_apps"].feedback
    )
    assert 'resource type "workflowtemplates"' in by["argo_missing"]["argo_templates"].feedback
    assert "did not answer JSON" in by["version_garbage"]["env_production"].feedback
    assert "no github_repo" in by["no_github_repo"]["github_actions"].feedback
    assert "answered 0 of 40" in by["gateway_no_canary"]["gateway_split"].feedback
    # a check that does not apply (worth 0 points) does not make `check` exit 1
    results = {s.profile: result for s, result in graded}
    now = datetime.now(UTC)
    assert results["no_github_repo"].all_shown_passed(now)
    assert not results["ci_failed"].all_shown_passed(now)
    assert "failure" in by["ci_failed"]["github_actions"].feedback
    # A healthy student's measurements: what each environment serves, MLflow's aliases, CI.
    healthy = by["healthy"]
    assert healthy["env_canary"].measurements["model_version"] == "1.0.4"
    assert healthy["env_production"].measurements["model_version"] == "1.0.2"
    assert healthy["mlflow_model"].measurements["alias_canary"] == "4"
    assert healthy["argo_workflows"].measurements["failed"] == 2  # accuracy; mlops-bad at staging
    assert healthy["github_actions"].measurements["runner_labels"] == "ubuntu-latest"
    assert healthy["gateway_split"].measurements["canary_share"] == 0.1  # 4 of 40
