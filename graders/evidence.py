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
MAX_MESSAGE = 1024  # bytes of a check's message or help, and of a measurement's text

# Whole blocks: PEM private keys (OpenSSH's too) and PuTTY key files, to their end or the end
# of the text. Each starts only at its marker and ends at the first terminator, so a search
# is linear even when a terminator never comes.
_KEY_BLOCKS = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
    r"|PuTTY-User-Key-File-\d+:.*?(?:Private-(?:MAC|Hash):[^\n]*|\Z)",
    re.S,
)
# https://user:password@host: the password goes.
_USERINFO = re.compile(r"(://[^/\s:@]{0,256}:)[^/\s@]{1,256}@")
# Values that are secret whatever their form: a header's whole value (a cookie jar, `Basic
# dXNl...`), or a key's value, quoted (JSON with spaces and escaped quotes), an object
# (`"token": {"id": "..."}`), or bare, with an auth scheme word first.
_QUOTED = r"\"(?:[^\"\\\n]|\\.){0,4096}\"?|'(?:[^'\\\n]|\\.){0,4096}'?"
_HEADERS = re.compile(
    r"(?i)((?:proxy-authorization|authorization|set-cookie|cookie)[\"']?[ \t]{0,8}:[ \t]{0,8})"
    rf"({_QUOTED}|[^\r\n]+)"
)
_PAIRS = re.compile(
    r"(?i)((?:x-auth-token|x-subject-token|password|passwd|passphrase|secret[_-]?key|secret|token|"
    r"api[_-]?key|access[_-]?key|private[_-]?key)[\"']?\s{0,8}[:=]\s{0,8})"
    rf"({_QUOTED}|\{{[^{{}}]{{0,1024}}\}}?|(?:(?:basic|bearer|token|digest)\s+)?[^\s\"',;&}}]+)"
)
# `password p@ss`, `--password hunter2`: a word with a digit or a symbol after it (not
# "password is wrong").
_PASSWORD_WORD = re.compile(r"(?i)\b(pass(?:word|wd|phrase)\s+)(?=\S{0,256}[^A-Za-z\s])\S+")
# Environment variables whose values are redacted wherever they appear: every OS_* (but
# the public settings below) and every *TOKEN*, *SECRET*, *PASSWORD*, *PASSWD*.
_SECRET_NAMES = ("TOKEN", "SECRET", "PASSWORD", "PASSWD")
_PUBLIC_OS = (
    "_URL", "_TYPE", "_VERSION", "_INTERFACE", "_REGION_NAME", "_DOMAIN_NAME", "_DOMAIN_ID",
    "_CLOUD", "_FILE", "_CACERT", "_PROTOCOL", "_IDENTITY_PROVIDER", "_ENDPOINT",
)  # fmt: skip
# C0 and C1 control characters but \n and \t, DEL, and the Unicode controls that reorder
# or hide text (bidi embeddings and isolates, zero-width and line/paragraph separators).
_CONTROLS = re.compile(
    "[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]"
)
ESCAPE_SHOWN_AS = "\u241b"  # ␛: a terminal escape made visible, and harmless
_KEPT_SECRETS: set[str] = set()  # credential values read from files (clouds.yaml)


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
    """Remove anything that looks like a secret, and the grader's own credential values.
    Linear in the text; redacting redacted text changes nothing."""
    for value in _secret_values():
        text = text.replace(value, "[REDACTED]")
    text = _KEY_BLOCKS.sub("[REDACTED PRIVATE KEY]", text)
    text = _USERINFO.sub(r"\1[REDACTED]@", text)
    text = _HEADERS.sub(_redacted_value, text)
    text = _PAIRS.sub(_redacted_value, text)
    return _PASSWORD_WORD.sub(r"\1[REDACTED]", text)


def _redacted_value(m: re.Match[str]) -> str:
    value = m.group(2)
    if value[:1] in ("'", '"'):  # keep the quotes: the JSON or repr stays readable
        return f"{m.group(1)}{value[0]}[REDACTED]{value[0]}"
    return m.group(1) + ("{[REDACTED]}" if value[:1] == "{" else "[REDACTED]")


def keep_secret(value: str) -> None:
    """Redact `value` wherever it appears from now on: a credential the grader read from a
    file rather than the environment (a clouds.yaml secret)."""
    if len(value) >= 4:
        _KEPT_SECRETS.add(value)


def _secret_values() -> list[str]:
    """The grader's credential values, longest first: those kept, and the values of the
    environment variables that may hold one. Recomputed only when either changes: every
    message and piece of evidence is redacted, and reading os.environ decodes each entry
    (it was most of a batch's CPU time)."""
    global _secrets_seen
    raw = getattr(os.environ, "_data", None)  # CPython's bytes mapping: hashed in C, cheaply
    key = (hash(frozenset(raw.items())) if raw is not None else None, len(_KEPT_SECRETS))
    if raw is not None and _secrets_seen is not None and _secrets_seen[0] == key:
        return _secrets_seen[1]
    values = _read_secret_values()
    _secrets_seen = (key, values)
    return values


_secrets_seen: tuple[tuple[int | None, int], list[str]] | None = None


def _read_secret_values() -> list[str]:
    found = set(_KEPT_SECRETS)
    for name, value in os.environ.items():
        upper = name.upper()
        secret = any(word in upper for word in _SECRET_NAMES)
        if secret or (upper.startswith("OS_") and not upper.endswith(_PUBLIC_OS)):
            if len(value) >= 4:
                found.add(value)
    return sorted(found, key=len, reverse=True)


def clean(text: str, limit: int = MAX_MESSAGE) -> str:
    """Text from a student's system made safe to store and to show: control characters
    removed (\\n and \\t kept, \\r\\n made \\n, ESC shown as ␛, so no terminal escape
    survives), secrets redacted, and capped to `limit` UTF-8 bytes."""
    return _cleaned(text if isinstance(text, str) else str(text), limit)[0]


def _cleaned(text: str, limit: int) -> tuple[str, bool]:
    text = text.replace("\r\n", "\n").replace("\x1b", ESCAPE_SHOWN_AS)
    return cap(redact(_CONTROLS.sub("", text)), limit)


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
        text, truncated = _cleaned(excerpt, limit)
        summary = clean(summary.splitlines()[0] if summary else "", 600)[:300]
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
    """The outcome of one check for one student: status, message, measurements, evidence.

    Its message, help and text measurements are `clean`ed whenever they are set (by the
    check's Failure, the runner, or a record read back from a store): student text reaches
    no report, terminal or store with a control character, a secret or unbounded size."""

    check: str
    status: Status
    message: str = ""
    help: str = ""
    measurements: dict[str, float | int | str | bool | None] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    started_at: str = ""
    duration_s: float = 0.0
    attempts: int = 0

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("message", "help") and isinstance(value, str):
            value = clean(value)
        elif name == "measurements" and isinstance(value, dict):
            value = {k: clean(v) if isinstance(v, str) else v for k, v in value.items()}
        super().__setattr__(name, value)

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
