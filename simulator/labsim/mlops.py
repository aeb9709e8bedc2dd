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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from . import argo
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
CRDS = ("workflows", "workflowtemplates", "cronworkflows", "applications")
ARGO_CRDS = ("workflows", "workflowtemplates", "cronworkflows")
IAC_REPO = "https://github.com/teaching-on-testbeds/gourmetgram-iac.git"


class Pipe(NamedTuple):
    """One training run and what it triggers. `ago`: minutes since train-model started;
    `version`: the model version it registered (None: flow.py's tests failed, nothing
    downstream); `by`: "ui" (submitted from the template) or "cron" (created by a cron-train
    run); `branch`: gourmetgram-train's branch (mlops-bad: staging's test fails); `until`:
    "done", "training" (train-model still Running) or "rolling" (promote-model moved the canary
    alias; the canary deploy still runs)."""

    ago: float
    version: int | None
    by: str = "ui"
    branch: str = "mlops"
    until: str = "done"


@dataclass
class Plan:
    """What a student's lab left: the pipeline's runs (oldest first), the manual promotion to
    production (minutes ago, version), cron-train's schedule, each model version's MLflow
    aliases, and what differs from "each environment serves its alias's version"."""

    pipes: list[Pipe]
    aliases: dict[int, list[str]]
    schedule: str = "*/15 * * * *"
    promote_production: tuple[float, int] = (190.0, 2)
    served: dict[str, int | None] = field(default_factory=dict)  # None: nothing answers
    apps: dict[str, tuple[str, str]] = field(default_factory=dict)  # env: (sync, health)


PARTS_1_2 = [Pipe(300, 1), Pipe(240, None), Pipe(210, 2)]  # one accuracy failure on the way
MLOPS_BAD = Pipe(150, 3, branch="mlops-bad")  # Part 3: staging stops version 3


def _plan(knobs: frozenset[MlopsKnob]) -> Plan:
    """The runs each profile's student left (the lab's Parts 1 to 3, as far as they got)."""
    if "staging_test_failed" in knobs:  # stopped right after Part 3's mlops-bad run
        return Plan(
            [*PARTS_1_2, Pipe(20, 3, branch="mlops-bad")],
            {2: ["canary", "production", "staging-approved"], 3: ["development", "staging"]},
            schedule=argo.DAILY,
            served={"staging": None},  # version 3's pod crashes on loading the model
            apps={"staging": ("Synced", "Degraded")},
        )
    if "mlops_part3_done" in knobs:  # the 2026 manual through Part 3: cron every 15 min
        return Plan(
            [
                *PARTS_1_2,
                MLOPS_BAD,
                Pipe(50, 4, "cron"),
                Pipe(35, 5, "cron"),
                Pipe(20, None, "cron"),
                Pipe(5, None, "cron", until="training"),
            ],
            {2: ["production"], 5: ["development", "staging", "staging-approved", "canary"]},
        )
    if "promotion_in_flight" in knobs:  # promote-model moved the alias; canary rolls out
        return Plan(
            [
                *PARTS_1_2,
                MLOPS_BAD,
                Pipe(35, 4, "cron"),
                Pipe(17.5, 5, "cron", until="rolling"),
                Pipe(2.5, None, "cron", until="training"),
            ],
            {2: ["production"], 5: ["development", "staging", "staging-approved", "canary"]},
            served={"canary": 4},
            apps={"canary": ("Synced", "Progressing")},
        )
    if "real_size_workflows" in knobs:  # cron every 15 min for three hours
        pipes = [*PARTS_1_2, Pipe(230, 3, branch="mlops-bad")]
        version = 3
        for n in range(14):
            ago = 200 - 15 * n
            if n in (4, 9):  # accuracy failures
                pipes.append(Pipe(ago, None, "cron"))
            else:
                version += 1
                pipes.append(Pipe(ago, version, "cron"))
        pipes.append(Pipe(5, None, "cron", until="training"))
        return Plan(
            pipes,
            {2: ["production"], version: ["development", "staging", "staging-approved", "canary"]},
            promote_production=(235.0, 2),
        )
    if "no_bad_run" in knobs:  # Part 3 without the mlops-bad run
        return Plan(
            [
                *PARTS_1_2,
                Pipe(35, 3, "cron"),
                Pipe(20, None, "cron"),
                Pipe(5, None, "cron", until="training"),
            ],
            {2: ["production"], 3: ["development", "staging", "staging-approved", "canary"]},
        )
    # Part 3 done: mlops-bad stopped at staging, then cron-train trained version 4 (and
    # failed its accuracy tests once; its newest run is training now)
    served: dict[str, int | None] = {"canary": 2} if "canary_stale" in knobs else {}
    apps = {"canary": ("OutOfSync", "Degraded")} if "argocd_degraded" in knobs else {}
    return Plan(
        [
            *PARTS_1_2,
            MLOPS_BAD,
            Pipe(35, 4, "cron"),
            Pipe(20, None, "cron"),
            Pipe(5, None, "cron", until="training"),
        ],
        {2: ["production"], 4: ["development", "staging", "staging-approved", "canary"]},
        served=served,
        apps=apps,
    )


