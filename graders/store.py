"""The evidence store: every grading's observations, append-only, in one SQLite file.

One row per student grading, written in its own transaction once the student is finished, so
a batch killed at any moment (SIGINT or SIGKILL) loses at most the students in flight and
never leaves half a row. Triggers refuse UPDATE and DELETE: a regrade adds a row. The grading
that counts is chosen by time, never by row id, so merging stores in any order gives the same
outputs: a student's newest `graded` row by `finished_at`, or, with none, the newest crash.
Kept small and SQL-plain so that a shared PostgreSQL store can implement the same few methods.

Tamper evidence: `sha256` is a plain hash of the observations, which anyone who can write the
file can recompute after an edit. With a staff signing key (graders/signing.py), each row
also carries `hmac`: `<key id>:<HMAC-SHA256>` of the whole row (who, outcome, times, rubric,
observations), which cannot be recomputed without the key. Rows written without a key have
only the plain hash, and `verify()` counts them so that callers can say so.

The file and its -wal/-shm are created 0600 (evidence is the students' business only).
LABGRADER_STORE_JOURNAL picks SQLite's journal mode: `wal` (the default), or `delete` for a
store on a network filesystem, where SQLite does not support WAL (ci/README.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders import __version__
from graders.errors import BadInput
from graders.evidence import Observation, now
from graders.signing import SigningKey, canonical

SCHEMA_VERSION = "1"
_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gradings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    lab TEXT NOT NULL,
    netid TEXT NOT NULL,
    student TEXT NOT NULL,          -- the student record as JSON (roster row)
    outcome TEXT NOT NULL,          -- graded | crashed
    reason TEXT NOT NULL DEFAULT '',
    observations TEXT NOT NULL,     -- JSON list of Observation, with evidence
    sha256 TEXT NOT NULL,           -- of the observations JSON
    rubric_sha256 TEXT NOT NULL,    -- the rubric in force when observed
    grader_version TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    seconds REAL NOT NULL,
    shard TEXT NOT NULL DEFAULT '',
    hmac TEXT NOT NULL DEFAULT ''   -- '<key id>:<hex>' of the row with a signing key, else ''
);
CREATE INDEX IF NOT EXISTS gradings_netid ON gradings (netid, id);
CREATE TRIGGER IF NOT EXISTS gradings_no_update BEFORE UPDATE ON gradings
    BEGIN SELECT RAISE(ABORT, 'the evidence store is append-only'); END;
CREATE TRIGGER IF NOT EXISTS gradings_no_delete BEFORE DELETE ON gradings
    BEGIN SELECT RAISE(ABORT, 'the evidence store is append-only'); END;
"""
# What a row's HMAC covers, in this order; also what copy_from copies.
_ROW = (
    "lab, netid, student, outcome, reason, observations, sha256, rubric_sha256, "
    "grader_version, started_at, finished_at, seconds, shard"
)
# The order in which a student's gradings count, best first: graded before crashed, then the
# newest; exact ties go by content (sha256), so that no order of insertion decides.
_BEST_FIRST = "(outcome = 'graded') DESC, finished_at DESC, started_at DESC, sha256 DESC, id DESC"
JOURNAL_ENV = "LABGRADER_STORE_JOURNAL"
JOURNAL_MODES = ("wal", "delete")
PRIVATE = 0o600


@dataclass
class Grading:
    lab: str
    netid: str
    student: dict[str, Any]
    outcome: str
    reason: str
    observations: list[Observation]
    rubric_sha256: str
    started_at: str
    finished_at: str
    seconds: float
    sha256: str = ""
    grader_version: str = __version__
    shard: str = ""
    row: int = 0  # its id in the store, once stored
    hmac: str = ""  # '<key id>:<hex>' when stored with a signing key


@dataclass
class StoreCheck:
    """What `Store.verify()` found."""

    edited: list[str] = field(default_factory=list)  # netids: hash or HMAC no longer match
    other_key: list[str] = field(default_factory=list)  # netids: HMAC made with another key
    plain: int = 0  # rows with no HMAC (stored without a key): checked by plain hash only
    unkeyed: int = 0  # rows with an HMAC, not checked: no key was given


