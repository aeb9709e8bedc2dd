"""End to end on eval-online-chi: a real Prometheus per simulated node (Debian's package)
scraping the lab's FastAPI server, which exports its metrics for real (prometheus_client), and
a Grafana API stand-in with the lab's dashboards; every profile graded as it expects."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from graders.errors import Failure
from graders.labkit.grafana import parse
from graders.probes.promql import metric_names
from labsim.prometheus import INSTALL
from tests.conftest import graded_as_expected, lab_classroom, student_of

LAB = "eval-online-chi"
PROFILES = [
    "healthy",
    "prometheus_target_down",
    "no_custom_metrics",
    "no_drift",
    "no_cadvisor",
    "missing_dashboard",
    "panel_unknown_metric",
    "no_alert_rule",
    "no_confidence_rule",
    "grafana_garbage",
    "grafana_huge",
    "grafana_password_changed",
    "query_comments",
    "app_recreated",
    "server_error",
    "host_down",
    "tarpit",
]


def test_prometheus_is_installed() -> None:
    """The simulator runs the real Prometheus: without it, say how to install it."""
    assert shutil.which("prometheus"), f"prometheus is not installed: run `{INSTALL}`"


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> Iterator[object]:
    with lab_classroom(tmp_path_factory.mktemp(LAB), LAB, PROFILES) as r:
        yield r


def test_every_profile_is_graded_as_expected(room) -> None:
    graded = dict((s.profile, r) for s, r in graded_as_expected(LAB, room.students))
    feedback = {c.id: c.feedback for c in graded["prometheus_target_down"].items}
    assert "connection refused" in feedback["prometheus_target"]
    feedback = {c.id: c.feedback for c in graded["panel_unknown_metric"].items}
    assert (
        "http_request_total (panel 'Requests per second') unknown" in feedback["dashboard_queries"]
    )
    feedback = {c.id: c.feedback for c in graded["grafana_huge"].items}
    assert "MiB" in feedback["grafana_dashboards"]
    # the changed password: admin/admin refused, Grafana's database read over SSH instead
    changed = graded["grafana_password_changed"]
    assert changed.score == changed.max_score
    seen = json.dumps([c.evidence for c in changed.items])
    assert "refused the lab's login admin/admin" in seen
    assert "read Grafana's database over SSH" in seen and "unified storage" in seen
    healthy = json.dumps([c.evidence for c in graded["healthy"].items])
    assert "read Grafana's database" not in healthy
    # a student with the prediction section but not the drift one keeps the prediction points
    items = {c.id: c for c in graded["no_drift"].items}
    assert items["prediction_metrics"].score == items["prediction_metrics"].max_score > 0
    assert items["drift_metrics"].score == 0


def test_the_simulated_services_answer_as_the_real_ones(room) -> None:
    """Prometheus is real and scraped the app; Grafana's stand-in wants the lab's login."""
    address = student_of(room, "healthy").address(LAB)
    targets = requests.get(f"http://{address}:9090/api/v1/targets", timeout=5).json()
    found = {t["labels"]["job"]: t["health"] for t in targets["data"]["activeTargets"]}
    assert found == {"food11": "up", "cadvisor": "up"}
    query = 'http_requests_total{handler="/predict",status="5xx"}'
    doc = requests.get(f"http://{address}:9090/api/v1/query", params={"query": query}).json()
    assert doc["data"]["result"], "the 500 the lab's bad input gets was scraped"
    assert requests.get(f"http://{address}:9090/api/v1/rules").json()["data"]["groups"] == []
    grafana = f"http://{address}:3000/api/search"
    r = requests.get(grafana, timeout=5)
    assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"})
    assert requests.get(grafana, auth=("admin", "wrong"), timeout=5).status_code == 401
    hits = requests.get(grafana, params={"type": "dash-db"}, auth=("admin", "admin")).json()
    assert {h["type"] for h in hits} == {"dash-db"} and len(hits) == 4
    health = requests.get(f"http://{address}:3000/api/health", timeout=5).json()
    assert health["version"].startswith("12.4.")  # grafana/grafana:latest in March 2026
    # the instrumentator's five metrics, with its label order
    text = requests.get(f"http://{address}:8000/metrics", timeout=5).text
    for line in (
        'http_requests_total{handler="/predict",method="POST",status="2xx"}',
        'http_request_size_bytes_count{handler="/predict"}',
        'http_response_size_bytes_sum{handler="/predict"}',
        'http_request_duration_highr_seconds_bucket{le="0.01"}',
        'http_request_duration_seconds_bucket{handler="/predict",le="0.1",method="POST"}',
    ):
        name, labels = line.split("{")
        labels = labels.rstrip("}").split(",")
        assert any(
            row.startswith(name + "{") and all(lab in row for lab in labels)
            for row in text.splitlines()
        ), line
    # a body without `image` is FastAPI's 422; an image that does not decode is a bare 500
    url = f"http://{address}:8000/predict"
    assert requests.post(url, json={}, timeout=5).status_code == 422
    bad = requests.post(url, json={"image": base64.b64encode(b"x").decode()}, timeout=5)
    assert (bad.status_code, bad.text) == (500, "Internal Server Error")


def test_every_process_stops_with_the_classroom(tmp_path) -> None:
    with lab_classroom(tmp_path, LAB, ["healthy"]) as r:
        pids = r.pids()
        assert "prometheus" in {_comm(p) for p in pids}
    # stop() ends every tree it started; a supervisor's last child may take a moment to be
    # reaped on a loaded machine, so allow a few seconds before calling any a leftover
    deadline = time.monotonic() + 5
    while [p for p in pids if _alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)]


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(
    "expr, names",
    [
        ('increase(prediction_confidence_bucket{le!="+Inf"}[$__range])',
         {"prediction_confidence_bucket"}),
        ("sum by (class_name) (increase(predicted_class_total[5m])) > bool 1e3",
         {"predicted_class_total"}),
        ('1000*histogram_quantile(0.95, rate(http_request_duration_seconds_bucket{h="/p"}[1m]))',
         {"http_request_duration_seconds_bucket"}),
        ("a / on(instance) group_left b offset 5m", {"a", "b"}),
        ("vector(1)", set()),
        # the lab's "Failed requests" block, pasted with its comments (valid PromQL)
        ('# set this up as the first query\nrate(http_requests_total{handler="/predict", '
         'status="4xx"}[1m])\n\n# set this up as a second query in the same visualization',
         {"http_requests_total"}),
        ('x{a="#no comment"} # it\'s one, quote and all\n+ y', {"x", "y"}),
    ],
)  # fmt: skip
def test_metric_names_of_a_query(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


MIB = 1 << 20


@pytest.mark.parametrize(
    "expr, names",
    [
        ("a " * (MIB // 2), {"a"}),  # a name per two bytes
        ("rate(x[5m]) " * (MIB // 12), {"x"}),
        ("up + " + "{" * MIB, {"up"}),  # a matcher never closed
        ('up + "' + '\\"' * (MIB // 2), {"up"}),  # a string never closed, every quote escaped
        ("up + " + "${" * (MIB // 2), {"up"}),
        ("up + " + "by(" * (MIB // 3), {"up"}),
        ("up + " + "[" * MIB, {"up"}),
        (" + ".join(f"m{i}" for i in range(100_000)), {f"m{i}" for i in range(100_000)}),
        ("up # " + "'\"#" * (MIB // 3), {"up"}),  # a comment full of quotes
    ],
    ids=[
        "names",
        "calls",
        "braces",
        "escaped-quotes",
        "variables",
        "grouping",
        "ranges",
        "many",
        "comment",
    ],
)
def test_metric_names_of_a_hostile_megabyte(expr: str, names: set[str]) -> None:
    """A dashboard is the student's, up to 1 MiB: each of these shapes made the old scan
    quadratic (minutes per panel); every one is read once now, with the right answer."""
    assert len(expr) >= 500_000
    assert metric_names(expr) == names


# --- Grafana's database, as the grader reads it when admin/admin is refused -----------------
def _database(path: Path, script: str, rows: list[tuple[str, tuple]]) -> bytes:
    con = sqlite3.connect(path)
    con.executescript(script)
    for sql, values in rows:
        con.execute(sql, values)
    con.commit()
    con.close()
    return path.read_bytes()


LEGACY = """
CREATE TABLE dashboard (id INTEGER PRIMARY KEY, uid TEXT, title TEXT NOT NULL, data TEXT NOT NULL,
  is_folder INTEGER NOT NULL DEFAULT 0, deleted DATETIME NULL);
