"""Argo Workflows and ArgoCD as kubectl's jsonpath shows them on node1: the queries, their
tab-separated answers parsed into records (WorkflowTemplates, CronWorkflows, Workflows,
ArgoCD Applications), and how the workflows link: the build a training made, the trainings a
cron made, a promotion or deploy still rolling out."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from graders.checks import Lab
from graders.errors import Failure, GraderFault, TransportError
from graders.labkit.kubernetes import kubectl

T = TypeVar("T")


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
    """What `setup` reads: the WorkflowTemplates' names, each CronWorkflow's schedules."""

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
    """One ArgoCD Application: sync and health status, and the image tag it deploys."""

    sync: str
    health: str
    tag: str  # the image.tag helm parameter deploy-container-image sets ("staging-1.0.N")


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


def setup(lab: Lab) -> ArgoSetup:
    """The WorkflowTemplates and (where the lab has a cron) the CronWorkflows of lab.yaml's
    `argo.namespace`; `kubectl get` of names and schedules only."""
    cfg = lab.config["argo"]
    ns = shlex.quote(cfg["namespace"])
    help = "Argo is not installed: run the post_k8s playbook."
    out = kubectl(lab, f"get workflowtemplates -n {ns} -o jsonpath={TEMPLATE_QUERY}", help)
    have = {line.strip() for line in out.splitlines() if line.strip()}
    crons: dict[str, list[str]] = {}
    if cfg.get("cron"):
        out = kubectl(lab, f"get cronworkflows -n {ns} -o jsonpath={CRON_QUERY}", help)
        crons = parse_crons(out)
    return ArgoSetup(frozenset(have), crons)


def workflows(lab: Lab) -> list[Run]:
    """The Workflows of lab.yaml's `argo.namespace`, newest first: one kubectl call that
    several checks share (through lab.shared)."""
    ns = shlex.quote(lab.config["argo"]["namespace"])
    out = kubectl(
        lab,
        f"get workflows -n {ns} -o jsonpath={WORKFLOW_QUERY}",
        "Argo is not installed: run the post_k8s playbook.",
    )
    return parse_workflows(out)


def applications(lab: Lab) -> dict[str, App]:
    """The ArgoCD Applications of lab.yaml's `argocd.namespace`, by name."""
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


def quietly(lab: Lab, read: Callable[[Lab], T]) -> T | None:
    """What `read` finds on the cluster, or None where it cannot be read: used only to
    excuse a state the lab itself produces, so a failure to read leaves the verdict as is."""
    try:
        return lab.shared(read)
    except (Failure, TransportError, GraderFault):
        return None
