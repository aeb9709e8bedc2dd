"""What a check saw: Observation and Evidence records, capped, redacted, hashed.

Evidence is kept so that a score can be explained and replayed later; it must never become a
leak (secrets) or a liability (a 400 MB log), so every piece is redacted and size-capped here,
once, whatever probe produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from graders.status import Status

MAX_EXCERPT = 4096  # bytes of text kept per piece of evidence

_SECRET_PATTERNS = [
    # PEM private keys, whole block.
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
    # Header or key=value forms of tokens, passwords and credential secrets.
    re.compile(
        r"(?i)((?:x-auth-token|x-subject-token|authorization|password|passwd|secret|token|"
        r"api[_-]?key|access[_-]?key)[\"']?\s*[:=]\s*[\"']?)(bearer\s+)?[^\s\"',;&}]+"
    ),
]
_SECRET_ENV = ("OS_APPLICATION_CREDENTIAL_SECRET", "OS_PASSWORD", "OS_TOKEN")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time, as Python 3.10 reads it too (`Z`, `+0500`); without a zone, UTC.
    ValueError when it is not one."""
    t = text.strip()
    t = t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t
    t = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", t) if re.search(r"[T ].*[+-]\d{4}$", t) else t
    when = datetime.fromisoformat(t)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def redact(text: str) -> str:
    """Remove anything that looks like a secret, and the grader's own credential values."""
    for name in _SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "[REDACTED]")
    text = _SECRET_PATTERNS[0].sub("[REDACTED PRIVATE KEY]", text)
    return _SECRET_PATTERNS[1].sub(lambda m: m.group(1) + "[REDACTED]", text)


def cap(text: str, limit: int = MAX_EXCERPT) -> tuple[str, bool]:
    """Cut text to `limit` UTF-8 bytes; say whether anything was cut."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text, False
    return data[:limit].decode("utf-8", "ignore") + "\n[... truncated]", True


@dataclass
class Evidence:
    """One piece of what was seen: an HTTP exchange, a command, an API answer, a note."""

    kind: str  # http | command | api | note
    summary: str  # one line a person reads: "GET http://127.1.0.2/test -> 200 (12 ms)"
    excerpt: str = ""  # capped, redacted body / stdout / JSON
    at: str = field(default_factory=now)
    attempt: int = 1
    truncated: bool = False
    sha256: str = ""

    @classmethod
    def make(
        cls,
        kind: str,
        summary: str,
        excerpt: Any = "",
        *,
        limit: int = MAX_EXCERPT,
        attempt: int = 1,
    ) -> Evidence:
        if not isinstance(excerpt, str):
            excerpt = json.dumps(excerpt, indent=1, sort_keys=True, default=str)
        text, truncated = cap(redact(excerpt), limit)
        summary = redact(summary.splitlines()[0] if summary else "")[:300]
        ev = cls(kind, summary, text, attempt=attempt, truncated=truncated)
        ev.sha256 = ev.digest()
        return ev

    def digest(self) -> str:
        payload = json.dumps([self.kind, self.summary, self.excerpt, self.at], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Observation:
    """The outcome of one check for one student: status, message, measurements, evidence."""

    check: str
    status: Status
    message: str = ""
    help: str = ""
    measurements: dict[str, float | int | str | bool | None] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    started_at: str = ""
    duration_s: float = 0.0
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = [e.to_dict() for e in self.evidence]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Observation:
        d = dict(d)
        d["status"] = Status(d["status"])
        d["evidence"] = [Evidence(**e) for e in d.get("evidence", [])]
        return cls(**d)
