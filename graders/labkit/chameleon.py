"""The lab's servers at their site, as Nova reports them, and the Host a check observes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from graders.checks import Host, Lab, check
from graders.errors import Failure
from graders.probes.chameleon import floating_ip


def require_active_server(lab: Lab, key: str = "server") -> Host:
    """The lab's server exists at its site, is ACTIVE and has a floating IP."""
    name = lab.name(key)
    chameleon = lab.chameleon
    found = chameleon.find("servers", name)
    lab.measure("server_found", found is not None)  # gone, not broken: graders/durable.py
    server, at = lab.require(
        found,
        f"no server named {name} at {chameleon.sites_searched()}",
        "Launch it as the lab's notebook does; the name must match exactly.",
    )
    site = at.name
    lab.measure("site", site)  # where the student's resources are: the result says so
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
    lab.note(f"{name} is ACTIVE at {site}, floating IP {address}")
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


def lease_check(key: str = "lease", title: str = "The lab's lease") -> Callable[[Lab], None]:
    """A lab's lease, observed for what it explains (worth no points): `lease =
    lease_check()`, or `lease_gui = lease_check("lease_gui", ...)` for a second one; the
    check's id is the lab.yaml names key. An expired lease is why a host no longer answers."""

    def observe(lab: Lab) -> None:
        require_active_lease(lab, key)

    observe.__name__ = key
    observe.__doc__ = (
        f"The Blazar lease named by lab.yaml's `{key}` exists at a site the lab allows and is "
        "ACTIVE; its state and end are reported."
    )
    return check(title=title)(observe)


def require_active_lease(lab: Lab, key: str) -> None:
    name = lab.name(key)
    chameleon = lab.chameleon
    lease, at = lab.require(
        chameleon.find("leases", name),
        f"no lease named {name} at {chameleon.sites_searched()}",
        "Only a report: a lease of another name is fine while your instances run. The lab's "
        "own name for it makes an expired lease easy to spot.",
    )
    status, start, end = lease.get("status"), lease.get("start_date"), lease.get("end_date")
    lab.measure("lease_status", status)
    lab.measure("lease_end", end)
    when = _hours_from_now(end)
    if when is not None:
        lab.measure("lease_hours_left", round(when, 1))
    if status == "ACTIVE":
        left = f" ({when:.1f} h left)" if when is not None else ""
        lab.note(f"lease {name} at {at.name} is ACTIVE until {end}{left}")
        return
    if status == "PENDING":
        raise Failure(f"lease {name} at {at.name} is PENDING: it starts at {start}")
    raise Failure(
        f"lease {name} at {at.name} is {status} (it ended {end}): its instances are gone or "
        "going, which is why they may no longer answer",
        "Grade while the lease is active; reserve a new lease and rebuild if it expired.",
    )


def _hours_from_now(stamp: object) -> float | None:
    """Hours from now until a Blazar date (2026-12-02T10:00:00.000000, UTC), or None."""
    try:
        when = datetime.fromisoformat(str(stamp)).replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return (when - datetime.now(timezone.utc)).total_seconds() / 3600