def _served(plan: Plan) -> dict[str, int | None]:
    """The model version each environment runs: its alias's, unless the plan says not."""
    versions = {a: v for v, names in plan.aliases.items() for a in names}
    served: dict[str, int | None] = {env: versions[env] for env in ENV_PORTS}
    served.update(plan.served)
    return served


def _pipe_workflows(key: str, now: datetime, pipe: Pipe) -> list[tuple[str, argo.Wf]]:
    """The workflows of one training run, named, oldest first (timings of the real lab:
    training about 9 min, the image build 4, the staging test 2)."""
    t0 = now - timedelta(minutes=pipe.ago)
    out: list[tuple[str, argo.Wf]] = []

    def add(
        template: str | None,
        by: str,
        start: datetime,
        minutes: float | None,
        phase: str,
        **params: object,
    ) -> None:
        name = (
            f"cron-train-{int(start.timestamp())}"
            if template is None
            else f"{template}-{argo.suffix(key, template, rfc3339(start), str(len(out)))}"
        )
        pairs = tuple((k.replace("_", "-"), str(v)) for k, v in params.items())
        out.append((name, argo.Wf(template, by, start, minutes, phase, pairs)))

    if pipe.by == "cron":  # cron-train's own run creates the train-model workflow, then ends
        add(None, "cron", t0 - timedelta(seconds=4), 0.2, "Succeeded")
    by = "ui" if pipe.by == "ui" else "step"
    train_params = {"branch": pipe.branch} if pipe.by == "ui" else {}
    if pipe.until == "training":
        add("train-model", by, t0, None, "Running", **train_params)
        return out
    add("train-model", by, t0, 9, "Succeeded" if pipe.version else "Failed", **train_params)
    if pipe.version is None:
        return out
    v = pipe.version
    build = t0 + timedelta(minutes=9) - timedelta(seconds=10)
    add("build-container-image", "step", build, 4, "Succeeded", model_version=v)
    staged = build + timedelta(minutes=4) - timedelta(seconds=20)
    add(
        "deploy-container-image",
        "step",
        staged,
        1,
        "Succeeded",
        environment="staging",
        model_version=v,
    )
    passed = pipe.branch != "mlops-bad"
    test = staged + timedelta(seconds=10)
    add(
        "test-staging",
        "step",
        test,
        2 if passed else 1.5,
        "Succeeded" if passed else "Failed",
        model_version=v,
    )
    if not passed:
        return out
    promote = test + timedelta(minutes=2) - timedelta(seconds=10)
    add(
        "promote-model",
        "step",
        promote,
        1.5,
        "Succeeded",
        source_environment="staging",
        target_environment="canary",
        model_version=v,
    )
    rolling = pipe.until == "rolling"
    add(
        "deploy-container-image",
        "step",
        promote + timedelta(seconds=30),
        None if rolling else 1,
        "Running" if rolling else "Succeeded",
        environment="canary",
        model_version=v,
    )
    return out