class Store:
    def __init__(
        self,
        path: str | Path,
        lab: str,
        *,
        create: bool = True,
        key: SigningKey | None = None,
    ) -> None:
        self.path = Path(path)
        self.lab = lab
        self.key = key  # rows added are HMACed with it; verify() checks HMACs with it
        self._lock = threading.Lock()  # one connection, shared by the batch's threads
        if not create and not self.path.is_file():
            raise BadInput(f"store {self.path}: no such file")
        journal = journal_mode()
        _private(self.path)
        try:
            self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self.db.execute(f"PRAGMA journal_mode={journal}")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_DDL)
            self._upgrade()
            self._claim(lab)
        except sqlite3.DatabaseError as exc:
            raise BadInput(f"store {self.path}: not a usable labgrader store ({exc})") from None

    def _upgrade(self) -> None:
        """A store written before rows had an HMAC gains the column (empty: plain hash)."""
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(gradings)")}
        if "hmac" not in columns:
            with self.db:
                self.db.execute("ALTER TABLE gradings ADD COLUMN hmac TEXT NOT NULL DEFAULT ''")

    def _claim(self, lab: str) -> None:
        rows = dict(self.db.execute("SELECT key, value FROM meta"))
        if not rows:
            with self.db:
                self.db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("lab", lab), ("schema", SCHEMA_VERSION), ("created_at", now())],
                )
            return
        if rows.get("lab") != lab:
            raise BadInput(f"store {self.path} holds lab {rows.get('lab')!r}, not {lab!r}")
        if rows.get("schema") != SCHEMA_VERSION:
            raise BadInput(
                f"store {self.path} has schema {rows.get('schema')}, "
                f"this labgrader reads {SCHEMA_VERSION}"
            )

    @staticmethod
    def lab_of(path: str | Path) -> str:
        """The lab a store file holds, read without claiming it."""
        p = Path(path)
        if not p.is_file():
            raise BadInput(f"store {p}: no such file")
        try:
            with sqlite3.connect(f"file:{p}?mode=ro", uri=True) as db:
                row = db.execute("SELECT value FROM meta WHERE key='lab'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise BadInput(f"store {p}: not a usable labgrader store ({exc})") from None
        if not row:
            raise BadInput(f"store {p}: not a labgrader store (no lab recorded)")
        return row[0]

    @classmethod
    def open_existing(cls, path: str | Path, lab: str, key: SigningKey | None = None) -> Store:
        """An existing store of `lab`, its rows checked against their hashes, and against
        their HMACs with `key`; another lab's, an edited one, one signed with another key, or
        no store, is refused in one line. Rows only a plain hash protects are counted on
        standard error."""
        held = cls.lab_of(path)
        if held != lab:
            raise BadInput(f"store {path} holds lab {held}, not {lab}")
        store = cls(path, lab, create=False, key=key)
        found = store.verify()
        refusal = ""
        if found.edited:
            refusal = (
                f"{len(found.edited)} stored grading(s) no longer match their hash"
                f"{' or HMAC' if key else ''} ({_some(found.edited)}): the store was edited; "
                "regrade from the archive"
            )
        elif found.other_key and key:
            refusal = (
                f"{len(found.other_key)} grading(s) ({_some(found.other_key)}) were stored "
                f"with another signing key than {key.source} (key id {key.key_id})"
            )
        if refusal:
            store.close()
            raise BadInput(f"store {path}: {refusal}")
        if found.plain and key is not None:
            print(
                f"labgrader: store {path}: {found.plain} of {store.count()} gradings were "
                "stored without a signing key: only their plain hash is checked, which "
                "whoever can write the file can recompute",
                file=sys.stderr,
            )
        if found.unkeyed:
            print(
                f"labgrader: store {path}: the HMACs of {found.unkeyed} gradings were not "
                "checked (no signing key given), only their plain hash",
                file=sys.stderr,
            )
        return store

    def add(self, g: Grading) -> Grading:
        payload = json.dumps([o.to_dict() for o in g.observations], sort_keys=True)
        g.sha256 = hashlib.sha256(payload.encode()).hexdigest()
        row = _normal(
            (
                g.lab,
                g.netid,
                json.dumps(g.student, sort_keys=True),
                g.outcome,
                g.reason,
                payload,
                g.sha256,
                g.rubric_sha256,
                g.grader_version,
                g.started_at,
                g.finished_at,
                g.seconds,
                g.shard,
            )
        )
        g.hmac = _row_mac(self.key, row) if self.key else ""
        # one transaction, one writer at a time: the row is there whole, or not at all
        with self._lock, self.db:
            self.db.execute(
                f"INSERT INTO gradings ({_ROW}, hmac) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (*row, g.hmac),
            )
        return g

    def finished(self) -> set[str]:
        """Netids graded to the end (resume skips them; a crashed grading is tried again)."""
        rows = self.db.execute("SELECT DISTINCT netid FROM gradings WHERE outcome = 'graded'")
        return {r[0] for r in rows}

    def latest(self) -> Iterator[Grading]:
        """The grading that counts of every student, in netid order: the newest `graded` one
        by `finished_at` (a later crash does not hide it), else the newest crash. Row ids
        play no part (but in exact duplicates), so merged stores give the same whatever
        their order."""
        rows = self.db.execute(
            "SELECT lab, netid, student, outcome, reason, observations, rubric_sha256, "
            "started_at, finished_at, seconds, sha256, grader_version, shard, id, hmac FROM "
            f"(SELECT *, ROW_NUMBER() OVER (PARTITION BY netid ORDER BY {_BEST_FIRST}) AS rank "
            "FROM gradings) WHERE rank = 1 ORDER BY netid"
        )
        for r in rows:
            yield Grading(
                r[0],
                r[1],
                json.loads(r[2]),
                r[3],
                r[4],
                [Observation.from_dict(o) for o in json.loads(r[5])],
                r[6],
                r[7],
                r[8],
                r[9],
                r[10],
                r[11],
                r[12],
                r[13],
                r[14],
            )

    def earlier(self, g: Grading) -> Iterator[tuple[str, list[Observation]]]:
        """The graded rows of `g`'s student that count after `g` (older by finished_at),
        newest first: (finished_at, observations)."""
        rows = self.db.execute(
            "SELECT finished_at, observations FROM gradings WHERE netid = ? "
            "AND outcome = 'graded' AND (finished_at, started_at, sha256, id) < (?, ?, ?, ?) "
            "ORDER BY finished_at DESC, started_at DESC, sha256 DESC, id DESC",
            (g.netid, g.finished_at, g.started_at, g.sha256, g.row),
        )
        for finished_at, observations in rows:
            yield finished_at, [Observation.from_dict(o) for o in json.loads(observations)]

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM gradings").fetchone()[0]

    def verify(self) -> StoreCheck:
        """Every row against its plain hash, and against its HMAC when this store has a key
        (a row without one is counted in `plain`; without a key, one with one in `unkeyed`)."""
        found = StoreCheck()
        for *row, mac in self.db.execute(f"SELECT {_ROW}, hmac FROM gradings"):
            netid, payload, digest = row[1], row[5], row[6]
            if hashlib.sha256(payload.encode()).hexdigest() != digest:
                found.edited.append(netid)
            elif not mac:
                found.plain += 1
            elif self.key is None:
                found.unkeyed += 1
            elif not mac.startswith(f"{self.key.key_id}:"):
                found.other_key.append(netid)
            elif mac != _row_mac(self.key, _normal(tuple(row))):
                found.edited.append(netid)
        return found

    def copy_from(self, other: Store) -> int:
        """Append every grading of `other` (merging shard stores), HMACs as they were;
        returns rows copied."""
        rows = other.db.execute(f"SELECT {_ROW}, hmac FROM gradings ORDER BY id").fetchall()
        with self._lock, self.db:
            self.db.executemany(
                f"INSERT INTO gradings ({_ROW}, hmac) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )
        return len(rows)

    def close(self) -> None:
        self.db.close()


def journal_mode() -> str:
    """SQLite's journal mode for stores: LABGRADER_STORE_JOURNAL, `wal` by default."""
    mode = os.environ.get(JOURNAL_ENV, "").strip().lower() or "wal"
    if mode not in JOURNAL_MODES:
        raise BadInput(
            f"{JOURNAL_ENV}={mode!r}: expected one of {', '.join(JOURNAL_MODES)} (delete for a "
            "store on a network filesystem)"
        )
    return mode


def _private(path: Path) -> None:
    """The store and its -wal/-shm/-journal readable by their owner only: a new store is
    created 0600 (SQLite gives its side files the database's mode), an older one narrowed."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
        os.close(fd)
        return
    except FileExistsError:
        pass
    except OSError:
        return  # a folder that cannot be written: sqlite3 says why, in its own words
    for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        try:
            if p.stat().st_mode & 0o077:
                p.chmod(PRIVATE)
        except OSError:
            pass  # absent, or not ours to change


def _normal(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row's values as SQLite gives them back (seconds is REAL), so that the HMAC made
    when writing is the one recomputed when reading."""
    return tuple(float(v) if i == _SECONDS else v for i, v in enumerate(row))


_SECONDS = [c.strip() for c in _ROW.split(",")].index("seconds")


def _row_mac(key: SigningKey, row: tuple[Any, ...]) -> str:
    return f"{key.key_id}:{key.mac(canonical(list(row)))}"


def _some(netids: list[str]) -> str:
    return ", ".join(sorted(set(netids))[:10])
