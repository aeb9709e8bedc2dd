"""The first two labs in the classroom: hello-chameleon and cloud-chi (KVM@TACC VMs).

* hello-chameleon: server `hello_chameleon-{USER}` (m1.small) with its floating IP, and the
  ~/hello.txt the student wrote there (edited on the laptop, or not).
* cloud-chi: nodes `node{1,2,3}-cloud-{netid}` on sharednet1 and the private network
  `private_cloud_net_{netid}` (192.168.1.0/24, no port security), node1 with the floating IP;
  node1's kubectl and docker stand-ins read the cluster from its state file (cluster.py), and
  GourmetGram answers on its port 80.
"""

from __future__ import annotations

import re

from .cluster import docker, kubernetes
from .family import BuildContext, Builder, Family, StartContext
from .gourmetgram import CLASSES, GourmetGramServer
from .hosts import SimHost
from .openstack import NO_VALID_HOST
from .profiles import HelloFile

HELLO, CLOUD = "hello-chameleon", "cloud-chi"


def nova_hostname(name: str) -> str:
    """The hostname Nova gives a server of this name (nova.utils.sanitize_hostname, 2024.1):
    latin-1 only, at most 63 characters, space, `_` and `.` made `-`, other non-word
    characters dropped, lower case, no leading or trailing `.` or `-`."""
    name = name.encode("latin-1", "ignore").decode("latin-1")[:63]
    name = re.sub(r"[ _.]", "-", name)
    name = re.sub(r"[^\w.-]+", "", name)
    return name.lower().strip(".-")


# What Part 3's "bind mount" step has the student write on node1 (`sudo vim`).
BIND_PAGE = "<html><body><h1>Hello from a bind mount</h1></body></html>\n"


class BasicLabs(Family):
    def __init__(self) -> None:
        self._web: list[GourmetGramServer] = []
        self._hosts: list[SimHost] = []  # the ones GourmetGram runs on

    def builders(self) -> dict[str, Builder]:
        return {HELLO: self._hello, CLOUD: self._cloud_chi}

    def _hello(self, ctx: BuildContext) -> SimHost | None:
        student, profile, cloud = ctx.student, ctx.profile, ctx.cloud
        server = f"hello_chameleon-{student.chameleon_user}"
        if profile.hello_server_error:
            cloud.add_server(server, "m1.small", [], error=NO_VALID_HOST)
            return None
        fixed_ip = ctx.next_fixed()
        cloud.add_instance(server, "m1.small", ctx.address, fixed_ip, ("default", "allow-ssh"))
        hostname = nova_hostname(server)
        line = f"Hello from {hostname}\n"
        variants: dict[HelloFile, dict[str, str | bytes]] = {
            "edited": {"hello.txt": line + f"Edited on my laptop by {student.netid}.\n"},
            "unedited": {"hello.txt": line},
            "missing": {},
            # "Make a change (any change!)": the line itself, edited in a Mac editor
            "edited_in_place": {"hello.txt": f"Hello from {hostname} \u2014 edited on my Mac\n"},
            # Notepad's "Unicode": UTF-16LE with a BOM, CRLF line ends
            "edited_windows": {
                "hello.txt": (line.rstrip("\n") + "\r\nEdited in Notepad.\r\n").encode("utf-16")
            },
        }
        files = variants[profile.hello_file]
        return SimHost(
            server, hostname, ctx.address, fixed_ip, ctx.root, profile.network, files=files
        )

    def _cloud_chi(self, ctx: BuildContext) -> SimHost:
        netid, profile, cloud = ctx.student.netid, ctx.profile, ctx.cloud
        private = cloud.add_network(
            f"private_cloud_net_{netid}", f"private_cloud_subnet_{netid}", "192.168.1.0/24", None
        )
        groups = ("default", "allow-ssh", "allow-http-80")
        node_ips = {}
        for n in (1, 2, 3):
            secured = n > 1 and "port_security_on" in profile.cloud  # the CLI part's ports
            lab_port = cloud.add_port(
                private, f"192.168.1.1{n}", f"port{n}_{netid}", port_security=secured
            )
            fixed_ip = ctx.next_fixed()
            node_ips[n] = fixed_ip
            shared = cloud.add_port(cloud.network("sharednet1"), fixed_ip, security_groups=groups)
            error = f"node{n}" in profile.cloud_error_nodes
            cloud.add_server(
                f"node{n}-cloud-{netid}",
                "m1.medium",
                [] if error else [shared, lab_port],
                groups,
                error=NO_VALID_HOST if error else None,
            )
            if n == 1:
                cloud.add_floating_ip(ctx.address, shared, f"Cloud IP for {netid}")
        objects = kubernetes(
            netid,
            node_ips[1],
            ctx.now,
            profile.missing_k8s,
            knobs=profile.cloud,
            public_ips=(node_ips[1], node_ips[2], node_ips[3]),
            floating_ip=ctx.address,
        )
        pods = [o for o in objects if o["kind"] == "Pod"]
        state = {
            "addresses": [node_ips[1], "192.168.1.11", "172.17.0.1"],
            "kubernetes": objects,
            "docker": {"containers": docker(netid, pods, ctx.now)},
            "test_class": CLASSES[ctx.student.index % len(CLASSES)],
            "failing_paths": sorted(profile.failing_paths),
        }
        # Port 80 of the floating IP reaches GourmetGram through the Service's externalIP, to
        # the pods' 8000: not after `kubectl delete -f deployment.yaml`, nor for nginx pods (80),
        # nor for a Service on the floating IP (Neutron hands node1 its fixed address).
        serves = (
            not {"deployment", "service"} & profile.missing_k8s
            and not {"wrong_image", "service_floating_ip"} & profile.cloud
        )
        host = SimHost(
            f"node1-cloud-{netid}",
            nova_hostname(f"node1-cloud-{netid}"),
            ctx.address,
            node_ips[1],
            ctx.root,
            profile.network,
            ("hostname", "kubectl", "docker"),
            web=serves,
            state=state,
            files={} if "no_bind_page" in profile.cloud else {"data/web/index.html": BIND_PAGE},
        )
        if serves:
            self._hosts.append(host)
        return host

    def start(self, ctx: StartContext) -> None:
        """GourmetGram on port 80 of every cloud-chi node1 that is up (sshd on 22, and the
        tarpit's 22 and 80, are the classroom's)."""
        for host in self._hosts:
            if host.network != "up":
                continue
            server = GourmetGramServer(
                host.address, 80, host.state["test_class"], frozenset(host.state["failing_paths"])
            )
            self._web.append(server)
            ctx.hub.add(server.socket, server.accept)

    def stop(self) -> None:
        for server in self._web:
            server.close()
        self._web, self._hosts = [], []
