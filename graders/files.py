"""Reading YAML/JSON input files against our JSON Schemas, with one-line errors."""

from __future__ import annotations

import json
import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graders.errors import BadInput

if TYPE_CHECKING:  # yaml is imported when a file is read: `--help` stays fast
    from yaml import MarkedYAMLError, SafeLoader

SCHEMAS = Path(__file__).parent / "schemas"


@cache
def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


MAX_PROBLEMS = 12  # listed in one BadInput line; the rest are counted


def problems(data: Any, schema_name: str) -> list[str]:
    """Every problem of `data` against a schema, each as `where: what`, in document order."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        schema(schema_name), format_checker=jsonschema.FormatChecker()
    )
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_where(e.absolute_path)}: {_explain(e)}" for e in errors]


def _where(path: Any) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return where.lstrip(".") or "(top level)"


def _explain(err: Any) -> str:
    """jsonschema's message, with an example in place of a regular expression."""
    if err.validator == "pattern":
        examples = err.schema.get("examples") or []
        hint = f"; for example {examples[0]!r}" if examples else ""
        return f"{err.instance!r} is not of the expected form{hint}"
    if err.validator == "additionalProperties" and isinstance(err.schema.get("properties"), dict):
        known = ", ".join(err.schema["properties"])
        return f"{err.message} (known fields: {known})"
    return err.message


def validate(data: Any, schema_name: str, what: str) -> None:
    """Raise BadInput listing every problem in one line, e.g.
    `student file s.yaml: 2 problems: netid: 'a b' is not of the expected form; ...`."""
    found = problems(data, schema_name)
    if not found:
        return
    shown = "; ".join(found[:MAX_PROBLEMS])
    more = f"; and {len(found) - MAX_PROBLEMS} more" if len(found) > MAX_PROBLEMS else ""
    count = f"{len(found)} problems: " if len(found) > 1 else ""
    raise BadInput(f"{what}: {count}{shown}{more}")


def schema_problems(data: Any, schema_name: str) -> str:
    """The problems of `data` against a schema, in one line; "" when it is valid."""
    return "; ".join(problems(data, schema_name)[:3])


MAX_YAML_BYTES = 1 << 20  # a student, rubric, lab or course file is a few KiB
MAX_YAML_DEPTH = 32  # levels of nesting; ours use fewer than 6