def _cluster(
    key: str, knobs: frozenset[MlopsKnob], now: datetime, plan: Plan, served: dict[str, int | None]
) -> tuple[list[Json], list[str]]:
    """Argo's and ArgoCD's objects in the cluster, and the custom resources it knows."""
    up = now - timedelta(hours=5)
    objects = [argo.template(key, name, up) for name in argo.TEMPLATES]
    named: list[tuple[str, argo.Wf]] = []
    for pipe in plan.pipes:
        named += _pipe_workflows(key, now, pipe)
    # Part 2's manual promotion to production, from the Argo UI, and the deploy it creates
    ago, version = plan.promote_production
    start = now - timedelta(minutes=ago)
    pairs = (
        ("source-environment", "canary"),
        ("target-environment", "production"),
        ("model-version", str(version)),
    )
    named.append(
        (
            f"promote-model-{argo.suffix(key, 'production')}",
            argo.Wf("promote-model", "ui", start, 1.5, "Succeeded", pairs),
        )
    )
    named.append(
        (
            f"deploy-container-image-{argo.suffix(key, 'production', 'deploy')}",
            argo.Wf(
                "deploy-container-image",
                "step",
                start + timedelta(seconds=30),
                1,
                "Succeeded",
                (("environment", "production"), ("model-version", str(version))),
            ),
        )
    )
    # cron-train keeps its 3 newest runs (successfulJobsHistoryLimit); what they created stays
    crons = sorted((w.start for _, w in named if w.by == "cron"), reverse=True)
    named = [(n, w) for n, w in named if w.by != "cron" or w.start in crons[:3]]
    objects.append(argo.cron(key, up, plan.schedule, crons[0] if crons else None, len(crons)))
    objects += [argo.workflow(key, w, name) for name, w in named]
    bad = {p.version for p in plan.pipes if p.branch == "mlops-bad"}
    for env in ("platform", "staging", "canary", "production"):
        sync, health = plan.apps.get(env, ("Synced", "Healthy"))
        tag = None
        if env != "platform":
            runs = served.get(env)
            if env == "staging" and runs is None:
                runs = max(v for v in bad if v is not None)
            elif env == "canary" and health == "Progressing":
                runs = next(v for v, names in plan.aliases.items() if "canary" in names)
            tag = f"{env}-1.0.{runs}"
        objects.append(_application(key, env, up, tag, sync, health))
    if "argo_missing" in knobs:  # no Argo CRDs, so none of Argo's objects
        crds = [c for c in CRDS if c not in ARGO_CRDS]
        return [o for o in objects if o["kind"] == "Application"], crds
    return objects, list(CRDS)


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
        "metadata": argo.meta(key, "Application", f"gourmetgram-{env}", created, 3000)
        | {"namespace": "argocd"},
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
        plan = _plan(knobs)
        served = _served(plan)
        objects, crds = _cluster(key, knobs, now, plan, served)
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
            "versions": {env: f"1.0.{v}" for env, v in served.items() if v is not None},
            "garbage": "version_garbage" in knobs,
            "canary_weight": 0 if "gateway_no_canary" in knobs else CANARY_WEIGHT,
            "test_class": CLASSES[student.index % len(CLASSES)],
            "seed": _seed(now, plan),
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
                if env not in serve["versions"]:  # its pod crashes: the Service refuses
                    continue
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


def _seed(now: datetime, plan: Plan) -> Json:
    """What flow.py logged (one run per finished training) and the model versions it
    registered, in the order the plan numbers them."""
    runs, registered = [], []
    done = [p for p in plan.pipes if p.until != "training"]
    numbered = [p.version for p in done if p.version]
    assert numbered == list(range(1, len(numbered) + 1)), numbered  # MLflow numbers in order
    for n, pipe in enumerate(done):
        start = now - timedelta(minutes=pipe.ago)
        ms = int(start.timestamp() * 1000)
        version = pipe.version
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
                {
                    "name": MODEL,
                    "run": n,
                    "from_run": True,
                    "aliases": plan.aliases.get(version, []),
                }
            )
    return {"experiment": EXPERIMENT, "runs": runs, "registered": registered}
