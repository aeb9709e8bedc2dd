"""An Airflow 2.9 webserver stand-in (eval-loop-chi's `airflow-webserver`, host port 8081).

It answers what a grader asks of the real one, in the real shapes:
* the stable REST API `GET /api/v1/dags` (`{"dags": [...], "total_entries": n}`) and
  `GET /api/v1/dags/{dag_id}/dagRuns?order_by=-execution_date&limit=N` (and `state=...`,
  repeatable, to keep runs in those states)
  (`{"dag_runs": [...], "total_entries": n}`), errors as `application/problem+json`;
* authentication as the lab configures it: its compose file leaves `[api] auth_backends` at
  Airflow 2's default, `airflow.api.auth.backend.session`, so the API refuses Basic auth
  (401) and accepts the session cookie of a login through the FAB form (`GET /login/` gives a
  CSRF token and a cookie; `POST /login/` with username, password and csrf_token answers 302
  to `/` with the logged-in session cookie, or 302 back to `/login/`).
`huge`: the DAG list comes back as a 3 MiB JSON document.

data-platform-chi's Airflow 2.11 (port 8080) is this server with `basic_auth`: its compose file
sets `AIRFLOW__API__AUTH_BACKENDS=airflow.api.auth.backend.basic_auth,...session`, so the API
also takes `Authorization: Basic` (a wrong one is 401 with `WWW-Authenticate: Basic`), and with
`health` it answers the webserver's `/health` (no login needed).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .serve import TrackedHTTPServer

VERSION = "2.9.3"
ERRORS = f"https://airflow.apache.org/docs/apache-airflow/{VERSION}/stable-rest-api-ref.html"
Json = dict[str, Any]

LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Sign In - Airflow</title></head><body>
<form class="form" action="" method="post" name="login">
<input id="csrf_token" name="csrf_token" type="hidden" value="{csrf}">
<input autofocus class="form-control" id="username" name="username" type="text" value="">
<input class="form-control" id="password" name="password" type="password" value="">
<input class="btn btn-primary btn-block" type="submit" value="Sign In">
</form></body></html>
"""


class AirflowServer(TrackedHTTPServer):
    def __init__(
        self,
        address: str,
        port: int,
        dags: list[Json],
        runs: dict[str, list[Json]],
        mode: str,
        *,
        password: str = "airflow",
        basic_auth: bool = False,
        health: Any = None,  # () -> the /health JSON, or None: no such route
    ) -> None:
        super().__init__((address, port), _Handler)
        self.dags, self.runs, self.mode = dags, runs, mode
        self.user, self.password = "admin", password
        self.basic_auth, self.health = basic_auth, health
        self.csrf: dict[str, str] = {}  # anonymous session id -> its CSRF token
        self.logged_in: set[str] = set()  # session ids of logged-in users