def load_yaml(path: str | Path, schema_name: str, what: str) -> dict[str, Any]:
    """Read a YAML file and validate it; every failure is one BadInput line naming the file.

    A file larger than MAX_YAML_BYTES, nested deeper than MAX_YAML_DEPTH, or with anchors or
    aliases (`&a`, `*a`: an alias bomb expands a few lines into billions of nodes) is refused
    before anything is built from it."""
    import yaml

    p = Path(path)
    label = f"{what} {p}"
    text = _read_capped(p, label)
    loader, refused = _yaml_loader()
    try:
        data = yaml.load(text, Loader=loader)  # a SafeLoader: see _yaml_loader
    except refused as exc:
        mark = exc.problem_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise BadInput(f"{label}: {at}{exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"{label}: not valid YAML{at}: {problem}") from None
    except ValueError as exc:  # a date that does not exist, e.g. due: 2026-02-30
        raise BadInput(f"{label}: {_bad_date(text) or exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{label}: expected a mapping of keys to values, got {type(data).__name__}")
    # YAML reads an unquoted 2026-03-01T12:00 as a datetime; our schemas speak ISO strings.
    data = _iso_dates(data)
    validate(data, schema_name, label)
    return data


def read_input(p: Path, label: str, limit: int = -1) -> bytes:
    """A file the user named, read no further than `limit` bytes (it may be a pipe or a
    device); a missing or unreadable one is one BadInput line that starts with `label`."""
    try:
        with p.open("rb") as f:
            return f.read(limit)
    except FileNotFoundError:
        raise BadInput(f"{label}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{label}: is a directory, not a file") from None
    except OSError as exc:
        raise BadInput(f"{label}: cannot read ({exc.__class__.__name__}: {exc})") from None


def _read_capped(p: Path, label: str) -> str:
    """The file's text, read no further than MAX_YAML_BYTES (it may be a pipe or a device)."""
    raw = read_input(p, label, MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        raise BadInput(f"{label}: larger than {MAX_YAML_BYTES >> 20} MiB; refused")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{label}: cannot read (UnicodeDecodeError: {exc})") from None


@cache
def _yaml_loader() -> tuple[type[SafeLoader], type[MarkedYAMLError]]:
    """yaml.SafeLoader that refuses anchors, aliases and deep nesting while composing, before
    any node is built (built lazily: importing yaml is slow, and `--help` must not be)."""
    import yaml

    class Refused(yaml.MarkedYAMLError):
        pass

    class PlainLoader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise Refused(
                    problem="YAML anchors and aliases (&name, *name) are not accepted; "
                    "write each value out",
                    problem_mark=event.start_mark,
                )
            if self.depth >= MAX_YAML_DEPTH:
                raise Refused(
                    problem=f"nested more than {MAX_YAML_DEPTH} levels deep",
                    problem_mark=event.start_mark,
                )
            self.depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    return PlainLoader, Refused


_DATE = re.compile(r"(?<![\w-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\w-])")


def _bad_date(text: str) -> str:
    """Where the date YAML could not build is, and why: `line 3: 2026-02-30 is not a date
    (day is out of range for month)`."""
    for n, line in enumerate(text.splitlines(), 1):
        for m in _DATE.finditer(line.split("#", 1)[0]):
            try:
                date(*(int(g) for g in m.groups()))
            except ValueError as exc:
                return f"line {n}: {m.group(0)} is not a date ({exc})"
    return ""


def _iso_dates(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_dates(v) for v in value]
    return value


def check_writable(path: str | Path, what: str = "--out") -> None:
    """Refuse, before any work, an output file that cannot be written: its folder missing, a
    file, or read-only, or the path itself a folder. One BadInput line."""
    import tempfile

    p = Path(path)
    if p.is_dir():
        raise BadInput(f"{what} {p} is a directory; give a file name")
    parent = p.parent
    if not parent.exists():
        raise BadInput(f"{what} {p}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise BadInput(f"{what} {p}: {parent} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{p.name}."):
            pass
        if p.exists():
            with open(p, "a"):
                pass
    except OSError as exc:
        raise BadInput(f"{what} {p}: cannot be written ({exc.strerror or exc})") from None


def check_writable_dir(path: str | Path, what: str = "--out") -> None:
    """Refuse, before any work, an output folder that cannot be made or written in; nothing
    is created here."""
    import tempfile

    p = Path(path).absolute()
    if p.exists() and not p.is_dir():
        raise BadInput(f"{what} {p} is a file, not a folder")
    existing = next(a for a in (p, *p.parents) if a.exists())
    if not existing.is_dir():
        raise BadInput(f"{what} {p}: {existing} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".labgrader-probe."):
            pass
    except OSError as exc:
        raise BadInput(f"{what} {p}: cannot be written ({exc.strerror or exc})") from None


# A cell starting with one of these is a formula to a spreadsheet (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_atomic(path: str | Path, text: str) -> None:
    """Write a whole file or nothing, 0600: a crash, even of the machine, never leaves half a
    result behind. The data is synced before the rename makes it the file, and the folder
    after it, so that the rename itself is on disk when this returns."""
    import os
    import tempfile

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(p.parent)


def _sync_folder(folder: Path) -> None:
    import os

    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # a platform whose folders cannot be opened (Windows): nothing to sync
    try:
        os.fsync(fd)
    except OSError:
        pass  # a filesystem that cannot sync a folder; the file itself is synced
    finally:
        os.close(fd)
