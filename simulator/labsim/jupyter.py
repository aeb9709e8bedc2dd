"""Jupyter Server on port 8888 of a simulated host or edge container, as the course's
`jupyter` containers (quay.io/jupyter/minimal-notebook, JupyterLab 4 on Jupyter Server 2.14,
Tornado 6.4) answer a client without the token: `GET /api` gives the version, every other
API path is 403 `{"message": "Forbidden", "reason": null}`, pages redirect to the login page,
unknown paths are 404.
"""

from __future__ import annotations

import hashlib
import json
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from urllib.parse import quote

from .serve import TrackedHTTPServer

VERSION = "2.14.2"
TORNADO = "TornadoServer/6.4.1"
CSP = "frame-ancestors 'self'; report-uri /api/security/csp-report; default-src 'none'"
PAGES = ("/lab", "/tree", "/notebooks", "/edit", "/terminals")

LOGIN = """<!DOCTYPE HTML>
<html>
<head>
    <meta charset="utf-8">
    <title>Jupyter Server</title>
</head>
<body class="" dir="ltr">
<div id="site">
<div id="ipython-main-app" class="container">
  <form action="/login?next=%2Flab" method="post" class="form-inline">
    <label for="password_input"><strong>Password or token:</strong></label>
    <input type="password" name="password" id="password_input" class="form-control">
    <button type="submit" class="btn btn-default" id="login_submit">Log in</button>
  </form>
</div>
</div>
</body>
</html>"""


def not_found() -> str:
    return (
        '<!DOCTYPE HTML>\n<html>\n<head>\n    <meta charset="utf-8">\n'
        '    <title>Jupyter Server</title>\n</head>\n<body>\n<div class="error">\n'
        "    <h1>404 : Not Found</h1>\n    <p>You are requesting a page that does not exist!</p>\n"
        "</div>\n</body>\n</html>"
    )


class JupyterHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:
        pass

    def version_string(self) -> str:
        return TORNADO

    def _send(self, code: int, body: str, ctype: str, headers: dict | None = None) -> None:
        data = body.encode()
        self.send_response_only(code)  # Server and Date once each, in Tornado's order
        self.send_header("Server", self.version_string())
        self.send_header("Content-Type", ctype)
        self.send_header("Date", formatdate(usegmt=True))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header(
            "Access-Control-Allow-Headers", "accept, content-type, authorization, x-xsrftoken"
        )
        if code == 200 and ctype.startswith("application/json"):
            self.send_header("Etag", '"' + hashlib.sha1(data).hexdigest() + '"')
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, code: int, body: dict) -> None:
        self._send(code, json.dumps(body), "application/json")

    def _route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/api":
            if self.command in ("GET", "HEAD"):
                return self._json(200, {"version": VERSION})
            return self._json(405, {"message": "Method Not Allowed", "reason": None})
        if path.startswith("/api/"):
            return self._json(403, {"message": "Forbidden", "reason": None})
        if path == "/":
            return self._send(302, "", "text/html; charset=UTF-8", {"Location": "/lab"})
        if path in ("/login", "/lab/login"):
            return self._send(200, LOGIN, "text/html; charset=UTF-8")
        if path.startswith(PAGES):
            target = "/login?next=" + quote(self.path, safe="")
            return self._send(302, "", "text/html; charset=UTF-8", {"Location": target})
        self._send(404, not_found(), "text/html; charset=UTF-8")

    def _handle(self) -> None:
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class JupyterServer(TrackedHTTPServer):
    def __init__(self, address: str, port: int = 8888) -> None:
        super().__init__((address, port), JupyterHandler)
