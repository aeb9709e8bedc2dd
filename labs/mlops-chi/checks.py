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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import quote

from graders.answers import as_dict
from graders.checks import Host, Lab, check
from graders.errors import Failure, GraderFault, Skip, TransportError
from graders.labkit.apis import get_json, mlflow_api
from graders.labkit.chameleon import lease_check, require_floating_ip, require_servers_active
from graders.labkit.instances import course_key_check, login_check
from graders.labkit.kubernetes import kubectl

VERSION = re.compile(r"^1\.0\.(\d+)$")
T = TypeVar("T")
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
    ns = shlex.quote(cfg["namespace"])
    help = "Argo is not installed: run the post_k8s playbook."
    out = kubectl(lab, f"get workflowtemplates -n {ns} -o jsonpath={TEMPLATE_QUERY}", help)
    have = {line.strip() for line in out.splitlines() if line.strip()}
    crons: dict[str, list[str]] = {}
    if cfg.get("cron"):
        out = kubectl(lab, f"get cronworkflows -n {ns} -o jsonpath={CRON_QUERY}", help)
        crons = parse_crons(out)
    missing = [t for t in cfg["templates"] if t not in have]
    lab.measure("templates", len(cfg["templates"]) - len(missing))
    lab.require(
        not missing,
        f"WorkflowTemplate(s) missing in namespace {cfg['namespace']}: {', '.join(missing)}",
        "Run the workflow_templates_apply.yml playbook again.",
    )
    lab.require(
        not cfg.get("cron") or cfg["cron"] in crons,
        f"no CronWorkflow {cfg.get('cron')} in namespace {cfg['namespace']}",
        "It comes with the workflow templates; apply cron-train.yaml.",
    )
    return ArgoSetup(frozenset(have), crons)


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
    runs = lab.shared(_workflows)
    lab.note(f"{len(runs)} workflows, newest first", [r.summary() for r in runs[:40]])
    lab.measure("workflows", len(runs))
    lab.measure("succeeded", sum(r.phase == "Succeeded" for r in runs))
    lab.measure("failed", sum(r.phase in ("Failed", "Error") for r in runs))
    lab.measure("running", sum(not r.done for r in runs))
    verdict = judge_workflows(runs, lab.config)
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
    verdict = judge_bad_run(lab.shared(_workflows), branch)
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
    made = cron_trainings(lab.shared(_workflows), cron)
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
    apps = lab.shared(_apps)
    problems, synced, excused = [], 0, []
    for name in lab.config["argocd"]["apps"]:
        app = apps.get(name)
        if app is None:
            problems.append(f"{name} missing")
            continue
        synced += (app.sync, app.health) == ("Synced", "Healthy")
        if (app.sync, app.health) != ("Synced", "Healthy"):
            why = _excuse(lab, name, app)
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
        runs, apps = _quietly(lab, _workflows), _quietly(lab, _apps)
        version = _bad_in_staging(lab.config, runs or [], (apps or {}).get("gourmetgram-staging"))
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
        runs = _quietly(lab, _workflows)
        run = rolling_out(runs, env, alias, datetime.now(timezone.utc)) if runs and alias else None
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


# --- helpers ----------------------------------------------------------------------------------
# Structured queries ask only for the fields that are judged: a Workflow embeds its template's
# whole spec and every node's status, so `-o json` of a finished lab runs to megabytes. Each
# line is one object, fields split by tabs; names, phases and timestamps hold no tab or newline,
# and the one free-form field (the parameters) comes last, as the compact JSON jsonpath prints
# for a list, so a value cannot break a line.
def _jsonpath(*fields: str) -> str:
    tab, nl = '{"\\t"}', '{"\\n"}'
    return shlex.quote("{range .items[*]}" + tab.join(f"{{{f}}}" for f in fields) + nl + "{end}")


