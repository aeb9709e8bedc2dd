"""Fake Swift (object store) and Cinder (block storage) behind the fake Keystone of openstack.py.

Only what python-chi's clients ask, in the shapes the real services answer:
* Swift (swiftclient 4.11 through `chi.session()`): `GET /v1/AUTH_<project>?format=json` lists
  the account's containers `[{"name", "count", "bytes", "last_modified"}]`;
  `GET /v1/AUTH_<project>/<container>?format=json` its objects
  `[{"name", "hash", "bytes", "content_type", "last_modified"}]`, both paged with `marker` and
  `limit` (swiftclient's full listing asks again until a page is empty); a missing container
  is 404 with Swift's HTML body.
* Cinder v3 (cinderclient 9.10): `GET /v3/<project>/volumes[/detail]` and `/volumes/<id>`.

Resources live per region: Swift containers at the bare-metal sites, volumes at KVM@TACC.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from .openstack import FakeOpenStack

Json = dict[str, Any]
SWIFT_404 = b"<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"
SWIFT_401 = (
    b"<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized to "
    b"access the document you requested.</p></html>"
)
SWIFT_LIMIT = 10000  # Swift's container_listing_limit
CINDER_VERSION = "volume 3.0"


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")


@dataclass
class SwiftObject:
    name: str
    size: int
    etag: str  # MD5 of the content, as Swift's "hash"
    modified: datetime
    content_type: str = "image/jpeg"

    def view(self) -> Json:
        return {
            "name": self.name,
            "hash": self.etag,
            "bytes": self.size,
            "content_type": self.content_type,
            "last_modified": _stamp(self.modified),
        }


@dataclass
class Store:
    """Swift containers (region -> name -> objects) and Cinder volumes of one fake cloud."""

    containers: dict[str, dict[str, list[SwiftObject]]] = field(default_factory=dict)
    volumes: list[Json] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def store(cloud: FakeOpenStack) -> Store:
    """The cloud's storage (made on first use: openstack.py needs no field for it)."""
    with cloud._lock:
        return cloud.__dict__.setdefault("_blockobject", Store())


def add_container(cloud: FakeOpenStack, region: str, name: str, objects: list[SwiftObject]) -> None:
    s = store(cloud)
    with s.lock:
        s.containers.setdefault(region, {})[name] = sorted(objects, key=lambda o: o.name)


def sample_object(key: str, name: str, modified: datetime) -> SwiftObject:
    """An object as `rclone copy` leaves it, with a size and MD5 derived from `key`."""
    digest = hashlib.md5(f"{key}:{name}".encode()).hexdigest()
    return SwiftObject(name, 20_000 + int(digest[:4], 16) * 2, digest, modified)


def add_volume(
    cloud: FakeOpenStack,
    name: str,
    size_gib: int,
    created: datetime,
    server: Json | None = None,
    device: str = "/dev/vdb",
    region: str = "KVM@TACC",
    attached_at: datetime | None = None,
) -> Json:
    """A `ceph-ssd` volume, `in-use` with one attachment when `server` is given (made at
    `attached_at`, by default 3 minutes after the volume), else `available`; the server's
    `os-extended-volumes:volumes_attached` agrees."""
    attached_at = attached_at or created + timedelta(minutes=3)
    vid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"labgrader-sim:volume:{region}/{name}"))
    attachments = []
    if server is not None:
        attachments.append(
            {
                "id": vid,
                "attachment_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{vid}:{server['id']}")),
                "volume_id": vid,
                "server_id": server["id"],
                "host_name": None,
                "device": device,
                "attached_at": _stamp(attached_at),
            }
        )
        server["os-extended-volumes:volumes_attached"] = [
            {"id": vid, "delete_on_termination": False}
        ]
    volume = {
        "id": vid,
        "name": name,
        "status": "in-use" if attachments else "available",
        "size": size_gib,
        "availability_zone": "nova",
        "created_at": _stamp(created),
        "updated_at": _stamp(attached_at if attachments else created + timedelta(minutes=3)),
        "attachments": attachments,
        "bootable": "false",
        "encrypted": False,
        "multiattach": False,
        "description": None,
        "volume_type": "ceph-ssd",
        "snapshot_id": None,
        "source_volid": None,
        "metadata": {},
        "user_id": cloud.user_id,
        "os-vol-tenant-attr:tenant_id": cloud.project_id,
        "replication_status": None,
        "consistencygroup_id": None,
        "os-vol-mig-status-attr:migstat": None,
        "os-vol-mig-status-attr:name_id": None,
        "_region": region,
    }
    s = store(cloud)
    with s.lock:
        s.volumes.append(volume)
    return volume


