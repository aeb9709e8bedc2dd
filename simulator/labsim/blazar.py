"""Fake Blazar (reservations) behind the fake Keystone of openstack.py.

What python-chi asks (`chi.blazar().lease.list()`, blazarclient 4.6 through the session):
`GET /v1/leases` -> {"leases": [...]} and `GET /v1/leases/<id>` -> {"lease": {...}}, each
lease as Blazar's API gives it: dates as 2026-12-02T10:00:00.000000 (UTC), the status
(PENDING, ACTIVE, TERMINATED, ERROR), its reservations and its events. Leases live per region.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .openstack import FakeOpenStack

Json = dict[str, Any]
LeaseStatus = Literal["PENDING", "ACTIVE", "TERMINATED", "ERROR"]
# What a lease reserves at each kind of site (flavor:instance at KVM@TACC, hosts at the
# bare-metal sites, devices at CHI@Edge).
_RESOURCE = {"KVM@TACC": "flavor:instance", "CHI@Edge": "device"}


def _date(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _created(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


def make_lease(
    cloud: FakeOpenStack,
    name: str,
    region: str,
    start: datetime,
    hours: float,
    status: LeaseStatus,
    count: int = 1,
) -> Json:
    """A lease as Blazar stores it, reserving `count` of the site's resource."""
    lease_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"lease/{region}/{name}"))
    end = start + timedelta(hours=hours)
    made = _created(start - timedelta(minutes=2))
    active = status == "ACTIVE"
    done = {"PENDING": (), "ACTIVE": ("start_lease",), "ERROR": ("start_lease",)}.get(
        status, ("start_lease", "before_end_lease", "end_lease")
    )
    events = [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{lease_id}/{kind}")),
            "lease_id": lease_id,
            "event_type": kind,
            "time": _date(at),
            "status": "DONE" if kind in done else "UNDONE",
            "created_at": made,
            "updated_at": None,
        }
        for kind, at in (
            ("start_lease", start),
            ("before_end_lease", end - timedelta(hours=24)),
            ("end_lease", end),
        )
    ]
    reservation = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{lease_id}/reservation")),
        "lease_id": lease_id,
        "status": "active" if active else status.lower(),
        "missing_resources": False,
        "resources_changed": False,
        "resource_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{lease_id}/resource")),
        "resource_type": _RESOURCE.get(region, "physical:host"),
        "min": count,
        "max": count,
        "hypervisor_properties": "",
        "resource_properties": "",
        "before_end": "default",
        "created_at": made,
        "updated_at": None,
    }
    return {
        "id": lease_id,
        "name": name,
        "start_date": _date(start),
        "end_date": _date(end),
        "status": status,
        "degraded": False,
        "user_id": cloud.user_id,
        "project_id": cloud.project_id,
        "trust_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{lease_id}/trust").hex,
        "created_at": made,
        "updated_at": None,
        "reservations": [reservation],
        "events": events,
    }


def serve(handler: BaseHTTPRequestHandler, cloud: FakeOpenStack, region: str, path: str) -> None:
    """Answer a GET below /reservation (path without the region prefix)."""
    leases = [le for le in cloud.leases if cloud.region_of(le) == region]
    code: int
    body: Json
    if path == "/v1/leases":
        code, body = 200, {"leases": leases}
    else:
        wanted = path.removeprefix("/v1/leases/")
        found = [le for le in leases if le["id"] == wanted]
        if found:
            code, body = 200, {"lease": found[0]}
        else:
            message = f"Object with {{'lease_id': '{wanted}'}} not found"
            code, body = 404, {"error_code": 404, "error_message": message, "error_name": 404}
    data = json.dumps(body).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
