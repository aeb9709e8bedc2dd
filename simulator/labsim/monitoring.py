"""The monitoring lab in the classroom: eval-online-chi.

The builder makes one student's VM at KVM@TACC (`node-eval-online-<user>`, m1.medium, with its
floating IP) and plans its services; `MonitoringLabs.start` then brings them up on the node's
address as the lab's compose file does:

* 8000: the lab's FastAPI server exporting its metrics for real (metricsapp.py), which gets
  some predictions (and a 422 and a 500, as the lab's notebook sends) before Prometheus scrapes;
* 8080: cAdvisor's metrics (metricsapp.py), once the student added it;
* 9090: a real Prometheus per node (prometheus.py), job `food11` scraping port 8000, and job
  `cadvisor` scraping port 8080;
* 3000: the Grafana API stand-in (grafana.py) with the lab's dashboards and alert rules;
* 22: sshd, with `docker` listing the compose project's containers; `docker exec grafana cat
  /var/lib/grafana/grafana.db` reads the node's Grafana database (grafana.write_database,
  in the container's own layer: the compose file gives Grafana no volume), which the grader
  reads when Grafana refuses admin/admin.

`healthy` is the manual through its last step before `docker compose down`: every section
done, the four dashboards imported, both alert rules. `start` returns once every node's
Prometheus has scraped its targets after that traffic.
What each profile changes is `Profile.monitoring` (profiles.MonitoringKnob); what the grader
must find is in profiles.py.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from .engine import DockerEngine
from .family import BuildContext, Builder, Family, StartContext
from .grafana import Grafana, GrafanaServer, load, write_database
from .hosts import KnobbedHost, SimHost
from .metricsapp import MetricsAppFleet
from .openstack import NO_VALID_HOST
from .profiles import MonitoringKnob
from .prometheus import PrometheusFleet
from .shared import Json, bind_mount, container, jupyter_container, sample_jpeg, volume_mount

EVAL_ONLINE = "eval-online-chi"
PORTS = (8000, 9090, 3000)
GRAFANA_DB = "/var/lib/grafana/grafana.db"  # GF_PATHS_DATA of the grafana/grafana image
CHANGED_PASSWORD = "s3cret-chosen-at-first-login"
TYPO_PANEL = "Requests per second"  # the panel `unknown_metric` breaks
TYPO_EXPR = 'rate(http_request_total{handler="/predict"}[1m])'


@dataclass
class MonitoringLabs(Family):
    plans: list[KnobbedHost[MonitoringKnob]] = field(default_factory=list)
    apps: MetricsAppFleet = field(default_factory=MetricsAppFleet)
    prometheus: PrometheusFleet | None = None
    engine: DockerEngine | None = None
    _servers: list[GrafanaServer] = field(default_factory=list)

    def builders(self) -> dict[str, Builder]:
        return {EVAL_ONLINE: self._eval_online}

    def _eval_online(self, ctx: BuildContext) -> SimHost | None:
        cloud, profile = ctx.cloud, ctx.profile
        name = f"node-eval-online-{ctx.student.chameleon_user}"
        groups = ("default", "allow-ssh")
        if profile.hello_server_error:
            cloud.add_server(name, "m1.medium", [], error=NO_VALID_HOST)
            return None
        fixed_ip = ctx.next_fixed()
        cloud.add_instance(name, "m1.medium", ctx.address, fixed_ip, groups)
        if self.engine is None:
            self.engine = DockerEngine.under(ctx.hosts_dir, "dockerd-monitoring.sock")
        containers = compose_containers(ctx, profile.monitoring)
        host = SimHost(
            name,
            name.replace("_", "-"),
            ctx.address,
            fixed_ip,
            ctx.root,
            profile.network,
            ("hostname", "docker"),
            state={"docker": {"containers": containers, "engine": str(self.engine.socket_path)}},
        )
        self.plans.append(KnobbedHost(host, profile.monitoring))
        return host

    # ---- running ----------------------------------------------------------------------
    def start(self, ctx: StartContext) -> None:
        """Serve every planned node; return once each Prometheus has scraped after the
        traffic (its target up, or down where nothing answers on 8000)."""
        hub, tarpit = ctx.hub, ctx.tarpit
        if self.engine is not None:
            for plan in self.plans:
                self.engine.register(plan.host.state_file, plan.host.root, plan.host.bin_dir)
            self.engine.start(hub)
        up = [p for p in self.plans if p.host.network == "up"]
        for plan in self.plans:
            if plan.host.network == "tarpit":
                for port in PORTS:
                    tarpit.listen(plan.host.address, port)
        apps = [p.host.address for p in up if "target_down" not in p.knobs]
        cadvisor = frozenset(p.host.address for p in up if "no_cadvisor" not in p.knobs)
        for plan in up:
            knobs = plan.knobs
            self.apps.add(
                plan.host.address,
                prediction="no_custom_metrics" not in knobs,
                drift=not {"no_custom_metrics", "no_drift"} & knobs,
                app=plan.host.address in apps,
                cadvisor=plan.host.address in cadvisor,
            )
            grafana = grafana_for(knobs)
            write_database(_rootfs(plan.host.root, GRAFANA_DB), grafana)
            server = GrafanaServer(plan.host.address, grafana)
            self._servers.append(server)
            hub.add(server.socket, server.accept)
        if not up:
            return
        self.apps.start()
        self.prometheus = PrometheusFleet(ctx.root / "prometheus")
        self.prometheus.start([p.host.address for p in up], cadvisor=cadvisor)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(_traffic, apps))
        self.prometheus.wait_scraped(datetime.now(UTC))
        recreated = [p.host.address for p in up if "app_recreated" in p.knobs]
        for address in recreated:  # `docker compose up -d` after the last predictions
            self.apps.recreate(address)
        if recreated:
            self.prometheus.wait_scraped(datetime.now(UTC))

    def pids(self) -> list[int]:
        return [
            *(self.prometheus.pids() if self.prometheus else []),
            *(self.engine.pids() if self.engine else []),
        ]

    def stop(self) -> None:
        """Stop everything started (idempotent) and forget the plans."""
        if self.prometheus is not None:
            self.prometheus.stop()
            self.prometheus = None
        self.apps.stop()
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        for server in self._servers:
            server.close()
        self._servers = []
        self.plans = []


def grafana_for(knobs: frozenset[MonitoringKnob]) -> Grafana:
    """The node's Grafana as the profile left it (the lab's dashboards as exported, and the
    cAdvisor dashboard as grafana.com's 19908 imports)."""
    service, prediction, drift, cadvisor = (
        load(f"{n}.json") for n in ("service", "prediction", "drift", "cadvisor")
    )
    dashboards = [service, prediction]
    if not {"missing_dashboard", "no_drift"} & knobs:  # the drift dashboard imported
        dashboards.append(drift)
    if "no_cadvisor" not in knobs:
        dashboards.append(cadvisor)
    if "unknown_metric" in knobs:
        for panel in service["panels"]:
            if panel["title"] == TYPO_PANEL:
                panel["targets"][0]["expr"] = TYPO_EXPR
    if "query_comments" in knobs:  # the lab's query block pasted whole, comments and all
        for panel in service["panels"]:
            if panel["title"] == COMMENTED_PANEL:
                for target, comment in zip(panel["targets"], COMMENTS, strict=True):
                    target["expr"] = f"{comment}\n{target['expr']}"
    rules = load("alert-rules.json")
    if "no_alert_rule" in knobs:
        rules = [r for r in rules if r["title"] != "Failed requests"]
    if "no_confidence_rule" in knobs:
        rules = [r for r in rules if r["title"] != "Low prediction confidence"]
    mode = "garbage" if "grafana_garbage" in knobs else "huge" if "grafana_huge" in knobs else "ok"
    password = CHANGED_PASSWORD if "grafana_password_changed" in knobs else "admin"
    return Grafana(dashboards, rules, password=password, mode=mode)


