"""A GourmetGram web app as the course's Flask app (`teaching-on-testbeds/gourmetgram`, master)
answers, served the way Flask's Werkzeug development server serves it.

Routes as in its app.py: `GET /` upload page, `GET|POST /predict`, `GET /test`, `/static/...`.
Status codes, bodies and headers follow Flask/Werkzeug 3: HTML error pages, `Connection: close`,
405 with `Allow`, automatic HEAD and OPTIONS. There is no model: a prediction is a stable
function of the uploaded bytes, and a body that is not an image fails as PIL would (500).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import platform
import zlib
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler

from .serve import TrackedHTTPServer

CLASSES = (
    "Bread",
    "Dairy product",
    "Dessert",
    "Egg",
    "Fried food",
    "Meat",
    "Noodles/Pasta",
    "Rice",
    "Seafood",
    "Soup",
    "Vegetable/Fruit",
)
TITLE = "GourmetGram: Snap. Share. Savor."
SERVER = f"Werkzeug/3.1.3 Python/{platform.python_version()}"
HTML = "text/html; charset=utf-8"

# Werkzeug 3 HTTPException bodies: name and description per status code.
_ERRORS = {
    400: (
        "Bad Request",
        "The browser (or proxy) sent a request that this server could not understand.",
    ),
    404: (
        "Not Found",
        "The requested URL was not found on the server. If you entered the URL manually "
        "please check your spelling and try again.",
    ),
    405: ("Method Not Allowed", "The method is not allowed for the requested URL."),
    500: (
        "Internal Server Error",
        "The server encountered an internal error and was unable to complete your request. "
        "Either the server is overloaded or there is an error in the application.",
    ),
}


def error_page(code: int) -> str:
    name, description = _ERRORS[code]
    return (
        f"<!doctype html>\n<html lang=en>\n<title>{code} {name}</title>\n"
        f"<h1>{name}</h1>\n<p>{description}</p>\n"
    )


INDEX = f"""<html lang="en">

<head>
    <meta charset="UTF-8">
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    <title>{TITLE}</title>
    <link href="/static/css/main.css" rel="stylesheet">
</head>

<body>
    <nav class="navbar"><a class="navbar-brand" href="#">GourmetGram</a></nav>
    <div class="container">
        <form id="upload-file" action="/predict" method="POST" enctype="multipart/form-data">
            <label for="imageUpload" class="btn btn-primary">Upload image</label>
            <input type="file" name="file" id="imageUpload" accept=".png, .jpg, .jpeg">
            <button type="submit" class="btn btn-success" id="btn-predict">Submit</button>
        </form>
        <span id="result"></span>
    </div>
</body>

<footer>
    <script src="/static/js/main.js" type="text/javascript"></script>
</footer>

</html>"""

STATIC = {
    "/static/css/main.css": (
        "text/css; charset=utf-8",
        ".container { max-width: 40em; }\n#result { font-weight: bold; }\n",
    ),
    # Python 3.11's mimetypes (the course image) maps .js to application/javascript.
    "/static/js/main.js": (
        "application/javascript; charset=utf-8",
        "document.getElementById('upload-file').addEventListener('submit', function (e) {\n"
        "    e.preventDefault();\n"
        "    fetch('/predict', {method: 'POST', body: new FormData(e.target)})\n"
        "        .then(function (r) { return r.text(); })\n"
        "        .then(function (html) { document.getElementById('result').innerHTML = html; });\n"
        "});\n",
    ),
}
_STATIC_MTIME = formatdate(1735732800, usegmt=True)  # fixed, like files baked into an image

# Route -> allowed methods, as declared in app.py (Flask adds HEAD and OPTIONS).
_ROUTES = {"/": ("GET",), "/predict": ("GET", "POST"), "/test": ("GET",)}
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def predict(image: bytes) -> str | None:
    """A stable class for an image; None when PIL could not open it."""
    is_webp = image[:4] == b"RIFF" and image[8:12] == b"WEBP"
    if not (image.startswith(_IMAGE_MAGIC) or is_webp):
        return None
    return CLASSES[zlib.crc32(image) % len(CLASSES)]


def file_field(content_type: str, body: bytes) -> bytes | None:
    """Bytes of the multipart field `file` (Flask's request.files['file']), or None."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if (
            part.get_param("name", header="content-disposition") == "file"
            and part.get_param("filename", header="content-disposition") is not None
        ):
            payload = part.get_payload(decode=True)  # bytes, for a part that is not multipart
            return payload if isinstance(payload, bytes) else b""
    return None


class GourmetGramHandler(BaseHTTPRequestHandler):
    server: GourmetGramServer
    protocol_version = "HTTP/1.1"  # Werkzeug's threaded server speaks 1.1 and closes
    disable_nagle_algorithm = True
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:
        pass

    def version_string(self) -> str:
        return SERVER

    def _send(self, code: int, body: str, ctype: str = HTML, headers: dict | None = None) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True

    def _error(self, code: int, headers: dict | None = None) -> None:
        self._send(code, error_page(code), headers=headers)

    def _route(self) -> None:
        path = self.path.split("?", 1)[0]
        method = "GET" if self.command == "HEAD" else self.command
        if path in STATIC:
            return self._static(path, method)
        allowed = _ROUTES.get(path)
        if allowed is None:
            return self._error(404)
        allow = ", ".join(sorted({*allowed, "HEAD", "OPTIONS"}))
        if method == "OPTIONS":
            return self._send(200, "", headers={"Allow": allow})
        if method not in allowed:
            return self._error(405, {"Allow": allow})
        if path in self.server.failing_paths:
            return self._error(500)
        if path == "/":
            return self._send(200, INDEX)
        if path == "/test":
            return self._send(200, self.server.test_class)
        if method == "GET":  # /predict without an upload
            return self._send(200, '<a href="#" class="badge badge-warning">Warning</a>')
        return self._predict()

    def _static(self, path: str, method: str) -> None:
        if method not in ("GET", "OPTIONS"):
            return self._error(405, {"Allow": "GET, HEAD, OPTIONS"})
        ctype, body = STATIC[path]
        etag = '"' + hashlib.sha1(body.encode()).hexdigest() + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            return
        name = path.rsplit("/", 1)[1]
        self._send(
            200,
            body,
            ctype,
            {
                "Content-Disposition": f"inline; filename={name}",
                "Last-Modified": _STATIC_MTIME,
                "Cache-Control": "no-cache",
                "ETag": etag,
            },
        )

    def _predict(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        image = file_field(self.headers.get("Content-Type", ""), body)
        if image is None:  # request.files['file'] raised BadRequestKeyError
            return self._error(400)
        label = predict(image)
        if label is None:  # PIL.UnidentifiedImageError, unhandled in app.py
            return self._error(500)
        self._send(200, f'<button type="button" class="btn btn-info btn-sm">{label}</button>')

    def _handle(self) -> None:
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            self._error(500)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle


class GourmetGramServer(TrackedHTTPServer):
    def __init__(
        self,
        address: str,
        port: int = 80,
        test_class: str = "Bread",
        failing_paths: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__((address, port), GourmetGramHandler)
        self.test_class = test_class
        self.failing_paths = failing_paths
