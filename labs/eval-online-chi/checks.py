"""Online evaluation and monitoring: the checks follow the lab.

Launch node-eval-online-<user> at KVM@TACC and bring up the lab's compose project: the FastAPI
server on 8000 exporting Prometheus metrics (prometheus-fastapi-instrumentator), Prometheus on
9090 scraping it as job food11, Grafana on 3000 (admin/admin, which the student may change at
the first login). Build the service dashboard and the "Failed requests" alert rule; add the
prediction metrics to app.py, import their dashboard, add the "Low prediction confidence" rule;
add cAdvisor (job cadvisor) and import its dashboard; add the drift metrics and their
dashboard. The lab's alerting lives in Grafana, not in Prometheus. Grade before the lab's
closing `docker compose ... down`: Grafana has no volume, so its dashboards and rules go with it.

The lab's own metrics are judged in parts (the instrumentator's, the prediction section's, the
drift section's), each found on `/metrics` or stored in Prometheus: a labelled counter such as
predicted_class_total is absent from a recreated container's `/metrics` until its next
prediction, while Prometheus still has it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from graders.answers import as_dict, as_list
from graders.checks import Lab, check
from graders.errors import Failure, TransportError
from graders.labkit.apis import get_json, require_whole
from graders.labkit.chameleon import lease_check, server_check
from graders.labkit.grafana import Database, queries, read_database, rule_exprs
from graders.labkit.instances import course_key_check, login_check
from graders.probes.promql import metric_names

lease = lease_check(title="Lease lease-eval-online-<user> is ACTIVE")

server_active = server_check("Server node-eval-online-<user> is ACTIVE with a floating IP")

# The grader logs in only to read Grafana's database when Grafana refuses admin/admin; the
# Grafana checks do not wait on these.
ssh_login = login_check(after=server_active)

course_key = course_key_check(after=server_active)

GRAFANA_S = 150.0  # a Grafana check may wait on another's read of the database over SSH


@check(title="The FastAPI server on port 8000 exports the instrumentator's metrics",
       depends=[server_active])  # fmt: skip
def app_metrics(lab: Lab) -> None:
    """`GET /metrics` on port 8000 answers, and the instrumentator's request metrics are on it
    (or already stored in Prometheus from job food11)."""
    seen = _seen(lab)
    if seen.app is None:
        raise seen.app_error or Failure("GET /metrics on port 8000 did not answer")
    _require_part(lab, seen, "instrumentator", "Is fastapi_server the lab's app.py, with "
                  "Instrumentator().instrument(app).expose(app) at its end?")  # fmt: skip


@check(title="Prometheus on port 9090 scrapes job food11, and its target is up",
       depends=[server_active])  # fmt: skip
def prometheus_target(lab: Lab) -> None:
    """`/api/v1/targets` has an active target of job food11 whose health is up."""
    _require_target(
        lab,
        lab.config["prometheus"]["job"],
        f"Add job {lab.config['prometheus']['job']} scraping fastapi_server:8000 to "
        "prometheus.yml and restart Prometheus.",
        "Is fastapi_server running and answering /metrics? (docker ps; docker logs)",
    )


@check(title="The prediction metrics (prediction_confidence, predicted_class_total) are exported",
       depends=[server_active])  # fmt: skip
def prediction_metrics(lab: Lab) -> None:
    """The lab's Histogram prediction_confidence and Counter predicted_class_total are on
    `/metrics` or stored in Prometheus from job food11."""
    _require_part(lab, _seen(lab), "prediction",
                  "Add the Histogram and the Counter to app.py as the lab shows, rebuild and "
                  "recreate fastapi_server, and send a few predictions.")  # fmt: skip


@check(title="The drift metrics (drift_events_total, drift_test_stat) are exported",
       depends=[server_active])  # fmt: skip
def drift_metrics(lab: Lab) -> None:
    """The drift section's Counter drift_events_total and Histogram drift_test_stat are on
    `/metrics` or stored in Prometheus from job food11."""
    _require_part(lab, _seen(lab), "drift",
                  "Add the drift Counter and Histogram to app.py as the lab shows, rebuild and "
                  "recreate fastapi_server.")  # fmt: skip


@check(title="Prometheus scrapes cAdvisor (job cadvisor), and its target is up",
       depends=[server_active])  # fmt: skip
def cadvisor_target(lab: Lab) -> None:
    """`/api/v1/targets` has an active target of job cadvisor whose health is up."""
    _require_target(
        lab,
        lab.config["prometheus"]["cadvisor_job"],
        "Add the cadvisor service to the compose file and job cadvisor (cadvisor:8080) to "
        "prometheus.yml, then recreate Prometheus (--force-recreate).",
        "Is the cadvisor container running? (docker ps; docker logs cadvisor)",
    )


@check(title="Grafana on port 3000 has the lab's dashboards", depends=[server_active],
       vantage="host", timeout=GRAFANA_S)  # fmt: skip
def grafana_dashboards(lab: Lab) -> dict[str, str]:
    """Grafana lists each of the lab's three dashboards by title (its API with the lab's
    login, or its database over SSH when the student changed the password)."""
    view = _grafana(lab)
    found, missing = {}, []
    for dash in lab.config["grafana"]["dashboards"]:
        hit = next((view.titled(t) for t in dash["titles"] if view.titled(t)), None)
        if hit is None:
            missing.append(dash["titles"][0])
        else:
            found[dash["titles"][0]] = hit.uid
    lab.measure("dashboards_found", len(found))
    lab.require(
        not missing,
        f"Grafana has no dashboard {', '.join(map(repr, missing))} "
        f"(it has: {', '.join(map(repr, sorted(view.titles()))) or 'none'})",
        "Build or import it as the lab shows; the title must match.",
    )
    return found  # the lab's first title of each dashboard -> its uid


@check(title="The dashboards' panels query the lab's metrics, all known to Prometheus",
       depends=[grafana_dashboards, prometheus_target], vantage="host",
       timeout=GRAFANA_S)  # fmt: skip
def dashboard_queries(lab: Lab, grafana_dashboards: dict[str, str]) -> None:
    """Each dashboard's panels query its metrics, and every metric a panel queries exists."""
    known = set(_names(lab))
    problems, panels = [], 0
    for dash in lab.config["grafana"]["dashboards"]:
        title = dash["titles"][0]
        found = _dashboard_queries(lab, title, grafana_dashboards[title])
        panels += len({p for p, _ in found})
        used = {n for _, expr in found for n in metric_names(expr)}
        absent = [m for m in dash["metrics"] if m not in used]
        if absent:
            problems.append(f"{title}: no panel queries {', '.join(absent)}")
        unknown = {n: p for p, expr in reversed(found) for n in metric_names(expr) - known}
        if unknown:
            named = ", ".join(f"{n} (panel {p!r})" for n, p in sorted(unknown.items()))
            problems.append(f"{title}: {named} unknown to Prometheus")
    lab.measure("panels", panels)
    lab.require(
        not problems,
        "; ".join(problems)[:400],
        "Fix the panel's query (Edit > Query, code mode) to use the metric the app exports.",
    )


