"""The lab's Argo pipeline judged (train-model -> build -> deploy to staging -> test-staging
-> promote-model to canary, then production): every step ran, staging's test let the newest
model through or stopped a model of the bad branch, and why an ArgoCD Application that is not
Synced/Healthy is as the lab leaves it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from graders.checks import Lab
from graders.labkit.argo import (
    App,
    Run,
    applications,
    bad_versions,
    quietly,
    rolling_out,
    workflows,
)


@dataclass(frozen=True)
class Verdict:
    """A check's verdict: a problem (with help) fails it; a note and the newest gate
    workflow's phase are recorded either way."""

    problem: str = ""
    help: str = ""
    note: str = ""
    newest_test: str = ""


def judge_workflows(runs: list[Run], config: dict[str, Any]) -> Verdict:
    """argo_workflows' verdict on the runs (newest first) under the lab's `argo` settings."""
    cfg = config["argo"]
    never = [
        t
        for t in cfg["pipeline"]
        if not any(r.template == t and r.phase == "Succeeded" for r in runs)
    ]
    if never:
        return Verdict(
            f"no Succeeded workflow of {', '.join(never)} ({len(runs)} workflows in all)",
            "Submit train-model from the Argo UI and follow what it triggers.",
        )
    gate = cfg.get("gate")
    tests = [r for r in runs if gate and r.template == gate and r.done]
    if not tests:
        return Verdict()
    newest = tests[0]
    if newest.phase == "Succeeded":
        return Verdict(newest_test=newest.phase)
    version = newest.param("model-version")
    bad = bad_versions(runs, cfg.get("bad_branch"))
    if version in bad:
        return Verdict(
            note=f"the newest finished {gate} workflow {newest.name} ended {newest.phase}: it "
            f"tested version {version}, which {bad[version].name} trained from branch "
            f"{cfg['bad_branch']} (Part 3's deliberate failure, stopped in staging)",
            newest_test=newest.phase,
        )
    return Verdict(
        f"the newest finished {gate} workflow {newest.name} (started {newest.when}) ended "
        f"{newest.phase}: model version {version or '?'} stayed out of canary",
        "Look at its integration-test step's log; once staging serves a good model, "
        "cron-train (every 15 min) or a new train-model run tests it again.",
        newest_test=newest.phase,
    )


def judge_bad_run(runs: list[Run], branch: str) -> Verdict:
    """bad_model_stopped's verdict: the `branch` training, its staging test and canary."""
    trains = [r for r in runs if r.template == "train-model" and r.param("branch") == branch]
    if not trains:
        return Verdict(
            f"no train-model workflow ran with branch={branch}",
            f"Part 3: submit train-model from the Argo UI with the branch parameter {branch}.",
        )
    bad = bad_versions(runs, branch)
    if not bad:
        newest = trains[0]
        if not newest.done:
            return Verdict(
                f"train-model {newest.name} (branch={branch}) is still {newest.phase}",
                "Grade again once it and its staging test have finished.",
            )
        return Verdict(
            f"train-model {newest.name} (branch={branch}) ended {newest.phase} without "
            "registering a model for staging to test",
            "Its training tests pass; submit it again and follow the downstream workflows.",
        )
    problems = []
    for version, train in bad.items():
        tests = [
            r for r in runs if r.template == "test-staging" and r.param("model-version") == version
        ]
        promoted = [
            r
            for r in runs
            if r.template == "promote-model"
            and r.phase == "Succeeded"
            and r.param("model-version") == version
            and r.param("target-environment") == "canary"
        ]
        failed = [t for t in tests if t.phase in ("Failed", "Error")]
        if failed and not promoted:
            return Verdict(
                note=f"{train.name} (branch={branch}) registered version {version}; "
                f"test-staging {failed[0].name} ended {failed[0].phase}, and no promote-model "
                f"took version {version} to canary"
            )
        if promoted:
            problems.append(
                f"version {version} from {train.name} reached canary ({promoted[0].name})"
            )
        elif any(t.phase == "Succeeded" for t in tests):
            problems.append(f"test-staging passed version {version} from {train.name}")
        else:
            problems.append(f"no finished test-staging of version {version} ({train.name}) yet")
    return Verdict(
        "; ".join(problems),
        "Staging's integration test should stop the mlops-bad model: look at test-staging's "
        "integration-test step.",
    )


def app_excuse(lab: Lab, name: str, app: App) -> str:
    """Why an application that is not Synced/Healthy is as the lab leaves it, or ""."""
    env = name.removeprefix("gourmetgram-")
    runs = quietly(lab, workflows)
    if runs is None:
        return ""
    if app.health in ("Degraded", "Progressing") and env == "staging":
        version = bad_in_staging(lab.config, runs, app)
        if version:
            return (
                f"it runs version {version}, Part 3's mlops-bad model, whose pod crashes "
                "as the lab says"
            )
    if app.health in ("Progressing", "Healthy") and app.sync in ("Synced", "OutOfSync"):
        run = rolling_out(runs, env, None, datetime.now(timezone.utc))
        if run:
            return f"{run.template} {run.name} ({run.phase}) is rolling it out"
    return ""


def bad_in_staging(config: dict[str, Any], runs: list[Run], app: App | None) -> str:
    """The version staging's image carries when it is a model of the lab's bad branch whose
    staging test failed, else ""."""
    m = re.fullmatch(r"staging-1\.0\.(\d+)", app.tag) if app else None
    if not m:
        return ""
    bad = bad_versions(runs, config["argo"].get("bad_branch"))
    failed = any(
        r.template == "test-staging"
        and r.param("model-version") == m.group(1)
        and r.phase in ("Failed", "Error")
        for r in runs
    )
    return m.group(1) if m.group(1) in bad and failed else ""


def staging_bad_model(lab: Lab) -> str:
    """The version staging's image carries when it is Part 3's bad-branch model that failed
    its staging test (see bad_in_staging), read quietly: "" where the cluster cannot be read."""
    runs, apps = quietly(lab, workflows), quietly(lab, applications)
    return bad_in_staging(lab.config, runs or [], (apps or {}).get("gourmetgram-staging"))


def promotion_in_flight(lab: Lab, env: str, version: str | None) -> Run | None:
    """The promote-model or deploy-container-image workflow taking `env` to model `version`
    that runs now or ended less than SETTLE ago (see rolling_out), read quietly; None where
    there is none, no version, or the workflows cannot be read."""
    runs = quietly(lab, workflows)
    return rolling_out(runs, env, version, datetime.now(timezone.utc)) if runs and version else None
