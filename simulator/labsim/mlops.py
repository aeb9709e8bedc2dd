"""The mlops-chi lab in the classroom: three m1.large VMs at KVM@TACC running Kubernetes, with
Argo Workflows, ArgoCD and GourmetGram's staging, canary and production environments.

One student's node1 (the floating IP) gets:
* a real sshd, and the kubectl stand-in reading Argo's and ArgoCD's objects from the state
  file: WorkflowTemplates `train-model`, `build-container-image`, `deploy-container-image`,
  `test-staging`, `promote-model`, CronWorkflow `cron-train`, the Workflows the lab's pipeline
  runs left (namespace `argo`) and the Applications `gourmetgram-{platform,staging,canary,
  production}` (namespace `argocd`), as the CRDs' JSON has them;
* GourmetGram's `workflow` branch on 8082, 8081 and 8080 (staging, canary, production):
  `/version` answers `{"model_version": "1.0.N"}` as Flask's jsonify writes it, `/test` a class;
* the Traefik gateway on 80 (2026): HTTPRoute gourmetgram-route sends 90% of requests to
  production and 10% to canary, in weighted round robin;
* the real MLflow server (mlflowsim.py) on 8000 with the runs of flow.py and registered model
  `GourmetGramFood11Model`, its versions and aliases set through MLflow's own REST API.
A GitHub API stand-in (github.py) holds each student's CI runs; its address and token reach
the grader as LABGRADER_GITHUB_API / LABGRADER_GITHUB_TOKEN (`env`).

A profile's `mlops` knobs (profiles.MlopsKnob) break one thing each.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from .cluster import object_meta
from .family import BuildContext, Builder, Family, StartContext
from .github import GitHubServer, make_runs
from .gourmetgram import CLASSES, GourmetGramHandler, GourmetGramServer
from .hosts import SimHost
from .mlflowsim import EXPERIMENT, MlflowFleet
from .mlflowsim import PORT as MLFLOW_PORT
from .profiles import MlopsKnob
from .shared import rfc3339, stable_uid

Json = dict[str, Any]
MLOPS = "mlops-chi"
MODEL = "GourmetGramFood11Model"
ENV_PORTS = {"staging": 8082, "canary": 8081, "production": 8080}  # 2026
GATEWAY_PORT, CANARY_WEIGHT = 80, 10  # the platform chart's HTTPRoute: 90 / 10
TEMPLATES = (
    "train-model",
    "build-container-image",
    "deploy-container-image",
    "test-staging",
    "promote-model",
)
CRDS = ("workflows", "workflowtemplates", "cronworkflows", "applications")
ARGO_CRDS = ("workflows", "workflowtemplates", "cronworkflows")
IAC_REPO = "https://github.com/teaching-on-testbeds/gourmetgram-iac.git"


def _suffix(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, ":".join(parts)).hex[:5]


def _meta(key: str, kind: str, name: str, ns: str, created: datetime, rv: int) -> Json:
    """cluster.object_meta with `generation` (custom resources), in the same key order."""
    meta = object_meta(key, kind, name, created, rv, ns)
    return {"creationTimestamp": meta.pop("creationTimestamp"), "generation": 1, **meta}


def _template(key: str, name: str, created: datetime) -> Json:
    params = {
        "train-model": [{"name": "branch", "value": "mlops"}],
        "build-container-image": [{"name": "model-version"}],
        "deploy-container-image": [{"name": "environment"}, {"name": "model-version"}],
        "test-staging": [{"name": "model-version"}],
        "promote-model": [
            {"name": "source-environment"},
            {"name": "target-environment"},
            {"name": "model-version"},
        ],
    }[name]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": _meta(key, "WorkflowTemplate", name, "argo", created, 2100),
        "spec": {
            "arguments": {"parameters": params},
            "entrypoint": "main",
            "templates": [{"inputs": {}, "metadata": {}, "name": "main", "outputs": {}}],
        },
    }


def _cron(key: str, created: datetime, last: datetime) -> Json:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": _meta(key, "CronWorkflow", "cron-train", "argo", created, 2200),
        "spec": {
            "schedules": ["*/15 * * * *"],  # Part 3 changes the daily 0 2 * * *
            "timezone": "UTC",
            "workflowSpec": {"workflowTemplateRef": {"name": "train-model"}},
        },
        "status": {
            "conditions": [],
            "failed": 0,
            "lastScheduledTime": rfc3339(last),
            "phase": "Active",
            "succeeded": 1,
        },
    }


def _workflow(
    key: str, template: str, start: datetime, minutes: float, phase: str, params: Json, by: str
) -> Json:
    """A finished Workflow. `by`: "ui" (submitted from the template: the template label),
    "cron" (made by cron-train), or "step" (created by another workflow's resource step)."""
    prefix = "cron-train-" if by == "cron" else f"{template}-"
    name = (
        f"cron-train-{int(start.timestamp())}"
        if by == "cron"
        else prefix + _suffix(key, template, rfc3339(start))
    )
    labels = {"workflows.argoproj.io/completed": "true", "workflows.argoproj.io/phase": phase}
    if by == "ui":
        labels["workflows.argoproj.io/workflow-template"] = template
        labels["workflows.argoproj.io/creator"] = "system-serviceaccount-argo-argo-server"
    if by == "cron":
        labels["workflows.argoproj.io/cron-workflow"] = "cron-train"
    meta = _meta(key, "Workflow", name, "argo", start, 5000 + int(start.timestamp()) % 90000)
    meta["generateName"] = prefix
    meta["labels"] = labels
    end = start + timedelta(minutes=minutes)
    status: Json = {
        "phase": phase,
        "startedAt": rfc3339(start),
        "finishedAt": rfc3339(end),
        "progress": "3/3" if phase == "Succeeded" else "2/3",
        "estimatedDuration": int(minutes * 60),
    }
    if phase == "Failed":
        status["message"] = f"child '{name}-{int(_suffix(name), 16) * 7919}' failed"
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": meta,
        "spec": {
            "arguments": {"parameters": [{"name": k, "value": str(v)} for k, v in params.items()]},
            "workflowTemplateRef": {"name": template},
        },
        "status": status,
    }