@check(title='Grafana has the "cAdvisor Docker Insights" dashboard, querying container metrics',
       depends=[server_active], vantage="host", timeout=GRAFANA_S)  # fmt: skip
def cadvisor_dashboard(lab: Lab) -> None:
    """The imported cAdvisor dashboard (grafana.com 19908) is there, by its title (or any
    title naming cAdvisor), and its panels query cAdvisor's container_* metrics."""
    cfg = lab.config["grafana"]["cadvisor_dashboard"]
    view = _grafana(lab)
    hit = next((view.titled(t) for t in cfg["titles"] if view.titled(t)), None) or next(
        (d for d in view.dashboards if "cadvisor" in d.title.lower()), None
    )
    lab.require(
        hit,
        f"Grafana has no dashboard {cfg['titles'][0]!r} "
        f"(it has: {', '.join(map(repr, sorted(view.titles()))) or 'none'})",
        "Import grafana.com dashboard 19908 with your Prometheus data source, as the lab shows.",
    )
    assert hit is not None
    used = {n for _, e in _dashboard_queries(lab, hit.title, hit.uid) for n in metric_names(e)}
    ours = sorted(n for n in used if n.startswith(cfg["metric_prefix"]))
    lab.measure("container_metrics", len(ours))
    lab.require(
        ours,
        f"dashboard {hit.title!r} queries no {cfg['metric_prefix']}* metric "
        f"(it queries: {', '.join(sorted(used))[:160] or 'nothing'})",
    )


