"""Cloud computing on Chameleon: the checks follow the lab's parts.

Part 1-2: provision node1-3 and the private network (GUI and CLI); part 3: GourmetGram in
Docker on node1, on port 80; part 4: a three-node Kubernetes cluster serving GourmetGram in
namespace gourmetgram-production, with a Service and an autoscaler.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from graders.answers import as_dict, as_dicts, as_list, parse_json, section
from graders.checks import Host, Lab, check
from graders.errors import Failure
from graders.labkit.apis import page_title
from graders.labkit.chameleon import require_floating_ip, require_servers_active
from graders.labkit.containers import containers
from graders.labkit.instances import course_key_check, login_check
from graders.labkit.kubernetes import kubectl_json


@check(title="Instances node1, node2 and node3 are ACTIVE")
def nodes_active(lab: Lab) -> None:
    """Servers node1-cloud-<netid>, node2-... and node3-... exist at KVM@TACC and are ACTIVE."""
    require_servers_active(
        lab,
        ("node1", "node2", "node3"),
        "Create node1 in the GUI and node2/node3 with the openstack CLI, named exactly.",
    )


@check(title="Network private_cloud_net_<netid> exists")
def private_network(lab: Lab) -> None:
    """The private network the three nodes share exists, under the lab's name."""
    name = lab.name("network")
    lab.require(
        lab.chameleon.network(name),
        f"no network named {name} at {lab.config['site']}",
        "Create it in Horizon under Network > Networks, named exactly.",
    )


@check(title="node1 has a floating IP")
def floating_ip(lab: Lab) -> Host:
    """node1 has a floating IP, through which the grader reaches its web page and SSH."""
    return require_floating_ip(
        lab,
        "node1",
        "Allocate one (description 'Cloud IP for <netid>') and associate it with node1.",
    )


@check(title="GourmetGram's page is served on port 80", depends=[floating_ip])
def web_page(lab: Lab) -> None:
    """`http://<floating IP>/` answers 200 with the GourmetGram upload page."""
    url = f"http://{lab.address}:{lab.port('http')}/"
    seen = page_title(lab, url)
    lab.require(
        lab.config["page_title"] in seen,
        f"GET {url} is not the GourmetGram page (title: {seen!r})",
        "Run the gourmetgram-app container with -p 80:8000, or expose the Service.",
    )


@check(title="GET /test answers a Food-11 class", depends=[floating_ip])
def web_test(lab: Lab) -> None:
    """`http://<floating IP>/test` classifies the bundled image: a bare Food-11 class name."""
    url = f"http://{lab.address}:{lab.port('http')}/test"
    resp = lab.http.get(url)
    lab.require(resp.status == 200, f"GET {url} answered HTTP {resp.status}")
    answer = resp.text.strip()
    lab.measure("prediction", answer[:64])
    lab.require(
        answer in lab.config["classes"],
        f"GET {url} answered {answer[:80]!r}, which is not a Food-11 class",
        "The model did not load or the app is not GourmetGram; check the container logs.",
    )


ssh_login = login_check(after=floating_ip, title="SSH as cc works on node1")


@check(title="kubectl shows 3 Ready nodes", depends=[ssh_login], vantage="host")
def k8s_nodes(lab: Lab) -> None:
    """On node1, `kubectl get nodes` lists the three nodes of the cluster, all Ready."""
    doc = kubectl_json(lab, "get nodes -o json")
    nodes = as_dicts(doc.get("items", []), "the items of `kubectl get nodes -o json`")
    ready = [str(section(n, "metadata").get("name", "?")) for n in nodes if _ready(n)]
    want = lab.config["kubernetes"]["nodes"]
    lab.measure("ready_nodes", len(ready))
    lab.require(
        len(ready) >= want,
        f"{len(ready)} Ready nodes ({', '.join(ready) or 'none'}); expected {want}",
        "Re-run the kubespray playbook; check `kubectl get nodes`.",
    )


@check(title="Namespace gourmetgram-production exists", depends=[ssh_login], vantage="host")
def k8s_namespace(lab: Lab) -> AppObjects:
    """The namespace the lab deploys GourmetGram into exists.

    One kubectl call fetches the namespace and the three objects in it, which the next checks
    read: one round trip to the instance instead of four.
    """
    app = _fetch_app_objects(lab)
    ns = lab.config["kubernetes"]["namespace"]
    lab.require(
        "namespace" in app.objects,
        app.errors.get("namespace") or f"no namespace {ns}",
        f"kubectl create namespace {ns}, then kubectl apply -f deployment.yaml",
    )
    return app


@check(title="Deployment gourmetgram-app is ready", depends=[k8s_namespace])
def k8s_deployment(lab: Lab, k8s_namespace: AppObjects) -> None:
    """Deployment gourmetgram-app exists in the namespace and has at least one ready replica."""
    doc = _object(lab, k8s_namespace, "deployment")
    ready = section(doc, "status").get("readyReplicas") or 0
    lab.measure("ready_replicas", ready if isinstance(ready, int) else None)
    lab.require(
        isinstance(ready, int) and ready >= 1,
        f"deployment {lab.config['kubernetes']['deployment']} has no ready replicas",
        "Check `kubectl describe deployment` and the readiness probe on /test.",
    )