def _pipeline(
    key: str, start: datetime, version: int | None, by: str, test: str = "Succeeded"
) -> list[Json]:
    """One training run and what it triggers: build, deploy to staging, test, promote to
    canary. `version` None: the training's tests failed, nothing downstream."""
    runs = [
        _workflow(
            key,
            "train-model",
            start,
            9,
            "Succeeded" if version else "Failed",
            {"branch": "mlops-bad" if test == "Failed" else "mlops"},
            by,
        )
    ]
    if version is None:
        return runs
    t = start + timedelta(minutes=9)
    v = {"model-version": version}
    runs.append(_workflow(key, "build-container-image", t, 4, "Succeeded", v, "step"))
    env = {"environment": "staging", **v}
    runs.append(
        _workflow(
            key, "deploy-container-image", t + timedelta(minutes=4), 1, "Succeeded", env, "step"
        )
    )
    runs.append(_workflow(key, "test-staging", t + timedelta(minutes=4), 3, test, v, "step"))
    if test == "Succeeded":
        promote = {"source-environment": "staging", "target-environment": "canary", **v}
        runs.append(
            _workflow(
                key, "promote-model", t + timedelta(minutes=7), 2, "Succeeded", promote, "step"
            )
        )
    return runs


def _application(
    key: str, env: str, created: datetime, tag: str | None, sync: str, health: str
) -> Json:
    source: Json = {"path": f"k8s/{env}", "repoURL": IAC_REPO, "targetRevision": "HEAD"}
    if tag:
        source["helm"] = {"parameters": [{"forceString": True, "name": "image.tag", "value": tag}]}
    revision = stable_uid(key, "git").replace("-", "")[:40]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": _meta(key, "Application", f"gourmetgram-{env}", "argocd", created, 3000),
        "spec": {
            "destination": {
                "namespace": f"gourmetgram-{env}",
                "server": "https://kubernetes.default.svc",
            },
            "project": "default",
            "source": source,
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
        "status": {
            "health": {"status": health},
            "reconciledAt": rfc3339(created + timedelta(hours=3)),
            "sourceType": "Helm",
            "sync": {
                "comparedTo": {
                    "destination": {"namespace": f"gourmetgram-{env}"},
                    "source": source,
                },
                "revision": revision,
                "status": sync,
            },
        },
    }


