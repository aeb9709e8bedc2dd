"""Online evaluation and monitoring: the checks follow the lab.

Launch node-eval-online-<user> at KVM@TACC and bring up the lab's compose project: the FastAPI
server on 8000 exporting Prometheus metrics, Prometheus on 9090 scraping it as job food11,
Grafana on 3000 (admin/admin). Add the lab's own metrics to app.py (prediction_confidence,
predicted_class_total, drift_events_total), build the dashboards, and create the "Failed
requests" alert rule in Grafana (the lab's alerting lives in Grafana, not in Prometheus).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from graders.answers import as_dict, as_list
from graders.checks import Lab, check
from graders.labkit.apis import get_json, require_whole
from graders.labkit.chameleon import lease_check, server_check
from graders.probes.promql import metric_names

lease = lease_check(title="Lease lease-eval-online-<user> is ACTIVE")

server_active = server_check("Server node-eval-online-<user> is ACTIVE with a floating IP")


@check(title="The FastAPI server exports the lab's metrics on port 8000", depends=[server_active])
def app_metrics(lab: Lab) -> None:
    """`GET /metrics` on port 8000 lists the instrumentator's metrics and the lab's own."""
    url = f"http://{lab.address}:{lab.port('fastapi')}/metrics"
    resp = lab.http.get(url)
    lab.require(resp.status == 200, f"GET {url} answered HTTP {resp.status}")
    require_whole(lab, resp)
    names = {
        m.group()
        for line in resp.text.splitlines()
        if not line.startswith("#") and (m := re.match(r"[A-Za-z_:][\w:]*", line))
    }
    want = lab.config["prometheus"]["metrics"]
    missing = [n for n in want if n not in names]
    lab.measure("metrics_exported", len(want) - len(missing))
    lab.require(
        not missing,
        f"GET {url} has no {', '.join(missing)} ({len(names)} other series names)",
        "Make the lab's edits to fastapi_pt/app.py, then rebuild and recreate fastapi_server.",
    )


@check(title="Prometheus on port 9090 scrapes job food11, and its target is up",
       depends=[server_active])  # fmt: skip
def prometheus_target(lab: Lab) -> None:
    """`/api/v1/targets` has an active target of job food11 whose health is up."""
    job = lab.config["prometheus"]["job"]
    data = _prometheus(lab, "targets", "Prometheus's targets")
    targets = as_list(
        data.get("activeTargets") if isinstance(data, dict) else None, "Prometheus's targets"
    )
    ours = [t for t in targets if isinstance(t, dict) and job in (_job(t), t.get("scrapePool"))]
    jobs = sorted({str(_job(t)) for t in targets if isinstance(t, dict)})
    lab.measure("targets", len(targets))
    lab.require(
        ours,
        f"Prometheus has no target of job {job} (jobs: {', '.join(jobs) or 'none'})",
        f"Add job {job} scraping fastapi_server:8000 to prometheus.yml and restart Prometheus.",
    )
    up = [t for t in ours if t.get("health") == "up"]
    lab.measure("food11_up", bool(up))
    first = ours[0]
    lab.require(
        up,
        f"the {job} target {first.get('scrapeUrl', '?')} is {first.get('health')!r}: "
        f"{str(first.get('lastError') or 'no error given')[:160]}",
        "Is fastapi_server running and answering /metrics? (docker ps; docker logs)",
    )


@check(title="Prometheus has the lab's metrics from job food11", depends=[prometheus_target])
def prometheus_metrics(lab: Lab) -> None:
    """Prometheus stores the series the lab adds, scraped from job food11."""
    job = lab.config["prometheus"]["job"]
    names = set(_names(lab, f'{{job="{job}"}}'))
    want = lab.config["prometheus"]["metrics"]
    missing = [n for n in want if n not in names]
    lab.measure("metrics_found", len(want) - len(missing))
    lab.require(
        not missing,
        f"Prometheus has no {', '.join(missing)} from job {job} ({len(names)} metrics)",
        "Add the lab's Histogram and Counters to app.py and recreate fastapi_server.",
    )


@check(title="Grafana on port 3000 has the lab's dashboards", depends=[server_active])
def grafana_dashboards(lab: Lab) -> dict[str, str]:
    """Grafana's dashboard search lists each of the lab's dashboards by title."""
    hits = _grafana(lab, "/api/search?type=dash-db", "Grafana's dashboard search")
    lab.require(isinstance(hits, list), f"Grafana's dashboard search is not a list: {hits!r:.120}")
    by_title = {
        h["title"]: h
        for h in hits
        if isinstance(h, dict) and isinstance(h.get("title"), str) and isinstance(h.get("uid"), str)
    }
    found, missing = {}, []
    for dash in lab.config["grafana"]["dashboards"]:
        title = next((t for t in dash["titles"] if t in by_title), None)
        if title is None:
            missing.append(dash["titles"][0])
        else:
            found[dash["titles"][0]] = by_title[title]["uid"]
    lab.measure("dashboards_found", len(found))
    lab.require(
        not missing,
        f"Grafana has no dashboard {', '.join(map(repr, missing))} "
        f"(it has: {', '.join(map(repr, sorted(by_title))) or 'none'})",
        "Build or import it as the lab shows; the title must match.",
    )
    return found  # the lab's first title of each dashboard -> its uid


@check(title="The dashboards' panels query the lab's metrics, all known to Prometheus",
       depends=[grafana_dashboards, prometheus_target])  # fmt: skip
def dashboard_queries(lab: Lab, grafana_dashboards: dict[str, str]) -> None:
    """Each dashboard's panels query its metrics, and every metric a panel queries exists."""
    known = set(_names(lab))
    problems, panels = [], 0
    for dash in lab.config["grafana"]["dashboards"]:
        title = dash["titles"][0]
        uid = grafana_dashboards[title]
        doc = _grafana(lab, f"/api/dashboards/uid/{quote(uid)}", f"dashboard {title}")
        model = as_dict(
            doc.get("dashboard") if isinstance(doc, dict) else None,
            f"Grafana's model of dashboard {title}",
        )
        queries = list(_queries(model.get("panels")))
        panels += len({p for p, _ in queries})
        used = {n for _, expr in queries for n in metric_names(expr)}
        absent = [m for m in dash["metrics"] if m not in used]
        if absent:
            problems.append(f"{title}: no panel queries {', '.join(absent)}")
        unknown = {n: p for p, expr in reversed(queries) for n in metric_names(expr) - known}
        if unknown:
            named = ", ".join(f"{n} (panel {p!r})" for n, p in sorted(unknown.items()))
            problems.append(f"{title}: {named} unknown to Prometheus")
    lab.measure("panels", panels)
    lab.require(
        not problems,
        "; ".join(problems)[:400],
        "Fix the panel's query (Edit > Query, code mode) to use the metric the app exports.",
    )