@check(title="Service gourmetgram-svc exposes port 80", depends=[k8s_namespace])
def k8s_service(lab: Lab, k8s_namespace: AppObjects) -> None:
    """Service gourmetgram-svc exists and maps port 80 to the app's port 8000."""
    doc = _object(lab, k8s_namespace, "service")
    ports = [
        (p.get("port"), p.get("targetPort"))
        for p in as_dicts(section(doc, "spec").get("ports", []), "the service's ports")
    ]
    lab.require(any(p == 80 for p, _ in ports), f"service ports are {ports}, expected port 80")


@check(title="HPA gourmetgram-kube-hpa exists", depends=[k8s_namespace])
def k8s_hpa(lab: Lab, k8s_namespace: AppObjects) -> None:
    """The HorizontalPodAutoscaler gourmetgram-kube-hpa scales the deployment."""
    doc = _object(lab, k8s_namespace, "hpa")
    spec = section(doc, "spec")
    lab.measure("hpa_max_replicas", spec.get("maxReplicas"))
    target = section(spec, "scaleTargetRef").get("name")
    want = lab.config["kubernetes"]["deployment"]
    lab.require(target == want, f"the HPA scales {target!r}, not {want!r}")


@check(title="A registry container serves on node1:5000", depends=[ssh_login], vantage="host")
def registry_container(lab: Lab) -> None:
    """The private registry (container `registry`) the cluster pulls images from is running."""
    running = containers(lab)
    found = lab.require(
        running.get("registry"),
        f"no running container named registry ({len(running)} containers running)",
        "docker run -d -p 5000:5000 --restart always --name registry registry:2",
    )
    port = lab.port("registry")
    lab.require(
        f":{port}->" in str(found.get("Ports", "")),
        f"registry does not publish port {port} (ports: {found.get('Ports')!r})",
    )


# --- helpers ----------------------------------------------------------------------------------
KINDS = {
    "Namespace": "namespace",
    "Deployment": "deployment",
    "Service": "service",
    "HorizontalPodAutoscaler": "hpa",
}
NOT_FOUND = {
    "namespaces": "namespace",
    "deployments.apps": "deployment",
    "services": "service",
    "horizontalpodautoscalers.autoscaling": "hpa",
}


@dataclass(frozen=True)
class AppObjects:
    """The lab's namespace, deployment, service and HPA as one kubectl call found them, by
    kind, and kubectl's NotFound line for each one missing."""

    objects: dict[str, Any]
    errors: dict[str, str]


def _fetch_app_objects(lab: Lab) -> AppObjects:
    """kubectl prints what it found as a List and a NotFound line per missing object (exit 1)."""
    k8s = lab.config["kubernetes"]
    names = " ".join(
        f"{kind}/{shlex.quote(k8s[kind])}" for kind in ("deployment", "service", "hpa")
    )
    ns = shlex.quote(k8s["namespace"])
    result = lab.run(f"kubectl get namespace/{ns} {names} -n {ns} -o json")
    errors = {}
    for line in result.stderr.splitlines():
        m = re.match(r'Error from server \(NotFound\): (\S+) "', line)
        if m and m.group(1) in NOT_FOUND:
            errors[NOT_FOUND[m.group(1)]] = line.strip()
    if not result.ok and not errors:
        err = (result.stderr or result.stdout).strip().splitlines()
        raise Failure(
            f"`kubectl get` failed on the instance: {err[0] if err else result.exited}",
            "Run it yourself on node1 as cc; is ~/.kube/config in place?",
        )
    text = result.stdout if result.stdout.strip() else '{"items": []}'
    doc = parse_json(text, "`kubectl get ... -o json`")
    doc = as_dict(doc, "the objects `kubectl get ... -o json` printed")
    items = doc.get("items", [doc]) if doc.get("kind") == "List" else [doc]
    items = [o for o in as_list(items, "the items kubectl listed") if isinstance(o, dict)]
    return AppObjects({KINDS[o["kind"]]: o for o in items if o.get("kind") in KINDS}, errors)


def _object(lab: Lab, app: AppObjects, kind: str) -> dict[str, Any]:
    lab.note(f"{kind} as read by k8s_namespace's kubectl call", app.objects.get(kind, ""))
    if kind not in app.objects:
        k8s = lab.config["kubernetes"]
        raise Failure(
            app.errors.get(kind) or f"no {kind} {k8s[kind]} in namespace {k8s['namespace']}",
            "Apply the lab's deployment.yaml in that namespace; check the names.",
        )
    return app.objects[kind]


def _ready(node: dict[str, Any]) -> bool:
    conds = section(node, "status").get("conditions") or []
    return any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in (conds if isinstance(conds, list) else [])
    )


course_key = course_key_check(after=floating_ip)