# One run of the lab's pipeline: hours ago, the model version it registered (None: training's
# tests failed), how it was started ("ui" or "cron"), and test-staging's phase.
Run = tuple[float, int | None, str, str]


def _history(knobs: frozenset[MlopsKnob]) -> tuple[list[Run], dict[int, list[str]]]:
    """What the lab's pipeline left: its runs, and each model version's MLflow aliases."""
    if "staging_test_failed" in knobs:  # stopped right after Part 3's mlops-bad run
        runs: list[Run] = [
            (4.0, 1, "ui", "Succeeded"),
            (3.0, None, "ui", "Succeeded"),
            (2.5, 2, "ui", "Succeeded"),
            (1.0, 3, "ui", "Failed"),
        ]
        return runs, {
            1: [],
            2: ["canary", "production", "staging-approved"],
            3: ["development", "staging"],
        }
    # Part 3 done: mlops-bad stopped at staging, then cron-train trained version 4
    runs = [
        (4.0, 1, "ui", "Succeeded"),
        (3.0, None, "ui", "Succeeded"),
        (2.5, 2, "ui", "Succeeded"),
        (2.0, 3, "ui", "Failed"),
        (0.75, 4, "cron", "Succeeded"),
    ]
    return runs, {
        1: [],
        2: ["production"],
        3: [],
        4: ["development", "staging", "staging-approved", "canary"],
    }


def _served(knobs: frozenset[MlopsKnob], aliases: dict[int, list[str]]) -> dict[str, int]:
    """The model version each environment runs: the one its alias names, unless a rollout
    did not happen."""
    versions = {a: v for v, names in aliases.items() for a in names}
    served = {
        "staging": 2 if "staging_test_failed" in knobs else versions["staging"],
        "canary": versions["canary"],
        "production": versions["production"],
    }
    if "canary_stale" in knobs:  # promote-model set the alias; the rollout never happened
        served["canary"] = 2
    return served


def _cluster(
    key: str,
    knobs: frozenset[MlopsKnob],
    now: datetime,
    history: list[Run],
    served: dict[str, int],
) -> tuple[list[Json], list[str]]:
    """Argo's and ArgoCD's objects in the cluster, and the custom resources it knows."""
    up = now - timedelta(hours=5)
    objects = [_template(key, name, up) for name in TEMPLATES]
    objects.append(_cron(key, up, now - timedelta(minutes=45)))
    for hours, version, by, test in history:
        objects += _pipeline(key, now - timedelta(hours=hours), version, by, test)
    # and the manual promotion of version 2 to production
    promote = {"source-environment": "canary", "target-environment": "production"}
    objects.append(
        _workflow(
            key,
            "promote-model",
            now - timedelta(hours=2.2),
            2,
            "Succeeded",
            {**promote, "model-version": 2},
            "ui",
        )
    )
    for env in ("platform", "staging", "canary", "production"):
        tag = f"{env}-1.0.{served[env]}" if env != "platform" else None
        sync, health = "Synced", "Healthy"
        if env == "canary" and "argocd_degraded" in knobs:
            sync, health = "OutOfSync", "Degraded"
        objects.append(_application(key, env, up, tag, sync, health))
    if "argo_missing" in knobs:  # no Argo CRDs, so none of Argo's objects
        crds = [c for c in CRDS if c not in ARGO_CRDS]
        return [o for o in objects if o["kind"] == "Application"], crds
    return objects, list(CRDS)


class EnvHandler(GourmetGramHandler):
    """GourmetGram's `workflow` branch: the master routes plus GET /version."""

    server: EnvServer

    def _route(self) -> None:
        if self.path.split("?", 1)[0] != "/version" or self.command not in ("GET", "HEAD"):
            return super()._route()
        if self.server.garbage:  # not the app: a page that merely mentions a version
            return self._send(
                200, f"<html><body><h1>GourmetGram</h1><p>model {self.server.version}</p>"
            )
        body = json.dumps({"model_version": self.server.version}, separators=(",", ":")) + "\n"
        self._send(200, body, "application/json")


