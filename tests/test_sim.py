"""The classroom simulator, checked through the real clients: python-chi, fabric, requests.

Needs root (sshd on port 22 of loopback addresses, the `cc` user) and OpenSSH's sshd.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest
import requests
import yaml
from paramiko.ssh_exception import AuthenticationException, NoValidConnectionsError

import labsim
from graders.labs import lab_ids, load_lab
from labsim import PROFILES, Classroom, Profile
from labsim.gourmetgram import CLASSES, error_page
from labsim.profiles import KNOWN_KNOBS
from tests.conftest import needs_root, ssh_connect, ssh_run, student_of

pytestmark = needs_root
PROFILE_LIST = [
    "healthy",
    "missing_file",
    "host_down",
    "tarpit",
    "server_error",
    "missing_k8s_object",
    "endpoint_500",
    "k8s_wrong_image",
    "k8s_torn_down",
]
HELLO, CLOUD, NS = "hello-chameleon", "cloud-chi", "gourmetgram-production"
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory):
    with Classroom(tmp_path_factory.mktemp("classroom"), PROFILE_LIST) as classroom:
        yield classroom


# ---- profiles ------------------------------------------------------------------------------
@functools.cache
def checks_of(lab_id: str) -> list:
    return load_lab(lab_id).checks


@pytest.mark.parametrize("name", list(PROFILES))
def test_profile_expectations_follow_dependencies(name: str) -> None:
    profile = PROFILES[name]
    assert profile.description
    for lab in lab_ids():
        expected = profile.expected(lab, checks_of(lab))
        for check in checks_of(lab):
            parents_ok = all(expected[d] == "passed" for d in check.depends)
            skipped = expected[check.id] == "skipped"
            # Skipped exactly when a parent did not pass, or by the check itself (Skip).
            assert skipped == (not parents_ok) or (lab, check.id) in SKIPS_ITSELF, (lab, check.id)


def test_an_outcome_for_a_check_the_lab_lacks_is_refused() -> None:
    profile = Profile("typo", "An outcome for a misspelt check.", {HELLO: {"hello_fil": "failed"}})
    with pytest.raises(ValueError, match=r"profile typo: unknown hello-chameleon checks"):
        profile.expected(HELLO, checks_of(HELLO))


def test_course_key_ends_as_the_login_does() -> None:
    """course_key is never written in an outcome: it follows ssh_login, and fails where the
    login works but the profile lacks the course key."""
    assert PROFILES["no_course_key"].expected(HELLO, checks_of(HELLO))["course_key"] == "failed"
    assert PROFILES["healthy"].expected(HELLO, checks_of(HELLO))["course_key"] == "passed"
    assert PROFILES["host_down"].expected(HELLO, checks_of(HELLO))["course_key"] == "unreachable"
    assert PROFILES["server_error"].expected(HELLO, checks_of(HELLO))["course_key"] == "skipped"
    # llm-chi's second server: course_key_multi follows ssh_login_multi the same way
    llm = checks_of("llm-chi")
    assert PROFILES["no_course_key"].expected("llm-chi", llm)["course_key_multi"] == "failed"
    assert PROFILES["llm_single_only"].expected("llm-chi", llm)["course_key_multi"] == "skipped"
    assert PROFILES["llm_multi_only"].expected("llm-chi", llm)["course_key"] == "skipped"
    assert PROFILES["host_down"].expected("llm-chi", llm)["course_key_multi"] == "unreachable"


# Checks that skip themselves when they do not apply (mlops-chi: no github_repo named;
# data-persist-chi: no rclone mount on the re-created instance, which the manual never mounts).
SKIPS_ITSELF = {("mlops-chi", "github_actions"), ("data-persist-chi", "object_mounted")}


@pytest.mark.parametrize(
    "knobs, needle",
    [
        ({"training": frozenset({"amdd"})}, "unknown training knob 'amdd'"),
        ({"storage": frozenset({"volume_detached", "no_vol"})}, "unknown storage knob 'no_vol'"),
        ({"missing_k8s": frozenset({"hpas"})}, "unknown missing_k8s knob 'hpas'"),
        ({"network": "dwon"}, "unknown network knob 'dwon'"),
    ],
)
def test_a_misspelt_knob_is_refused(knobs: dict, needle: str) -> None:
    with pytest.raises(ValueError) as err:
        Profile("typo", "A profile with a misspelt knob.", **knobs)
    assert "profile 'typo'" in str(err.value) and needle in str(err.value)


# What a family's knob tests look like: `"amd" in knobs`, `"hpa" not in missing`,
# `"x" in profile.storage`, `"y" in plan.knobs`.
KNOB_SET = re.compile(r"(^|\.)(knobs|missing|profile\.\w+)$")


def test_families_test_only_known_knobs() -> None:
    """mypy does not check `"knob" in knobs` against the knobs' Literal type (a str literal
    overlaps it), so read the families: every knob they test for is one a profile can hold."""
    known = {v for values in KNOWN_KNOBS.values() for v in values}
    tested = []
    for path in sorted(Path(labsim.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn)):
                continue
            left, right = node.left, ast.unparse(node.comparators[0])
            if isinstance(left, ast.Constant) and isinstance(left.value, str):
                if KNOB_SET.search(right):
                    tested.append((path.name, left.value))
    assert len(tested) > 40, tested  # the scan finds the families' tests at all
    assert [t for t in tested if t[1] not in known] == []


def test_students_and_files(room: Classroom) -> None:
    assert [s.profile for s in room.students] == PROFILE_LIST
    assert len({s.netid for s in room.students}) == len(PROFILE_LIST)
    for s in room.students:
        data = yaml.safe_load(s.student_file.read_text())
        assert data == {
            "netid": s.netid,
            "chameleon_user": s.netid + "_nyu",
            "ssh_key": str(s.key_path),
        }
        assert s.key_path.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
        for host in s.hosts.values():
            assert host.address.startswith("127.") and host.address != "127.0.0.1"
    env = room.openstack_env
    assert env["OS_AUTH_URL"].startswith("http://127.0.0.1:") and env["OS_AUTH_URL"].endswith(
        "/identity/v3"
    )
    assert env["OS_AUTH_TYPE"] == "v3applicationcredential"
    assert env["OS_REGION_NAME"] == "KVM@TACC" and env["OS_INTERFACE"] == "public"


# ---- OpenStack through python-chi ----------------------------------------------------------
@pytest.fixture
def chi_client(room: Classroom):
    import chi

    env = room.openstack_env
    chi.reset()
    chi.set("auth_type", env["OS_AUTH_TYPE"])
    chi.set("auth_url", env["OS_AUTH_URL"])
    chi.set("region_name", env["OS_REGION_NAME"])
    chi.set("application_credential_id", env["OS_APPLICATION_CREDENTIAL_ID"])
    chi.set("application_credential_secret", env["OS_APPLICATION_CREDENTIAL_SECRET"])
    chi.set("timeout", 5)
    yield chi
    chi.reset()


def floating(server) -> list[str]:
    return [
        a["addr"]
        for addrs in server.addresses.values()
        for a in addrs
        if a["OS-EXT-IPS:type"] == "floating"
    ]


def test_python_chi_lists_servers_with_loopback_floating_ips(room: Classroom, chi_client) -> None:
    servers = {s.name: s for s in chi_client.nova().servers.list()}
    for s in room.students:
        hello = servers[f"hello_chameleon-{s.chameleon_user}"]
        nodes = [servers[f"node{n}-cloud-{s.netid}"] for n in (1, 2, 3)]
        if s.profile == "server_error":
            assert hello.status == "ERROR" and hello.fault["message"].startswith("No valid host")
            assert hello.addresses == {} and nodes[2].status == "ERROR"
        else:
            assert hello.status == "ACTIVE" and floating(hello) == [s.address(HELLO)]
            assert hello.flavor["original_name"] == "m1.small"
        assert nodes[0].status == "ACTIVE" and floating(nodes[0]) == [s.address(CLOUD)]
        assert floating(nodes[1]) == floating(nodes[2]) == []
    one = chi_client.nova().servers.list(search_opts={"name": "^node1-cloud-st000$"})
    assert [s.name for s in one] == ["node1-cloud-st000"]


def test_python_chi_neutron(room: Classroom, chi_client) -> None:
    from neutronclient.common.exceptions import NetworkNotFoundClient
    from novaclient.exceptions import NotFound

    neutron = chi_client.neutron()
    names = {n["name"] for n in neutron.list_networks()["networks"]}
    assert {"sharednet1"} | {f"private_cloud_net_{s.netid}" for s in room.students} <= names
    only = neutron.list_networks(name="private_cloud_net_st001")["networks"]
    assert [n["name"] for n in only] == ["private_cloud_net_st001"]
    fips = {f["floating_ip_address"]: f for f in neutron.list_floatingips()["floatingips"]}
    cloud = fips[student_of(room, "healthy").address(CLOUD)]
    assert cloud["description"] == "Cloud IP for st000" and cloud["status"] == "ACTIVE"
    assert cloud["fixed_ip_address"].startswith("10.56.") and cloud["port_id"]
    ports = {p["name"]: p for p in neutron.list_ports()["ports"]}
    assert ports["port2_st000"]["fixed_ips"][0]["ip_address"] == "192.168.1.12"
    with pytest.raises(NetworkNotFoundClient):
        neutron.show_network("no-such-network")
    with pytest.raises(NotFound):
        chi_client.nova().servers.get("no-such-server")


def test_wrong_credential_is_refused(room: Classroom, chi_client) -> None:
    from keystoneauth1.exceptions.http import Unauthorized

    chi_client.set("application_credential_secret", "wrong")
    with pytest.raises(Unauthorized):
        chi_client.nova().servers.list()


def test_a_sites_credential_is_refused_at_another_site(room: Classroom, chi_client) -> None:
    """As on Chameleon, where each site has its own Keystone: KVM@TACC's application
    credential gets nothing at CHI@TACC."""
    from novaclient.exceptions import Unauthorized  # Nova's own 401, not keystoneauth's

    chi_client.set("region_name", "CHI@TACC")
    with pytest.raises(Unauthorized):
        chi_client.nova().servers.list()


# ---- SSH ---------------------------------------------------------------------------------
def test_ssh_hello_host(room: Classroom) -> None:
    s = student_of(room, "healthy")
    r = ssh_run(room, "healthy", HELLO, 'hostname; pwd; head -c 65536 "$HOME/hello.txt"')
    hostname = f"hello-chameleon-{s.netid}-nyu"
    home = str(s.hosts[HELLO].home)
    lines = r.stdout.splitlines()
    assert r.exited == 0 and lines[:3] == [hostname, home, f"Hello from {hostname}"]
    assert len(lines) == 4  # edited afterwards


def test_sftp_starts_in_home(room: Classroom) -> None:
    buffer = io.BytesIO()
    with ssh_connect(room, "healthy", HELLO) as c:
        c.get("hello.txt", local=buffer)  # relative, as `scp cc@host:hello.txt .` asks
    assert buffer.getvalue().startswith(b"Hello from hello-chameleon-")


def test_missing_file_is_real_cat_error(room: Classroom) -> None:
    r = ssh_run(room, "missing_file", HELLO, "cat ~/hello.txt")
    home = student_of(room, "missing_file").hosts[HELLO].home
    assert r.exited == 1 and r.stdout == ""
    assert r.stderr == f"cat: {home}/hello.txt: No such file or directory\n"


def test_kubectl_json(room: Classroom) -> None:
    nodes = json.loads(ssh_run(room, "healthy", CLOUD, "kubectl get nodes -o json").stdout)
    assert nodes["kind"] == "List" and nodes["metadata"] == {"resourceVersion": ""}
    ready = [
        c["status"]
        for n in nodes["items"]
        for c in n["status"]["conditions"]
        if c["type"] == "Ready"
    ]
    assert ready == ["True"] * 3
    get = f"-n {NS} -o json"
    namespace = json.loads(
        ssh_run(room, "healthy", CLOUD, f"kubectl get namespace {NS} -o json").stdout
    )
    assert namespace["status"]["phase"] == "Active"
    deploy = json.loads(
        ssh_run(room, "healthy", CLOUD, f"kubectl get deployment gourmetgram-app {get}").stdout
    )
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert (
        deploy["apiVersion"] == "apps/v1"
        and container["image"] == "node1:5000/gourmetgram-app:latest"
    )
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/test",
        "port": 8000,
        "scheme": "HTTP",
    }
    assert deploy["status"]["readyReplicas"] == deploy["spec"]["replicas"] == 2
    svc = json.loads(
        ssh_run(room, "healthy", CLOUD, f"kubectl get service gourmetgram-svc {get}").stdout
    )
    assert svc["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 8000}]
    assert svc["spec"]["externalIPs"][0].startswith("10.56.")
    hpa = json.loads(
        ssh_run(room, "healthy", CLOUD, f"kubectl get hpa gourmetgram-kube-hpa {get}").stdout
    )
    assert (hpa["apiVersion"], hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (
        "autoscaling/v2",
        2,
        6,
    )


def test_kubectl_missing_hpa_is_not_found(room: Classroom) -> None:
    r = ssh_run(
        room, "missing_k8s_object", CLOUD, f"kubectl get hpa gourmetgram-kube-hpa -n {NS} -o json"
    )
    assert r.exited == 1 and r.stdout == ""
    assert r.stderr == (
        'Error from server (NotFound): horizontalpodautoscalers.autoscaling "gourmetgram-kube-hpa"'
        " not found\n"
    )


def test_kubectl_tables(room: Classroom) -> None:
    nodes = ssh_run(room, "healthy", CLOUD, "kubectl get nodes").stdout.splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [line.split()[:2] for line in nodes[1:]] == [[f"node{n}", "Ready"] for n in (1, 2, 3)]
    table = ssh_run(room, "healthy", CLOUD, f"kubectl get deploy,svc,hpa -n {NS}").stdout
    blocks = table.split("\n\n")
    assert [b.splitlines()[1].split()[0] for b in blocks] == [
        "deployment.apps/gourmetgram-app",
        "service/gourmetgram-svc",
        "horizontalpodautoscaler.autoscaling/gourmetgram-kube-hpa",
    ]
    assert "cpu: 2%/50%" in blocks[2]


def test_docker_ps(room: Classroom) -> None:
    out = ssh_run(room, "healthy", CLOUD, "docker ps --format '{{json .}}'").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    keys = "Command CreatedAt ID Image Labels LocalVolumes Mounts Names Networks Ports RunningFor"
    assert all(sorted(r) == (keys + " Size State Status").split() for r in rows)
    registry = next(r for r in rows if r["Names"] == "registry")
    assert registry["Image"] == "registry:2" and "0.0.0.0:5000->5000/tcp" in registry["Ports"]
    table = ssh_run(room, "healthy", CLOUD, "docker ps").stdout.splitlines()
    assert table[0].split()[:3] == ["CONTAINER", "ID", "IMAGE"]
    missing = ssh_run(room, "healthy", HELLO, "docker ps")  # no docker on the hello instance
    if shutil.which("docker") or not missing.stderr:  # shadowed, or bash's own message
        assert missing.exited == 127 and "docker: command not found" in missing.stderr


def test_docker_stand_in_prints_what_the_real_cli_prints(room: Classroom, tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if not docker:
        pytest.skip("no docker CLI here to compare with")
    host = student_of(room, "healthy").hosts[CLOUD]
    containers = json.loads(host.state_file.read_text())["docker"]["containers"]
    loader = SourceFileLoader("docker_standin", str(host.bin_dir / "docker"))
    standin = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(standin)

    class Engine(BaseHTTPRequestHandler):  # Docker Engine API: ping and list containers
        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            body = b'"OK"'
            if "/containers/json" in self.path:
                now = time.time()
                listed = [
                    {
                        **{k: v for k, v in c.items() if k != "_started"},
                        "Status": standin.engine_status(c, now),
                    }
                    for c in containers
                ]
                body = json.dumps(listed).encode()
            self.send_response(200)
            self.send_header("Api-Version", "1.45")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Engine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "DOCKER_HOST": f"tcp://127.0.0.1:{server.server_port}",
        "LABGRADER_SIM_STATE": str(host.state_file),
    }
    try:
        for args in (["ps"], ["ps", "--format", "{{json .}}"], ["ps", "--no-trunc", "-q"]):
            real = subprocess.run([docker, *args], env=env, capture_output=True, text=True)
            mine = subprocess.run(
                [str(host.bin_dir / "docker"), *args], env=env, capture_output=True, text=True
            )
            # Docker CLI 28 adds "Platform"; the course's nodes run Docker 26.1 (Kubespray 2.26).
            assert mine.stdout == real.stdout.replace('"Platform":null,', ""), args
    finally:
        server.shutdown()


class FakeKubeAPI(BaseHTTPRequestHandler):
    """Just enough kube-apiserver (legacy discovery, GET and list, NotFound) for a real kubectl
    to print the objects of a simulated host."""

    objects: list[dict] = []
    RESOURCES = {  # resource: (group, version, kind, namespaced, short name)
        "nodes": ("", "v1", "Node", False, "no"),
        "namespaces": ("", "v1", "Namespace", False, "ns"),
        "pods": ("", "v1", "Pod", True, "po"),
        "services": ("", "v1", "Service", True, "svc"),
        "deployments": ("apps", "v1", "Deployment", True, "deploy"),
        "replicasets": ("apps", "v1", "ReplicaSet", True, "rs"),
        "horizontalpodautoscalers": ("autoscaling", "v2", "HorizontalPodAutoscaler", True, "hpa"),
    }

    def log_message(self, *args: object) -> None:
        pass

    def send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/api":
            return self.send(200, {"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            groups = [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}]}
                for g, v in (("apps", "v1"), ("autoscaling", "v2"))
            ]
            return self.send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        parts = path.strip("/").split("/")
        if parts[0] not in ("api", "apis") or len(parts) < (2 if parts[0] == "api" else 3):
            return self.send(404, {"kind": "Status", "code": 404})  # /version, /openapi, ...
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            group, version, rest = parts[1], parts[2], parts[3:]
        if not rest:
            resources = [
                {
                    "name": r,
                    "namespaced": ns,
                    "kind": k,
                    "verbs": ["get", "list"],
                    "shortNames": [sn],
                }
                for r, (g, v, k, ns, sn) in self.RESOURCES.items()
                if (g, v) == (group, version)
            ]
            gv = f"{group}/{version}" if group else version
            return self.send(
                200, {"kind": "APIResourceList", "groupVersion": gv, "resources": resources}
            )
        namespace = rest[1] if rest[0] == "namespaces" and len(rest) > 2 else None
        resource, *name = rest[2:] if namespace else rest
        kind = self.RESOURCES[resource][2]
        items = [
            o
            for o in self.objects
            if o["kind"] == kind and o["metadata"].get("namespace", namespace) == namespace
        ]
        if not name:
            return self.send(
                200, {"kind": kind + "List", "apiVersion": "v1", "metadata": {}, "items": items}
            )
        found = [o for o in items if o["metadata"]["name"] == name[0]]
        if found:
            return self.send(200, found[0])
        qualified = f"{resource}.{self.RESOURCES[resource][0]}".rstrip(".")
        message = f'{qualified} "{name[0]}" not found'
        self.send(
            404,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "message": message,
                "code": 404,
            },
        )


def grader_queries() -> list[str]:
    """The kubectl commands labs/cloud-chi/checks.py runs, as argument strings."""
    check = next(c for c in load_lab(CLOUD).checks if c.id == "k8s_nodes")
    names = f"deployment/gourmetgram-app service/gourmetgram-svc hpa/gourmetgram-kube-hpa -n {NS}"
    return [
        f"get nodes -o 'jsonpath={check.func.__globals__['NODES_JSONPATH']}'",
        f"get namespace/{NS} {names} -o 'jsonpath={check.func.__globals__['APP_JSONPATH']}'",
    ]


def test_kubectl_jsonpath(room: Classroom) -> None:
    """The grader's jsonpath queries: tab-separated lines; a missing object is NotFound."""
    nodes, app = grader_queries()
    lines = ssh_run(room, "healthy", CLOUD, "kubectl " + nodes).stdout.splitlines()
    assert lines == [f"node{n}\tTrue\t192.168.1.1{n}" for n in (1, 2, 3)]
    r = ssh_run(room, "healthy", CLOUD, "kubectl " + app)
    kinds = [line.split("\t")[:2] for line in r.stdout.splitlines()]
    assert (r.exited, r.stderr) == (0, "")
    assert kinds == [
        ["Namespace", NS],
        ["Deployment", "gourmetgram-app"],
        ["Service", "gourmetgram-svc"],
        ["HorizontalPodAutoscaler", "gourmetgram-kube-hpa"],
    ]
    assert json.loads(r.stdout.splitlines()[2].split("\t")[2])["ports"] == [
        {"port": 80, "protocol": "TCP", "targetPort": 8000}
    ]
    assert r.stdout.splitlines()[1].endswith("\t2")  # ready replicas
    gone = ssh_run(room, "k8s_torn_down", CLOUD, "kubectl " + app)
    assert (
        gone.exited == 1
        and gone.stdout == f"Namespace\t{NS}\t" + '{"finalizers":["kubernetes"]}\t\n'
    )
    assert gone.stderr.count("(NotFound)") == 3