# ---- HTTP ------------------------------------------------------------------------------------
Reply = tuple[int, bytes, dict[str, str]]


def serve(
    handler: BaseHTTPRequestHandler,
    cloud: FakeOpenStack,
    region: str,
    path: str,
    query: dict[str, list[str]],
) -> None:
    """Answer a GET below /object-store or /volume (path without the region prefix)."""
    if path.startswith("/object-store/v1/"):
        code, body, headers = _swift(cloud, region, path.removeprefix("/object-store/v1/"), query)
    else:
        code, body, headers = _cinder(cloud, region, path.removeprefix("/volume"))
    headers.setdefault("Content-Type", "text/html; charset=UTF-8")
    handler.send_response(code)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _swift(cloud: FakeOpenStack, region: str, path: str, query: dict[str, list[str]]) -> Reply:
    account, _, container = path.partition("/")
    now = datetime.now().timestamp()
    headers = {
        "X-Timestamp": f"{now:.5f}",
        "X-Trans-Id": f"tx{uuid.uuid4().hex[:21]}-{int(now):010x}",
    }
    if account != f"AUTH_{cloud.project_id}":
        return 401, SWIFT_401, headers
    s = store(cloud)
    with s.lock:
        here = {name: list(objs) for name, objs in s.containers.get(region, {}).items()}
    marker = query.get("marker", [""])[-1]
    prefix = query.get("prefix", [""])[-1]
    try:
        limit = min(int(query.get("limit", [str(SWIFT_LIMIT)])[-1]), SWIFT_LIMIT)
    except ValueError:
        return 412, b"Value of limit must be a positive integer", headers
    if not container:
        rows = [
            {
                "name": name,
                "count": len(objs),
                "bytes": sum(o.size for o in objs),
                "last_modified": _stamp(max((o.modified for o in objs), default=cloud.started)),
            }
            for name, objs in sorted(here.items())
        ]
        headers |= {
            "X-Account-Container-Count": str(len(here)),
            "X-Account-Object-Count": str(sum(len(o) for o in here.values())),
            "X-Account-Bytes-Used": str(sum(o.size for objs in here.values() for o in objs)),
        }
    else:
        objs = here.get(unquote(container))
        if objs is None:
            return 404, SWIFT_404, headers
        rows = [o.view() for o in objs]
        headers |= {
            "X-Container-Object-Count": str(len(objs)),
            "X-Container-Bytes-Used": str(sum(o.size for o in objs)),
            "X-Storage-Policy": "default-placement",
        }
    rows = [r for r in rows if r["name"] > marker and r["name"].startswith(prefix)][:limit]
    if query.get("format", [""])[-1] != "json":
        text = "".join(r["name"] + "\n" for r in rows)
        return (200 if text else 204), text.encode(), headers | {"Content-Type": "text/plain"}
    ctype = {"Content-Type": "application/json; charset=utf-8"}
    return 200, json.dumps(rows).encode(), headers | ctype


def _cinder(cloud: FakeOpenStack, region: str, path: str) -> Reply:
    headers = {
        "OpenStack-API-Version": CINDER_VERSION,
        "Vary": "OpenStack-API-Version",
        "Content-Type": "application/json",
    }
    base = f"/v3/{cloud.project_id}/volumes"
    s = store(cloud)
    with s.lock:
        volumes = [v for v in s.volumes if v["_region"] == region]
    if path in (base, base + "/detail"):
        views = [_volume_view(cloud, region, v, path.endswith("/detail")) for v in volumes]
        return 200, json.dumps({"volumes": views}).encode(), headers
    if path.startswith(base + "/"):
        ident = path.removeprefix(base + "/")
        for v in volumes:
            if v["id"] == ident:
                body = {"volume": _volume_view(cloud, region, v, True)}
                return 200, json.dumps(body).encode(), headers
        message = f"Volume {ident} could not be found."
        body = {"itemNotFound": {"code": 404, "message": message}}
        return 404, json.dumps(body).encode(), headers
    body = {"itemNotFound": {"code": 404, "message": "The resource could not be found."}}
    return 404, json.dumps(body).encode(), headers


def _volume_view(cloud: FakeOpenStack, region: str, volume: Json, detail: bool) -> Json:
    href = f"{cloud.url}{cloud.prefix(region)}/volume/v3/{cloud.project_id}/volumes/{volume['id']}"
    links = [{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}]
    if not detail:
        return {"id": volume["id"], "name": volume["name"], "links": links}
    view = {k: v for k, v in volume.items() if not k.startswith("_")}
    view["links"] = links
    return view
