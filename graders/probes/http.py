"""HTTP probe (requests): connect and read timeouts, a total deadline from connecting to the
last body byte (headers included, so a dripping server cannot stretch it), a body-size cap,
and no redirects to another host. Every exchange is recorded as evidence.

Nothing of the grader's environment reaches a student's server: no ~/.netrc credentials, no
proxy settings (trust_env is off). Transport faults (refused, reset, timed out) and 5xx
answers raise TransportError so that the runner retries them; anything else is returned for
the check to judge.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

from graders.errors import Failure, GraderFault, TransportError
from graders.evidence import Evidence
from graders.limits import host_slot
from graders.probes.deadline import Watchdog

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
        """The body as JSON; ValueError when it is not JSON, or nested past what the parser
        takes (a hostile document of 100,000 nested lists)."""
        import json

        try:
            return json.loads(self.body)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


class _TooSlow(Exception):
    """The exchange's watchdog shut its connection down before the answer was whole."""


class _Opened(threading.local):
    socks: list[socket.socket] | None = None


_OPENED = _Opened()  # the sockets this thread's current exchange opened


class _TrackedConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        if _OPENED.socks is not None and self.sock is not None:
            _OPENED.socks.append(self.sock)


class _TrackedPool(HTTPConnectionPool):
    ConnectionCls = _TrackedConnection

    def _put_conn(self, conn: Any) -> None:
        """Never kept for another exchange: each opens its own, which its watchdog owns."""
        if conn is not None:
            conn.close()


class _Adapter(HTTPAdapter):
    """Connections whose sockets the exchange's watchdog can shut down."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            **self.poolmanager.pool_classes_by_scheme,
            "http": _TrackedPool,
        }


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no ~/.netrc credentials, no proxies from the TA's shell
    session.mount("http://", _Adapter())
    return session


_SESSION = _session()
# urllib3 logs a traceback for headers cut off mid-line (a dripping server): the check's
# evidence says it better.
logging.getLogger("urllib3.connection").setLevel(logging.ERROR)


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
        headers = {"User-Agent": USER_AGENT, "Connection": "close", **kwargs.pop("headers", {})}
        with host_slot(urlsplit(url).hostname or ""):
            return self._exchange(method, url, headers, **kwargs)

    def _exchange(
        self, method: str, url: str, headers: dict[str, str], **kwargs: Any
    ) -> HttpResponse:
        total = self.connect_timeout + self.read_timeout
        opened: list[socket.socket] = []
        _OPENED.socks = opened
        dog = Watchdog(total + 0.5, lambda: _shut(opened))  # past _read's own deadline check
        try:
            resp = self._attempt(method, url, headers, time.monotonic() + total, **kwargs)
            if dog.expired:  # http.client took the cut-off headers for an answer
                raise _TooSlow()
        except Failure:
            raise
        except Exception as exc:
            if dog.expired:  # headers or body a byte at a time: what the server does
                msg = f"{method} {url}: no whole answer within {total:g} s (it came too slowly)"
                self.record(Evidence.make("http", msg))
                raise Failure(msg, "The server sends its answer a little at a time.") from None
            raise self._fault(method, url, exc) from None
        finally:
            dog.cancel()
            _OPENED.socks = None
        self.record(
            Evidence.make(
                "http",
                f"{method} {url} -> {resp.status} ({resp.elapsed_ms:.0f} ms, {len(resp.body)} "
                f"bytes{', truncated' if resp.truncated else ''})",
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

    def _attempt(
        self, method: str, url: str, headers: dict[str, str], deadline: float, **kwargs: Any
    ) -> HttpResponse:
        t0 = time.perf_counter()
        with _SESSION.request(
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
                    f"{method} {url}: HTTP {r.status_code} arrived, then the body stalled "
                    f"after {got[0]} bytes"
                )
                self.record(Evidence.make("http", msg))
                raise Failure(msg, "The server stops sending mid-answer; check its logs.") from None
            return HttpResponse(
                method,
                url,
                r.status_code,
                requests.structures.CaseInsensitiveDict(r.headers),
                body,
                round((time.perf_counter() - t0) * 1000, 2),
                truncated,
            )

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

    def _fault(self, method: str, url: str, exc: Exception) -> Exception:
        """A transport fault, as the runner retries it; a fault of the grader's own machine
        (out of descriptors or memory) is the grader's, never the student's."""
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            reason = f"no connection within {self.connect_timeout:g} s"
        elif isinstance(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.TimeoutError)):
            reason = f"connected, but no answer within {self.read_timeout:g} s"
        elif isinstance(exc, (urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError)):
            reason = f"the answer broke off mid-body ({exc})"
        elif isinstance(exc, requests.exceptions.InvalidURL):
            return Failure(f"invalid URL {url}: {exc}")
        elif isinstance(exc, requests.exceptions.ConnectionError):
            if _local_errno(exc):
                return GraderFault(f"the grader's machine cannot open a connection: {exc}")
            reason = _reason(exc)
        else:
            return exc
        msg = f"{method} {url}: {reason}"
        self.record(Evidence.make("http", msg))
        host = urlsplit(url).netloc
        return TransportError(
            msg,
            help=f"Is the service running and is {host} open (security group, floating IP)?",
        )


def _shut(opened: list[socket.socket]) -> None:
    for sock in opened:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _local_errno(exc: BaseException) -> bool:
    """Whether an error chain holds an errno of the grader's own machine (EMFILE, ...)."""
    from graders.probes.ssh import LOCAL_ERRNOS

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in LOCAL_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__ or _reason_of(seen)
    return False


def _reason_of(exc: BaseException) -> BaseException | None:
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, BaseException) else None


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