CREATE TABLE alert_rule (id INTEGER PRIMARY KEY, title TEXT NOT NULL, data TEXT NOT NULL);
"""


def test_grafana_database_of_11_in_the_dashboard_table(tmp_path) -> None:
    """Grafana 11 (and 12 before unified storage): the dashboard table; folders and the
    dashboards in the recycle bin (`deleted`) are not dashboards."""
    model = {
        "title": "Food Classifier Drift Monitoring",
        "panels": [
            {
                "type": "row",
                "title": "r",
                "panels": [
                    {"title": "Drift", "targets": [{"expr": "rate(drift_events_total[1m])"}]}
                ],
            }
        ],
    }
    rule = [
        {"refId": "A", "model": {"expr": "sum(rate(http_requests_total[1m]))"}},
        {"refId": "B", "model": {"type": "threshold"}},
    ]
    insert = "INSERT INTO dashboard (uid, title, data, is_folder, deleted) VALUES (?, ?, ?, ?, ?)"
    data = _database(tmp_path / "g.db", LEGACY, [
        (insert, ("d1", model["title"], json.dumps(model), 0, None)),
        (insert, ("f1", "Food classifier", "{}", 1, None)),
        (insert, ("d2", "Old", json.dumps({"title": "Old"}), 0, "2026-03-01 10:00:00")),
        ("INSERT INTO alert_rule (title, data) VALUES (?, ?)",
         ("Failed requests", json.dumps(rule))),
    ])  # fmt: skip
    db = parse(data)
    assert db.store == "dashboard table"
    assert {u: (d.title, d.queries) for u, d in db.dashboards.items()} == {
        "d1": ("Food Classifier Drift Monitoring", [("Drift", "rate(drift_events_total[1m])")])
    }
    assert [(r.title, r.exprs) for r in db.rules] == [
        ("Failed requests", ["sum(rate(http_requests_total[1m]))"])
    ]


V2_EXPR = "increase(predicted_class_total[$__range])"


def test_grafana_database_of_13_with_a_v2_dashboard(tmp_path) -> None:
    """Grafana 13: dashboards in unified storage, a v2 one keeping its queries under
    `elements`; the stale legacy rows are not read once `resource` holds dashboards."""
    v2 = {
        "kind": "Dashboard",
        "apiVersion": "dashboard.grafana.app/v2beta1",
        "metadata": {"name": "p1"},
        "spec": {
            "title": "Food Classifier Prediction Monitoring",
            "elements": {
                "panel-1": {
                    "kind": "Panel",
                    "spec": {
                        "title": "Confidence",
                        "data": {
                            "kind": "QueryGroup",
                            "spec": {
                                "queries": [
                                    {
                                        "kind": "PanelQuery",
                                        "spec": {
                                            "query": {
                                                "kind": "DataQuery",
                                                "group": "prometheus",
                                                "spec": {"expr": V2_EXPR},
                                            }
                                        },
                                    }
                                ]
                            },
                        },
                    },
                }
            },
        },
    }
    data = _database(tmp_path / "g.db", LEGACY + """
CREATE TABLE resource (guid TEXT PRIMARY KEY, "group" TEXT, resource TEXT, name TEXT,
  value TEXT);""", [
        ("INSERT INTO dashboard (uid, title, data) VALUES (?, ?, ?)", ("x", "Stale", "{}")),
        ('INSERT INTO resource VALUES (?, ?, ?, ?, ?)',
         ("g1", "dashboard.grafana.app", "dashboards", "p1", json.dumps(v2))),
        ('INSERT INTO resource VALUES (?, ?, ?, ?, ?)',
         ("g2", "folder.grafana.app", "folders", "f1", json.dumps({"spec": {"title": "F"}}))),
    ])  # fmt: skip
    db = parse(data)
    assert db.store.startswith("unified storage")
    assert {u: (d.title, d.queries) for u, d in db.dashboards.items()} == {
        "p1": (
            "Food Classifier Prediction Monitoring",
            [("Confidence", "increase(predicted_class_total[$__range])")],
        )
    }


def test_grafana_database_that_is_not_one() -> None:
    with pytest.raises(Failure, match="not a SQLite database"):
        parse(b"<html>not a database</html>")