class _Handler(BaseHTTPRequestHandler):
    server: AirflowServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def version_string(self) -> str:
        return "gunicorn"  # as gunicorn sends it (not "gunicorn " with an empty sys_version)

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc: Any) -> None:
        self._send(status, json.dumps(doc, indent=2).encode() + b"\n", "application/json")

    def _problem(self, status: int, title: str, kind: str, detail: str | None) -> None:
        doc = {"detail": detail, "status": status, "title": title, "type": f"{ERRORS}#{kind}"}
        self._send(status, json.dumps(doc).encode() + b"\n", "application/problem+json")

    def _session(self) -> str:
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "session":
                return value
        return ""

    def _basic(self) -> bool | None:
        """Basic credentials where the basic_auth backend is on: True (the user's), False
        (any others), None (none sent, or the backend is off)."""
        header = self.headers.get("Authorization") or ""
        if not self.server.basic_auth or not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (user, password) == (self.server.user, self.server.password)

    def _redirect(self, where: str, cookie: str | None = None) -> None:
        host = self.headers.get("Host", "")
        headers = {"Location": f"http://{host}{where}"}
        if cookie:
            headers["Set-Cookie"] = f"session={cookie}; HttpOnly; Path=/; SameSite=Lax"
        body = f'<a href="{where}">{where}</a>'.encode()
        self._send(302, body, "text/html; charset=utf-8", headers)

    # ---- routes ------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/login/":
            sid, csrf = secrets.token_urlsafe(24), secrets.token_hex(20)
            self.server.csrf[sid] = csrf
            cookie = f"session={sid}; HttpOnly; Path=/; SameSite=Lax"
            page = LOGIN_PAGE.format(csrf=csrf).encode()
            return self._send(200, page, "text/html; charset=utf-8", {"Set-Cookie": cookie})
        if url.path == "/health" and self.server.health is not None:
            return self._json(200, self.server.health())
        if url.path in ("/", "/home"):
            if self._session() not in self.server.logged_in:
                return self._redirect("/login/?next=%2Fhome")
            return self._send(200, b"<title>Airflow</title>", "text/html; charset=utf-8")
        if not url.path.startswith("/api/v1/"):
            return self._send(404, b"<title>404 Not Found</title>", "text/html; charset=utf-8")
        basic = self._basic()
        if basic is False:
            doc = {
                "detail": None,
                "status": 401,
                "title": "Unauthorized",
                "type": f"{ERRORS}#section/Errors/Unauthenticated",
            }
            body = json.dumps(doc).encode() + b"\n"
            challenge = {"WWW-Authenticate": "Basic"}
            return self._send(401, body, "application/problem+json", challenge)
        if not basic and self._session() not in self.server.logged_in:
            return self._problem(401, "Unauthorized", "section/Errors/Unauthenticated", None)
        parts = [unquote(p) for p in url.path.split("/")[3:]]
        if parts == ["dags"]:
            return self._dags(query)
        if len(parts) == 3 and parts[0] == "dags" and parts[2] == "dagRuns":
            return self._dag_runs(parts[1], query)
        self._problem(404, "Not Found", "section/Errors/NotFound", "Not found")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        if urlsplit(self.path).path != "/login/":
            return self._problem(405, "Method Not Allowed", "section/Errors/NotFound", None)
        csrf = self.server.csrf.get(self._session())
        if not csrf or form.get("csrf_token", [""])[0] != csrf:
            page = b"<title>400 Bad Request</title><p>The CSRF token is missing.</p>"
            return self._send(400, page, "text/html; charset=utf-8")
        good = (form.get("username", [""])[0], form.get("password", [""])[0]) == (
            self.server.user,
            self.server.password,
        )
        if not good:
            return self._redirect("/login/")
        sid = secrets.token_urlsafe(24)
        self.server.logged_in.add(sid)
        self._redirect("/", sid)

    # ---- the API -----------------------------------------------------------------------------
    def _dags(self, query: dict[str, list[str]]) -> None:
        limit, offset = _int(query, "limit", 100), _int(query, "offset", 0)
        dags = self.server.dags
        if self.server.mode == "huge":  # real JSON, 3 MiB of it: a 1 MiB description per DAG
            dags = [dict(d, description="Process data. " * (2**20 // 14)) for d in dags]
        self._json(200, {"dags": dags[offset : offset + limit], "total_entries": len(dags)})

    def _dag_runs(self, dag_id: str, query: dict[str, list[str]]) -> None:
        if dag_id not in {d["dag_id"] for d in self.server.dags}:
            detail = f"DAG with dag_id: '{dag_id}' not found"
            return self._problem(404, "DAG not found", "section/Errors/NotFound", detail)
        runs = list(self.server.runs.get(dag_id, []))
        states = [v for s in query.get("state", []) for v in s.split(",") if v]
        if states:  # the `state` filter (an array: repeated, or comma-separated)
            runs = [r for r in runs if r.get("state") in states]
        order = query.get("order_by", ["id"])[0]
        field = order.lstrip("-")
        if field in ("execution_date", "start_date", "end_date"):
            runs.sort(key=lambda r: r.get(field) or "", reverse=order.startswith("-"))
        limit, offset = _int(query, "limit", 100), _int(query, "offset", 0)
        self._json(200, {"dag_runs": runs[offset : offset + limit], "total_entries": len(runs)})


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    try:
        return int(query.get(name, [default])[0])
    except ValueError:
        return default
