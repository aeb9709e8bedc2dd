"""Build an MLOps pipeline: the checks follow the lab (2026, with gourmetgram-iac).

Provision node1-3 with Terraform and Kubernetes with Ansible; ArgoCD deploys the platform
(MLflow on 8000) and GourmetGram's staging (8082), canary (8081) and production (8080); Argo
Workflows trains, builds, deploys, tests in staging and promotes, and MLflow's aliases say
which model version each environment serves. Optionally, the student's GitHub Actions runs.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from typing import Any
from urllib.parse import quote

from graders.answers import as_dict
from graders.checks import Host, Lab, check
from graders.errors import Skip
from graders.labkit.apis import get_json, mlflow_api
from graders.labkit.chameleon import require_floating_ip, require_servers_active
from graders.labkit.instances import course_key_check, login_check
from graders.labkit.kubernetes import kubectl_json

VERSION = re.compile(r"^1\.0\.(\d+)$")
ArgoObjects = list[dict[str, Any]]  # templates, cron workflows and workflows of namespace argo
Aliases = dict[str, str]  # MLflow alias -> the model version it is on


@check(title="Instances node1, node2 and node3 are ACTIVE")
def nodes_active(lab: Lab) -> None:
    """Terraform made node1-mlops-<netid>, node2-... and node3-... at KVM@TACC; all ACTIVE."""
    require_servers_active(
        lab, ("node1", "node2", "node3"), "Run terraform apply again; check the lease."
    )


@check(title="node1 has a floating IP")
def floating_ip(lab: Lab) -> Host:
    """node1 has the floating IP through which the grader reaches SSH, MLflow and the apps."""
    return require_floating_ip(lab, "node1", "terraform apply attaches one to node1.")


ssh_login = login_check(after=floating_ip, title="SSH as cc works on node1")


@check(
    title="Argo's workflow templates and cron-train exist", depends=[ssh_login], vantage="host"
)
def argo_templates(lab: Lab) -> ArgoObjects:
    """`kubectl get workflowtemplates,cronworkflows,workflows -n argo` on node1 lists the five
    templates of the pipeline and the CronWorkflow cron-train (one kubectl call, which the
    next check reads too)."""
    objects = _argo(lab)
    cfg = lab.config["argo"]
    have = {o["metadata"].get("name") for o in objects if o.get("kind") == "WorkflowTemplate"}
    crons = {o["metadata"].get("name") for o in objects if o.get("kind") == "CronWorkflow"}
    missing = [t for t in cfg["templates"] if t not in have]
    lab.measure("templates", len(cfg["templates"]) - len(missing))
    lab.require(
        not missing,
        f"WorkflowTemplate(s) missing in namespace {cfg['namespace']}: {', '.join(missing)}",
        "Run the workflow_templates_apply.yml playbook again.",
    )
    lab.require(
        cfg["cron"] in crons,
        f"no CronWorkflow {cfg['cron']} in namespace {cfg['namespace']}",
        "It comes with the workflow templates; apply cron-train.yaml.",
    )
    return objects


@check(
    title="Each step of the pipeline has run, and staging let the newest model through",
    depends=[argo_templates],
)
def argo_workflows(lab: Lab, argo_templates: ArgoObjects) -> None:
    """Every template of the pipeline has a Succeeded workflow, and the newest test-staging
    workflow Succeeded (a Failed one kept its model out of canary)."""
    runs = sorted(
        (_summary(o) for o in argo_templates if o.get("kind") == "Workflow"),
        key=lambda r: r["started"],
        reverse=True,
    )
    lab.note(f"{len(runs)} workflows, newest first", runs[:40])
    lab.measure("workflows", len(runs))
    lab.measure("succeeded", sum(r["phase"] == "Succeeded" for r in runs))
    lab.measure("failed", sum(r["phase"] in ("Failed", "Error") for r in runs))
    never = [
        t
        for t in lab.config["argo"]["pipeline"]
        if not any(r["template"] == t and r["phase"] == "Succeeded" for r in runs)
    ]
    lab.require(
        not never,
        f"no Succeeded workflow of {', '.join(never)} ({len(runs)} workflows in all)",
        "Submit train-model from the Argo UI and follow what it triggers.",
    )
    tests = [r for r in runs if r["template"] == "test-staging"]
    newest = tests[0]
    lab.measure("latest_test_staging", newest["phase"])
    lab.require(
        newest["phase"] == "Succeeded",
        f"the newest test-staging workflow {newest['name']} (started {newest['started']}) "
        f"ended {newest['phase']}: its model version stayed out of canary",
        "After Part 3's mlops-bad run, let cron-train (every 15 min) train a good model, "
        "then grade again.",
    )


@check(
    title="ArgoCD's four GourmetGram applications are Synced and Healthy",
    depends=[ssh_login],
    vantage="host",
)
def argocd_apps(lab: Lab) -> None:
    """`kubectl get applications -n argocd` lists gourmetgram-platform, -staging, -canary and
    -production, each Synced and Healthy."""
    ns = lab.config["argocd"]["namespace"]
    doc = kubectl_json(lab, f"get applications.argoproj.io -n {shlex.quote(ns)} -o json")
    apps = {
        o["metadata"].get("name"): o
        for o in doc.get("items", [])
        if isinstance(o, dict) and isinstance(o.get("metadata"), dict)
    }
    problems, synced = [], 0
    for name in lab.config["argocd"]["apps"]:
        app = apps.get(name)
        if app is None:
            problems.append(f"{name} missing")
            continue
        status = app.get("status") or {}
        sync = (status.get("sync") or {}).get("status", "Unknown")
        health = (status.get("health") or {}).get("status", "Unknown")
        synced += sync == "Synced" and health == "Healthy"
        if (sync, health) != ("Synced", "Healthy"):
            problems.append(f"{name} is {sync}/{health}")
    lab.measure("apps_synced_healthy", synced)
    lab.require(
        not problems,
        "; ".join(problems),
        "Open the ArgoCD dashboard (port-forward 8888:443) and look at the app's events.",
    )


@check(title="MLflow knows GourmetGramFood11Model and its aliases", depends=[floating_ip])
def mlflow_model(lab: Lab) -> Aliases:
    """MLflow's REST API on port 8000 has the registered model, with aliases staging, canary
    and production."""
    name = lab.config["registered_model"]
    doc = mlflow_api(
        lab,
        "GET",
        f"registered-models/get?name={quote(name)}",
        f"registered model {name}",
        help="train-model registers it when flow.py's tests pass.",
    )
    model = as_dict(doc.get("registered_model"), f"MLflow's registered_model {name}")
    aliases = {
        str(a.get("alias")): str(a.get("version"))
        for a in model.get("aliases") or []
        if isinstance(a, dict)
    }
    for alias, version in aliases.items():
        lab.measure(f"alias_{alias}", version)
    missing = [a for a in lab.config["aliases"] if a not in aliases]
    lab.require(
        not missing,
        f"{name} has no alias {', '.join(missing)} (aliases: {aliases or 'none'})",
        "promote-model sets the alias named after its target environment.",
    )
    return aliases


@check(title="Staging answers /version and /test on port 8082", depends=[floating_ip])
def env_staging(lab: Lab) -> str:
    """`GET :8082/version` answers {"model_version": "1.0.N"}; `GET :8082/test` a class."""
    return _environment(lab, "staging")


@check(title="Canary answers /version and /test on port 8081", depends=[floating_ip])
def env_canary(lab: Lab) -> str:
    """`GET :8081/version` answers {"model_version": "1.0.N"}; `GET :8081/test` a class."""
    return _environment(lab, "canary")


@check(title="Production answers /version and /test on port 8080", depends=[floating_ip])
def env_production(lab: Lab) -> str:
    """`GET :8080/version` answers {"model_version": "1.0.N"}; `GET :8080/test` a class."""
    return _environment(lab, "production")


@check(
    title="Canary and production serve the versions MLflow's aliases name",
    depends=[env_canary, env_production, mlflow_model],
)
def versions_agree(
    lab: Lab, env_canary: str, env_production: str, mlflow_model: Aliases
) -> None:
    """Canary's and production's /version are 1.0.N with N the version of the MLflow alias of
    that name (promote-model sets the alias once it deployed; staging's alias is set before
    its tests, so staging is not held to it)."""
    serves = {"canary": env_canary, "production": env_production}
    wrong = [
        f"{env} serves 1.0.{version}, its alias is on version "
        f"{mlflow_model.get(env)} (1.0.{mlflow_model.get(env)})"
        for env, version in serves.items()
        if version != mlflow_model.get(env)
    ]
    lab.require(
        not wrong,
        "; ".join(wrong),
        "Check the app's rollout in ArgoCD; promote-model deploys, then moves the alias.",
    )


@check(
    title="The gateway on port 80 sends most requests to production, some to canary",
    depends=[env_canary, env_production],
)
def gateway_split(lab: Lab, env_canary: str, env_production: str) -> None:
    """`GET :80/version`, 40 times: every answer is production's or canary's version, and
    when the two differ, canary answers some and production most (the lab's HTTPRoute
    weighs them 90/10)."""
    cfg = lab.config.get("gateway")
    if not cfg:
        raise Skip("this year's lab has no gateway")
    url, n = f"http://{lab.address}:{cfg['port']}/version", int(cfg["requests"])
    production, canary = f"1.0.{env_production}", f"1.0.{env_canary}"
    seen: Counter[str] = Counter()
    for _ in range(n):
        doc = get_json(lab, url, '{"model_version": "1.0.N"}')
        seen[str(doc.get("model_version") if isinstance(doc, dict) else doc)[:40]] += 1
    lab.note(f"GET {url} x{n}: model versions answered", dict(seen))
    other = [v for v in seen if v not in (production, canary)]
    lab.require(
        not other,
        f"GET {url} answered {other[0]!r}, neither production's {production} nor canary's {canary}"
        if other
        else "",
        "The gateway's HTTPRoute must point at the gourmetgram-app services of both.",
    )
    if production == canary:
        lab.note(f"production and canary both serve {production}: the split cannot be seen")
        return
    lab.measure("canary_share", round(seen[canary] / n, 3))
    lab.require(
        0 < seen[canary] <= n // 2,
        f"canary ({canary}) answered {seen[canary]} of {n} requests to {url}, production "
        f"({production}) {seen[production]}: not a canary split",
        "HTTPRoute gourmetgram-route should weigh production 90 and canary 10.",
    )


@check(title="GitHub Actions runs of the student's repository")
def github_actions(lab: Lab) -> None:
    """The newest finished GitHub Actions run of the repository in student.yaml
    (`github_repo`) concluded success; runs, conclusions, runners and commits are recorded."""
    repo = lab.student.github_repo
    if not repo:
        raise Skip(
            "student.yaml names no github_repo (owner/name), so there are no CI runs to read"
        )
    gh = lab.github
    total, runs = gh.runs(repo, lab.config.get("github_runs", 10))
    lab.measure("runs_total", total)
    lab.require(
        runs, f"{repo} has no GitHub Actions runs", "Push a workflow under .github/workflows/."
    )
    done = [r for r in runs if r.status == "completed"]
    lab.require(done, f"none of the {len(runs)} newest runs of {repo} has finished yet")
    latest = done[0]
    jobs = gh.jobs(repo, latest.id)
    lab.note(
        f"{repo}: newest runs",
        [r.summary() for r in runs]
        + [f"job {j.name}: {j.conclusion} on {j.runner_name} {list(j.labels)}" for j in jobs],
    )
    lab.measure("latest_conclusion", latest.conclusion)
    lab.measure("latest_head_sha", latest.head_sha)
    lab.measure("runner_labels", ",".join(sorted({x for j in jobs for x in j.labels})))
    lab.measure("success_rate", round(sum(r.conclusion == "success" for r in done) / len(done), 3))
    lab.require(
        latest.conclusion == "success",
        f"the newest run of {repo}, {latest.summary()}",
        "Open the run on GitHub and fix the failing job.",
    )


# --- helpers ----------------------------------------------------------------------------------
def _argo(lab: Lab) -> ArgoObjects:
    """The templates, cron workflows and workflows of namespace argo, in one kubectl call."""
    ns = shlex.quote(lab.config["argo"]["namespace"])
    doc = kubectl_json(
        lab,
        f"get workflowtemplates,cronworkflows,workflows -n {ns} -o json",
        missing="Argo is not installed: run the post_k8s playbook.",
    )
    items = doc.get("items") if doc.get("kind") == "List" else [doc]
    return [o for o in items or [] if isinstance(o, dict) and isinstance(o.get("metadata"), dict)]


def _summary(wf: dict[str, Any]) -> dict[str, str]:
    """Name, template, phase and times of a Workflow: the template from spec.workflowTemplateRef
    (how the pipeline's steps create each other) or the label the Argo UI sets."""
    meta, spec, status = wf["metadata"], wf.get("spec") or {}, wf.get("status") or {}
    labels = meta.get("labels") or {}
    template = (spec.get("workflowTemplateRef") or {}).get("name") or labels.get(
        "workflows.argoproj.io/workflow-template", ""
    )
    return {
        "name": str(meta.get("name", "")),
        "template": str(template),
        "phase": str(status.get("phase") or "Pending"),
        "started": str(status.get("startedAt") or meta.get("creationTimestamp") or ""),
        "finished": str(status.get("finishedAt") or ""),
    }


def _environment(lab: Lab, env: str) -> str:
    """The environment's model version N (it serves 1.0.N), once /version and /test answer."""
    base = f"http://{lab.address}:{lab.port(env)}"
    doc = get_json(lab, f"{base}/version", '{"model_version": "1.0.N"}')
    version = doc.get("model_version") if isinstance(doc, dict) else None
    m = lab.require(
        VERSION.match(version) if isinstance(version, str) else None,
        f'GET {base}/version answered {json.dumps(doc)[:80]}, not {{"model_version": "1.0.N"}}',
        "Deploy an image built from gourmetgram's workflow branch (it writes versions.txt).",
    )
    lab.measure("model_version", version)
    resp = lab.http.get(f"{base}/test")
    answer = resp.text.strip()
    lab.require(
        resp.status == 200 and answer in lab.config["classes"],
        f"GET {base}/test answered HTTP {resp.status} {answer[:60]!r}, not a Food-11 class",
        f"The {env} pod's model did not load; check `kubectl logs -n gourmetgram-{env}`.",
    )
    return m.group(1)


course_key = course_key_check(after=floating_ip)