@check(title='Grafana has the "Failed requests" alert rule', depends=[server_active],
       vantage="host", timeout=GRAFANA_S)  # fmt: skip
def alert_rule(lab: Lab) -> None:
    """Grafana's alerting has the rule on failed /predict requests, querying http_requests_total."""
    _require_rule(lab, lab.config["grafana"]["alert_rule"],
                  "Create it from the Failed requests panel (More > New alert rule), as the lab "
                  "shows.")  # fmt: skip


@check(title='Grafana has the "Low prediction confidence" alert rule', depends=[server_active],
       vantage="host", timeout=GRAFANA_S)  # fmt: skip
def confidence_alert_rule(lab: Lab) -> None:
    """Grafana's alerting has the rule on low average prediction confidence, querying
    prediction_confidence."""
    _require_rule(lab, lab.config["grafana"]["confidence_rule"],
                  "Create it from the Average Prediction Confidence panel (More > New alert "
                  "rule), as the lab shows.")  # fmt: skip


# --- the metrics, in parts ------------------------------------------------------------------
@dataclass
class Seen:
    """Metric names seen on `/metrics` and stored in Prometheus from job food11; None where
    that source did not answer (its error kept)."""

    app: set[str] | None = None
    app_error: Exception | None = None
    prom: set[str] | None = None
    prom_error: Exception | None = None

    def names(self) -> set[str]:
        return (self.app or set()) | (self.prom or set())


def _seen(lab: Lab) -> Seen:
    """Each check reads both itself (two quick GETs): lab.shared's one lock would queue the
    checks behind each other's timeouts on a host that does not answer."""
    seen = Seen()
    try:
        seen.app = _app_names(lab)
    except (Failure, TransportError) as exc:
        seen.app_error = exc
    try:
        seen.prom = set(_names(lab, f'{{job="{lab.config["prometheus"]["job"]}"}}'))
    except (Failure, TransportError) as exc:
        seen.prom_error = exc
    if seen.app is None and seen.prom is None:
        assert seen.app_error is not None
        raise seen.app_error  # neither answered: what /metrics said
    return seen


def _app_names(lab: Lab) -> set[str]:
    url = f"http://{lab.address}:{lab.port('fastapi')}/metrics"
    resp = lab.http.get(url)
    lab.require(resp.status == 200, f"GET {url} answered HTTP {resp.status}")
    require_whole(lab, resp)
    return {
        m.group()
        for line in resp.text.splitlines()
        if not line.startswith("#") and (m := re.match(r"[A-Za-z_:][\w:]*", line))
    }


def _require_part(lab: Lab, seen: Seen, part: str, help: str) -> None:
    want = lab.config["prometheus"]["metrics"][part]
    names = seen.names()
    missing = [n for n in want if n not in names]
    lab.measure("metrics_found", len(want) - len(missing))
    where = [
        f"/metrics: {'no answer' if seen.app is None else f'{len(seen.app)} series names'}",
        f"Prometheus: {'no answer' if seen.prom is None else f'{len(seen.prom)} metrics'}",
    ]
    lab.note(f"{part} metrics looked for on /metrics and in Prometheus ({'; '.join(where)})")
    lab.require(
        not missing,
        f"neither /metrics nor Prometheus (job {lab.config['prometheus']['job']}) has "
        f"{', '.join(missing)} ({'; '.join(where)})",
        help,
    )