@check(title='Grafana has the "Failed requests" alert rule', depends=[server_active])
def alert_rule(lab: Lab) -> None:
    """Grafana's alerting has the rule on failed /predict requests, querying http_requests_total."""
    cfg = lab.config["grafana"]["alert_rule"]
    rules = as_list(
        _grafana(lab, "/api/v1/provisioning/alert-rules", "Grafana's alert rules"),
        "Grafana's alert rules",
    )
    titles = [r.get("title") for r in rules if isinstance(r, dict)]
    lab.measure("alert_rules", len(titles))
    rule = lab.require(
        next((r for r in rules if isinstance(r, dict) and r.get("title") in cfg["titles"]), None),
        f"Grafana has no alert rule {cfg['titles'][0]!r} "
        f"(rules: {', '.join(map(repr, titles)) or 'none'})",
        "Create it from the Failed requests panel (More > New alert rule), as the lab shows.",
    )
    exprs = [
        q["model"]["expr"]
        for q in rule.get("data") or []
        if isinstance(q, dict)
        and isinstance(q.get("model"), dict)
        and isinstance(q["model"].get("expr"), str)
    ]
    lab.require(
        any(cfg["metric"] in metric_names(e) for e in exprs),
        f"alert rule {rule['title']!r} does not query {cfg['metric']} "
        f"(its queries: {'; '.join(exprs)[:160] or 'none'})",
    )


# --- helpers ----------------------------------------------------------------------------------
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


def _grafana(lab: Lab, path: str, what: str) -> Any:
    """GET a Grafana API path as the lab's admin; a refused login or a non-JSON answer fails."""
    cfg = lab.config["grafana"]
    url = f"http://{lab.address}:{lab.port('grafana')}{path}"
    return get_json(
        lab,
        url,
        what,
        login=f"Grafana's login {cfg['user']}",
        help="Is port 3000 Grafana? Check `docker ps` for the grafana container.",
        auth=(cfg["user"], cfg["password"]),
    )


def _queries(panels: Any) -> Any:
    """(panel title, PromQL) for every target of every panel, rows' nested panels included."""
    for panel in panels if isinstance(panels, list) else []:
        if not isinstance(panel, dict):
            continue
        yield from _queries(panel.get("panels"))  # a collapsed row keeps its panels inside
        for target in panel.get("targets") or []:
            if isinstance(target, dict) and isinstance(target.get("expr"), str):
                yield str(panel.get("title", "?")), target["expr"]
