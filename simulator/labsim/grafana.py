"""A Grafana HTTP API stand-in on port 3000 (Grafana cannot run here): the endpoints a grader
reads, with the documented JSON shapes, built from dashboards as Grafana exports them
(`dashboards/*.json`, the eval-online lab's three dashboards) and the lab's alert rules.

* `GET /api/health` (no login): `{"commit", "database", "version"}`.
* Everything else under `/api/` needs a login (admin/admin, unless the student changed the
  password at the first sign-in): none is 401
  `{"message": "Unauthorized"}`, a wrong password 401 "Invalid username or password".
* `GET /api/search` (`type`, `query`): a list of hits `{id, uid, orgId, title, uri, url, slug,
  type: "dash-db", tags, isStarred, sortMeta}`, folders as `dash-folder`.
* `GET /api/dashboards/uid/<uid>`: `{"dashboard": {...}, "meta": {...}}`, else 404
  `{"message": "Dashboard not found"}`.
* `GET /api/v1/provisioning/alert-rules`: the list of provisioned alert rules.

`Grafana.mode` plays a port 3000 that is not Grafana: "garbage" (200 text/html bytes that are
no JSON) or "huge" (200 application/json, 20 MiB), whatever the path or login.

The version: the lab's compose file pins `grafana/grafana:latest`, which from 12.4.0
(2026-02-24) until 13.0.0 (2026-04-14) was a 12.4 release; the manual's last revision
(2026-03-28) was made against one of them. `write_database` writes what that Grafana keeps in
its SQLite file (`/var/lib/grafana/grafana.db` in the container: the compose file gives it no
volume), for the grader's reading over SSH: the dashboards in unified storage's `resource`
table (Kubernetes-style objects, `spec` the classic dashboard), where 12.4 reads them from,
the legacy `dashboard` table left without them, and the alert rules in `alert_rule`.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import sqlite3
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .serve import TrackedHTTPServer

DATA = Path(__file__).with_name("dashboards")
VERSION = "12.4.2"
HUGE_BYTES = 20 * 1024 * 1024
RULES_FOLDER = {"uid": "ce2kuv3yq0dmoe", "id": 4, "title": "Food classifier prediction service"}


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


@dataclass
class Grafana:
    """One node's Grafana: its dashboards (as exported), alert rules and login."""

    dashboards: list[dict[str, Any]] = field(default_factory=list)
    alert_rules: list[dict[str, Any]] = field(default_factory=list)
    user: str = "admin"
    password: str = "admin"
    mode: str = "ok"  # ok | garbage | huge

    def hit(self, dash: dict[str, Any]) -> dict[str, Any]:
        s = slug(dash["title"])
        return {
            "id": dash["id"],
            "uid": dash["uid"],
            "orgId": 1,
            "title": dash["title"],
            "uri": f"db/{s}",
            "url": f"/d/{dash['uid']}/{s}",
            "slug": "",
            "type": "dash-db",
            "tags": dash.get("tags", []),
            "isStarred": False,
            "sortMeta": 0,
        }

    def folder_hit(self) -> dict[str, Any]:
        s = slug(RULES_FOLDER["title"])
        return {
            "id": RULES_FOLDER["id"],
            "uid": RULES_FOLDER["uid"],
            "orgId": 1,
            "title": RULES_FOLDER["title"],
            "uri": f"db/{s}",
            "url": f"/dashboards/f/{RULES_FOLDER['uid']}/{s}",
            "slug": "",
            "type": "dash-folder",
            "tags": [],
            "isStarred": False,
            "sortMeta": 0,
        }

    def search(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        kind = query.get("type", [""])[0]
        text = query.get("query", [""])[0].lower()
        hits = [] if kind == "dash-db" or not self.alert_rules else [self.folder_hit()]
        if kind != "dash-folder":
            hits += [self.hit(d) for d in self.dashboards]
        return sorted(
            (h for h in hits if text in h["title"].lower()), key=lambda h: h["title"].lower()
        )

    def dashboard(self, uid: str) -> dict[str, Any] | None:
        dash = next((d for d in self.dashboards if d["uid"] == uid), None)
        if dash is None:
            return None
        s = slug(dash["title"])
        meta = {
            "type": "db",
            "canSave": True,
            "canEdit": True,
            "canAdmin": True,
            "canStar": True,
            "canDelete": True,
            "slug": s,
            "url": f"/d/{uid}/{s}",
            "expires": "0001-01-01T00:00:00Z",
            "created": "2026-03-24T17:20:11Z",
            "updated": "2026-03-24T17:52:40Z",
            "updatedBy": "admin",
            "createdBy": "admin",
            "version": dash.get("version", 1),
            "hasAcl": False,
            "isFolder": False,
            "apiVersion": "v1",
            "folderId": 0,
            "folderUid": "",
            "folderTitle": "Dashboards",
            "folderUrl": "",
            "provisioned": False,
            "provisionedExternalId": "",
            "annotationsPermissions": {
                "dashboard": {"canAdd": True, "canEdit": True, "canDelete": True},
                "organization": {"canAdd": True, "canEdit": True, "canDelete": True},
            },
        }
        return {"meta": meta, "dashboard": copy.deepcopy(dash)}


def write_database(path: Path, grafana: Grafana) -> None:
    """Grafana's SQLite file as 12.4 leaves it after the lab: a subset of its tables and
    columns, the ones holding the dashboards and alert rules, readable by cc (its folder
    exists)."""
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        con.executescript(SCHEMA)
        for n, dash in enumerate(grafana.dashboards, start=1):
            guid = f"{n:08x}-{dash['uid']}"
            obj: dict[str, Any] = {
                "kind": "Dashboard",
                "apiVersion": "dashboard.grafana.app/v1beta1",
                "metadata": {
                    "name": dash["uid"],
                    "namespace": "default",
                    "uid": guid,
                    "resourceVersion": str(1774373000000000 + n),
                    "generation": dash.get("version", 1),
                    "creationTimestamp": "2026-03-24T17:20:11Z",
                    "annotations": {"grafana.app/createdBy": "user:admin"},
                },
                "spec": {k: v for k, v in dash.items() if k not in ("uid", "id")},
            }
            con.execute(
                'INSERT INTO resource (guid, resource_version, "group", resource, namespace, '
                "name, value, action, label_set, previous_resource_version, folder) "
                "VALUES (?, ?, 'dashboard.grafana.app', 'dashboards', 'default', ?, ?, 1, "
                "'', 0, '')",
                (guid, 1774373000000000 + n, dash["uid"], json.dumps(obj)),
            )
        for n, rule in enumerate(grafana.alert_rules, start=1):
            con.execute(
                "INSERT INTO alert_rule (id, org_id, title, condition, data, updated, "
                "interval_seconds, version, uid, namespace_uid, rule_group, no_data_state, "
                'exec_err_state, "for", annotations, labels, is_paused) '
                "VALUES (?, 1, ?, ?, ?, '2026-03-24 17:41:08', 30, 1, ?, ?, ?, ?, ?, ?, ?, "
                "?, 0)",
                (
                    n,
                    rule["title"],
                    rule["condition"],
                    json.dumps(rule["data"]),
                    rule["uid"],
                    rule["folderUID"],
                    rule["ruleGroup"],
                    rule["noDataState"],
                    rule["execErrState"],
                    60 * 10**9,  # 1m, in nanoseconds
                    json.dumps(rule["annotations"]),
                    json.dumps(rule["labels"]),
                ),
            )
        con.commit()
    finally:
        con.close()
    path.chmod(0o644)


SCHEMA = """
CREATE TABLE dashboard (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, version INTEGER NOT NULL,
  slug TEXT NOT NULL, title TEXT NOT NULL, data TEXT NOT NULL, org_id INTEGER NOT NULL,
  created DATETIME NOT NULL, updated DATETIME NOT NULL, updated_by INTEGER NULL,
  created_by INTEGER NULL, gnet_id INTEGER NULL, plugin_id TEXT NULL,
  folder_id INTEGER NOT NULL DEFAULT 0, is_folder INTEGER NOT NULL DEFAULT 0,
  has_acl INTEGER NOT NULL DEFAULT 0, uid TEXT NULL, is_public INTEGER NOT NULL DEFAULT 0,
  folder_uid TEXT NULL, deleted DATETIME NULL, api_version TEXT NULL);
CREATE TABLE resource (guid TEXT PRIMARY KEY NOT NULL, resource_version INTEGER NULL,
  "group" TEXT NOT NULL, resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  value TEXT NULL, action INTEGER NOT NULL, label_set TEXT NULL,
  previous_resource_version INTEGER NULL, folder TEXT NOT NULL DEFAULT '');
CREATE TABLE alert_rule (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  org_id INTEGER NOT NULL, title TEXT NOT NULL, condition TEXT NOT NULL, data TEXT NOT NULL,
  updated DATETIME NOT NULL, interval_seconds INTEGER NOT NULL DEFAULT 60,
  version INTEGER NOT NULL DEFAULT 0, uid TEXT NOT NULL DEFAULT 0,
  namespace_uid TEXT NOT NULL, rule_group TEXT NOT NULL,
  no_data_state TEXT NOT NULL DEFAULT 'NoData', exec_err_state TEXT NOT NULL DEFAULT 'Alerting',
  "for" INTEGER NOT NULL DEFAULT 0, annotations TEXT NULL, labels TEXT NULL,
  is_paused INTEGER NOT NULL DEFAULT 0);
"""


class GrafanaHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30
    server: GrafanaServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _head(self, code: int, ctype: str, length: int) -> None:
        self.send_response_only(code)  # Grafana sends no Server header
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Type", ctype)
        self.send_header("Date", formatdate(usegmt=True))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "deny")
        self.send_header("X-Xss-Protection", "1; mode=block")
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _json(self, code: int, doc: Any) -> None:
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        self._head(code, "application/json", len(data))
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        grafana = self.server.grafana
        if grafana.mode == "garbage":
            body = b"<html>\x00\xff\xfe" + bytes(range(128, 256)) * 8 + b"</html>"
            self._head(200, "text/html; charset=utf-8", len(body))
            self.wfile.write(body)
            return
        if grafana.mode == "huge":
            return self._huge()
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        if path == "/api/health":
            return self._json(200, {"commit": "598e0338d5", "database": "ok", "version": VERSION})
        if not path.startswith("/api/"):
            return self._json(404, {"message": "Not found"})
        login = self._login(grafana)
        if login is not None:
            return self._json(401, login)
        if path == "/api/search":
            return self._json(200, grafana.search(parse_qs(url.query)))
        if path.startswith("/api/dashboards/uid/"):
            doc = grafana.dashboard(path.rsplit("/", 1)[1])
            if doc is None:
                return self._json(404, {"message": "Dashboard not found"})
            return self._json(200, doc)
        if path == "/api/v1/provisioning/alert-rules":
            return self._json(200, grafana.alert_rules)
        return self._json(404, {"message": "Not found"})

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def _login(self, grafana: Grafana) -> dict[str, Any] | None:
        """None when the basic-auth login is right, else Grafana's 401 body."""
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return {"message": "Unauthorized"}
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return {"message": "Unauthorized"}
        if (user, password) != (grafana.user, grafana.password):
            return {
                "message": "Invalid username or password",
                "messageId": "password-auth.failed",
                "statusCode": 401,
                "traceID": "",
            }
        return None

    def _huge(self) -> None:
        chunk = (b'{"id":1,"uid":"x","title":"' + b"x" * 4000 + b'"},') * 16
        self._head(200, "application/json", HUGE_BYTES)
        sent = 0
        try:
            while sent < HUGE_BYTES:
                piece = chunk[: HUGE_BYTES - sent]
                self.wfile.write(piece)
                sent += len(piece)
        except OSError:
            pass  # the client stopped reading, as a grader should


class GrafanaServer(TrackedHTTPServer):
    def __init__(self, address: str, grafana: Grafana, port: int = 3000) -> None:
        super().__init__((address, port), GrafanaHandler)
        self.grafana = grafana
