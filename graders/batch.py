"""Grade a roster: bounded concurrency, an append-only store, resume, shards, outputs.

Observing writes each student's observations to the store as soon as the student is done;
every output (per-student JSON and Gradescope files, gradebooks) is then made from the store,
the same way `rescore` makes it, so a resumed, merged or rescored batch writes the same files.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from graders.course import Site
from graders.errors import BadInput
from graders.evidence import now
from graders.files import check_writable_dir, write_atomic
from graders.labs import LabSpec
from graders.results import BatchRow
from graders.rubric import Rubric, score
from graders.store import Grading, Store
from graders.student import Student

MANIFEST = "batch.json"
STORE = "store.sqlite"
NEEDS_REGRADE = "needs_regrade.csv"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise BadInput(f"--shard {text!r}: expected K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise BadInput(f"--shard {text}: K must be between 1 and N")
    return k, n


def in_shard(netid: str, shard: tuple[int, int] | None) -> bool:
    """A stable slice: the same netid lands in the same shard whatever the roster order."""
    if shard is None:
        return True
    k, n = shard
    return int(hashlib.sha256(netid.encode()).hexdigest()[:12], 16) % n == k - 1


def open_out(out: Path, lab: str, *, resume: bool) -> Store:
    """Claim an output folder for `lab`; refuse one holding another lab or an unfinished run."""
    manifest = out / MANIFEST
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not manifest.is_file():
        raise BadInput(
            f"--out {out} exists and is not a labgrader batch folder; choose an empty or new folder"
        )
    if manifest.is_file():
        try:
            held = json.loads(manifest.read_text())["lab"]
        except (ValueError, KeyError, OSError):
            raise BadInput(f"{manifest} is damaged; choose another --out") from None
        if held != lab:
            raise BadInput(
                f"--out {out} holds results of lab {held}, not {lab}; choose another folder"
            )
    check_writable_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    store = Store(out / STORE, lab)
    if store.count() and not resume:
        n = store.count()
        store.close()
        raise BadInput(
            f"--out {out} already holds {n} gradings of {lab}: add --resume to "
            "finish that batch, or choose another folder"
        )
    if not manifest.is_file():
        write_atomic(manifest, json.dumps({"lab": lab, "created_at": now()}, indent=2) + "\n")
    return store


def observe_all(
    lab: LabSpec,
    students: list[Student],
    site: Site | None,
    store: Store,
    rubric_sha256: str,
    *,
    jobs: int,
    shard: str = "",
    on_done: Callable[[Grading], None] = lambda g: None,
) -> None:
    """Observe every student, `jobs` at a time; each is stored the moment it is finished."""
    from graders.grade import observe

    def one(student: Student) -> Grading:
        started, t0 = now(), time.monotonic()
        try:
            observations, outcome, reason = observe(lab, student, site), "graded", ""
        except Exception as exc:  # noqa: BLE001 - one student's crash never stops the batch
            observations, outcome = [], "crashed"
            reason = "".join(traceback.format_exception_only(exc)).strip()
        g = Grading(
            lab.id,
            student.netid,
            asdict(student),
            outcome,
            reason,
            observations,
            rubric_sha256,
            started,
            now(),
            round(time.monotonic() - t0, 3),
            shard=shard,
        )
        return store.add(g)

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="student") as pool:
        futures = [pool.submit(one, s) for s in students]
        try:
            for f in as_completed(futures):
                on_done(f.result())
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def write_outputs(
    store: Store,
    rubric: Rubric,
    out: Path,
    durable: tuple[str, ...] = (),
    *,
    gradings: list[Grading] | None = None,
) -> list[BatchRow]:
    """Score each student's newest grading (`gradings`, when the caller has read
    `store.latest()` already) and write their files, the gradebooks and needs_regrade.csv.

    A `durable` check the newest grading could not read is judged from the latest earlier
    reading of it (graders/durable.py)."""
    from graders.course import canvas_assignment_id
    from graders.durable import carry_forward
    from graders.report import render
    from graders.report.csv import gradebook, needs_regrade
    from graders.report.lms import brightspace, canvas

    canvas_id = canvas_assignment_id(rubric.lab)  # a bad course.yaml stops before any write
    rows: list[BatchRow] = []
    for g in store.latest() if gradings is None else gradings:
        if g.outcome != "graded":
            rows.append(BatchRow(g.student, None, g.reason))
            continue
        observations = carry_forward(g.observations, store.earlier(g.netid, g.row), durable)
        result = score(observations, rubric, student=g.netid, graded_at=g.finished_at)
        folder = out / "students" / g.netid
        write_atomic(folder / "result.json", render(result, "json"))
        write_atomic(
            folder / "results.json", render(result, "gradescope", execution_time=g.seconds)
        )
        rows.append(BatchRow(g.student, result))
    write_atomic(out / "gradebook.csv", gradebook(rows, rubric))
    write_atomic(out / NEEDS_REGRADE, needs_regrade(rows, rubric))
    write_atomic(out / "canvas.csv", canvas(rows, rubric, canvas_id))
    write_atomic(out / "brightspace.csv", brightspace(rows, rubric))
    return rows


def progress_printer(total: int) -> tuple[Callable[[Grading], None], Callable[[], None]]:
    """A rich progress bar on a terminal (done/total, failures, ETA); silent otherwise."""
    if not sys.stderr.isatty():
        return (lambda g: None), (lambda: None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failures]} not all passed"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    task = bar.add_task("grading", total=total, failures=0)
    bar.start()
    failures = [0]

    def step(g: Grading) -> None:
        if g.outcome != "graded" or any(o.status != "passed" for o in g.observations):
            failures[0] += 1
        bar.update(task, advance=1, failures=failures[0])

    return step, bar.stop