COMMENTED_PANEL = "Failed requests"
COMMENTS = ("# set this up as the first query", "# set this up as a second query in the same "
            "visualization")  # fmt: skip


def compose_containers(ctx: BuildContext, knobs: frozenset[MonitoringKnob]) -> list[Json]:
    """The compose project's containers as `docker ps` lists them (eval_online), cAdvisor's
    once the student added it; the grafana container's own layer is a folder of the host."""
    key, started = ctx.student.netid, ctx.now - timedelta(hours=2)
    labels = {"com.docker.compose.project": "eval_online"}

    def service(name: str, image: str, command: list[str], ports: tuple[tuple[int, int], ...],
                **extra: object) -> Json:  # fmt: skip
        return container(
            key, name, image, command, started, ports=ports,
            labels={**labels, "com.docker.compose.service": name},
            network="eval_online_default", **extra,  # type: ignore[arg-type]
        )  # fmt: skip

    grafana = service(
        "grafana", "grafana/grafana:latest", [], ((3000, 3000),),
        entrypoint=["/run.sh"], user="472",
        env=["GF_SECURITY_ADMIN_USER=admin", "GF_SECURITY_ADMIN_PASSWORD=admin",
             "PATH=/usr/share/grafana/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
             "/sbin:/bin", "GF_PATHS_CONFIG=/etc/grafana/grafana.ini",
             "GF_PATHS_DATA=/var/lib/grafana", "GF_PATHS_HOME=/usr/share/grafana",
             "GF_PATHS_LOGS=/var/log/grafana", "GF_PATHS_PLUGINS=/var/lib/grafana/plugins",
             "GF_PATHS_PROVISIONING=/etc/grafana/provisioning"],
        workdir="/usr/share/grafana",
    )  # fmt: skip
    grafana["_rootfs"] = str(ctx.root / ROOTFS)  # made, and the database written, at start
    found = [
        service("prometheus", "prom/prometheus:latest",
                ["--config.file=/etc/prometheus/prometheus.yml",
                 "--storage.tsdb.path=/prometheus"], ((9090, 9090),),
                entrypoint=["/bin/prometheus"], user="nobody",
                mounts=[bind_mount(ctx.home / "eval-online-chi/docker/prometheus.yml",
                                   "/etc/prometheus/prometheus.yml")]),
        grafana,
        service("flask", "eval_online-flask", ["python", "app.py"], ((5000, 5000),)),
        jupyter_container(
            key, "quay.io/jupyter/pytorch-notebook:pytorch-2.5.1", started,
            [bind_mount(ctx.home / "eval-online-chi/workspace", "/home/jovyan/work"),
             volume_mount("food11", "/mnt")], False, env=("FOOD11_DATA_DIR=/mnt/Food-11",),
        ),
    ]  # fmt: skip
    if "target_down" not in knobs:
        found.append(
            service(
                "fastapi_server",
                "eval_online-fastapi_server",
                ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000"],
                ((8000, 8000),),
                workdir="/app",
            )  # fmt: skip
        )
    if "no_cadvisor" not in knobs:
        found.append(
            service(
                "cadvisor",
                "gcr.io/cadvisor/cadvisor:latest",
                [],
                ((8080, 8080),),
                entrypoint=["/usr/bin/cadvisor", "-logtostderr"],
            )  # fmt: skip
        )
    return found


ROOTFS = "containers/grafana/rootfs"


def _rootfs(root: Path, path: str) -> Path:
    """Where the grafana container's own layer keeps the file `path`: under the host's tree,
    in folders cc can traverse (the engine runs `cat` there as cc)."""
    target = root / ROOTFS / path.lstrip("/")
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    for f in [folder, *folder.parents]:
        if f == root:
            break
        f.chmod(0o755)
    return target


def _traffic(address: str) -> None:
    """What the lab's notebook sends: predictions, an empty body (422), bad data (500)."""
    url = f"http://{address}:8000/predict"
    with requests.Session() as s:
        for seed in range(8):
            image = base64.b64encode(sample_jpeg(seed=seed)).decode()
            s.post(url, json={"image": image}, timeout=10).raise_for_status()
        for body in ({}, {"image": "bad data"}):
            s.post(url, json=body, timeout=10)
