"""The GitHub Actions probe against the GitHub API stand-in on loopback: runs and jobs parsed,
the token sent but never recorded, and every bad answer a clear, typed failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from graders.errors import Failure, GraderFault
from graders.evidence import Evidence
from graders.probes.github import GitHub
from labsim.github import GitHubServer, make_runs
from labsim.serve import Hub

TOKEN = "ghp_test0123456789abcdef"
REPO = "ab1234/gourmetgram-iac"


@pytest.fixture(scope="module")
def api() -> Iterator[GitHubServer]:
    runs = make_runs(REPO, datetime(2026, 3, 2, 12, tzinfo=UTC), ["failure"] + ["success"] * 34)
    hub = Hub()
    server = GitHubServer(
        "127.0.0.1", 0, {REPO: runs}, (TOKEN,), {"x/html": "html", "x/huge": "huge"}
    )
    hub.add(server.socket, server.accept)
    try:
        yield server
    finally:
        hub.stop()
        server.close()


def probe(api: GitHubServer, token: str = TOKEN) -> tuple[GitHub, list[Evidence]]:
    seen: list[Evidence] = []
    return GitHub(seen.append, base=api.base, token=token), seen


def test_runs_and_jobs_are_parsed(api: GitHubServer) -> None:
    gh, seen = probe(api)
    total, runs = gh.runs(REPO, per_page=5)
    assert total == 35 and len(runs) == 5
    newest = runs[0]
    assert (newest.run_number, newest.status, newest.conclusion) == (35, "completed", "failure")
    assert len(newest.head_sha) == 40 and newest.event == "push"
    assert [r.conclusion for r in runs[1:]] == ["success"] * 4
    jobs = gh.jobs(REPO, newest.id)
    assert [(j.name, j.labels, j.conclusion) for j in jobs] == [
        ("test", ("ubuntu-latest",), "failure")
    ]
    assert jobs[0].runner_name.startswith("GitHub Actions")
    # The token went in the Authorization header, and nowhere into the evidence.
    assert api.authorizations[-1] == f"Bearer {TOKEN}"
    recorded = json.dumps([e.__dict__ for e in seen], default=str)
    assert seen and TOKEN not in recorded


def test_pagination_fields(api: GitHubServer) -> None:
    gh, seen = probe(api)
    total, runs = gh.runs(REPO, per_page=100)
    assert total == len(runs) == 35


def test_bad_token_is_the_graders_fault(api: GitHubServer) -> None:
    gh, _ = probe(api, token="ghp_wrong")
    with pytest.raises(GraderFault, match="HTTP 401 Bad credentials"):
        gh.runs(REPO)


def test_no_token_reads_a_public_repository(api: GitHubServer) -> None:
    gh, _ = probe(api, token="")
    assert gh.runs(REPO, per_page=1)[0] == 35
    assert api.authorizations[-1] is None


def test_unknown_repository_is_the_students_to_fix(api: GitHubServer) -> None:
    gh, _ = probe(api)
    with pytest.raises(Failure, match="no readable repository nobody/nothing: HTTP 404 Not Found"):
        gh.runs("nobody/nothing")
    with pytest.raises(Failure, match="not owner/name"):
        gh.runs("just-a-name")


def test_not_json_and_huge_bodies_fail_clearly(api: GitHubServer) -> None:
    gh, _ = probe(api)
    with pytest.raises(GraderFault, match=r"did not answer JSON \(HTTP 200, text/html"):
        gh.runs("x/html")
    with pytest.raises(GraderFault, match="sent more than 1 MiB"):
        gh.runs("x/huge")
