"""A student's hostile answers are failures, never grader errors: the labs' real checks run
against a hostile sshd (tests/hostile_sshd.py) that prints odd JSON shapes for the commands
they run. An `error` would be "not counted against you", and a student could turn any
failing lab into manual grading with one."""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.checks import Host, Session
from graders.labs import load_lab
from graders.probes.ssh import SshPool
from graders.runner import run_check
from graders.student import Student
from tests.hostile_sshd import HostileSshd


def observe(lab_id: str, check_id: str, script: dict[str, str], key: Path, given=None):
    """The check's observation and value, run against a hostile sshd printing `script`."""
    lab = load_lab(lab_id)
    check = next(c for c in lab.checks if c.id == check_id)
    with HostileSshd("script", script) as server:
        pool = SshPool(port=server.port)
        session = Session(Student("ab1", "ab1", str(key)), lab.config, None, pool)
        try:
            return run_check(check, session, given, Host("node1", "127.0.0.1"))
        finally:
            pool.close()


KUBECTL_NODES = {
    "node without metadata": '{"items": [{"status": {"conditions": [{"type": "Ready", '
    '"status": "True"}]}}]}',
    "items not a list": '{"items": "three nodes"}',
    "a list, not an object": "[]",
    "a number": "5",
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "not JSON": "all 3 nodes are Ready",
}


@pytest.mark.parametrize("answer", KUBECTL_NODES)
def test_kubectl_nodes_of_odd_shapes_fail(answer: str, key: Path) -> None:
    obs, _ = observe("cloud-chi", "k8s_nodes", {"kubectl get nodes": KUBECTL_NODES[answer]}, key)
    assert obs.status in ("failed", "passed"), (obs.status, obs.message)
    assert obs.status != "error"


KUBECTL_APP = {
    "a service whose spec is a list": '{"kind": "List", "items": [{"kind": "Namespace"}, '
    '{"kind": "Service", "spec": ["ports"]}, {"kind": "Deployment", "status": []}, '
    '{"kind": "HorizontalPodAutoscaler", "spec": "none"}]}',
    "items not objects": '{"kind": "List", "items": [1, "two", null]}',
}


@pytest.mark.parametrize("answer", KUBECTL_APP)
def test_kubernetes_objects_of_odd_shapes_fail(answer: str, key: Path) -> None:
    """The namespace check reads them once; the deployment, service and HPA checks judge
    what it read."""
    namespace, app = observe(
        "cloud-chi", "k8s_namespace", {"kubectl get namespace": KUBECTL_APP[answer]}, key
    )
    assert namespace.status in ("passed", "failed"), namespace.message
    if namespace.status == "failed":
        return
    for child in ("k8s_deployment", "k8s_service", "k8s_hpa"):
        obs, _ = observe("cloud-chi", child, {}, key, given={"k8s_namespace": app})
        assert obs.status == "failed", (child, obs.status, obs.message)


def test_a_benchmark_that_prints_a_number_fails(key: Path) -> None:
    obs, _ = observe(
        "serve-model-chi",
        "latency_baseline",
        {"docker exec": "5\n"},
        key,
        given={"models_present": {}},
    )
    assert obs.status == "failed" and "the benchmark printed no result" in obs.message
