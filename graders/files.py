"""Reading YAML/JSON input files against our JSON Schemas, with one-line errors."""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from graders.errors import BadInput

SCHEMAS = Path(__file__).parent / "schemas"


@cache
def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def validate(data: Any, schema_name: str, what: str) -> None:
    """Raise BadInput naming the first problem, e.g. `items[2].points: -1 is less than 0`."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        schema(schema_name), format_checker=jsonschema.FormatChecker()
    )
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        where = where.lstrip(".") or "(top level)"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise BadInput(f"{what}: {where}: {err.message}{more}")


def schema_problems(data: Any, schema_name: str) -> str:
    """The first problem of `data` against a schema, in one line; "" when it is valid."""
    try:
        validate(data, schema_name, "answer")
    except BadInput as exc:
        return str(exc).removeprefix("answer: ")
    return ""


def load_yaml(path: str | Path, schema_name: str, what: str) -> dict[str, Any]:
    """Read a YAML file and validate it; every failure is one BadInput line naming the file."""
    import yaml

    p = Path(path)
    label = f"{what} {p}"
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{label}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{label}: is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{label}: cannot read ({exc.__class__.__name__}: {exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"{label}: not valid YAML{at}: {problem}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{label}: expected a mapping of keys to values, got {type(data).__name__}")
    # YAML reads an unquoted 2026-03-01T12:00 as a datetime; our schemas speak ISO strings.
    data = {k: v.isoformat() if isinstance(v, date) else v for k, v in data.items()}
    validate(data, schema_name, label)
    return data


# A cell starting with one of these is a formula to a spreadsheet (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_atomic(path: str | Path, text: str) -> None:
    """Write a whole file or nothing: a crash never leaves half a result behind."""
    import os
    import tempfile

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
