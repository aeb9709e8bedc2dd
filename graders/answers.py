"""Student answers read through validating helpers: a value of an unexpected shape is the
student's system answering wrongly (Failure, saying what was expected), never a grader error.
They also tell a type checker what a check holds from then on."""

from __future__ import annotations

import json
from typing import Any

from graders.errors import Failure


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text[:100] + ("..." if len(text) > 100 else "")


def parse_json(text: str, what: str) -> Any:
    """`text` as JSON; anything else (garbage, nesting past what the parser takes) is a
    Failure naming `what` was expected."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        shown = text[:80] + ("..." if len(text) > 80 else "")
        raise Failure(f"expected {what} (JSON), got {shown!r}") from None


def as_dict(value: Any, what: str) -> dict[str, Any]:
    """`value` when it is a JSON object; else a Failure naming `what` was expected."""
    if not isinstance(value, dict):
        raise Failure(f"expected {what} (a JSON object), got {_shown(value)}")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    """`value` when it is a list; else a Failure naming `what` was expected."""
    if not isinstance(value, list):
        raise Failure(f"expected {what} (a list), got {_shown(value)}")
    return value


def as_dicts(value: Any, what: str) -> list[dict[str, Any]]:
    """`value` when it is a list of JSON objects; else a Failure naming `what`."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Failure(f"expected {what} (a list of JSON objects), got {_shown(value)}")
    return value


def dig(value: Any, *keys: str, what: str) -> Any:
    """value[k1][k2]... through JSON objects; a missing key or a non-object on the way is a
    Failure naming `what` and the path."""
    for n, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            path = ".".join(keys[: n + 1])
            raise Failure(f"expected {what} to have {path}, got {_shown(value)}")
        value = value[key]
    return value


def section(value: Any, key: str) -> dict[str, Any]:
    """value[key] when both are JSON objects, else an empty one: for parts of an answer that
    may be absent (a status not yet reported), read with .get()."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}
