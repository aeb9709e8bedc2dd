"""A fake Keystone, Nova and Neutron on 127.0.0.1 that python-chi uses unchanged.

Request and response shapes follow the real APIs as python-chi 1.2.10 (keystoneauth,
novaclient 2.61, neutronclient) exercises them; see test-recipes.md section 3. Bodies are built
at request time from a small resource model (servers, networks, subnets, ports, floating IPs,
security groups), so a server's `addresses` always agree with Neutron's ports and floating IPs.

Zun (python-zunclient 5.5.0, API 1.41) lists and shows containers, and for a container with a
ContainerSandbox runs `execute` and answers `logs` as python-chi's `container.execute` and
`container.get_logs` call them (see ContainerSandbox).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import blazar, blockobject
from .serve import Hub, TrackedHTTPServer

Json = dict[str, Any]
UNAUTHORIZED = {
    "error": {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
}
FLAVORS = {  # Chameleon KVM@TACC flavors
    "m1.small": {"vcpus": 1, "ram": 2048, "disk": 20},
    "m1.medium": {"vcpus": 2, "ram": 4096, "disk": 40},
    "m1.large": {"vcpus": 4, "ram": 8192, "disk": 40},
    "m1.xlarge": {"vcpus": 8, "ram": 16384, "disk": 40},
    # Bare-metal sites (CHI@TACC, CHI@UC): one flavor; the node type is in the lease.
    "baremetal": {"vcpus": 48, "ram": 196608, "disk": 240},
    "g1.h100.pci.1": {"vcpus": 24, "ram": 245760, "disk": 240},  # KVM@TACC H100 VM
    "g1.h100.pci.4": {"vcpus": 96, "ram": 983040, "disk": 960},  # four H100s
}
# Every site the course uses; one Keystone, one catalog with each service in each region.
REGIONS = ("KVM@TACC", "CHI@TACC", "CHI@UC", "CHI@Edge")
NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


ZUN_PYTHONS = ("python", "python3", "/opt/conda/bin/python", "/opt/conda/bin/python3")
ZUN_PATH = "/usr/local/bin:/usr/bin:/bin"
ZUN_EXEC_TIMEOUT_S = 30


@dataclass
class ContainerSandbox:
    """What Zun's exec and logs reach in a simulated container.

    `workdir` is the image's working directory (/home/jovyan in quay.io/jupyter images) as a
    folder on this machine: `POST /v1/containers/{id}/execute?command=...&run=True` splits the
    command as docker-py does (shlex, no shell) and runs it there, stdout and stderr together
    in `output`, as Zun's `{"output", "exit_code", "exec_id", "url"}`. `python`/`python3` is
    this process's interpreter (the project's venv), with its site-packages only once
    `onnxruntime` is installed (`-I -S` before: the image has no onnxruntime); `-m pip` is not
    simulated (it would install into the venv) and fails. Any other program comes from the
    system PATH and runs as `cc`. `GET /v1/containers/{id}/logs` answers `logs` (what Jupyter
    Server wrote to stderr) as Zun does: a JSON string."""

    workdir: Path
    onnxruntime: bool = False
    logs: str = ""


def _id(kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"labgrader-sim:{kind}:{name}"))


def _ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _mac(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])


class FakeOpenStack:
    def __init__(self, region: str = "KVM@TACC", project_name: str = "CHI-251409") -> None:
        self.region = region
        self.project_id = uuid.uuid5(uuid.NAMESPACE_URL, project_name).hex
        self.project_name = project_name
        self.user_id = uuid.uuid4().hex
        # An application credential per site, as on Chameleon: a token is good at the site
        # whose credential issued it, and refused (401) at the others.
        self.credentials = {
            site: (uuid.uuid4().hex, secrets.token_urlsafe(24))
            for site in dict.fromkeys((region, *REGIONS))
        }
        self.credential_id, self.credential_secret = self.credentials[region]
        self.started = datetime.now(UTC).replace(microsecond=0)
        self.servers: list[Json] = []
        self.networks: list[Json] = []
        self.subnets: list[Json] = []
        self.ports: list[Json] = []
        self.floatingips: list[Json] = []
        self.security_groups: list[Json] = []
        self.containers: list[Json] = []  # Zun (CHI@Edge)
        self.leases: list[Json] = []  # Blazar (blazar.py)
        self.sandboxes: dict[str, ContainerSandbox] = {}  # container uuid -> its insides
        self._execs: set[subprocess.Popen] = set()  # Zun execute's children, while they run
        self.tokens: dict[str, str] = {}  # token -> the site that issued it
        self._lock = threading.Lock()
        self._server: TrackedHTTPServer | None = None
        self._region_of: dict[str, str] = {}  # resource id -> region
        for site in dict.fromkeys((region, *REGIONS)):
            self._add_defaults(site)

    # ---- resource model -------------------------------------------------------------
    def _common(self, kind: str, key: str, region: str | None = None, **fields: Any) -> Json:
        """Fields every Neutron resource has; `key` names it (and makes its id, unique per
        region: every site has its own sharednet1)."""
        created = _ts(self.started - timedelta(hours=6))
        region = region or self.region
        rid = _id(kind, key if region == self.region else f"{region}/{key}")
        self._region_of[rid] = region
        return {
            "id": rid,
            "name": key,
            "tenant_id": self.project_id,
            "project_id": self.project_id,
            "description": "",
            "tags": [],
            "created_at": created,
            "updated_at": created,
            "revision_number": 1,
            **fields,
        }

    def add_network(
        self,
        name: str,
        subnet: str,
        cidr: str,
        gateway: str | None,
        shared: bool = False,
        external: bool = False,
        region: str | None = None,
    ) -> Json:
        net = self._common(
            "network",
            name,
            region,
            admin_state_up=True,
            status="ACTIVE",
            shared=shared,
            mtu=1450 if not external else 1500,
            availability_zone_hints=[],
            availability_zones=["nova"],
            ipv4_address_scope=None,
            ipv6_address_scope=None,
            port_security_enabled=True,
            qos_policy_id=None,
            **{"router:external": external},
        )
        first, last = cidr.rsplit(".", 1)[0] + ".2", cidr.rsplit(".", 1)[0] + ".254"
        sub = self._common(
            "subnet",
            subnet,
            self.region_of(net),
            network_id=net["id"],
            ip_version=4,
            cidr=cidr,
            gateway_ip=gateway,
            enable_dhcp=True,
            allocation_pools=[{"start": first, "end": last}],
            host_routes=[],
            dns_nameservers=[],
            subnetpool_id=None,
            ipv6_ra_mode=None,
            ipv6_address_mode=None,
            service_types=[],
        )
        net["subnets"] = [sub["id"]]
        with self._lock:
            self.networks.append(net)
            self.subnets.append(sub)
        return net

    def add_port(
        self,
        network: Json,
        fixed_ip: str,
        name: str = "",
        security_groups: tuple[str, ...] = (),
        port_security: bool = True,
    ) -> Json:
        sg_ids = [
            g["id"]
            for g in self.security_groups
            if g["name"] in security_groups and self.region_of(g) == self.region_of(network)
        ]
        port = self._common(
            "port",
            f"{network['name']}:{fixed_ip}",
            self.region_of(network),
            name=name,
            network_id=network["id"],
            mac_address=_mac(f"{network['id']}{fixed_ip}"),
            admin_state_up=True,
            status="DOWN",
            device_id="",
            device_owner="",
            fixed_ips=[{"subnet_id": network["subnets"][0], "ip_address": fixed_ip}],
            allowed_address_pairs=[],
            extra_dhcp_opts=[],
            security_groups=sg_ids if port_security else [],
            port_security_enabled=port_security,
            qos_policy_id=None,
            **{"binding:vnic_type": "normal"},
        )
        with self._lock:
            self.ports.append(port)
        return port

    def add_server(
        self,
        name: str,
        flavor: str,
        ports: list[Json],
        security_groups: tuple[str, ...] = ("default",),
        image: str = "CC-Ubuntu24.04",
        error: str | None = None,
        region: str | None = None,
        user_id: str | None = None,
    ) -> Json:
        """A server plugged into `ports` (none for an ERROR server: it never got a host);
        `user_id` makes it another project member's (a same-named decoy)."""
        with self._lock:
            created = self.started - timedelta(hours=5, seconds=-len(self.servers))
            key = name if user_id is None else f"{name}/{user_id}"
            if region and region != self.region:  # the same name at another site
                key = f"{region}/{key}"
            if any(srv["name"] == name for srv in self.servers):  # a second one of the name
                key = f"{key}#{len(self.servers)}"
            server_id = _id("server", key)
            self._region_of[server_id] = region or self.region
            launched = None if error else created + timedelta(seconds=40)
            server = {
                "id": server_id,
                "name": name,
                "status": "ERROR" if error else "ACTIVE",
                "tenant_id": self.project_id,
                "user_id": user_id or self.user_id,
                "metadata": {},
                "hostId": "" if error else hashlib.sha224(name.encode()).hexdigest(),
                "image": {"id": _id("image", image), "name": image},
                "flavor": {
                    **FLAVORS[flavor],
                    "ephemeral": 0,
                    "swap": 0,
                    "original_name": flavor,
                    "extra_specs": {},
                },
                "created": _ts(created),
                "updated": _ts(created + timedelta(seconds=45)),
                "accessIPv4": "",
                "accessIPv6": "",
                "OS-DCF:diskConfig": "MANUAL",
                "progress": 0,
                "OS-EXT-AZ:availability_zone": "" if error else "nova",
                "config_drive": "",
                "key_name": "id_rsa_chameleon",
                "OS-SRV-USG:launched_at": launched and launched.strftime("%Y-%m-%dT%H:%M:%S.%f"),
                "OS-SRV-USG:terminated_at": None,
                "security_groups": [] if error else [{"name": g} for g in security_groups],
                "OS-EXT-STS:task_state": None,
                "OS-EXT-STS:vm_state": "error" if error else "active",
                "OS-EXT-STS:power_state": 0 if error else 1,
                "os-extended-volumes:volumes_attached": [],
                "locked": False,
                "host_status": "" if error else "UP",
                "description": None,
                "tags": [],
            }
            if error:
                server["fault"] = {"code": 500, "created": _ts(created), "message": error}
            for port in ports:
                port.update(device_id=server_id, device_owner="compute:nova", status="ACTIVE")
            self.servers.append(server)
        return server

    def add_instance(
        self,
        name: str,
        flavor: str,
        address: str,
        fixed_ip: str,
        groups: tuple[str, ...] = ("default",),
        image: str = "CC-Ubuntu24.04",
        region: str | None = None,
    ) -> Json:
        """An ACTIVE server on sharednet1 at `fixed_ip`, reached at floating IP `address`: what
        a student's launch cell makes."""
        port = self.add_port(self.network("sharednet1", region), fixed_ip, security_groups=groups)
        server = self.add_server(name, flavor, [port], groups, image, region=region)
        self.add_floating_ip(address, port)
        return server

    def add_floating_ip(self, address: str, port: Json, description: str = "") -> Json:
        region = self.region_of(port)
        public = next(
            n for n in self.networks if n["router:external"] and self.region_of(n) == region
        )
        fip = self._common(
            "floatingip",
            address,
            region,
            floating_ip_address=address,
            floating_network_id=public["id"],
            router_id=_id("router", "sharednet1-router"),
            port_id=port["id"],
            fixed_ip_address=port["fixed_ips"][0]["ip_address"],
            status="ACTIVE",
            description=description,
            qos_policy_id=None,
            port_details={
                "name": port["name"],
                "network_id": port["network_id"],
                "mac_address": port["mac_address"],
                "admin_state_up": True,
                "status": "ACTIVE",
                "device_id": port["device_id"],
                "device_owner": port["device_owner"],
            },
        )
        del fip["name"]
        with self._lock:
            self.floatingips.append(fip)
        return fip

    def _add_defaults(self, region: str) -> None:
        self.add_network(
            "public",
            "public-subnet",
            "129.114.24.0/22",
            "129.114.24.1",
            external=True,
            region=region,
        )
        self.add_network(
            "sharednet1", "sharednet1-subnet", "10.56.0.0/22", "10.56.0.1", True, region=region
        )
        for name, ports in (("default", ()), ("allow-ssh", (22,)), ("allow-http-80", (80,))):
            rules = [
                {
                    "id": _id("sg-rule", f"{name}:{p}"),
                    "direction": "ingress",
                    "ethertype": "IPv4",
                    "protocol": "tcp",
                    "port_range_min": p,
                    "port_range_max": p,
                    "remote_ip_prefix": "0.0.0.0/0",
                    "remote_group_id": None,
                }
                for p in ports
            ]
            for direction in ("egress",) if ports else ("egress", "ingress"):
                rules.append(
                    {
                        "id": _id("sg-rule", f"{name}:{direction}"),
                        "direction": direction,
                        "ethertype": "IPv4",
                        "protocol": None,
                        "port_range_min": None,
                        "port_range_max": None,
                        "remote_ip_prefix": None,
                        "remote_group_id": None,
                    }
                )
            desc = {"allow-ssh": "Enable SSH traffic on TCP port 22"}.get(name, "")
            if name == "allow-http-80":
                desc = "Enable HTTP traffic on TCP port 80"
            group = self._common("security-group", name, region, security_group_rules=rules)
            group["description"] = "Default security group" if name == "default" else desc
            self.security_groups.append(group)

    def network(self, name: str, region: str | None = None) -> Json:
        region = region or self.region
        return next(n for n in self.networks if n["name"] == name and self.region_of(n) == region)

    def region_of(self, resource: Json) -> str:
        key = resource["id"] if "id" in resource else resource["uuid"]  # Zun: uuid
        return self._region_of.get(key, self.region)

    def add_lease(
        self,
        name: str,
        region: str,
        status: blazar.LeaseStatus = "ACTIVE",
        hours: float = 6.0,
        count: int = 1,
    ) -> Json:
        """A Blazar lease at `region`, started an hour before the classroom's start (or, when
        PENDING, starting an hour after it; when TERMINATED, ended an hour before it)."""
        if status == "PENDING":
            start = self.started + timedelta(hours=1)
        elif status == "TERMINATED":
            start = self.started - timedelta(hours=hours + 1)
        else:
            start = self.started - timedelta(hours=1)
        lease = blazar.make_lease(self, name, region, start, hours, status, count)
        with self._lock:
            self._region_of[lease["id"]] = region
            self.leases.append(lease)
        return lease

    def add_container(
        self,
        name: str,
        image: str,
        fixed_ip: str,
        exposed: tuple[int, ...] = (),
        status: str = "Running",
        status_reason: str | None = None,
        region: str = "CHI@Edge",
        floating_ip: str | None = None,
        sandbox: ContainerSandbox | None = None,
    ) -> Json:
        """A Zun container on a CHI@Edge device, plugged into that site's sharednet1
        (Zun makes the Neutron port; a floating IP, if any, is Neutron's, not Zun's); with a
        sandbox, Zun's execute and logs reach into it."""
        net = self.network("sharednet1", region)
        port = self.add_port(net, fixed_ip, security_groups=("default",))
        uuid_ = _id("container", name)
        port.update(device_id=uuid_, device_owner="compute:kuryr", status="ACTIVE")
        if floating_ip:
            self.add_floating_ip(floating_ip, port)
        created = self.started - timedelta(hours=1, seconds=-len(self.containers))
        running = status == "Running"
        container = {
            "uuid": uuid_,
            "name": name,
            "image": image,
            "status": status,
            "status_reason": status_reason,
            "status_detail": "Just Created" if not running else "Up 58 minutes",
            "task_state": None,
            "user_id": self.user_id,
            "project_id": self.project_id,
            "cpu": 1.0,
            "cpu_policy": "shared",
            "memory": "1024",
            "disk": 0,
            "command": [],
            "entrypoint": [],
            "environment": {},
            "workdir": None,
            "labels": {},
            "hostname": uuid_[:12],
            "host": "nyu-rpi5-0" + str(1 + len(self.containers) % 7),
            "addresses": {
                net["id"]: [
                    {
                        "addr": fixed_ip,
                        "version": 4,
                        "port": port["id"],
                        "subnet_id": net["subnets"][0],
                        "preserve_on_delete": False,
                    }
                ]
            },
            "ports": list(exposed),
            "exposed_ports": {f"{p}/tcp": {} for p in exposed},
            "security_groups": ["default"],
            "image_pull_policy": None,
            "image_driver": "docker",
            "restart_policy": {"Name": "no", "MaximumRetryCount": "0"},
            "interactive": False,
            "tty": False,
            "auto_remove": False,
            "auto_heal": False,
            "privileged": False,
            "runtime": "runc",
            "healthcheck": {},
            "registry_id": None,
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00"),
            "updated_at": (created + timedelta(seconds=30)).strftime(
                "%Y-%m-%dT%H:%M:%S.000000+00:00"
            ),
        }
        with self._lock:
            self._region_of[uuid_] = region
            self.containers.append(container)
            if sandbox is not None:
                self.sandboxes[uuid_] = sandbox
        return container

    def container_exec(self, sandbox: ContainerSandbox, command: str) -> Json:
        """Zun's `execute` with run=True in a sandbox: see ContainerSandbox."""
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            return {"output": f"{exc}\n", "exit_code": 2, "exec_id": None, "url": None}
        user: str | None = None
        executable = sys.executable
        if argv and argv[0] in ZUN_PYTHONS:
            if argv[1:3] == ["-m", "pip"]:
                return {
                    "output": "pip is not simulated here\n",
                    "exit_code": 1,
                    "exec_id": None,
                    "url": None,
                }
            flags = ["-I"] if sandbox.onnxruntime else ["-I", "-S"]
            argv = [sys.executable, *flags, *argv[1:]]
        else:
            found = shutil.which(argv[0], path=ZUN_PATH) if argv else None
            if not found:
                message = (
                    "OCI runtime exec failed: exec failed: unable to start container process: "
                    f'exec: "{argv[0] if argv else ""}": executable file not found in $PATH: '
                    "unknown\r\n"
                )
                return {"output": message, "exit_code": 126, "exec_id": None, "url": None}
            executable = found  # argv[0] stays as typed (`head: cannot open ...`)
            try:
                user = pwd.getpwnam("cc").pw_name
            except KeyError:
                user = None
        env = {
            "PATH": ZUN_PATH,
            "HOME": str(sandbox.workdir),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        proc = subprocess.Popen(
            argv,
            executable=executable,
            cwd=sandbox.workdir,
            env=env,
            user=user,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        with self._lock:
            self._execs.add(proc)
        try:
            out, _ = proc.communicate(timeout=ZUN_EXEC_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _killpg(proc)
            out, _ = proc.communicate()
        finally:
            with self._lock:
                self._execs.discard(proc)
        return {
            "output": out.decode(errors="replace"),
            "exit_code": proc.returncode,
            "exec_id": None,
            "url": None,
        }

    def addresses(self, server: Json) -> dict[str, list[Json]]:
        """Nova's view of a server's addresses, derived from Neutron's ports and floating IPs."""
        result: dict[str, list[Json]] = {}
        for port in self.ports:
            if port["device_id"] != server["id"]:
                continue
            net = next(n["name"] for n in self.networks if n["id"] == port["network_id"])
            entries = result.setdefault(net, [])
            mac = port["mac_address"]
            for fixed in port["fixed_ips"]:
                entries.append(
                    {
                        "version": 4,
                        "addr": fixed["ip_address"],
                        "OS-EXT-IPS:type": "fixed",
                        "OS-EXT-IPS-MAC:mac_addr": mac,
                    }
                )
            for fip in self.floatingips:
                if fip["port_id"] == port["id"]:
                    entries.append(
                        {
                            "version": 4,
                            "addr": fip["floating_ip_address"],
                            "OS-EXT-IPS:type": "floating",
                            "OS-EXT-IPS-MAC:mac_addr": mac,
                        }
                    )
        return result

    # ---- serving --------------------------------------------------------------------
    def start(self, hub: Hub) -> None:
        self._server = TrackedHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.cloud = self  # type: ignore[attr-defined]
        hub.add(self._server.socket, self._server.accept)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        with self._lock:
            running = list(self._execs)
        for proc in running:
            _killpg(proc)

    def pids(self) -> list[int]:
        """The Zun execute children running now."""
        with self._lock:
            return [p.pid for p in self._execs]

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeOpenStack not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "OS_AUTH_URL": f"{self.url}/identity/v3",
            "OS_AUTH_TYPE": "v3applicationcredential",
            "OS_APPLICATION_CREDENTIAL_ID": self.credential_id,
            "OS_APPLICATION_CREDENTIAL_SECRET": self.credential_secret,
            "OS_PROJECT_ID": self.project_id,
            "OS_REGION_NAME": self.region,
            "OS_INTERFACE": "public",
        }

    def clouds_yaml(self) -> str:
        """clouds.yaml with an entry per site, named as rubrics/course.yaml names each site's
        cloud (kvm-tacc, chi-tacc, ...), in the shape Chameleon's download has."""
        clouds = {
            _slug(site): {
                "auth": {
                    "auth_url": self.url + "/identity",  # Keystone's root, as downloaded
                    "application_credential_id": cid,
                    "application_credential_secret": secret,
                },
                "region_name": site,
                "interface": "public",
                "identity_api_version": 3,
                "auth_type": "v3applicationcredential",
            }
            for site, (cid, secret) in self.credentials.items()
        }
        return json.dumps({"clouds": clouds}, indent=2)  # JSON is YAML

    def prefix(self, region: str) -> str:
        """URL path prefix of a region's endpoints (none for the default region)."""
        return "" if region == self.region else "/" + _slug(region)

    def _catalog_regions(self, kind: str) -> tuple[str, ...]:
        """Regions in endpoint order. python-zunclient (`chi.zun()`) passes region_name=None
        to keystoneauth, which then takes the first endpoint of the service: on Chameleon only
        CHI@Edge has Zun, so CHI@Edge comes first (every region still has an endpoint)."""
        regions = tuple(dict.fromkeys((self.region, *REGIONS)))
        if kind == "container":
            regions = ("CHI@Edge", *(r for r in regions if r != "CHI@Edge"))
        if kind == "object-store":  # likewise swiftclient: CHI@TACC's object store first
            regions = ("CHI@TACC", *(r for r in regions if r != "CHI@TACC"))
        return regions

    def catalog(self) -> list[Json]:
        services = [
            ("identity", "keystone", "/identity/v3"),
            ("compute", "nova", "/compute/v2.1"),
            ("network", "neutron", "/network"),
            ("container", "zun", "/container/v1"),  # Zun's catalog URL ends in its version
            ("reservation", "blazar", "/reservation/v1"),  # Blazar's, likewise
            # Swift and Cinder (blockobject.py): their URLs end in the project
            ("object-store", "swift", f"/object-store/v1/AUTH_{self.project_id}"),
            ("volumev3", "cinderv3", f"/volume/v3/{self.project_id}"),
        ]
        return [
            {
                "type": kind,
                "name": name,
                "id": _id("service", kind),
                "endpoints": [
                    {
                        "id": _id("endpoint", f"{region}:{kind}:{interface}"),
                        "interface": interface,
                        "region": region,
                        "region_id": region,
                        "url": self.url
                        + ("" if kind == "identity" else self.prefix(region))
                        + path,
                    }
                    for region in self._catalog_regions(kind)
                    for interface in ("public", "internal")
                ],
            }
            for kind, name, path in services
        ]

    def issue_token(self, body: Json) -> tuple[int, Json, str | None]:
        identity = body.get("auth", {}).get("identity", {})
        cred = identity.get("application_credential", {})
        pair = (cred.get("id"), cred.get("secret"))
        site = next((s for s, c in self.credentials.items() if c == pair), None)
        if identity.get("methods") != ["application_credential"] or site is None:
            return 401, UNAUTHORIZED, None
        token = secrets.token_hex(16)
        with self._lock:
            self.tokens[token] = site
        now = datetime.now(UTC)
        stamp = "%Y-%m-%dT%H:%M:%S.000000Z"
        domain = {"id": "default", "name": "Default"}
        return (
            201,
            {
                "token": {
                    "methods": ["application_credential"],
                    "user": {"id": self.user_id, "name": "labgrader", "domain": domain},
                    "project": {"id": self.project_id, "name": self.project_name, "domain": domain},
                    "roles": [{"id": _id("role", "member"), "name": "member"}],
                    "application_credential": {
                        "id": pair[0],
                        "name": "labgrader",
                        "restricted": True,
                    },
                    "issued_at": now.strftime(stamp),
                    "expires_at": (now + timedelta(days=1)).strftime(stamp),
                    "catalog": self.catalog(),
                }
            },
            token,
        )


# ---- HTTP layer ---------------------------------------------------------------------------
_NEUTRON = {
    "networks": ("networks", "network", "NetworkNotFound", "Network {} could not be found."),
    "subnets": ("subnets", "subnet", "SubnetNotFound", "Subnet {} could not be found."),
    "ports": ("ports", "port", "PortNotFound", "Port {} could not be found."),
    "floatingips": (
        "floatingips",
        "floatingip",
        "FloatingIPNotFound",
        "Floating IP {} could not be found",
    ),
    "security-groups": (
        "security_groups",
        "security_group",
        "SecurityGroupNotFound",
        "Security group {} does not exist",
    ),
}
_NEUTRON_CONTROL = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}
_MICROVERSION = re.compile(r"^compute (\d+)\.(\d+)$")
_ZUN_VERSION = re.compile(r"^container (\d+)\.(\d+)$")


def _killpg(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _slug(region: str) -> str:
    return region.lower().replace("@", "-")


def _neutron_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see test-recipes.md: 44 ms per request without it
    timeout = 60

    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def cloud(self) -> FakeOpenStack:
        return self.server.cloud  # type: ignore[attr-defined]

    def _reply(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        ctype = "text/plain; charset=UTF-8" if isinstance(body, bytes) else "application/json"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-openstack-request-id", f"req-{uuid.uuid4()}")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if urlsplit(self.path).path.rstrip("/") != "/identity/v3/auth/tokens":
            parts = urlsplit(self.path)
            path = self._site_path(parts.path.rstrip("/"))
            if path is not None and path.startswith("/container/v1/containers/"):
                query = parse_qs(parts.query, keep_blank_values=True)
                return self._zun(path.removeprefix("/container"), query, "POST")
            if path is None:
                return None
            return self._reply(404, {"error": {"code": 404, "title": "Not Found", "message": ""}})
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        code, payload, token = self.cloud.issue_token(body)
        self._reply(code, payload, {"X-Subject-Token": token} if token else None)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/").removesuffix(".json")
        query = parse_qs(parts.query, keep_blank_values=True)
        if path == "/identity/v3":
            return self._reply(200, self._identity_version())
        site_path = self._site_path(path)
        if site_path is None:
            return None
        path = site_path
        if path.startswith("/container/v1"):
            return self._zun(path.removeprefix("/container"), query)
        if path.startswith("/compute/v2.1"):
            return self._nova(path.removeprefix("/compute/v2.1"), query)
        if path.startswith("/network/v2.0/"):
            return self._neutron(path.removeprefix("/network/v2.0/"), query)
        if path.startswith(("/object-store/", "/volume/")):
            return blockobject.serve(self, self.cloud, self.site, path, query)
        if path.startswith("/reservation/v1"):
            return blazar.serve(self, self.cloud, self.site, path.removeprefix("/reservation"))
        self._reply(404, b"404 Not Found\n\nThe resource could not be found.\n\n   ")

    def _site_path(self, path: str) -> str | None:
        """The path within the region it addresses (self.site), for an authorized token; None
        once 401 is answered. /<region slug>/<service>/...: the region's endpoints; no slug:
        the default region."""
        issuer = self.cloud.tokens.get(self.headers.get("X-Auth-Token", ""))
        if issuer is None:
            self._reply(401, UNAUTHORIZED)
            return None
        self.site = self.cloud.region
        first = path.split("/", 2)[1] if path.count("/") >= 2 else ""
        for region in REGIONS:
            if first == _slug(region) and region != self.cloud.region:
                self.site, path = region, path[len(first) + 1 :]
        if issuer != self.site:  # another site's credential: its Keystone would refuse it
            self._reply(401, UNAUTHORIZED)
            return None
        return path

    def _identity_version(self) -> Json:
        return {
            "version": {
                "id": "v3.14",
                "status": "stable",
                "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": f"{self.cloud.url}/identity/v3/"}],
                "media-types": [
                    {
                        "base": "application/json",
                        "type": "application/vnd.openstack.identity-v3+json",
                    }
                ],
            }
        }

    def _here(self, items: list[Json]) -> list[Json]:
        """The resources of the region this request addressed."""
        return [i for i in items if self.cloud.region_of(i) == self.site]

    # -- Zun (python-zunclient: GET /v1/containers, following "next"; /v1/containers/{id};
    # GET /v1/containers/{id}/logs; POST /v1/containers/{id}/execute?command=...&run=True)
    def _zun(self, path: str, query: dict[str, list[str]], method: str = "GET") -> None:
        match = _ZUN_VERSION.match(self.headers.get("OpenStack-API-Version", ""))
        version = f"{match.group(1)}.{match.group(2)}" if match else "1.1"
        headers = {
            "OpenStack-API-Version": f"container {version}",
            "OpenStack-API-Minimum-Version": "container 1.1",
            "OpenStack-API-Maximum-Version": "container 1.41",
            "Vary": "OpenStack-API-Version",
        }
        base = f"{self.cloud.url}{self.cloud.prefix(self.site)}/container"
        containers = self._here(self.cloud.containers)
        if "all_projects" in query or "name" in query:
            wanted = query.get("name", [None])[-1]
            containers = [c for c in containers if wanted in (None, c["name"])]
        if path == "/v1/containers" and method == "GET":
            body = {
                "containers": [self._container_view(c, base) for c in containers],
                "next": None,
            }
            return self._reply(200, body, headers)
        ident, _, action = path.removeprefix("/v1/containers/").partition("/")
        known = {("GET", ""), ("GET", "logs"), ("POST", "execute")}
        if "/" not in action and (method, action) in known:
            found = [c for c in containers if ident in (c["uuid"], c["name"])]
            if len(found) == 1 and action:
                return self._zun_action(found[0], action, query, headers)
            if len(found) == 1:
                return self._reply(200, self._container_view(found[0], base), headers)
            if len(found) > 1:
                message = (
                    "Multiple containers exist with same name. "
                    "Please use the container uuid instead."
                )
                error = {
                    "errors": [
                        {
                            "status": 409,
                            "code": "",
                            "title": message,
                            "detail": message,
                            "request_id": "",
                        }
                    ]
                }
                return self._reply(409, error, headers)
        message = f"Container {ident} could not be found."
        error = {
            "errors": [
                {
                    "status": 404,
                    "code": "",
                    "links": [],
                    "title": message,
                    "detail": message,
                    "request_id": "",
                }
            ]
        }
        self._reply(404, error, headers)

    def _zun_action(
        self, container: Json, action: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> None:
        """logs (a JSON string) or execute with run=True (Zun's container_exec result)."""

        def flag(name: str, default: bool) -> bool:
            value = query.get(name, [str(default)])[-1]
            return value.strip().lower() in ("1", "t", "true", "on", "y", "yes")

        def error(code: int, message: str) -> None:
            body = {
                "errors": [
                    {
                        "status": code,
                        "code": "",
                        "links": [],
                        "title": message,
                        "detail": message,
                        "request_id": "",
                    }
                ]
            }
            self._reply(code, body, headers)

        sandbox = self.cloud.sandboxes.get(container["uuid"])
        if action == "logs":
            # Jupyter Server logs to stderr; a str body goes out as a JSON string, as Zun's
            text = sandbox.logs if sandbox and flag("stderr", True) else ""
            return self._reply(200, text, headers)
        command = query.get("command", [""])[-1]
        if not command:
            return error(400, "Invalid input for query parameters command.")
        if container["status"] != "Running":
            state = container["status"]
            return error(409, f"Cannot execute container {container['uuid']} in {state} state.")
        if not flag("run", True) or sandbox is None:
            return error(400, "Only run=true is simulated, in a container with a sandbox.")
        self._reply(200, self.cloud.container_exec(sandbox, command), headers)

    @staticmethod
    def _container_view(container: Json, base: str) -> Json:
        view = dict(container)
        view["links"] = [
            {"href": f"{base}/v1/containers/{container['uuid']}", "rel": "self"},
            {"href": f"{base}/containers/{container['uuid']}", "rel": "bookmark"},
        ]
        return view

    # -- Nova
    def _nova(self, path: str, query: dict[str, list[str]]) -> None:
        requested = self.headers.get("OpenStack-API-Version", "")
        match = _MICROVERSION.match(requested) or _MICROVERSION.match(
            "compute " + self.headers.get("X-OpenStack-Nova-API-Version", "2.1")
        )
        version = (int(match.group(1)), int(match.group(2))) if match else (2, 1)
        vtext = f"{version[0]}.{version[1]}"
        headers = {
            "OpenStack-API-Version": f"compute {vtext}",
            "X-OpenStack-Nova-API-Version": vtext,
            "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
        }
        base = f"{self.cloud.url}{self.cloud.prefix(self.site)}/compute/v2.1"
        if path == "":
            return self._reply(200, {"version": self._nova_version(base)}, headers)
        if path in ("/servers", "/servers/detail"):
            servers = self._filter_servers(query)
            if isinstance(servers, str):
                return self._reply(400, {"badRequest": {"code": 400, "message": servers}}, headers)
            body: Json = {"servers": [self._server_view(s, base, version) for s in servers]}
            if path == "/servers":
                body["servers"] = [
                    {k: s[k] for k in ("id", "name", "links")} for s in body["servers"]
                ]
            if servers and len(servers) == self._limit(query):
                body["servers_links"] = [
                    {
                        "rel": "next",
                        "href": f"{base}{path}?limit={len(servers)}&marker={servers[-1]['id']}",
                    }
                ]
            return self._reply(200, body, headers)
        match_id = re.fullmatch(r"/servers/([^/]+)", path)
        if match_id:
            for server in self._here(self.cloud.servers):
                if server["id"] == match_id.group(1):
                    return self._reply(
                        200, {"server": self._server_view(server, base, version)}, headers
                    )
            message = f"Instance {match_id.group(1)} could not be found."
            return self._reply(404, {"itemNotFound": {"code": 404, "message": message}}, headers)
        message = "The resource could not be found."
        self._reply(404, {"itemNotFound": {"code": 404, "message": message}}, headers)

    @staticmethod
    def _limit(query: dict[str, list[str]]) -> int:
        try:
            return min(int(query.get("limit", ["1000"])[-1]), 1000)
        except ValueError:
            return 1000

    def _filter_servers(self, query: dict[str, list[str]]) -> list[Json] | str:
        # Newest first, as Nova sorts by default (created_at desc, id desc).
        servers = sorted(
            self._here(self.cloud.servers), key=lambda s: (s["created"], s["id"]), reverse=True
        )
        for key, test in (
            ("name", lambda s, v: re.search(v, s["name"]) is not None),
            ("status", lambda s, v: s["status"] == v.upper()),
            (
                "ip",
                lambda s, v: any(
                    re.search(v, a["addr"])
                    for addrs in self.cloud.addresses(s).values()
                    for a in addrs
                ),
            ),
        ):
            if key in query:
                try:
                    servers = [s for s in servers if test(s, query[key][-1])]
                except re.error:
                    servers = []
        if "marker" in query:
            ids = [s["id"] for s in servers]
            marker = query["marker"][-1]
            if marker not in ids:
                return f"marker [{marker}] not found"
            servers = servers[ids.index(marker) + 1 :]
        return servers[: self._limit(query)]

    def _server_view(self, server: Json, base: str, version: tuple[int, int]) -> Json:
        view = dict(server)
        view["addresses"] = self.cloud.addresses(server)
        link = f"{base}/servers/{server['id']}"
        view["links"] = [{"rel": "self", "href": link}, {"rel": "bookmark", "href": link}]
        image_link = f"{base}/images/{server['image']['id']}"
        view["image"] = {
            "id": server["image"]["id"],
            "links": [{"rel": "bookmark", "href": image_link}],
        }
        if version < (2, 47):
            flavor_id = _id("flavor", server["flavor"]["original_name"])
            view["flavor"] = {
                "id": flavor_id,
                "links": [{"rel": "bookmark", "href": f"{base}/flavors/{flavor_id}"}],
            }
        return view

    @staticmethod
    def _nova_version(base: str) -> Json:
        return {
            "id": "v2.1",
            "status": "CURRENT",
            "version": "2.95",
            "min_version": "2.1",
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": base + "/"}],
            "media-types": [
                {
                    "base": "application/json",
                    "type": "application/vnd.openstack.compute+json;version=2.1",
                }
            ],
        }

    # -- Neutron
    def _neutron(self, path: str, query: dict[str, list[str]]) -> None:
        collection, _, item_id = path.partition("/")
        if collection not in _NEUTRON or "/" in item_id:
            return self._reply(404, b"404 Not Found\n\nThe resource could not be found.\n\n   ")
        plural, singular, error, message = _NEUTRON[collection]
        items: list[Json] = self._here(getattr(self.cloud, plural))
        if item_id:
            for item in items:
                if item["id"] == item_id:
                    return self._reply(200, {singular: item})
            body = {
                "NeutronError": {"type": error, "message": message.format(item_id), "detail": ""}
            }
            return self._reply(404, body)
        selected = [
            item
            for item in items
            if all(
                _neutron_value(item.get(key)) in values
                for key, values in query.items()
                if key not in _NEUTRON_CONTROL
            )
        ]
        fields = query.get("fields")
        if fields:
            selected = [{k: item[k] for k in fields if k in item} for item in selected]
        self._reply(200, {plural: selected})
