"""Grade a roster (`batch`), rescore a store (`rescore`), join shard stores (`merge`).

Observing writes each student's observations to the store as soon as the student is done,
with bounded concurrency; every output is then made from the store by the batch folder
(graders/folder.py), the same way for all three commands.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from graders.course import Site
from graders.errors import EXIT_INTERRUPTED, EXIT_NEEDS_REGRADE, BadInput
from graders.evidence import MAX_MESSAGE, clean, now
from graders.files import check_writable_dir
from graders.folder import BatchFolder
from graders.labs import LabSpec
from graders.probes.chameleon import DOWN_AFTER
from graders.rubric import Rubric
from graders.signing import SigningKey, warn_if_unsigned
from graders.status import Status
from graders.store import Grading, Store
from graders.student import Student

MAX_REASON = 2 * MAX_MESSAGE  # bytes of a crashed grading's reason: stored, and in the CSVs


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
) -> int:
    """Observe every student, `jobs` at a time; each is stored the moment it is finished.
    Once Chameleon's API has failed DOWN_AFTER times in a row, students not yet started are
    left for a --resume: how many were left is returned."""
    from graders.grade import observe
    from graders.probes.chameleon import api_down

    left = [0]

    def one(student: Student) -> Grading | None:
        if api_down():
            left[0] += 1
            return None
        started, t0 = now(), time.monotonic()
        try:
            observations, outcome, reason = observe(lab, student, site), "graded", ""
        except Exception as exc:  # noqa: BLE001 - one student's crash never stops the batch
            observations, outcome = [], "crashed"
            reason = clean("".join(traceback.format_exception_only(exc)).strip(), MAX_REASON)
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

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="student")
    try:
        futures = [pool.submit(one, s) for s in students]
        for f in as_completed(futures):
            if (grading := f.result()) is not None:
                on_done(grading)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)  # not `with`: it would wait for all
        raise
    pool.shutdown()
    return left[0]


FDS_PER_STUDENT = 16  # an SSH connection, HTTP exchanges of concurrent checks, a load worker


def descriptor_budget(jobs: int) -> None:
    """Raise the open-file limit to its hard limit, and refuse a --jobs it cannot carry: out
    of descriptors, every connection would fail, and that is the grader's fault."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if jobs * FDS_PER_STUDENT + 64 > soft:
        raise BadInput(
            f"--jobs {jobs} needs about {jobs * FDS_PER_STUDENT + 64} open files, and this "
            f"process may open {soft}: lower --jobs to {max(1, (soft - 64) // FDS_PER_STUDENT)}"
        )


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
        if g.outcome != "graded" or any(o.status != Status.PASSED for o in g.observations):
            failures[0] += 1
        bar.update(task, advance=1, failures=failures[0])

    return step, bar.stop


def run_batch(
    lab: LabSpec,
    rubric: Rubric,
    roster: list[Student],
    out: Path,
    *,
    jobs: int,
    resume: bool,
    shard: str | None,
    key: SigningKey | None = None,
) -> int:
    """Grade every student of `roster` in shard `shard` (K/N) into the batch folder `out`,
    signing with `key`."""
    from graders.grade import preflight

    if jobs < 1:
        raise BadInput("--jobs must be at least 1")
    descriptor_budget(jobs)
    started = time.monotonic()
    part = parse_shard(shard)
    students = [s for s in roster if in_shard(s.netid, part)]
    folder = BatchFolder(out, key)
    check_writable_dir(out)
    site = preflight(lab, staff=True)
    store = folder.claim(lab.id, resume=resume)
    warn_if_unsigned(key)
    done = store.finished() if resume else set()
    todo = [s for s in students if s.netid not in done]
    print(
        f"labgrader: {lab.id}: {len(students)} students"
        + (f" in shard {shard}" if part else "")
        + (f", {len(students) - len(todo)} already stored" if done else ""),
        file=sys.stderr,
    )
    step, stop = progress_printer(len(todo))
    try:
        left = observe_all(
            lab, todo, site, store, rubric.sha256, jobs=jobs, shard=shard or "", on_done=step
        )
    except KeyboardInterrupt:
        stop()
        print(
            f"labgrader: interrupted; {store.count()} gradings are safe in {store.path}. "
            "Run the same command with --resume to finish.",
            file=sys.stderr,
        )
        # Students still in flight hold threads the interpreter would wait for at exit (each
        # bounded by its deadlines, but a minute is not "stopped"): what is stored is safe.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    stop()
    code = folder.finish(store, rubric, lab, started)
    if left:
        print(
            f"labgrader: stopped: Chameleon's API failed {DOWN_AFTER} times in a row, so {left} "
            "students were not graded (nothing is recorded for them). Run the same command "
            "with --resume once the API answers.",
            file=sys.stderr,
        )
        return EXIT_NEEDS_REGRADE
    return code


def rescore(
    lab: LabSpec,
    rubric: Rubric,
    store_path: Path,
    out: Path | None,
    key: SigningKey | None = None,
) -> int:
    """Every output again from a store, without the network: into the store's own batch
    folder, or into `out`, signed with `key`."""
    started = time.monotonic()
    store = Store.open_existing(store_path, lab.id, key)
    warn_if_unsigned(key)
    folder = BatchFolder(out or store_path.parent, key)
    if out:
        folder.claim(lab.id, resume=True).close()
    elif not folder.is_batch():
        raise BadInput(f"{folder.path} is not a batch folder; give --out")
    return folder.finish(store, rubric, lab, started)


def merge(
    lab: LabSpec,
    rubric: Rubric,
    stores: list[Path],
    out: Path,
    key: SigningKey | None = None,
) -> int:
    """Join shard stores (each a store file or its batch folder) into one batch folder; the
    order of `stores` does not matter (Store.latest)."""
    started = time.monotonic()
    paths = [BatchFolder(p).store_path if p.is_dir() else p for p in stores]
    sources = [Store.open_existing(p, lab.id, key) for p in paths]  # all checked first
    warn_if_unsigned(key)
    folder = BatchFolder(out, key)
    store = folder.claim(lab.id, resume=False)
    for other in sources:
        store.copy_from(other)
        other.close()
    return folder.finish(store, rubric, lab, started)
