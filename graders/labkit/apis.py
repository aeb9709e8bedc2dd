"""JSON over HTTP from the instance's services: any endpoint, and MLflow's REST API; and what a web
page says (its title, a form field), read by forward scans that stay linear."""

from __future__ import annotations

from typing import Any

from graders.checks import Lab
from graders.errors import Failure


def require_whole(lab: Lab, resp: Any) -> None:
    """Fail on an answer larger than the grader reads: no API answer here is that big."""
    lab.require(
        not resp.truncated,
        f"{resp.method} {resp.url} sent more than "
        f"{len(resp.body) // 2**20} MiB; the grader stopped reading",
        "An API answer of that size is a bug in the server.",
    )


def mlflow_api(
    lab: Lab, method: str, path: str, what: str, body: Any = None, help: str = ""
) -> dict[str, Any]:
    """MLflow's REST API on the lab's `mlflow` port: a JSON object, or a Failure saying what
    MLflow lacks (its error_code answer) or that this is not MLflow."""
    url = f"http://{lab.address}:{lab.port('mlflow')}/api/2.0/mlflow/{path}"
    resp = lab.http.request(method, url, json=body) if body else lab.http.request(method, url)
    require_whole(lab, resp)
    try:
        doc = resp.json()
    except ValueError:
        raise Failure(
            f"{method} {url} did not answer JSON (HTTP {resp.status}, "
            f"{resp.headers.get('Content-Type', '?')}); is this MLflow?"
        ) from None
    if resp.status == 404 or (isinstance(doc, dict) and doc.get("error_code")):
        message = doc.get("message", resp.status) if isinstance(doc, dict) else resp.status
        raise Failure(f"MLflow has no {what}: {str(message)[:160]}", help)
    lab.require(
        resp.status == 200 and isinstance(doc, dict), f"{method} {url} answered HTTP {resp.status}"
    )
    return doc


def get_json(lab: Lab, url: str, what: str, *, login: str = "", help: str = "", **send: Any) -> Any:
    """GET a JSON document; anything else (HTML, garbage, an error code) is a Failure.

    `send`: headers or auth for the request; `login` names those credentials, so that a
    401/403 says they were refused. `help`: what to do when the answer is not JSON."""
    resp = lab.http.get(url, **send)
    if login and resp.status in (401, 403):
        raise Failure(
            f"GET {url} refused {login} (HTTP {resp.status}: {resp.text[:80]!r})",
            "The grader logs in with the lab's own credentials: keep them while grading runs.",
        )
    lab.require(resp.status == 200, f"GET {url} answered HTTP {resp.status} ({what})")
    require_whole(lab, resp)
    try:
        return resp.json()
    except ValueError:
        ctype = resp.headers.get("Content-Type", "?")
        raise Failure(
            f"GET {url} did not answer JSON ({ctype}: {resp.text[:80]!r}); expected {what}", help
        ) from None


def page_title(lab: Lab, url: str) -> str:
    """GET a web page (200 required) and its <title>, found in linear time: a page is the
    student's, up to 1 MiB, and a backtracking search of it could stall the grader."""
    resp = lab.http.get(url)
    lab.require(resp.status == 200, f"GET {url} answered HTTP {resp.status}")
    return title_of(resp.text)


def title_of(html: str) -> str:
    """The text of the first <title> element, whitespace collapsed; "no <title>" without one."""
    lower = html.lower()
    start = lower.find("<title")
    opened = lower.find(">", start) if start >= 0 else -1
    end = lower.find("</title", opened) if opened >= 0 else -1
    return " ".join(html[opened + 1 : end].split()) if end >= 0 else "no <title>"


MAX_TAG = 4096  # characters of an <input> tag read around a form field's name


def form_value(html: str, name: str) -> str | None:
    """The value of the first <input name="`name`" ... value="..."> of a page (a login form's
    CSRF token), None without one. A forward scan, linear in the page (up to 1 MiB of the
    student's): a backtracking regex over it, or html.parser (quadratic on `<a <a <a ...`
    before Python 3.13.5), could stall the grader."""
    at = html.find(f'name="{name}"')
    if at < 0:
        return None
    start = html.rfind("<", max(0, at - MAX_TAG), at)
    end = html.find(">", at, at + MAX_TAG)
    if start < 0 or end < 0:
        return None
    tag = html[start:end]  # at most 2 * MAX_TAG characters
    opened = tag.find('value="')
    while opened > 0 and not tag[opened - 1].isspace():  # not data-value="..."
        opened = tag.find('value="', opened + 1)
    closed = tag.find('"', opened + 7) if opened > 0 else -1
    return (tag[opened + 7 : closed] or None) if closed >= 0 else None
