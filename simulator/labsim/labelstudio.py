"""A Label Studio 1.16 stand-in (eval-loop-chi's `label-studio` container, port 8080).

`GET /api/projects` as Django REST Framework serves it: `Authorization: Token <token>`
required (401 `{"detail": "Authentication credentials were not provided."}` without it,
`{"detail": "Invalid token."}` with another), paginated 30 a page (`page`, `page_size`) as
`{"count", "next", "previous", "results"}` with absolute `next`/`previous` links, 404
`{"detail": "Invalid page."}` past the end. `GET /health` answers `{"status": "UP"}`.
`garbage`: /api/projects answers 200 with an HTML-ish page that is not JSON.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .serve import TrackedHTTPServer

Json = dict[str, Any]
PAGE_SIZE = 30
GARBAGE = b"<!DOCTYPE html><html><body>\x89\xfe Loading Label Studio\x00" + b"{[" * 500


class LabelStudioServer(TrackedHTTPServer):
    def __init__(self, address: str, port: int, token: str, projects: list[Json], mode: str):
        super().__init__((address, port), _Handler)
        self.token, self.projects, self.mode = token, projects, mode


class _Handler(BaseHTTPRequestHandler):
    server: LabelStudioServer
    protocol_version = "HTTP/1.1"
    server_version = "WSGIServer/0.2"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept, Authorization, Cookie")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc: Any) -> None:
        self._send(status, json.dumps(doc).encode())

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        if url.path == "/health":
            return self._json(200, {"status": "UP"})
        if url.path.rstrip("/") != "/api/projects":
            return self._send(404, b"<h1>Not Found</h1>", "text/html; charset=utf-8")
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme != "Token":
            return self._json(401, {"detail": "Authentication credentials were not provided."})
        if token.strip() != self.server.token:
            return self._json(401, {"detail": "Invalid token."})
        if self.server.mode == "garbage":
            return self._send(200, GARBAGE, "text/html; charset=utf-8")
        self._page(parse_qs(url.query))

    def _page(self, query: dict[str, list[str]]) -> None:
        try:
            page = int(query.get("page", ["1"])[0])
            size = max(1, int(query.get("page_size", [str(PAGE_SIZE)])[0]))
        except ValueError:
            return self._json(404, {"detail": "Invalid page."})
        projects = self.server.projects
        pages = max(1, -(-len(projects) // size))
        if not 1 <= page <= pages:
            return self._json(404, {"detail": "Invalid page."})
        base = f"http://{self.headers.get('Host', '')}/api/projects/"

        def link(n: int) -> str | None:
            if not 1 <= n <= pages:
                return None
            keep = {k: v[0] for k, v in query.items() if k != "page"}
            return base + "?" + urlencode({**keep, **({"page": n} if n > 1 else {})}).rstrip("?")

        self._json(
            200,
            {
                "count": len(projects),
                "next": link(page + 1),
                "previous": link(page - 1),
                "results": projects[(page - 1) * size : page * size],
            },
        )


def project(pid: int, title: str, created: str, tasks: int, annotated: int) -> Json:
    """One project as the list endpoint serializes it (the fields a client reads)."""
    return {
        "id": pid,
        "title": title,
        "description": "",
        "label_config": '<View><Image name="image" value="$image"/><Choices name="label" '
        'toName="image">'
        + "".join(f'<Choice value="{c}"/>' for c in ("Bread", "Dessert"))
        + "</Choices></View>",
        "expert_instruction": "",
        "show_instruction": False,
        "show_skip_button": True,
        "enable_empty_annotation": True,
        "show_annotation_history": False,
        "organization": 1,
        "color": "#FFFFFF",
        "maximum_annotations": 1,
        "is_published": False,
        "model_version": "",
        "is_draft": False,
        "created_by": {
            "id": 1,
            "first_name": "",
            "last_name": "",
            "email": "labelstudio@example.com",
            "avatar": None,
        },
        "created_at": created,
        "min_annotations_to_start_training": 0,
        "start_training_on_annotation_update": False,
        "show_collab_predictions": True,
        "num_tasks_with_annotations": annotated,
        "task_number": tasks,
        "useful_annotation_number": annotated,
        "ground_truth_number": 0,
        "skipped_annotations_number": 0,
        "total_annotations_number": annotated,
        "total_predictions_number": 0,
        "sampling": "Sequential sampling",
        "show_ground_truth_first": False,
        "show_overlap_first": False,
        "overlap_cohort_percentage": 100,
        "task_data_login": None,
        "task_data_password": None,
        "control_weights": {},
        "parsed_label_config": {},
        "evaluate_predictions_automatically": False,
        "config_has_control_tags": True,
        "skip_queue": "REQUEUE_FOR_OTHERS",
        "reveal_preannotations_interactively": False,
        "pinned_at": None,
        "finished_task_number": annotated,
        "queue_total": tasks,
        "queue_done": annotated,
    }