# --- Prometheus -------------------------------------------------------------------------------
def _require_target(lab: Lab, job: str, add: str, down: str) -> None:
    data = _prometheus(lab, "targets", "Prometheus's targets")
    targets = as_list(
        data.get("activeTargets") if isinstance(data, dict) else None, "Prometheus's targets"
    )
    ours = [t for t in targets if isinstance(t, dict) and job in (_job(t), t.get("scrapePool"))]
    jobs = sorted({str(_job(t)) for t in targets if isinstance(t, dict)})
    lab.measure("targets", len(targets))
    lab.require(ours, f"Prometheus has no target of job {job} (jobs: {', '.join(jobs) or 'none'})",
                add)  # fmt: skip
    up = [t for t in ours if t.get("health") == "up"]
    lab.measure(f"{job}_up", bool(up))
    first = ours[0]
    lab.require(
        up,
        f"the {job} target {first.get('scrapeUrl', '?')} is {first.get('health')!r}: "
        f"{str(first.get('lastError') or 'no error given')[:160]}",
        down,
    )


def _prometheus(lab: Lab, path: str, what: str) -> Any:
    url = f"http://{lab.address}:{lab.port('prometheus')}/api/v1/{path}"
    doc = get_json(lab, url, what)
    lab.require(
        isinstance(doc, dict) and doc.get("status") == "success" and "data" in doc,
        f"GET {url} is not a Prometheus API answer: {str(doc)[:120]!r}",
    )
    return doc["data"]


def _names(lab: Lab, match: str = "") -> list[str]:
    """Metric names Prometheus stores (of the series `match` selects)."""
    query = f"?{urlencode({'match[]': match})}" if match else ""
    names = _prometheus(lab, f"label/__name__/values{query}", "Prometheus's metric names")
    lab.require(isinstance(names, list), f"Prometheus's metric names are not a list: {names!r:.80}")
    return [n for n in names if isinstance(n, str)]


def _job(target: dict[str, Any]) -> Any:
    labels = target.get("labels")
    return labels.get("job") if isinstance(labels, dict) else None


# --- Grafana: its API with the lab's login, else its database over SSH ---------------------
@dataclass
class Dash:
    title: str
    uid: str


@dataclass
class GrafanaView:
    """Grafana's dashboards as one of the two ways saw them; `db` when read over SSH."""

    dashboards: list[Dash] = field(default_factory=list)
    db: Database | None = None

    def titled(self, title: str) -> Dash | None:
        return next((d for d in self.dashboards if d.title == title), None)

    def titles(self) -> set[str]:
        return {d.title for d in self.dashboards}


def _grafana(lab: Lab) -> GrafanaView:
    """Grafana's dashboard search with the lab's login; when Grafana refuses that login (the
    manual lets the student change the password at the first sign-in), its database, read
    over SSH. Read once per student."""
    return lab.shared(_read_grafana)


def _read_grafana(lab: Lab) -> GrafanaView:
    cfg = lab.config["grafana"]
    url = f"{_grafana_base(lab)}/api/search?type=dash-db"
    resp = lab.http.get(url, auth=(cfg["user"], cfg["password"]))
    if resp.status in (401, 403):
        lab.note(
            f"Grafana refused the lab's login {cfg['user']}/{cfg['password']} "
            f"(HTTP {resp.status}: {resp.text[:80]!r}): the manual lets the student change "
            "the password, so the grader reads Grafana's database on the host instead"
        )
        db = _read_database(lab)  # not _database: lab.shared's lock is held here
        return GrafanaView([Dash(d.title, d.uid) for d in db.dashboards.values()], db)
    hits = _decode(lab, resp, url, "Grafana's dashboard search")
    lab.require(isinstance(hits, list), f"Grafana's dashboard search is not a list: {hits!r:.120}")
    return GrafanaView(
        [
            Dash(h["title"], h["uid"])
            for h in hits
            if isinstance(h, dict)
            and isinstance(h.get("title"), str)
            and isinstance(h.get("uid"), str)
        ]
    )


