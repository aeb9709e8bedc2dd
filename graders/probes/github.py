"""GitHub Actions through GitHub's REST API: a repository's workflow runs and their jobs.

`GET /repos/{owner}/{repo}/actions/runs` lists runs newest first (`total_count`,
`workflow_runs`: id, name, run_number, head_sha, head_branch, event, status, conclusion,
created_at); `GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs` lists a run's jobs
(`total_count`, `jobs`: name, conclusion, labels, runner_name).

The base URL comes from LABGRADER_GITHUB_API (default https://api.github.com) and the token,
if any, from LABGRADER_GITHUB_TOKEN. The token travels only in the Authorization header: the
HTTP probe records URLs, statuses and response bodies, never request headers.

A repository that does not exist or is not readable is the student's to fix (Failure); a
rejected token, an exhausted rate limit, or an answer that is not GitHub's JSON is the
grader's side (GraderFault: flagged for staff, never charged to the student).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from graders.errors import Failure, GraderFault
from graders.evidence import Evidence
from graders.probes.http import Http, HttpResponse

DEFAULT_API = "https://api.github.com"
API_ENV, TOKEN_ENV = "LABGRADER_GITHUB_API", "LABGRADER_GITHUB_TOKEN"
API_VERSION = "2022-11-28"


@dataclass(frozen=True)
class Job:
    name: str
    status: str
    conclusion: str | None
    labels: tuple[str, ...]
    runner_name: str | None


@dataclass(frozen=True)
class Run:
    id: int
    name: str
    run_number: int
    head_sha: str
    head_branch: str | None
    event: str
    status: str
    conclusion: str | None
    created_at: str

    def summary(self) -> str:
        state = self.conclusion or self.status
        return f"{self.name} #{self.run_number} on {self.head_sha[:7]} ({self.created_at}): {state}"


class GitHub:
    def __init__(
        self,
        record: Callable[[Evidence], None],
        base: str | None = None,
        token: str | None = None,
    ) -> None:
        self.record = record
        self.base = (base or os.environ.get(API_ENV) or DEFAULT_API).rstrip("/")
        self._token = token if token is not None else os.environ.get(TOKEN_ENV, "")
        self.http = Http(record)

    def runs(self, repo: str, per_page: int = 10) -> tuple[int, list[Run]]:
        """The newest `per_page` workflow runs of `owner/name`, and how many there are in all."""
        doc = self._get(f"/repos/{_repo_path(repo)}/actions/runs?per_page={per_page}", repo)
        items = _list(doc, "workflow_runs", repo)
        runs = [_run(item, repo) for item in items]
        total = doc.get("total_count")
        return (total if isinstance(total, int) else len(runs)), runs

    def jobs(self, repo: str, run_id: int) -> list[Job]:
        """The jobs of one run: where each ran (labels, runner) and how it ended."""
        doc = self._get(f"/repos/{_repo_path(repo)}/actions/runs/{int(run_id)}/jobs", repo)
        return [_job(item) for item in _list(doc, "jobs", repo)]

    def _get(self, path: str, repo: str) -> dict[str, Any]:
        url = self.base + path
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        resp = self.http.get(url, headers=headers)
        if resp.truncated:
            raise GraderFault(f"GET {url} sent more than {len(resp.body) >> 20} MiB: not GitHub")
        doc = _json(resp)
        message = str(doc.get("message", ""))[:160] if isinstance(doc, dict) else ""
        if resp.status == 401:
            raise GraderFault(
                f"GitHub refused the grader's token ({TOKEN_ENV}): HTTP 401 {message or ''}"
            )
        if resp.status == 403 and "rate limit" in message.lower():
            raise GraderFault(f"GitHub's rate limit for the grader is used up: {message}")
        if resp.status in (403, 404):
            raise Failure(
                f"GitHub has no readable repository {repo}: HTTP {resp.status} {message}",
                "Check github_repo in student.yaml (owner/name); a private repository must "
                "give the course staff read access.",
            )
        if resp.status != 200 or not isinstance(doc, dict):
            raise GraderFault(f"GET {url} answered HTTP {resp.status}, not GitHub's JSON")
        return doc


def _repo_path(repo: str) -> str:
    owner, _, name = repo.partition("/")
    if not owner or not name or "/" in name:
        raise Failure(f"github_repo {repo!r} is not owner/name", "Write it as owner/name.")
    return f"{quote(owner, safe='')}/{quote(name, safe='')}"


def _json(resp: HttpResponse) -> Any:
    try:
        return resp.json()
    except ValueError:
        ctype = resp.headers.get("Content-Type", "?")
        raise GraderFault(
            f"GET {resp.url} did not answer JSON (HTTP {resp.status}, {ctype}: "
            f"{resp.text[:60]!r}); is {API_ENV} GitHub's API?"
        ) from None


def _list(doc: dict[str, Any], key: str, repo: str) -> list[dict[str, Any]]:
    items = doc.get(key)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise GraderFault(f"GitHub's answer for {repo} has no list {key!r}")
    return items


def _run(item: dict[str, Any], repo: str) -> Run:
    try:
        return Run(
            id=int(item["id"]),
            name=str(item.get("name") or item.get("display_title") or "?"),
            run_number=int(item.get("run_number") or 0),
            head_sha=str(item["head_sha"]),
            head_branch=item.get("head_branch"),
            event=str(item.get("event", "")),
            status=str(item["status"]),
            conclusion=item.get("conclusion"),
            created_at=str(item.get("created_at", "")),
        )
    except (KeyError, TypeError, ValueError):
        raise GraderFault(f"a workflow run of {repo} lacks id, head_sha or status") from None


def _job(item: dict[str, Any]) -> Job:
    labels = item.get("labels")
    return Job(
        name=str(item.get("name", "?")),
        status=str(item.get("status", "")),
        conclusion=item.get("conclusion"),
        labels=tuple(str(x) for x in labels) if isinstance(labels, list) else (),
        runner_name=item.get("runner_name"),
    )
