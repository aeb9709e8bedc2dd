"""Cloud computing on Chameleon: the checks follow the lab's parts.

Part 1-2: provision node1-3 and the private network (GUI and CLI); part 3: GourmetGram in
Docker on node1, on port 80; part 4: a three-node Kubernetes cluster serving GourmetGram in
namespace gourmetgram-production, with a Service and an autoscaler.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass
from typing import Any

from graders.answers import as_dict, as_dicts, parse_json, section
from graders.checks import Host, Lab, check
from graders.errors import Failure
from graders.labkit.apis import page_title
from graders.labkit.chameleon import lease_check, require_floating_ip, require_servers_active
from graders.labkit.containers import containers
from graders.labkit.instances import course_key_check, login_check
from graders.probes.ssh import CommandResult

lease_gui = lease_check("lease_gui", "Lease lease1_cloud_<netid> (made in Horizon) is ACTIVE")
lease_cli = lease_check("lease_cli", "Lease lease2_cloud_<netid> (made with the CLI) is ACTIVE")


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


@check(
    title="Ports port1-3_<netid> on the private network: 192.168.1.11-13, no port security",
    depends=[private_network],
)
def private_ports(lab: Lab) -> None:
    """The three ports the nodes use on the private network, as the lab makes them (port1 in
    Horizon, port2 and port3 with `openstack port create --disable-port-security`): each on
    private_cloud_net_<netid>, at its fixed IP 192.168.1.1N, with port security off."""
    network = lab.chameleon.network(lab.name("network")) or {}
    problems = []
    for n in (1, 2, 3):
        name = lab.name("port", n=str(n))
        port = lab.chameleon.port(name)
        if port is None:
            problems.append(f"no port named {name}")
            continue
        ips = [ip.get("ip_address") for ip in port.get("fixed_ips") or []]
        if port.get("network_id") != network.get("id"):
            problems.append(f"{name} is not on {network.get('name')}")
        elif f"192.168.1.1{n}" not in ips:
            held = ", ".join(map(str, ips)) or "no address"
            problems.append(f"{name} has {held}, not 192.168.1.1{n}")
        elif port.get("port_security_enabled") is not False:
            problems.append(f"{name} has port security on")
    lab.measure("ports_as_made", 3 - len(problems))
    lab.require(
        not problems,
        "; ".join(problems),
        "Create them as the lab does: openstack port create --network private_cloud_net_<netid> "
        "--fixed-ip subnet=private_cloud_subnet_<netid>,ip-address=192.168.1.1N "
        "--disable-port-security portN_<netid>.",
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
def k8s_nodes(lab: Lab) -> list[Node]:
    """On node1, `kubectl get nodes` lists the three nodes of the cluster, all Ready. Only
    each node's name, Ready status and InternalIP are asked for (jsonpath)."""
    result = lab.run(f"kubectl get nodes -o {shlex.quote('jsonpath=' + NODES_JSONPATH)}")
    _require_kubectl(result)
    nodes = [_node_line(line) for line in result.stdout.splitlines() if line.strip()]
    ready = [n.name for n in nodes if n.ready]
    want = lab.config["kubernetes"]["nodes"]
    lab.measure("ready_nodes", len(ready))
    lab.require(
        len(ready) >= want,
        f"{len(ready)} Ready nodes ({', '.join(ready) or 'none'}); expected {want}",
        "Re-run the kubespray playbook; check `kubectl get nodes`.",
    )
    return [n for n in nodes if n.ready]


