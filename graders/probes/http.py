"""HTTP probe (requests): connect and read timeouts, a total deadline, a body-size cap, and
no redirects to another host. Every exchange is recorded as evidence.

Transport faults (refused, reset, timed out) and 5xx answers raise TransportError so that the
runner retries them; anything else is returned for the check to judge.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from graders.errors import Failure, TransportError
from graders.evidence import Evidence
from graders.limits import host_slot

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
MAX_BODY = 1 << 20  # bytes read from any endpoint; a hostile server cannot flood the grader
MAX_REDIRECTS = 3
USER_AGENT = "labgrader"


@dataclass
class HttpResponse:
    method: str
    url: str
    status: int
    headers: Mapping[str, str]  # case-insensitive, as requests gives them
    body: bytes
    elapsed_ms: float
    truncated: bool = False
    history: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        import json

        return json.loads(self.body)


class Http:
    def __init__(
        self,
        record: Callable[[Evidence], None],
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
        max_body: int = MAX_BODY,
    ) -> None:
        self.record = record
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_body = max_body

    def get(self, url: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> HttpResponse:
        return self.request("POST", url, **kwargs)

    def send(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        """Send one request and return its answer as is: a redirect is not followed (a login
        form's answer carries its cookie on the redirect itself)."""
        return self._send(method, url, **kwargs)

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        """Send one request, following redirects only within the same host."""
        history: list[str] = []
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._send(method, url, **kwargs)
            if resp.status not in (301, 302, 303, 307, 308):
                resp.history = history
                return resp
            target = urljoin(url, resp.headers.get("Location", ""))
            if urlsplit(target).netloc != urlsplit(url).netloc:
                raise Failure(
                    f"{method} {url} redirected to another host ({target}); "
                    "the grader does not follow redirects off the instance",
                    "Serve the page directly from the instance's own address.",
                )
            history.append(url)
            url = target
        raise Failure(f"{method} {url}: more than {MAX_REDIRECTS} redirects")

    def _send(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
        with host_slot(urlsplit(url).hostname or ""):
            return self._exchange(method, url, headers, **kwargs)

    def _exchange(
        self, method: str, url: str, headers: dict[str, str], **kwargs: Any
    ) -> HttpResponse:
        deadline = time.monotonic() + self.connect_timeout + self.read_timeout
        t0 = time.perf_counter()
        try:
            with requests.request(
                method,
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(self.connect_timeout, self.read_timeout),
                **kwargs,
            ) as r:
                got: list[int] = [0]
                try:
                    body, truncated = self._read(r, deadline, got)
                except (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError):
                    # The server answered (status and headers), then stopped: that is what it
                    # does, not a network fault, so it is judged, not retried.
                    msg = (
                        f"{method} {url}: HTTP {r.status_code} arrived, then the body "
                        f"stalled after {got[0]} bytes"
                    )
                    self.record(Evidence.make("http", msg))
                    raise Failure(
                        msg, "The server stops sending mid-answer; check its logs."
                    ) from None
                resp = HttpResponse(
                    method,
                    url,
                    r.status_code,
                    requests.structures.CaseInsensitiveDict(r.headers),
                    body,
                    round((time.perf_counter() - t0) * 1000, 2),
                    truncated,
                )
        except requests.exceptions.ConnectTimeout:
            raise self._fault(
                method, url, f"no connection within {self.connect_timeout:g} s"
            ) from None
        except (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError):
            raise self._fault(
                method, url, f"connected, but no answer within {self.read_timeout:g} s"
            ) from None
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError) as exc:
            raise self._fault(method, url, f"the answer broke off mid-body ({exc})") from None
        except requests.exceptions.ConnectionError as exc:
            raise self._fault(method, url, _reason(exc)) from None
        except requests.exceptions.InvalidURL as exc:
            raise Failure(f"invalid URL {url}: {exc}") from None
        self.record(
            Evidence.make(
                "http",
                f"{method} {url} -> {resp.status} ({resp.elapsed_ms:.0f} ms, {len(body)} bytes"
                f"{', truncated' if truncated else ''})",
                _excerpt(resp),
            )
        )
        if resp.status >= 500:
            raise TransportError(
                f"{method} {url} answered HTTP {resp.status}: {_first_line(resp.text)}",
                unreachable=False,
                help="The server is up but its application failed; check its logs.",
            )
        return resp

    def _read(self, r: requests.Response, deadline: float, got: list[int]) -> tuple[bytes, bool]:
        # read1 returns whatever has arrived, so a server that drips one byte at a time
        # meets the deadline check below instead of holding us past every timeout.
        chunks, size = [], 0
        while chunk := r.raw.read1(65536, decode_content=True):
            chunks.append(chunk)
            size += len(chunk)
            got[0] = size
            if size > self.max_body:
                return b"".join(chunks)[: self.max_body], True
            if time.monotonic() > deadline:
                raise requests.exceptions.ReadTimeout("body not complete before the deadline")
        return b"".join(chunks), False

    def _fault(self, method: str, url: str, reason: str) -> TransportError:
        msg = f"{method} {url}: {reason}"
        self.record(Evidence.make("http", msg))
        host = urlsplit(url).netloc
        return TransportError(
            msg,
            help=f"Is the service running and is {host} open (security group, floating IP)?",
        )


def _reason(exc: Exception) -> str:
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused (nothing listening on that port)"),
        ("Connection reset", "connection reset by the server"),
        ("RemoteDisconnected", "the server closed the connection without an answer"),
        ("timed out", "timed out"),
        ("No route to host", "no route to host"),
    ):
        if needle in text:
            return reason
    return f"connection failed ({text[:160]})"


def _first_line(text: str) -> str:
    """A line that says something: an HTML error page's title, else the first non-blank line."""
    title = re.search(r"<title[^>]*>(.*?)</title>", text[:4096], re.S | re.I)
    if title and title.group(1).strip():
        return " ".join(title.group(1).split())[:160]
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:160]
    return "(empty body)"


def _excerpt(resp: HttpResponse) -> str:
    ctype = resp.headers.get("Content-Type", "")
    head = f"HTTP {resp.status}\nContent-Type: {ctype}\n\n"
    return head + resp.body[:4096].decode("utf-8", "replace")
