"""The lab's servers at their site, as Nova reports them, and the Host a check observes."""

from __future__ import annotations

from collections.abc import Callable

from graders.checks import Host, Lab, check
from graders.probes.chameleon import floating_ip


def require_active_server(lab: Lab, key: str = "server") -> Host:
    """The lab's server exists at its site, is ACTIVE and has a floating IP."""
    name = lab.name(key)
    server = lab.require(
        lab.chameleon.server(name),
        f"no server named {name} at {lab.config['site']}",
        "Launch it as the lab's notebook does; the name must match exactly.",
    )
    status = server["status"]
    fault = (server.get("fault") or {}).get("message", "")
    lab.require(
        status == "ACTIVE",
        f"server {name} is {status}" + (f" ({fault})" if fault else ""),
        "Delete it and launch it again; an ERROR server does not recover.",
    )
    address = lab.require(
        floating_ip(server),
        f"server {name} is ACTIVE but has no floating IP",
        "Associate a floating IP with it (s.associate_floating_ip()).",
    )
    lab.note(f"{name} is ACTIVE at floating IP {address}")
    return Host(name, address)


def server_check(title: str) -> Callable[[Lab], Host]:
    """The lab's first check, finding its server: `server_active = server_check("Server
    node-mlflow-<user> is ACTIVE with a floating IP")`. It returns the Host the lab's other
    checks observe."""

    @check(title=title)
    def server_active(lab: Lab) -> Host:
        """The lab's server exists at its site, Nova reports it ACTIVE, and it has a floating
        IP."""
        return require_active_server(lab)

    return server_active


def require_servers_active(lab: Lab, keys: tuple[str, ...], help: str) -> None:
    """Each of the lab's servers named by `keys` (e.g. node1-3) exists and is ACTIVE."""
    problems = []
    for key in keys:
        name = lab.name(key)
        server = lab.chameleon.server(name)
        if server is None:
            problems.append(f"{name} does not exist")
        elif server["status"] != "ACTIVE":
            fault = (server.get("fault") or {}).get("message", "")
            problems.append(f"{name} is {server['status']}" + (f" ({fault})" if fault else ""))
    lab.measure("nodes_active", len(keys) - len(problems))
    lab.require(not problems, "; ".join(problems), help)


def require_floating_ip(lab: Lab, key: str, help: str) -> Host:
    """The lab's server `key` has a floating IP, through which the grader reaches it."""
    name = lab.name(key)
    server = lab.require(lab.chameleon.server(name), f"no server named {name}")
    address = lab.require(floating_ip(server), f"{name} has no floating IP", help)
    return Host(name, address)
