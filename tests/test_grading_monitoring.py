"""End to end on eval-online-chi: a real Prometheus per simulated node (Debian's package)
scraping the lab's FastAPI server, which exports its metrics for real (prometheus_client), and
a Grafana API stand-in with the lab's dashboards; every profile graded as it expects."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator

import pytest
import requests

from graders.probes.promql import metric_names
from labsim.prometheus import INSTALL
from tests.conftest import graded_as_expected, lab_classroom, student_of

LAB = "eval-online-chi"
PROFILES = [
    "healthy",
    "prometheus_target_down",
    "no_custom_metrics",
    "missing_dashboard",
    "panel_unknown_metric",
    "no_alert_rule",
    "grafana_garbage",
    "grafana_huge",
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


def test_the_simulated_services_answer_as_the_real_ones(room) -> None:
    """Prometheus is real and scraped the app; Grafana's stand-in wants the lab's login."""
    address = student_of(room, "healthy").address(LAB)
    targets = requests.get(f"http://{address}:9090/api/v1/targets", timeout=5).json()
    (target,) = targets["data"]["activeTargets"]
    assert (target["labels"]["job"], target["health"]) == ("food11", "up")
    query = 'http_requests_total{handler="/predict",status="5xx"}'
    doc = requests.get(f"http://{address}:9090/api/v1/query", params={"query": query}).json()
    assert doc["data"]["result"], "the 500 the lab's bad input gets was scraped"
    assert requests.get(f"http://{address}:9090/api/v1/rules").json()["data"]["groups"] == []
    grafana = f"http://{address}:3000/api/search"
    r = requests.get(grafana, timeout=5)
    assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"})
    assert requests.get(grafana, auth=("admin", "wrong"), timeout=5).status_code == 401
    hits = requests.get(grafana, params={"type": "dash-db"}, auth=("admin", "admin")).json()
    assert {h["type"] for h in hits} == {"dash-db"} and len(hits) == 3
    # a body without `image` is FastAPI's 422; an image that does not decode is a bare 500
    url = f"http://{address}:8000/predict"
    assert requests.post(url, json={}, timeout=5).status_code == 422
    bad = requests.post(url, json={"image": base64.b64encode(b"x").decode()}, timeout=5)
    assert (bad.status_code, bad.text) == (500, "Internal Server Error")


def test_every_process_stops_with_the_classroom(tmp_path) -> None:
    with lab_classroom(tmp_path, LAB, ["healthy"]) as r:
        pids = r.pids()
        assert "prometheus" in {_comm(p) for p in pids}
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
    ],
    ids=["names", "calls", "braces", "escaped-quotes", "variables", "grouping", "ranges", "many"],
)
def test_metric_names_of_a_hostile_megabyte(expr: str, names: set[str]) -> None:
    """A dashboard is the student's, up to 1 MiB: each of these shapes made the old scan
    quadratic (minutes per panel); every one is read once now, with the right answer."""
    assert len(expr) >= 500_000
    assert metric_names(expr) == names
