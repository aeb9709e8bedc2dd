"""Grafana's dashboards and alert rules, through its HTTP API or, when the API refuses the
lab's login, from its SQLite database read over SSH.

Why the database: a lab that documents admin/admin may also let the student change that
password at the first login (eval-online-chi: "you can choose to 'Skip'"), and the student
file names no Grafana password. The lab's compose file gives Grafana no volume, so the
database lives in the container's own layer, at `$GF_PATHS_DATA/grafana.db`
(`/var/lib/grafana/grafana.db` in the grafana/grafana image, which declares no VOLUME).
Only root on the host could reach that layer from outside; `docker exec grafana cat` reads
it as the container's user, and cc is in the docker group, as the lab's own `docker compose`
commands need. The image is Alpine with no sqlite3, so the file itself comes back (gzip, then
base64 on the host, both in Ubuntu's base system) and is read here, read-only.

Where Grafana keeps what (both are read, whichever holds the data):
* dashboards: the legacy `dashboard` table (`uid`, `title`, `data` JSON; `is_folder`,
  `deleted` since 11), or unified storage's `resource` table (group `dashboard.grafana.app`,
  resource `dashboards`, `value` a Kubernetes-style object whose `metadata.name` is the uid and
  whose `spec` is the dashboard: classic `panels`, or the v2 schema's `elements`), where 12.4
  and 13 read them from. When `resource` holds dashboards, they are the ones Grafana serves.
* alert rules: `alert_rule` (`title`, `data`: the rule's queries, as the provisioning API
  shows them under `data`).
"""

from __future__ import annotations

import base64
import binascii
import json
import shlex
import sqlite3
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders.checks import Lab
from graders.errors import Failure, GraderFault

SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_TRANSFER = 48 << 20  # bytes of base64 read back (36 MiB gzipped)
MAX_DATABASE = 256 << 20  # bytes of database unpacked
MAX_ROWS = 10_000  # dashboards or rules read from one table
MAX_MODEL = 1 << 20  # bytes of one dashboard's JSON: a dashboard is the student's, up to 1 MiB
READ_S = 90.0


@dataclass
class Dashboard:
    title: str
    uid: str
    queries: list[tuple[str, str]] = field(default_factory=list)  # (panel title, PromQL)


@dataclass
class Rule:
    title: str
    exprs: list[str] = field(default_factory=list)


@dataclass
class Database:
    """What Grafana's database holds of the lab: dashboards (by uid) and alert rules."""

    dashboards: dict[str, Dashboard]
    rules: list[Rule]
    store: str  # where the dashboards were: "unified storage (resource)" or "dashboard table"
    size: int  # bytes of the database file


def read_database(lab: Lab, container: str, path: str) -> Database:
    """Grafana's database in `container` on the instance (the check must have vantage
    'host'). A copy taken while Grafana writes may be torn: one more try, then a GraderFault
    (the student's Grafana is not at fault for the grader's timing)."""
    command = (
        f"set -o pipefail; docker exec {shlex.quote(container)} cat {shlex.quote(path)}"
        " | gzip -c | base64 -w0"
    )
    for attempt in (1, 2):
        result = lab.run(command, timeout=READ_S, max_bytes=MAX_TRANSFER)
        lab.require(
            result.ok,
            f"could not read Grafana's database ({path} in container {container}): "
            f"{result.stderr.strip()[:200] or f'exit {result.exited}'}",
            f"Is the {container} container running (docker ps)? The grader reads its database "
            "when Grafana refuses the lab's login.",
        )
        lab.require(
            not result.truncated,
            f"Grafana's database is over {MAX_TRANSFER >> 20} MiB packed; the grader stopped "
            "reading it",
        )
        data = unpack(result.stdout)
        try:
            db = parse(data)
        except sqlite3.DatabaseError as exc:
            if attempt == 2:
                raise GraderFault(
                    f"Grafana's database (copied twice while Grafana ran) did not read: {exc}"
                ) from None
            continue
        lab.note(
            f"read Grafana's database over SSH ({len(data)} bytes): {len(db.dashboards)} "
            f"dashboards in the {db.store}, {len(db.rules)} alert rules",
            {
                "dashboards": sorted(d.title for d in db.dashboards.values()),
                "alert_rules": [r.title for r in db.rules],
            },  # fmt: skip
        )
        return db
    raise AssertionError("unreachable")


def unpack(text: str) -> bytes:
    """The database from `base64 -w0` of its gzip, capped at MAX_DATABASE bytes."""
    try:
        packed = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Failure("Grafana's database did not come back as base64 (what ran?)") from None
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflate.decompress(packed, MAX_DATABASE)
    except zlib.error as exc:
        raise Failure(f"Grafana's database did not come back gzipped: {exc}") from None
    if inflate.unconsumed_tail:
        raise Failure(f"Grafana's database is over {MAX_DATABASE >> 20} MiB")
    return data


