"""Build an MLOps pipeline: the checks follow the lab (2026, with gourmetgram-iac).

Provision node1-3 with Terraform and Kubernetes with Ansible; ArgoCD deploys the platform
(MLflow on 8000) and GourmetGram's staging (8082), canary (8081) and production (8080); Argo
Workflows trains, builds, deploys, tests in staging and promotes, and MLflow's aliases say
which model version each environment serves. Optionally, the student's GitHub Actions runs.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from urllib.parse import quote

from graders.answers import as_dict
from graders.checks import Host, Lab, check
from graders.errors import Failure, Skip, TransportError
from graders.labkit import pipelines
from graders.labkit.apis import get_json, mlflow_api
from graders.labkit.argo import ArgoSetup, applications, cron_trainings, setup, workflows
from graders.labkit.chameleon import lease_check, require_floating_ip, require_servers_active
from graders.labkit.instances import course_key_check, login_check

VERSION = re.compile(r"^1\.0\.(\d+)$")
Aliases = dict[str, str]  # MLflow alias -> the model version it is on


lease = lease_check(title="Lease lease_mlops_<netid> is ACTIVE")


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


@check(title="Argo's workflow templates and cron-train exist", depends=[ssh_login], vantage="host")
def argo_templates(lab: Lab) -> ArgoSetup:
    """`kubectl get workflowtemplates` and `cronworkflows -n argo` on node1 (names and
    schedules only) list the templates of the pipeline and the CronWorkflow cron-train."""
    cfg = lab.config["argo"]
    found = setup(lab)
    missing = [t for t in cfg["templates"] if t not in found.templates]
    lab.measure("templates", len(cfg["templates"]) - len(missing))
    lab.require(
        not missing,
        f"WorkflowTemplate(s) missing in namespace {cfg['namespace']}: {', '.join(missing)}",
        "Run the workflow_templates_apply.yml playbook again.",
    )
    lab.require(
        not cfg.get("cron") or cfg["cron"] in found.crons,
        f"no CronWorkflow {cfg.get('cron')} in namespace {cfg['namespace']}",
        "It comes with the workflow templates; apply cron-train.yaml.",
    )
    return found


@check(
    title="Each step of the pipeline has run, and staging let the newest model through",
    depends=[argo_templates],
    vantage="host",
)
def argo_workflows(lab: Lab) -> None:
    """Every template of the pipeline has a Succeeded workflow, and the newest finished
    test-staging workflow Succeeded, or it is Part 3's deliberate failure: it tested the
    model that train-model with branch=mlops-bad registered, which stayed out of canary.
    Running and Pending workflows are left out when picking the newest."""
    runs = lab.shared(workflows)
    lab.note(f"{len(runs)} workflows, newest first", [r.summary() for r in runs[:40]])
    lab.measure("workflows", len(runs))
    lab.measure("succeeded", sum(r.phase == "Succeeded" for r in runs))
    lab.measure("failed", sum(r.phase in ("Failed", "Error") for r in runs))
    lab.measure("running", sum(not r.done for r in runs))
    verdict = pipelines.judge_workflows(runs, lab.config)
    if verdict.note:
        lab.note(verdict.note)
    if verdict.newest_test:
        lab.measure("latest_test_staging", verdict.newest_test)
    lab.require(not verdict.problem, verdict.problem, verdict.help)


@check(
    title="Part 3: the mlops-bad model failed its staging tests and never reached canary",
    depends=[argo_templates],
    vantage="host",
)
def bad_model_stopped(lab: Lab) -> None:
    """A train-model workflow ran with branch=mlops-bad; the model version it registered
    was deployed to staging, its test-staging workflow Failed, and no promote-model
    took that version to canary (the lab's point: staging protects canary)."""
    branch = lab.config["argo"].get("bad_branch")
    if not branch:
        raise Skip("this year's lab has no Part 3 (no mlops-bad run)")
    verdict = pipelines.judge_bad_run(lab.shared(workflows), branch)
    if verdict.note:
        lab.note(verdict.note)
    lab.require(not verdict.problem, verdict.problem, verdict.help)


@check(
    title="Part 3: cron-train runs every 15 minutes and has started train-model runs",
    depends=[argo_templates],
    vantage="host",
)
def cron_schedule(lab: Lab, argo_templates: ArgoSetup) -> None:
    """CronWorkflow cron-train's schedule is `*/15 * * * *` (Part 3 changes the daily
    `0 2 * * *`), and at least one cron-train run has created a train-model workflow."""
    cron = lab.config["argo"].get("cron")
    if not cron:
        raise Skip("this year's lab has no cron-train")
    schedules = argo_templates.crons.get(cron, [])
    lab.measure("schedule", ", ".join(schedules))
    want = lab.config["argo"]["cron_schedule"]
    lab.require(
        want in schedules,
        f"{cron} runs on {', '.join(schedules) or 'no schedule'}, not {want}",
        f"Part 3: open {cron} in the Argo UI, set the schedule to {want} and click Update.",
    )
    made = cron_trainings(lab.shared(workflows), cron)
    lab.measure("cron_trainings", len(made))
    lab.require(
        made,
        f"no train-model workflow was started by {cron} yet",
        "Wait for the next quarter hour: each cron-train run creates a train-model workflow.",
    )
    lab.note(f"{cron} started {len(made)} train-model workflow(s)", [r.summary() for r in made])


@check(
    title="ArgoCD's four GourmetGram applications are Synced and Healthy",
    depends=[ssh_login],
    vantage="host",
)
def argocd_apps(lab: Lab) -> None:
    """`kubectl get applications -n argocd` lists gourmetgram-platform, -staging, -canary and
    -production, each Synced and Healthy; staging may be Degraded or Progressing while it
    runs Part 3's mlops-bad model, and an environment may be Progressing or OutOfSync while a
    deploy-container-image workflow rolls it out."""
    apps = lab.shared(applications)
    problems, synced, excused = [], 0, []
    for name in lab.config["argocd"]["apps"]:
        app = apps.get(name)
        if app is None:
            problems.append(f"{name} missing")
            continue
        synced += (app.sync, app.health) == ("Synced", "Healthy")
        if (app.sync, app.health) != ("Synced", "Healthy"):
            why = pipelines.app_excuse(lab, name, app)
            if why:
                excused.append(f"{name} is {app.sync}/{app.health}: {why}")
            else:
                problems.append(f"{name} is {app.sync}/{app.health}")
    lab.measure("apps_synced_healthy", synced)
    if excused:
        lab.note("; ".join(excused))
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


@check(
    title="Staging answers /version and /test on port 8082",
    depends=[floating_ip],
    vantage="host",
)
def env_staging(lab: Lab) -> str:
    """`GET :8082/version` answers {"model_version": "1.0.N"}; `GET :8082/test` a class.
    Where staging does not, but ArgoCD's staging image is Part 3's mlops-bad model that failed
    its staging test (its pod crashes on loading the model, as the lab says), that is the
    lab's own end state: passed, with a note."""
    try:
        return _environment(lab, "staging")
    except (Failure, TransportError) as err:
        if isinstance(err, TransportError) and " within " in err.message:
            raise  # a silent host: asking it over SSH as well would only wait again
        version = pipelines.staging_bad_model(lab)
        if not version:
            raise
        lab.note(
            f"staging did not answer ({err.message[:120]}), and ArgoCD runs "
            f"staging-1.0.{version} there: Part 3's mlops-bad model, stopped by test-staging"
        )
        lab.measure("mlops_bad_version", version)
        return version


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
    vantage="host",
)
def versions_agree(lab: Lab, env_canary: str, env_production: str, mlflow_model: Aliases) -> None:
    """Canary's and production's /version are 1.0.N with N the version of the MLflow alias of
    that name. promote-model moves the alias as soon as it has created the deploy workflow, so
    a mismatch is excused while a promote-model or deploy-container-image workflow for that
    environment and version runs or ended less than 10 minutes ago (the rollout's window);
    staging's alias is set before its tests, so staging is not held to it."""
    serves = {"canary": env_canary, "production": env_production}
    wrong, excused = [], []
    for env, version in serves.items():
        alias = mlflow_model.get(env)
        if version == alias:
            continue
        text = f"{env} serves 1.0.{version}, its alias is on version {alias} (1.0.{alias})"
        run = pipelines.promotion_in_flight(lab, env, alias)
        if run:
            excused.append(f"{text}: {run.template} {run.name} ({run.phase}) is rolling it out")
        else:
            wrong.append(text)
    if excused:
        lab.note("promotion in flight: " + "; ".join(excused))
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
