"""A batch folder: the manifest naming its lab, the append-only store, and every output made
from the store (per-student files, gradebooks, LMS imports, needs_regrade.csv).

`batch`, `rescore` and `merge` all end here, so that the three write the same files from the
same store, and a resumed, merged or rescored batch looks like one that ran straight through.
With the staff signing key, every per-student file is signed and every row added to the
store carries an HMAC (graders/signing.py); without one, both are unsigned.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from graders.durable import Phase, phases_of
from graders.errors import EXIT_NEEDS_REGRADE, EXIT_OK, BadInput
from graders.evidence import now
from graders.files import check_writable_dir, write_atomic
from graders.labs import LabSpec
from graders.results import BatchRow, Result
from graders.rubric import Rubric, score
from graders.signing import SigningKey
from graders.status import Status
from graders.store import Grading, Store

MANIFEST = "batch.json"
STORE = "store.sqlite"
NEEDS_REGRADE = "needs_regrade.csv"


class BatchFolder:
    def __init__(self, path: str | Path, key: SigningKey | None = None) -> None:
        self.path = Path(path)
        self.key = key

    @property
    def store_path(self) -> Path:
        return self.path / STORE

    @property
    def manifest(self) -> Path:
        return self.path / MANIFEST

    def is_batch(self) -> bool:
        return self.manifest.is_file()

    def claim(self, lab: str, *, resume: bool) -> Store:
        """The folder's store for `lab`; refuse a folder of another lab, one that is not a
        batch folder, or an earlier run of the same lab unless resuming."""
        out = self.path
        if out.exists() and not out.is_dir():
            raise BadInput(f"--out {out} is a file, not a folder")
        if out.is_dir() and any(out.iterdir()) and not self.is_batch():
            raise BadInput(
                f"--out {out} exists and is not a labgrader batch folder; choose an empty or "
                "new folder"
            )
        if self.is_batch():
            try:
                held = json.loads(self.manifest.read_text())["lab"]
            except (ValueError, KeyError, OSError):
                raise BadInput(f"{self.manifest} is damaged; choose another --out") from None
            if held != lab:
                raise BadInput(
                    f"--out {out} holds results of lab {held}, not {lab}; choose another folder"
                )
        check_writable_dir(out)
        out.mkdir(parents=True, exist_ok=True)
        store = Store(self.store_path, lab, key=self.key)
        if store.count() and not resume:
            n = store.count()
            store.close()
            raise BadInput(
                f"--out {out} already holds {n} gradings of {lab}: add --resume to "
                "finish that batch, or choose another folder"
            )
        if not self.is_batch():
            stamp = {"lab": lab, "created_at": now()}
            write_atomic(self.manifest, json.dumps(stamp, indent=2) + "\n")
        return store

    def write_outputs(
        self,
        store: Store,
        rubric: Rubric,
        durable: tuple[str, ...] = (),
        *,
        gradings: list[Grading] | None = None,
        phases: Sequence[Phase] = (),
    ) -> list[BatchRow]:
        """Score each student's newest grading (`gradings`, when the caller has read
        `store.latest()` already) and write every output.

        A `durable` check the newest grading could not read is judged from the latest
        earlier reading of it, and a phase whose server is gone from its latest grading
        while the server stood (graders/durable.py)."""
        from graders.course import canvas_assignment_id
        from graders.durable import carry_forward
        from graders.report import FORMATS, render
        from graders.report.csv import gradebook, needs_regrade
        from graders.report.lms import brightspace, canvas

        canvas_id = canvas_assignment_id(rubric.lab)  # a bad course.yaml stops before any write
        rows: list[BatchRow] = []
        for g in store.latest() if gradings is None else gradings:
            if g.outcome != "graded":
                rows.append(BatchRow(g.student, None, g.reason))
                continue
            observations = carry_forward(
                g.observations, store.earlier(g), durable, phases
            )
            result = score(observations, rubric, student=g.netid, graded_at=g.finished_at)
            for f in FORMATS.values():
                if f.batch_file:
                    text = render(result, f.name, execution_time=g.seconds, key=self.key)
                    write_atomic(self.path / "students" / g.netid / f.batch_file, text)
            rows.append(BatchRow(g.student, result))
        out = self.path
        write_atomic(out / "gradebook.csv", gradebook(rows, rubric))
        write_atomic(out / NEEDS_REGRADE, needs_regrade(rows, rubric))
        write_atomic(out / "canvas.csv", canvas(rows, rubric, canvas_id))
        write_atomic(out / "brightspace.csv", brightspace(rows, rubric))
        return rows

    def finish(self, store: Store, rubric: Rubric, lab: LabSpec, started: float) -> int:
        """Write every output and the cohort report; exit 1 unless every student's result is
        complete. `started`: time.monotonic() when the command began."""
        from graders.report.cohort import render

        gradings = list(store.latest())  # read once: outputs and the cohort report share it
        durable = tuple(lab.config.get("durable", ()))
        rows = self.write_outputs(
            store, rubric, durable, gradings=gradings, phases=phases_of(lab.config)
        )
        results = [r.result for r in rows if r.result is not None]
        crashed = len(rows) - len(results)
        sys.stdout.write(render(results, gradings, crashed, time.monotonic() - started))
        _report_missing_course_keys(results)
        out = self.path
        print(
            f"Wrote {out}/students/<netid>/result.json and results.json, {out}/gradebook.csv, "
            f"{out}/canvas.csv, {out}/brightspace.csv, {out}/{NEEDS_REGRADE}; store {store.path}"
        )
        store.close()
        regrade = sum(1 for r in rows if not r.complete)
        if regrade:
            print(
                f"labgrader: {regrade} student(s) have no grade yet (grader error or crash; "
                f"their LMS cells are empty): see {out / NEEDS_REGRADE}",
                file=sys.stderr,
            )
            return EXIT_NEEDS_REGRADE
        return EXIT_OK


def _report_missing_course_keys(results: list[Result]) -> None:
    from graders.labkit.instances import COURSE_KEY_CHECK

    missing = sorted(
        r.student
        for r in results
        if any(c.check == COURSE_KEY_CHECK and c.status == Status.FAILED for c in r.items)
    )
    if missing:
        shown = ", ".join(missing[:20]) + (", ..." if len(missing) > 20 else "")
        print(
            f"labgrader: {len(missing)} students have not added the course key, so staff "
            f"could not log in to grade what needs a login: {shown}",
            file=sys.stderr,
        )
