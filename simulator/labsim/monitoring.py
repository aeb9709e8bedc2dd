"""The monitoring lab in the classroom: eval-online-chi.

The builder makes one student's VM at KVM@TACC (`node-eval-online-<user>`, m1.medium, with its
floating IP) and plans its services; `MonitoringLabs.start` then brings them up on the node's
address as the lab's compose file does:

* 8000: the lab's FastAPI server exporting its metrics for real (metricsapp.py), which gets
  some predictions (and a 422 and a 500, as the lab's notebook sends) before Prometheus scrapes;
* 9090: a real Prometheus per node (prometheus.py), job `food11` scraping port 8000;
* 3000: the Grafana API stand-in (grafana.py) with the lab's dashboards and alert rules.

`start` returns once every node's Prometheus has scraped its target after that traffic.
What each profile changes is `Profile.monitoring` (profiles.MonitoringKnob); what the grader
must find is in profiles.py.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from .family import BuildContext, Builder, Family, StartContext
from .grafana import Grafana, GrafanaServer, load
from .hosts import KnobbedHost, SimHost
from .metricsapp import MetricsAppFleet
from .openstack import NO_VALID_HOST
from .profiles import MonitoringKnob
from .prometheus import PrometheusFleet
from .shared import sample_jpeg

EVAL_ONLINE = "eval-online-chi"
PORTS = (8000, 9090, 3000)
TYPO_PANEL = "Requests per second"  # the panel `unknown_metric` breaks
TYPO_EXPR = 'rate(http_request_total{handler="/predict"}[1m])'


@dataclass
class MonitoringLabs(Family):
    plans: list[KnobbedHost[MonitoringKnob]] = field(default_factory=list)
    apps: MetricsAppFleet = field(default_factory=MetricsAppFleet)
    prometheus: PrometheusFleet | None = None
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
        host = SimHost(
            name, name.replace("_", "-"), ctx.address, fixed_ip, ctx.root, profile.network
        )
        self.plans.append(KnobbedHost(host, profile.monitoring))
        return host

    # ---- running ----------------------------------------------------------------------
    def start(self, ctx: StartContext) -> None:
        """Serve every planned node; return once each Prometheus has scraped after the
        traffic (its target up, or down where nothing answers on 8000)."""
        hub, tarpit = ctx.hub, ctx.tarpit
        up = [p for p in self.plans if p.host.network == "up"]
        for plan in self.plans:
            if plan.host.network == "tarpit":
                for port in PORTS:
                    tarpit.listen(plan.host.address, port)
        apps = [p.host.address for p in up if "target_down" not in p.knobs]
        for plan in up:
            if plan.host.address in apps:
                self.apps.add(plan.host.address, custom="no_custom_metrics" not in plan.knobs)
            server = GrafanaServer(plan.host.address, grafana_for(plan.knobs))
            self._servers.append(server)
            hub.add(server.socket, server.accept)
        if not up:
            return
        self.apps.start()
        self.prometheus = PrometheusFleet(ctx.root / "prometheus")
        self.prometheus.start([p.host.address for p in up])
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(_traffic, apps))
        self.prometheus.wait_scraped(datetime.now(UTC))

    def pids(self) -> list[int]:
        return self.prometheus.pids() if self.prometheus else []

    def stop(self) -> None:
        """Stop everything started (idempotent) and forget the plans."""
        if self.prometheus is not None:
            self.prometheus.stop()
            self.prometheus = None
        self.apps.stop()
        for server in self._servers:
            server.close()
        self._servers = []
        self.plans = []


def grafana_for(knobs: frozenset[MonitoringKnob]) -> Grafana:
    """The node's Grafana as the profile left it (the lab's dashboards as exported)."""
    dashboards = [load("service.json"), load("prediction.json"), load("drift.json")]
    if "missing_dashboard" in knobs:  # never imported the drift dashboard
        dashboards = dashboards[:2]
    if "unknown_metric" in knobs:
        for panel in dashboards[0]["panels"]:
            if panel["title"] == TYPO_PANEL:
                panel["targets"][0]["expr"] = TYPO_EXPR
    rules = load("alert-rules.json")
    if "no_alert_rule" in knobs:
        rules = [r for r in rules if r["title"] != "Failed requests"]
    mode = "garbage" if "grafana_garbage" in knobs else "huge" if "grafana_huge" in knobs else "ok"
    return Grafana(dashboards, rules, mode=mode)


def _traffic(address: str) -> None:
    """What the lab's notebook sends: predictions, an empty body (422), bad data (500)."""
    url = f"http://{address}:8000/predict"
    with requests.Session() as s:
        for seed in range(8):
            image = base64.b64encode(sample_jpeg(seed=seed)).decode()
            s.post(url, json={"image": image}, timeout=10).raise_for_status()
        for body in ({}, {"image": "bad data"}):
            s.post(url, json=body, timeout=10)