@check(title="The cluster's nodes are on the private network", depends=[k8s_nodes])
def k8s_node_network(lab: Lab, k8s_nodes: list[Node]) -> None:
    """Every Ready node's InternalIP is on private_cloud_net (192.168.1.0/24): the lab's
    kubespray inventory lists the nodes by their private addresses 192.168.1.11-13."""
    subnet = ipaddress.ip_network(lab.config["kubernetes"]["node_network"])
    outside = [n for n in k8s_nodes if not any(_in(ip, subnet) for ip in n.internal_ips)]
    lab.require(
        not outside,
        f"nodes not on {subnet}: "
        + ", ".join(f"{n.name} ({' '.join(n.internal_ips) or 'no InternalIP'})" for n in outside),
        "Build the cluster with the private addresses: declare -a IPS=(192.168.1.11 "
        "192.168.1.12 192.168.1.13) before the inventory builder, then re-run kubespray.",
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


@check(
    title="Deployment gourmetgram-app runs the registry's image and is ready",
    depends=[k8s_namespace],
)
def k8s_deployment(lab: Lab, k8s_namespace: AppObjects) -> dict[str, Any]:
    """Deployment gourmetgram-app exists in the namespace, its container runs the image the
    lab pushed to the private registry (node1:5000/gourmetgram-app, any tag), and at least one
    replica is ready."""
    doc = _object(lab, k8s_namespace, "deployment")
    images = [str(c.get("image", "")) for c in _containers(doc)]
    want = lab.config["kubernetes"]["image"]
    lab.measure("images", " ".join(images)[:200])
    lab.require(
        any(_image_repository(i) == want for i in images),
        f"deployment {lab.config['kubernetes']['deployment']} runs {images or 'no containers'}, "
        f"not {want}",
        f"Push the app to the registry (docker push {want}) and set `image: {want}:latest` in "
        "deployment.yaml, as the lab writes it; then kubectl apply -f deployment.yaml.",
    )
    ready = doc.get("readyReplicas") or 0
    lab.measure("ready_replicas", ready if isinstance(ready, int) else None)
    lab.require(
        isinstance(ready, int) and ready >= 1,
        f"deployment {lab.config['kubernetes']['deployment']} has no ready replicas",
        "Check `kubectl describe deployment` and the readiness probe on /test.",
    )
    return doc


@check(title="The deployment's readiness probe GETs /test", depends=[k8s_deployment])
def k8s_readiness(lab: Lab, k8s_deployment: dict[str, Any]) -> None:
    """The app's container has the lab's readinessProbe: an HTTP GET of /test (on port 8000),
    so a pod takes traffic only once the model answers."""
    want = lab.config["kubernetes"]["readiness_path"]
    paths = [
        section(section(c, "readinessProbe"), "httpGet").get("path")
        for c in _containers(k8s_deployment)
    ]
    lab.require(
        want in paths,
        f"no container's readinessProbe GETs {want} (probe paths: {paths})",
        f"Add the lab's readinessProbe (httpGet path {want}, port 8000) to the container in "
        "deployment.yaml and apply it again.",
    )


@check(
    title="Service gourmetgram-svc maps port 80 to 8000 on node1's address", depends=[k8s_namespace]
)
def k8s_service(lab: Lab, k8s_namespace: AppObjects) -> None:
    """Service gourmetgram-svc exists, maps port 80 to the app's port 8000, and lists node1's
    sharednet1 address (the one its floating IP leads to) in externalIPs."""
    doc = _object(lab, k8s_namespace, "service")
    ports = [
        (p.get("port"), p.get("targetPort"))
        for p in as_dicts(doc.get("ports", []), "the service's ports")
    ]
    lab.require(
        (80, 8000) in ports,
        f"service ports (port, targetPort) are {ports}, expected port 80 to targetPort 8000",
        "The lab's Service: port: 80, targetPort: 8000.",
    )
    node1 = lab.chameleon.server(lab.name("node1")) or {}
    public = _fixed_beside_floating(node1)
    found = doc.get("externalIPs") or []
    listed = [str(ip) for ip in found] if isinstance(found, list) else [str(found)]
    lab.measure("external_ips", " ".join(listed)[:200])
    lab.require(
        public & set(listed),
        f"the service's externalIPs are {listed}, not node1's sharednet1 address "
        f"{' or '.join(sorted(public)) or '(none found)'}",
        "In externalIPs put node1's address on sharednet1 (10.56.X.Y, `ip addr` on node1), "
        "not its floating IP.",
    )


@check(title="HPA gourmetgram-kube-hpa scales 2 to 6 at 50% CPU", depends=[k8s_namespace])
def k8s_hpa(lab: Lab, k8s_namespace: AppObjects) -> None:
    """The HorizontalPodAutoscaler gourmetgram-kube-hpa scales the deployment between 2 and 6
    replicas, on 50% average CPU utilization, as the lab's manifest has it."""
    doc = _object(lab, k8s_namespace, "hpa")
    lab.measure("hpa_max_replicas", doc.get("maxReplicas"))
    target = section(doc, "scaleTargetRef").get("name")
    want = lab.config["kubernetes"]["deployment"]
    lab.require(target == want, f"the HPA scales {target!r}, not {want!r}")
    hpa = lab.config["kubernetes"]["hpa_spec"]
    cpu = [
        section(section(m, "resource"), "target").get("averageUtilization")
        for m in as_dicts(doc.get("metrics") or [], "the HPA's metrics")
        if section(m, "resource").get("name") == "cpu"
    ]
    got = (doc.get("minReplicas"), doc.get("maxReplicas"), cpu)
    lab.require(
        got == (hpa["min"], hpa["max"], [hpa["cpu"]]),
        f"the HPA has min {got[0]}, max {got[1]}, CPU targets {cpu}; the lab's has min "
        f"{hpa['min']}, max {hpa['max']}, CPU {hpa['cpu']}%",
        "Use the lab's HorizontalPodAutoscaler: minReplicas: 2, maxReplicas: 6, cpu "
        "averageUtilization: 50.",
    )


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


@check(
    title="Part 3's bind-mounted page ~/data/web/index.html is on node1",
    depends=[ssh_login],
    vantage="host",
)
def bind_mount_page(lab: Lab) -> None:
    """The page Part 3's "bind mount" step writes on the host (`sudo vim ~/data/web/index.html`,
    served by the nginx-bind container) is on node1: a plain file, it outlives the containers
    (all `--rm`) and Part 4's reinstall of Docker."""
    result = lab.run("test -f ~/data/web/index.html && echo present", timeout=10.0)
    lab.require(
        result.stdout.strip() == "present",
        "~/data/web/index.html is not on node1",
        "Part 3, \"Bind mounts\": mkdir -p ~/data/web, then write index.html in it on the host.",
    )


# --- helpers ----------------------------------------------------------------------------------
# kubectl is asked only for what the checks judge (a big cluster's JSON would not fit the
# output cap): per node its name, Ready status and InternalIPs; per app object its kind, name,
# spec and ready replicas. jsonpath prints a JSON object as one compact line.
NODES_JSONPATH = (
    '{range .items[*]}{.metadata.name}{"\\t"}{.status.conditions[?(@.type=="Ready")].status}'
    '{"\\t"}{.status.addresses[?(@.type=="InternalIP")].address}{"\\n"}{end}'
)
APP_JSONPATH = (
    '{range .items[*]}{.kind}{"\\t"}{.metadata.name}{"\\t"}{.spec}{"\\t"}'
    '{.status.readyReplicas}{"\\n"}{end}'
)
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
class Node:
    name: str
    ready: bool
    internal_ips: tuple[str, ...]


@dataclass(frozen=True)
class AppObjects:
    """The lab's namespace, deployment, service and HPA as one kubectl call found them (each
    one's spec, and readyReplicas), by kind, and kubectl's NotFound line for each one missing."""

    objects: dict[str, Any]
    errors: dict[str, str]


def _fetch_app_objects(lab: Lab) -> AppObjects:
    """kubectl prints a line per object it found (kind, name, its spec as JSON, and its ready
    replicas) and a NotFound line per missing object (exit 1)."""
    k8s = lab.config["kubernetes"]
    names = " ".join(
        f"{kind}/{shlex.quote(k8s[kind])}" for kind in ("deployment", "service", "hpa")
    )
    ns = shlex.quote(k8s["namespace"])
    query = shlex.quote("jsonpath=" + APP_JSONPATH)
    result = lab.run(f"kubectl get namespace/{ns} {names} -n {ns} -o {query}")
    errors = {}
    for line in result.stderr.splitlines():
        m = re.match(r'Error from server \(NotFound\): (\S+) "', line)
        if m and m.group(1) in NOT_FOUND:
            errors[NOT_FOUND[m.group(1)]] = line.strip()
    if not errors:
        _require_kubectl(result)
    objects: dict[str, Any] = {}
    for line in result.stdout.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise Failure(f"`kubectl get` printed {line[:100]!r}, not kind, name, spec, ready")
        kind, _, spec, ready = fields
        if kind in KINDS:
            doc = dict(as_dict(parse_json(spec, f"the {kind}'s spec"), f"the {kind}'s spec"))
            doc["readyReplicas"] = int(ready) if ready.isdigit() else None
            objects[KINDS[kind]] = doc
    return AppObjects(objects, errors)


def _object(lab: Lab, app: AppObjects, kind: str) -> dict[str, Any]:
    """The spec kubectl printed of the lab's `kind` (with readyReplicas added)."""
    lab.note(f"{kind} as read by k8s_namespace's kubectl call", app.objects.get(kind, ""))
    if kind not in app.objects:
        k8s = lab.config["kubernetes"]
        gone = all(k not in app.objects for k in ("deployment", "service", "hpa"))
        help = (
            "The namespace is there but its deployment, service and HPA are all gone: did you "
            "run `kubectl delete -f deployment.yaml` (the lab's last step)? grade before it; "
            "kubectl apply -f deployment.yaml brings them back."
            if gone and "namespace" in app.objects
            else "Apply the lab's deployment.yaml in that namespace; check the names."
        )
        raise Failure(
            app.errors.get(kind) or f"no {kind} {k8s[kind]} in namespace {k8s['namespace']}",
            help,
        )
    return app.objects[kind]


def _require_kubectl(result: CommandResult) -> None:
    if not result.ok:
        err = (result.stderr or result.stdout).strip().splitlines()
        raise Failure(
            f"`kubectl get` failed on the instance: {err[0][:200] if err else result.exited}",
            "Run it yourself on node1 as cc; is ~/.kube/config in place?",
        )


def _node_line(line: str) -> Node:
    fields = line.split("\t")
    if len(fields) != 3:
        raise Failure(f"`kubectl get nodes` printed {line[:100]!r}, not name, Ready, InternalIP")
    name, ready, ips = fields
    return Node(name, ready == "True", tuple(ips.split()))


def _in(ip: str, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(ip) in subnet
    except ValueError:
        return False


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    pod = section(section(deployment, "template"), "spec")
    found = pod.get("containers") or []
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _image_repository(image: str) -> str:
    """The image reference without its tag or digest: node1:5000/gourmetgram-app:latest ->
    node1:5000/gourmetgram-app (the registry's port is not a tag)."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def _fixed_beside_floating(server: dict[str, Any]) -> set[str]:
    """The server's fixed addresses on the network its floating IP is on (sharednet1)."""
    found: set[str] = set()
    for addrs in (server.get("addresses") or {}).values():
        if any(a.get("OS-EXT-IPS:type") == "floating" for a in addrs):
            found |= {a.get("addr") for a in addrs if a.get("OS-EXT-IPS:type") == "fixed"}
    return found


course_key = course_key_check(after=floating_ip)