TEMPLATE_QUERY = _jsonpath(".metadata.name")
CRON_QUERY = _jsonpath(".metadata.name", ".spec.schedule", ".spec.schedules")
WORKFLOW_FIELDS = (
    ".metadata.name",
    ".spec.workflowTemplateRef.name",
    ".metadata.labels.workflows\\.argoproj\\.io/workflow-template",
    ".metadata.labels.workflows\\.argoproj\\.io/cron-workflow",
    ".status.phase",
    ".metadata.creationTimestamp",
    ".status.startedAt",
    ".status.finishedAt",
    ".spec.arguments.parameters",
)
WORKFLOW_QUERY = _jsonpath(*WORKFLOW_FIELDS)
APP_QUERY = _jsonpath(
    ".metadata.name",
    ".status.sync.status",
    ".status.health.status",
    ".spec.source.helm.parameters",
)
FINISHED = ("Succeeded", "Failed", "Error")
# How long after its deploy-container-image workflow ended an environment may still be rolling
# out: the workflow's `argocd app sync` returns before the new pod is up (a model to load), and
# a Deployment gives up after progressDeadlineSeconds, 600 s.
SETTLE = timedelta(minutes=10)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class ArgoSetup:
    """What argo_templates found: the WorkflowTemplates' names, each CronWorkflow's
    schedules."""

    templates: frozenset[str]
    crons: dict[str, list[str]]


@dataclass(frozen=True)
class Run:
    """One Workflow: its template (spec.workflowTemplateRef, or the label the Argo UI sets),
    whether the UI submitted it, the CronWorkflow that made it, phase, times, parameters."""

    name: str
    template: str
    from_ui: bool
    cron: str
    phase: str
    created: str
    started: str
    finished: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.phase in FINISHED

    @property
    def when(self) -> str:
        return self.started or self.created

    def param(self, name: str, default: str = "") -> str:
        return self.params.get(name, default)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "template": self.template or (f"(cron {self.cron})" if self.cron else ""),
            "phase": self.phase,
            "started": self.when,
            "finished": self.finished,
            **({"parameters": self.params} if self.params else {}),
        }


@dataclass(frozen=True)
class App:
    sync: str
    health: str
    tag: str  # the image.tag helm parameter deploy-container-image sets ("staging-1.0.N")


@dataclass(frozen=True)
class Verdict:
    problem: str = ""
    help: str = ""
    note: str = ""
    newest_test: str = ""


