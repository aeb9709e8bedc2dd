"""A stand-in for GitHub's REST API, Actions part: workflow runs and their jobs, on loopback.

GitHub cannot run here, so this answers the two endpoints the grader reads with the shapes
GitHub documents ("List workflow runs for a repository", "List jobs for a workflow run",
API version 2022-11-28): `{"total_count": N, "workflow_runs": [...]}` newest first, paged by
`per_page` (default 30, at most 100) and `page` with a `Link` header, and
`{"total_count": N, "jobs": [...]}`. Errors are GitHub's JSON: a wrong token is 401
`{"message": "Bad credentials", ...}` (no token is fine: the repositories here are public),
an unknown repository or run 404 `{"message": "Not Found", ...}`.

For the probe's tests, a repository can be made hostile (`special`): "html" answers a 200 HTML
page, "huge" a 2 MiB JSON body.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .serve import TrackedHTTPServer
from .shared import rfc3339

Json = dict[str, Any]
DOCS = "https://docs.github.com/rest"
_RUNS = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs$")
_JOBS = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs/(\d+)/jobs$")


def _num(key: str, bits: int = 32) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) % (1 << bits)


def make_runs(repo: str, now: datetime, conclusions: list[str]) -> list[Json]:
    """Runs of a CI workflow (one `test` job each, on ubuntu-latest), newest first: one a day,
    the newest concluding conclusions[0]."""
    runs = []
    workflow_id = _num(repo + ":wf", 26)
    for n, conclusion in enumerate(conclusions):
        created = now - timedelta(days=n, minutes=17)
        number = len(conclusions) - n
        run_id = 10_000_000_000 + _num(f"{repo}:run:{number}", 30)
        sha = hashlib.sha1(f"{repo}:{number}".encode()).hexdigest()
        base = f"https://api.github.com/repos/{repo}/actions/runs/{run_id}"
        started, done = created + timedelta(seconds=4), created + timedelta(minutes=2, seconds=9)
        job_id = 30_000_000_000 + _num(f"{repo}:job:{number}", 30)
        runs.append(
            {
                "id": run_id,
                "name": "CI",
                "node_id": f"WFR_kwLO{_num(repo, 24):x}{number}",
                "head_branch": "main",
                "head_sha": sha,
                "path": ".github/workflows/ci.yml",
                "display_title": f"Update flow.py ({number})",
                "run_number": number,
                "event": "push",
                "status": "completed",
                "conclusion": conclusion,
                "workflow_id": workflow_id,
                "url": base,
                "html_url": f"https://github.com/{repo}/actions/runs/{run_id}",
                "created_at": rfc3339(created),
                "updated_at": rfc3339(done),
                "run_attempt": 1,
                "run_started_at": rfc3339(created),
                "jobs_url": base + "/jobs",
                "logs_url": base + "/logs",
                "_jobs": [
                    {
                        "id": job_id,
                        "run_id": run_id,
                        "workflow_name": "CI",
                        "head_branch": "main",
                        "run_url": base,
                        "run_attempt": 1,
                        "node_id": f"CR_kwDO{_num(repo, 24):x}{number}",
                        "head_sha": sha,
                        "url": f"https://api.github.com/repos/{repo}/actions/jobs/{job_id}",
                        "html_url": f"https://github.com/{repo}/actions/runs/{run_id}/job/{job_id}",
                        "status": "completed",
                        "conclusion": conclusion,
                        "created_at": rfc3339(created),
                        "started_at": rfc3339(started),
                        "completed_at": rfc3339(done),
                        "name": "test",
                        "steps": [
                            {
                                "name": name,
                                "status": "completed",
                                "conclusion": "success"
                                if conclusion == "success" or name != "Run pytest"
                                else "failure",
                                "number": i,
                                "started_at": rfc3339(started),
                                "completed_at": rfc3339(done),
                            }
                            for i, name in enumerate(
                                ("Set up job", "Run actions/checkout@v4", "Run pytest"), 1
                            )
                        ],
                        "check_run_url": f"https://api.github.com/repos/{repo}/check-runs/{job_id}",
                        "labels": ["ubuntu-latest"],
                        "runner_id": 1000 + number,
                        "runner_name": f"GitHub Actions {1000 + number}",
                        "runner_group_id": 2,
                        "runner_group_name": "GitHub Actions",
                    }
                ],
            }
        )
    return runs


class _Handler(BaseHTTPRequestHandler):
    server: GitHubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the client stopped reading (a body past its cap)

    def _send(self, code: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, doc: Any, headers: dict | None = None) -> None:
        body = json.dumps(doc).encode()
        self._send(code, body, "application/json; charset=utf-8", headers)

    def _error(self, code: int, message: str, doc_url: str = DOCS) -> None:
        self._json(code, {"message": message, "documentation_url": doc_url, "status": str(code)})

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.authorizations.append(self.headers.get("Authorization"))
        auth = self.headers.get("Authorization")
        if auth is not None and auth not in (f"Bearer {t}" for t in self.server.tokens):
            return self._error(401, "Bad credentials")
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if m := _RUNS.match(url.path):
            return self._runs(f"{m[1]}/{m[2]}", query)
        if m := _JOBS.match(url.path):
            return self._jobs(f"{m[1]}/{m[2]}", int(m[3]))
        return self._error(404, "Not Found")

    def _repo(self, repo: str, doc_url: str) -> list[Json] | None:
        special = self.server.special.get(repo)
        if special == "html":
            self._send(200, b"<!DOCTYPE html><html><title>Sign in</title></html>", "text/html")
            return None
        if special == "huge":
            self._json(200, {"total_count": 1, "workflow_runs": [], "pad": "x" * (2 << 20)})
            return None
        runs = self.server.repos.get(repo.lower())
        if runs is None:
            self._error(404, "Not Found", doc_url)
        return runs

    def _runs(self, repo: str, query: dict[str, str]) -> None:
        runs = self._repo(repo, f"{DOCS}/actions/workflow-runs#list-workflow-runs-for-a-repository")
        if runs is None:
            return
        try:
            per_page = min(100, max(1, int(query.get("per_page", 30))))
            page = max(1, int(query.get("page", 1)))
        except ValueError:
            return self._error(422, "Invalid request.")
        chunk = runs[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(runs):
            nxt = (
                f"{self.server.base}/repos/{repo}/actions/runs?per_page={per_page}&page={page + 1}"
            )
            headers["Link"] = f'<{nxt}>; rel="next"'
        items = [{k: v for k, v in r.items() if not k.startswith("_")} for r in chunk]
        self._json(200, {"total_count": len(runs), "workflow_runs": items}, headers)

    def _jobs(self, repo: str, run_id: int) -> None:
        doc_url = f"{DOCS}/actions/workflow-jobs#list-jobs-for-a-workflow-run"
        runs = self._repo(repo, doc_url)
        if runs is None:
            return
        run = next((r for r in runs if r["id"] == run_id), None)
        if run is None:
            return self._error(404, "Not Found", doc_url)
        self._json(200, {"total_count": len(run["_jobs"]), "jobs": run["_jobs"]})


class GitHubServer(TrackedHTTPServer):
    """The API on (address, port); `repos`: owner/name -> runs (make_runs), newest first."""

    def __init__(
        self,
        address: str,
        port: int,
        repos: dict[str, list[Json]],
        tokens: tuple[str, ...] = (),
        special: dict[str, str] | None = None,
    ) -> None:
        super().__init__((address, port), _Handler)
        self.repos = {k.lower(): v for k, v in repos.items()}
        self.tokens = tokens
        self.special = special or {}
        self.authorizations: list[str | None] = []  # what each request carried, for tests
        self.base = f"http://{address}:{self.server_address[1]}"