@pytest.mark.parametrize(
    "profile", ["healthy", "missing_k8s_object", "k8s_torn_down", "k8s_wrong_image"]
)
def test_kubectl_stand_in_prints_what_the_real_kubectl_prints(
    room: Classroom, tmp_path: Path, profile: str
) -> None:
    host = student_of(room, profile).hosts[CLOUD]
    handler = type(
        "API", (FakeKubeAPI,), {"objects": json.loads(host.state_file.read_text())["kubernetes"]}
    )
    assert_kubectl_as_real(
        host,
        handler,
        tmp_path,
        [
            "get nodes -o json",
            f"get namespace {NS} -o json",
            f"get deployment gourmetgram-app -n {NS} -o json",
            f"get service gourmetgram-svc -n {NS} -o yaml",
            f"get hpa gourmetgram-kube-hpa -n {NS} -o json",
            f"get deploy,svc,hpa -n {NS} -o name",
            *grader_queries(),
        ],
    )


def assert_kubectl_as_real(host, handler: type, tmp_path: Path, commands: list[str]) -> None:
    """Each kubectl command line gives the stand-in's exit code, stdout and stderr exactly as a
    real kubectl's against `handler` (a FakeKubeAPI serving the host's objects), on loopback."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("no kubectl here to compare with")
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "kubeconfig"
    cluster = {"server": f"http://127.0.0.1:{server.server_port}"}
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "sim",
                "clusters": [{"name": "sim", "cluster": cluster}],
                "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "sim"}}],
                "users": [{"name": "sim", "user": {}}],
            }
        )
    )
    env = {
        **os.environ,
        "KUBECONFIG": str(config),
        "HOME": str(tmp_path),
        "LABGRADER_SIM_STATE": str(host.state_file),
    }
    try:
        for command in commands:
            real, mine = (
                subprocess.run(f"{tool} {command}", shell=True, env=env, capture_output=True,
                               text=True)
                for tool in (kubectl, host.bin_dir / "kubectl")
            )
            assert (mine.returncode, mine.stdout, mine.stderr) == (
                real.returncode,
                real.stdout,
                real.stderr,
            ), command
    finally:
        server.shutdown()


def test_another_students_key_is_refused(room: Classroom) -> None:
    with pytest.raises(AuthenticationException):
        with ssh_connect(room, "healthy", HELLO, key_of="missing_file") as c:
            c.run("true", hide=True, in_stream=False)


def test_host_down_refuses(room: Classroom) -> None:
    address = student_of(room, "host_down").address(HELLO)
    for port in (22, 80):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, port), timeout=2)
    with pytest.raises(NoValidConnectionsError):
        with ssh_connect(room, "host_down", HELLO) as c:
            c.run("true", hide=True, in_stream=False)


def test_tarpit_accepts_and_stays_silent(room: Classroom) -> None:
    for lab in (HELLO, CLOUD):
        for port in (22, 80):
            with socket.create_connection(
                (student_of(room, "tarpit").address(lab), port), 2
            ) as sock:
                sock.settimeout(0.3)
                with pytest.raises(TimeoutError):
                    sock.recv(1)


# ---- web -------------------------------------------------------------------------------------
def test_gourmetgram(room: Classroom) -> None:
    base = f"http://{student_of(room, 'healthy').address(CLOUD)}"
    page = requests.get(base + "/", timeout=5)
    assert page.status_code == 200 and page.headers["Server"].startswith("Werkzeug/3.")
    assert "<title>GourmetGram: Snap. Share. Savor.</title>" in page.text
    assert 'action="/predict"' in page.text and 'name="file"' in page.text
    test = requests.get(base + "/test", timeout=5)
    assert test.status_code == 200 and test.text in CLASSES
    assert test.headers["Content-Type"] == "text/html; charset=utf-8"
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    label = CLASSES[zlib.crc32(png) % len(CLASSES)]
    predicted = requests.post(
        base + "/predict", files={"file": ("food.png", io.BytesIO(png))}, timeout=5
    )
    assert predicted.text == f'<button type="button" class="btn btn-info btn-sm">{label}</button>'
    assert "Warning" in requests.get(base + "/predict", timeout=5).text
    assert (
        requests.post(base + "/predict", files={"file": ("x.png", b"text")}, timeout=5).status_code
        == 500
    )
    for path in ("/static/css/main.css", "/static/js/main.js"):
        assert requests.get(base + path, timeout=5).status_code == 200
    missing = requests.get(base + "/nope", timeout=5)
    assert (missing.status_code, missing.text) == (404, error_page(404))
    assert requests.post(base + "/test", timeout=5).status_code == 405


def test_endpoint_500(room: Classroom) -> None:
    r = requests.get(f"http://{student_of(room, 'endpoint_500').address(CLOUD)}/test", timeout=5)
    assert r.status_code == 500 and r.text == (
        "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
        "<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was "
        "unable to complete your request. Either the server is overloaded or there is an error "
        "in the application.</p>\n"
    )


# ---- lifecycle -------------------------------------------------------------------------------
def test_stop_closes_every_port_and_process(tmp_path: Path) -> None:
    room = Classroom(tmp_path, ["healthy", "tarpit"]).start()
    s = room.students[0]
    with ssh_connect(room, "healthy", CLOUD) as c:
        promise = c.run("sleep 60", hide=True, warn=True, asynchronous=True, in_stream=False)
        deadline = time.monotonic() + 5
        while len(room.pids()) < 5 and time.monotonic() < deadline:  # sshd session + sleep
            time.sleep(0.05)
        pids = room.pids()
        assert len(pids) >= 5
        api = int(room.openstack_env["OS_AUTH_URL"].split(":")[2].split("/")[0])
        room.stop()
        room.stop()  # idempotent
        with contextlib.suppress(Exception):
            promise.join()
    endpoints = [(a, p) for h in s.hosts.values() for a in [h.address] for p in (22, 80)]
    endpoints += [(room.students[1].address(HELLO), 22), ("127.0.0.1", api)]
    for address, port in endpoints:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, port), timeout=2)
    assert [pid for pid in pids if os.path.exists(f"/proc/{pid}")] == []


def test_a_running_classroom_holds_its_address_block(room: Classroom) -> None:
    """Two test processes starting classrooms at once never build on one block: the block a
    classroom picked is locked while it runs (the other takes the next free one)."""
    from labsim.classroom import _claim

    assert room.net is not None and _claim(room.net) is None