def _time(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_crons(out: str) -> dict[str, list[str]]:
    """CRON_QUERY's lines: each CronWorkflow's schedules (spec.schedule, or the list
    spec.schedules of Argo 3.6), whitespace normalised."""
    crons: dict[str, list[str]] = {}
    for line in out.splitlines():
        name, _, rest = line.partition("\t")
        single, _, many = rest.partition("\t")
        schedules = [single] if single.strip() else []
        try:
            listed = json.loads(many) if many.strip() else []
        except ValueError:
            listed = []
        schedules += [s for s in listed if isinstance(s, str)] if isinstance(listed, list) else []
        if _NAME.match(name):
            crons[name] = [" ".join(s.split()) for s in schedules]
    return crons


def parse_workflows(out: str) -> list[Run]:
    """WORKFLOW_QUERY's lines as Runs, newest first; a line that is not one Workflow's
    fields is left out."""
    runs = []
    for line in out.splitlines():
        cells = line.split("\t")
        if len(cells) != len(WORKFLOW_FIELDS) or not _NAME.match(cells[0]):
            continue
        name, ref, label, cron, phase, created, started, finished, raw = cells
        params: dict[str, str] = {}
        try:
            listed = json.loads(raw) if raw else []
        except ValueError:
            listed = []
        for p in listed if isinstance(listed, list) else []:
            if isinstance(p, dict) and isinstance(p.get("name"), str):
                params[p["name"]] = str(p.get("value", ""))
        runs.append(
            Run(
                name,
                ref or label,
                bool(label),
                cron,
                phase or "Pending",
                created,
                started,
                finished,
                params,
            )
        )
    return sorted(runs, key=lambda r: r.when, reverse=True)


def parse_apps(out: str) -> dict[str, App]:
    apps = {}
    for line in out.splitlines():
        cells = line.split("\t")
        if len(cells) != 4 or not _NAME.match(cells[0]):
            continue
        try:
            params = json.loads(cells[3]) if cells[3] else []
        except ValueError:
            params = []
        tag = (
            next(
                (
                    str(p.get("value"))
                    for p in params
                    if isinstance(p, dict) and p.get("name") == "image.tag"
                ),
                "",
            )
            if isinstance(params, list)
            else ""
        )
        apps[cells[0]] = App(cells[1] or "Unknown", cells[2] or "Unknown", tag)
    return apps


def _workflows(lab: Lab) -> list[Run]:
    """The Workflows of namespace argo, newest first: one kubectl call that several checks
    share."""
    ns = shlex.quote(lab.config["argo"]["namespace"])
    out = kubectl(
        lab,
        f"get workflows -n {ns} -o jsonpath={WORKFLOW_QUERY}",
        "Argo is not installed: run the post_k8s playbook.",
    )
    return parse_workflows(out)


def _apps(lab: Lab) -> dict[str, App]:
    ns = shlex.quote(lab.config["argocd"]["namespace"])
    return parse_apps(kubectl(lab, f"get applications.argoproj.io -n {ns} -o jsonpath={APP_QUERY}"))


def bad_versions(runs: list[Run], branch: str | None) -> dict[str, Run]:
    """The model versions that train-model runs with `branch` registered: each such run's
    last step creates the build-container-image workflow of its version, so that build is
    the one created while the training ran, nearest its end."""
    if not branch:
        return {}
    builds = [(r, _time(r.created)) for r in runs if r.template == "build-container-image"]
    found: dict[str, Run] = {}
    for train in runs:
        if train.template != "train-model" or train.param("branch", "mlops") != branch:
            continue
        start, end = _time(train.when), _time(train.finished)
        if not train.done or start is None or end is None:
            continue
        made = [
            (t, b) for b, t in builds if t is not None and start <= t <= end + timedelta(minutes=1)
        ]
        if made:
            build = max(made, key=lambda m: m[0])[1]
            found[build.param("model-version")] = train
    return found


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


def cron_trainings(runs: list[Run], cron: str) -> list[Run]:
    """train-model workflows that `cron`'s runs created: the lab's cron-train runs an inline
    step that creates a train-model workflow (no template label: not from the UI), so each is
    created while a cron run runs; a cron workflow that runs train-model itself counts too."""
    made = [r for r in runs if r.cron == cron and r.template == "train-model"]
    candidates = [r for r in runs if r.template == "train-model" and not r.cron and not r.from_ui]
    for c in (r for r in runs if r.cron == cron):
        start = _time(c.when)
        end = _time(c.finished) or (start + timedelta(minutes=5) if start else None)
        if start is None or end is None:
            continue
        made += [
            t
            for t in candidates
            if (when := _time(t.created))
            and start <= when <= end + timedelta(minutes=1)
            and t not in made
        ]
    return made


def rolling_out(runs: list[Run], env: str, version: str | None, now: datetime) -> Run | None:
    """A promote-model or deploy-container-image workflow for `env` (and `version`, if
    given) that runs now or ended less than SETTLE ago: its rollout may still be under way."""
    for r in runs:
        target = {
            "deploy-container-image": "environment",
            "promote-model": "target-environment",
        }.get(r.template)
        if not target or r.param(target) != env:
            continue
        if version is not None and r.param("model-version") != version:
            continue
        end = _time(r.finished)
        if not r.done or (end is not None and now - end < SETTLE):
            return r
    return None


def _quietly(lab: Lab, read: Callable[[Lab], T]) -> T | None:
    """What `read` finds on the cluster, or None where it cannot be read: used only to
    excuse a state the lab itself produces, so a failure to read leaves the verdict as is."""
    try:
        return lab.shared(read)
    except (Failure, TransportError, GraderFault):
        return None


def _excuse(lab: Lab, name: str, app: App) -> str:
    """Why an application that is not Synced/Healthy is as the lab leaves it, or ""."""
    env = name.removeprefix("gourmetgram-")
    runs = _quietly(lab, _workflows)
    if runs is None:
        return ""
    if app.health in ("Degraded", "Progressing") and env == "staging":
        version = _bad_in_staging(lab.config, runs, app)
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


def _bad_in_staging(config: dict[str, Any], runs: list[Run], app: App | None) -> str:
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
