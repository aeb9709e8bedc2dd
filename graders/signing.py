"""Signed results: an HMAC-SHA256 made with a staff key that never leaves the grading machine.

Results a batch writes (`batch`, `rescore`, `merge`: graders/folder.py) carry a signature;
`labgrader verify` checks them; a student's `check` never signs, and says so
(`"signature": null`), so a result a student made or edited cannot pass for a staff one.

The key is a file holding the secret (any bytes; surrounding whitespace is ignored, so
`openssl rand -hex 32 > key` works), named by `--signing-key FILE` or, without it, by the
environment variable LABGRADER_SIGNING_KEY. Only its key id travels: the first 16 hex digits
of a SHA-256 of the secret, to tell "signed with another key" from "edited".

What is signed is the canonical form of the document (`canonical()`: JSON with sorted keys,
no whitespace, ASCII escapes) with the signature itself left out: for result.json the
top-level `signature`, for Gradescope's results.json `extra_data.signature`. Both hold
`{"alg": "HMAC-SHA256", "key_id": ..., "hmac": <hex>}`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders.errors import EXIT_BAD_INPUT, EXIT_OK, BadInput
from graders.files import read_input

ALG = "HMAC-SHA256"
ENV = "LABGRADER_SIGNING_KEY"
MIN_KEY_BYTES = 16

OK = "ok"
UNSIGNED = "unsigned"
MISMATCH = "signature does not match: edited or not ours"
OTHER_KEY = "signed with another key"
EXIT_NOT_VERIFIED = 1
RESULT_FILES = ("result.json", "results.json")


@dataclass(frozen=True)
class SigningKey:
    secret: bytes = field(repr=False)
    source: str  # where it was read from, for messages

    @property
    def key_id(self) -> str:
        return key_id(self.secret)

    def mac(self, data: bytes) -> str:
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()

    def signature(self, doc: dict[str, Any]) -> dict[str, str]:
        """The signature of `doc`, which must not hold one already."""
        return {"alg": ALG, "key_id": self.key_id, "hmac": self.mac(canonical(doc))}


def key_id(secret: bytes) -> str:
    return hashlib.sha256(b"labgrader signing key id\0" + secret).hexdigest()[:16]


def canonical(doc: Any) -> bytes:
    """The one serialization a signature covers: sorted keys, no whitespace, ASCII only."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def load_key(path: str | Path, what: str = "--signing-key") -> SigningKey:
    """The key in `path`; a missing, unreadable or too short one is one BadInput line."""
    p = Path(path)
    secret = read_input(p, f"{what} {p}").strip()
    if len(secret) < MIN_KEY_BYTES:
        raise BadInput(
            f"{what} {p}: a signing key needs at least {MIN_KEY_BYTES} bytes of secret "
            f"(make one with: openssl rand -hex 32 > {p})"
        )
    return SigningKey(secret, str(p))


def staff_key(option: str | None) -> SigningKey | None:
    """The staff signing key: `--signing-key FILE`, else the file LABGRADER_SIGNING_KEY
    names, else none."""
    if option:
        return load_key(option)
    named = os.environ.get(ENV, "").strip()
    return load_key(named, ENV) if named else None


def warn_if_unsigned(key: SigningKey | None) -> None:
    if key is None:
        print(
            f"labgrader: warning: no signing key (--signing-key FILE or {ENV}): results are "
            "written unsigned, and `labgrader verify` will not accept them",
            file=sys.stderr,
        )


# --- sealing documents -------------------------------------------------------------------


def seal_result(doc: dict[str, Any], key: SigningKey | None) -> dict[str, Any]:
    """result.json: `signature` at the top level, null when unsigned."""
    doc.pop("signature", None)
    doc["signature"] = key.signature(doc) if key else None
    return doc


def seal_gradescope(doc: dict[str, Any], key: SigningKey | None) -> dict[str, Any]:
    """Gradescope's results.json: `extra_data.signature`, null when unsigned."""
    extra = doc.setdefault("extra_data", {})
    extra.pop("signature", None)
    extra["signature"] = key.signature(doc) if key else None
    return doc


def _split(doc: dict[str, Any]) -> tuple[Any, dict[str, Any]] | None:
    """(the signature, the document without it), or None for a document that is neither a
    result.json nor a results.json."""
    if isinstance(doc.get("checks"), list) and "lab" in doc:
        rest = {k: v for k, v in doc.items() if k != "signature"}
        return doc.get("signature"), rest
    extra = doc.get("extra_data")
    if isinstance(doc.get("tests"), list) and isinstance(extra, dict):
        rest = {**doc, "extra_data": {k: v for k, v in extra.items() if k != "signature"}}
        return extra.get("signature"), rest
    return None


def check_document(doc: dict[str, Any], key: SigningKey) -> str:
    """One of OK, UNSIGNED, MISMATCH, OTHER_KEY for a parsed result document; BadInput for
    a document of another kind."""
    split = _split(doc)
    if split is None:
        raise BadInput("not a labgrader result.json or Gradescope results.json")
    sig, rest = split
    if sig is None:
        return UNSIGNED
    if not isinstance(sig, dict) or sig.get("alg") != ALG or not isinstance(sig.get("hmac"), str):
        return MISMATCH
    if sig.get("key_id") != key.key_id:
        return OTHER_KEY
    return OK if hmac.compare_digest(sig["hmac"], key.mac(canonical(rest))) else MISMATCH


def check_file(path: Path, key: SigningKey) -> str:
    """check_document() of a file; BadInput for one that cannot be read as a result."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput("no such file") from None
    except IsADirectoryError:
        raise BadInput(f"a folder with no {' or '.join(RESULT_FILES)} in it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read ({exc.__class__.__name__})") from None
    except ValueError:
        raise BadInput("not JSON") from None
    if not isinstance(doc, dict):
        raise BadInput("not a labgrader result.json or Gradescope results.json")
    return check_document(doc, key)


def _expand(paths: list[str]) -> list[Path]:
    """Files as given; a folder (a batch folder) stands for every result.json and
    results.json below it."""
    files: list[Path] = []
    for name in paths:
        p = Path(name)
        found = sorted(f for f in p.rglob("*.json") if f.name in RESULT_FILES) if p.is_dir() else []
        files.extend(found or [p])
    return files


def verify(paths: list[str], option: str | None) -> int:
    """`labgrader verify FILE...`: a line per file; 0 when every one is ok, 1 when some is
    not, 2 without a key or when some file cannot be read as a result."""
    key = staff_key(option)
    if key is None:
        raise BadInput(f"verify needs the signing key: --signing-key FILE or {ENV}")
    worst = EXIT_OK
    for path in _expand(paths):
        try:
            verdict = check_file(path, key)
        except BadInput as exc:
            print(f"{path}: {exc}")
            worst = EXIT_BAD_INPUT
            continue
        print(f"{path}: {verdict}")
        if verdict != OK and worst == EXIT_OK:
            worst = EXIT_NOT_VERIFIED
    return worst