class EnvServer(GourmetGramServer):
    def __init__(self, address: str, port: int, version: str, test_class: str, garbage: bool):
        super().__init__(address, port, test_class)
        self.RequestHandlerClass = EnvHandler
        self.version = version
        self.garbage = garbage


class GatewayHandler(EnvHandler):
    server: GatewayServer

    def _route(self) -> None:
        if self.path.split("?", 1)[0] != "/version" or self.command not in ("GET", "HEAD"):
            return super()._route()
        body = json.dumps({"model_version": self.server.pick()}, separators=(",", ":")) + "\n"
        self._send(200, body, "application/json")


class GatewayServer(EnvServer):
    """Traefik's gourmetgram-gateway: each /version goes to production or canary by the
    route's weights, spread evenly (smooth weighted round robin)."""

    def __init__(self, address: str, versions: dict[str, str], canary: int, test_class: str):
        super().__init__(address, GATEWAY_PORT, versions["production"], test_class, False)
        self.RequestHandlerClass = GatewayHandler
        self.versions, self.canary_weight = versions, canary
        self._served = 0
        self._lock = threading.Lock()

    def pick(self) -> str:
        with self._lock:
            n, self._served = self._served, self._served + 1
        to_canary = (n + 1) * self.canary_weight // 100 > n * self.canary_weight // 100
        return self.versions["canary" if to_canary else "production"]