def _database(lab: Lab) -> Database:
    return lab.shared(_read_database)


def _read_database(lab: Lab) -> Database:
    cfg = lab.config["grafana"]
    return read_database(lab, cfg["container"], cfg["database"])


def _dashboard_queries(lab: Lab, title: str, uid: str) -> list[tuple[str, str]]:
    """(panel title, PromQL) of the dashboard `uid`: from the database when that is how
    Grafana was read, else from `/api/dashboards/uid/<uid>`; a dashboard that API will not
    serve in its classic form (Grafana 13's v2 dashboards: 406) is read from the database."""
    view = _grafana(lab)
    if view.db is not None:
        return list(view.db.dashboards[uid].queries)
    cfg = lab.config["grafana"]
    url = f"{_grafana_base(lab)}/api/dashboards/uid/{quote(uid)}"
    resp = lab.http.get(url, auth=(cfg["user"], cfg["password"]))
    if resp.status == 406:
        lab.note(f"GET {url} answered 406 ({resp.text[:80]!r}): reading the database instead")
        db = _database(lab)
        lab.require(uid in db.dashboards, f"Grafana's database has no dashboard {title!r}")
        return list(db.dashboards[uid].queries)
    doc = _decode(lab, resp, url, f"dashboard {title}")
    model = as_dict(
        doc.get("dashboard") if isinstance(doc, dict) else None,
        f"Grafana's model of dashboard {title}",
    )
    return list(queries(model))


def _require_rule(lab: Lab, cfg: dict[str, Any], help: str) -> None:
    view = _grafana(lab)
    if view.db is not None:
        rules = [(r.title, r.exprs) for r in view.db.rules]
    else:
        url = f"{_grafana_base(lab)}/api/v1/provisioning/alert-rules"
        login = lab.config["grafana"]
        resp = lab.http.get(url, auth=(login["user"], login["password"]))
        listed = as_list(_decode(lab, resp, url, "Grafana's alert rules"), "Grafana's alert rules")
        rules = [
            (r["title"], rule_exprs(r.get("data")))
            for r in listed
            if isinstance(r, dict) and isinstance(r.get("title"), str)
        ]
    lab.measure("alert_rules", len(rules))
    found = next(((t, e) for t, e in rules if t in cfg["titles"]), None)
    title, exprs = lab.require(
        found,
        f"Grafana has no alert rule {cfg['titles'][0]!r} "
        f"(rules: {', '.join(repr(t) for t, _ in rules) or 'none'})",
        help,
    )
    used = {n for e in exprs for n in metric_names(e)}
    lab.require(
        any(m in used for m in cfg["metrics"]),
        f"alert rule {title!r} does not query {' or '.join(cfg['metrics'])} "
        f"(its queries: {'; '.join(exprs)[:160] or 'none'})",
    )


def _grafana_base(lab: Lab) -> str:
    return f"http://{lab.address}:{lab.port('grafana')}"


def _decode(lab: Lab, resp: Any, url: str, what: str) -> Any:
    """A Grafana answer as JSON; a refused login, another status or a non-JSON body fails."""
    if resp.status in (401, 403):
        raise Failure(
            f"GET {url} refused the lab's Grafana login (HTTP {resp.status}: {resp.text[:80]!r})",
            "The grader logs in with the lab's own credentials: keep them while grading runs.",
        )
    lab.require(resp.status == 200, f"GET {url} answered HTTP {resp.status} ({what})")
    require_whole(lab, resp)
    try:
        return resp.json()
    except ValueError:
        ctype = resp.headers.get("Content-Type", "?")
        raise Failure(
            f"GET {url} did not answer JSON ({ctype}: {resp.text[:80]!r}); expected {what}",
            "Is port 3000 Grafana? Check `docker ps` for the grafana container.",
        ) from None