def parse(data: bytes) -> Database:
    """Read a Grafana database file's dashboards and alert rules (sqlite3.DatabaseError on a
    file that is torn; Failure on one that is not SQLite at all)."""
    if not data.startswith(SQLITE_MAGIC):
        raise Failure(f"{len(data)} bytes that are not a SQLite database: {data[:16]!r}")
    with tempfile.TemporaryDirectory(prefix="labgrader-grafana-") as tmp:
        path = Path(tmp) / "grafana.db"
        path.write_bytes(data)
        con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            con.execute("PRAGMA trusted_schema = OFF")  # the file is the student's
            tables = {
                name
                for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            unified = dict(_unified_dashboards(con)) if "resource" in tables else {}
            if unified:
                dashboards, store = unified, "unified storage (resource table)"
            else:
                legacy = dict(_legacy_dashboards(con)) if "dashboard" in tables else {}
                dashboards, store = legacy, "dashboard table"
            rules = list(_rules(con)) if "alert_rule" in tables else []
        finally:
            con.close()
    return Database(dashboards, rules, store, len(data))


def _legacy_dashboards(con: sqlite3.Connection) -> Iterator[tuple[str, Dashboard]]:
    columns = {row[1] for row in con.execute("PRAGMA table_info(dashboard)")}
    where = "is_folder = 0" + (" AND deleted IS NULL" if "deleted" in columns else "")
    query = f"SELECT uid, title, data FROM dashboard WHERE {where} LIMIT {MAX_ROWS}"
    for uid, title, data in con.execute(query):
        model = _json(data)
        if isinstance(uid, str) and isinstance(title, str) and isinstance(model, dict):
            yield uid, Dashboard(title, uid, list(queries(model)))


def _unified_dashboards(con: sqlite3.Connection) -> Iterator[tuple[str, Dashboard]]:
    query = (
        "SELECT value FROM resource WHERE \"group\" = 'dashboard.grafana.app' "
        f"AND resource = 'dashboards' LIMIT {MAX_ROWS}"
    )
    for (value,) in con.execute(query):
        obj = _json(value)
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        spec = obj.get("spec") if isinstance(obj, dict) else None
        if not isinstance(meta, dict) or not isinstance(spec, dict):
            continue
        uid, title = meta.get("name"), spec.get("title")
        if isinstance(uid, str) and isinstance(title, str):
            yield uid, Dashboard(title, uid, list(queries(spec)))


def _rules(con: sqlite3.Connection) -> Iterator[Rule]:
    for title, data in con.execute(f"SELECT title, data FROM alert_rule LIMIT {MAX_ROWS}"):
        if isinstance(title, str):
            yield Rule(title, rule_exprs(_json(data)))


def rule_exprs(data: Any) -> list[str]:
    """The PromQL of a rule's queries (`data[].model.expr`), as the API and the database
    both hold them."""
    return [
        q["model"]["expr"]
        for q in (data if isinstance(data, list) else [])
        if isinstance(q, dict)
        and isinstance(q.get("model"), dict)
        and isinstance(q["model"].get("expr"), str)
    ]


def queries(model: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) of every query of a dashboard: the classic model's `panels`
    (rows' nested panels included) or the v2 schema's `elements`."""
    yield from _panel_queries(model.get("panels"))
    elements = model.get("elements")
    if isinstance(elements, dict):
        for element in elements.values():
            spec = element.get("spec") if isinstance(element, dict) else None
            if isinstance(spec, dict):
                title = str(spec.get("title", "?"))
                yield from ((title, expr) for expr in _exprs(spec.get("data")))


def _panel_queries(panels: Any) -> Iterator[tuple[str, str]]:
    for panel in panels if isinstance(panels, list) else []:
        if not isinstance(panel, dict):
            continue
        yield from _panel_queries(panel.get("panels"))  # a collapsed row keeps its panels inside
        for target in panel.get("targets") or []:
            if isinstance(target, dict) and isinstance(target.get("expr"), str):
                yield str(panel.get("title", "?")), target["expr"]


def _exprs(node: Any) -> Iterator[str]:
    """Every `expr` string under a v2 panel's `data` (its queries: PanelQuery > DataQuery >
    spec.expr), found without recursion: the structure is the student's."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            expr = item.get("expr")
            if isinstance(expr, str):
                yield expr
            stack.extend(v for k, v in item.items() if k != "expr")
        elif isinstance(item, list):
            stack.extend(item)


def _json(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or len(value) > MAX_MODEL:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None