class MlopsLabs(Family):
    """Builds and serves the mlops-chi hosts of a classroom."""

    def __init__(self) -> None:
        self.token = "ghp_" + secrets.token_hex(18)
        self.repos: dict[str, list[Json]] = {}
        self._env: dict[str, str] = {}
        self._hosts: list[tuple[SimHost, Json]] = []  # host, what its services serve
        self._servers: list[GourmetGramServer | GitHubServer] = []
        self._mlflow: MlflowFleet | None = None

    def builders(self) -> dict[str, Builder]:
        return {MLOPS: self._build}

    def _build(self, ctx: BuildContext) -> SimHost:
        student, knobs, now = ctx.student, ctx.profile.mlops, ctx.now
        netid, key = student.netid, f"{student.netid}:{MLOPS}"
        node1_ip = self._nodes(ctx)
        history, aliases = _history(knobs)
        served = _served(knobs, aliases)
        objects, crds = _cluster(key, knobs, now, history, served)
        state = {
            "addresses": [node1_ip, "192.168.1.11", "172.17.0.1"],
            "kubernetes": objects,
            "crds": crds,
        }
        if "no_github_repo" not in knobs:
            repo = f"{netid}-nyu/gourmetgram-iac"
            student.extra["github_repo"] = repo
            outcomes = ["failure" if "ci_failed" in knobs else "success", "success", "failure"]
            self.repos[repo] = make_runs(repo, now, outcomes)
        serve = {
            "versions": {env: f"1.0.{v}" for env, v in served.items()},
            "garbage": "version_garbage" in knobs,
            "canary_weight": 0 if "gateway_no_canary" in knobs else CANARY_WEIGHT,
            "test_class": CLASSES[student.index % len(CLASSES)],
            "seed": _seed(now, history, aliases),
        }
        host = SimHost(
            f"node1-mlops-{netid}",
            f"node1-mlops-{netid}",
            ctx.address,
            node1_ip,
            ctx.root,
            ctx.profile.network,
            ("hostname", "kubectl"),
            state=state,
        )
        self._hosts.append((host, serve))
        return host

    @staticmethod
    def _nodes(ctx: BuildContext) -> str:
        """The lab's three m1.large nodes on sharednet1 and the private network, node1 with
        the floating IP; node1's fixed IP."""
        cloud, netid = ctx.cloud, ctx.student.netid
        private = cloud.add_network(
            f"private-net-mlops-{netid}", f"private-subnet-mlops-{netid}", "192.168.1.0/24", None
        )
        groups = (
            "default",
            "allow-ssh",
            "allow-8000",
            "allow-8080",
            "allow-8081",
            "allow-8082",
            "allow-http-80",
            "allow-9001",
            "allow-9090",
        )
        node1_ip = ""
        for n in (1, 2, 3):
            lab_port = cloud.add_port(
                private, f"192.168.1.1{n}", f"port-node{n}-mlops-{netid}", port_security=False
            )
            fixed = ctx.next_fixed()
            shared = cloud.add_port(
                cloud.network("sharednet1"), fixed, f"sharednet1-node{n}-mlops-{netid}", groups
            )
            cloud.add_server(f"node{n}-mlops-{netid}", "m1.large", [shared, lab_port], groups)
            if n == 1:
                node1_ip = fixed
                cloud.add_floating_ip(ctx.address, shared, f"MLOps IP for {netid}")
        return node1_ip

    # ---- serving -----------------------------------------------------------------------------
    def start(self, ctx: StartContext) -> None:
        """The GitHub stand-in, each host's environments and MLflow, tarpits where asked."""
        hub, tarpit = ctx.hub, ctx.tarpit
        if not self._hosts:
            return
        github = GitHubServer("127.0.0.1", 0, self.repos, (self.token,))
        self._servers.append(github)
        hub.add(github.socket, github.accept)
        self._env = {"LABGRADER_GITHUB_API": github.base, "LABGRADER_GITHUB_TOKEN": self.token}
        up = [(h, s) for h, s in self._hosts if h.network == "up"]
        for host, serve in up:
            for env, port in ENV_PORTS.items():
                server = EnvServer(
                    host.address,
                    port,
                    serve["versions"][env],
                    serve["test_class"],
                    serve["garbage"] and env == "production",
                )
                self._servers.append(server)
                hub.add(server.socket, server.accept)
            gateway = GatewayServer(
                host.address, serve["versions"], serve["canary_weight"], serve["test_class"]
            )
            self._servers.append(gateway)
            hub.add(gateway.socket, gateway.accept)
        for host, _ in self._hosts:
            if host.network == "tarpit":  # 22 and 80 are the classroom's
                for port in (MLFLOW_PORT, *ENV_PORTS.values()):
                    tarpit.listen(host.address, port)
        seeds = {h.address: s["seed"] for h, s in up}
        self._mlflow = MlflowFleet(seeds, ctx.root / "mlops" / "mlflow")
        self._mlflow.start()
        self._mlflow.wait_forked()
        self._mlflow.seed()

    def pids(self) -> list[int]:
        return self._mlflow.pids() if self._mlflow else []

    def env(self) -> dict[str, str]:
        """Where the GitHub API stand-in listens, and its token."""
        return self._env

    def stop(self) -> None:
        for server in self._servers:
            server.close()
        self._servers = []
        if self._mlflow is not None:
            self._mlflow.stop()
            self._mlflow = None
        self._hosts, self.repos, self._env = [], {}, {}


def _seed(now: datetime, plan: list[Run], aliases: dict[int, list[str]]) -> Json:
    """What flow.py logged (one run per training) and the model versions it registered."""
    runs, registered = [], []
    for n, (hours, version, _, _) in enumerate(plan):
        start = now - timedelta(hours=hours)
        ms = int(start.timestamp() * 1000)
        passed = 5 if version else 4
        runs.append(
            {
                "name": f"flow-{n + 1}",
                "start_ms": ms,
                "end_ms": ms + 420_000,
                "status": "FINISHED",
                "tags": {"mlflow.user": "root", "mlflow.runName": f"flow-{n + 1}"},
                "metrics": [
                    ["tests_passed", passed, ms + 400_000, 0],
                    ["tests_failed", 5 - passed, ms + 400_000, 0],
                    ["tests_total", 5, ms + 400_000, 0],
                    ["flow_duration_seconds", 412.0, ms + 410_000, 0],
                ],
                "params": {
                    "pytest_status": "passed" if version else "failed",
                    "model_registered": str(bool(version)),
                    **({"model_version": str(version)} if version else {}),
                },
            }
        )
        if version:
            registered.append(
                {"name": MODEL, "run": n, "from_run": True, "aliases": aliases.get(version, [])}
            )
    return {"experiment": EXPERIMENT, "runs": runs, "registered": registered}
