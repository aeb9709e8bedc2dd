"""Records that outlive the instance: MLflow runs, CI runs, object-store contents.

A lab names the checks that read such records in lab.yaml (`durable:`). Students delete their
leases when a lab is over, so a regrade after that finds the instance gone. For a durable
check, the newest grading that could still read the record then stands: its observation is
carried forward, marked with when it was made and what the newer grading saw. Every other
check is judged from the newest grading alone, and a durable check that now reads a
different record (passed or failed) is judged from what it reads now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from graders.evidence import Evidence, Observation
from graders.status import Status

READ = (Status.PASSED, Status.FAILED)  # the record was read and judged


def carry_forward(
    newest: list[Observation],
    earlier: Iterable[tuple[str, list[Observation]]],
    durable: Iterable[str],
) -> list[Observation]:
    """`newest` with each durable check that could not read its record now replaced by the
    latest earlier reading of it. `earlier`: (finished_at, observations), newest first."""
    durable = set(durable)
    wanted = {o.check for o in newest if o.check in durable and o.status not in READ}
    if not wanted:
        return newest
    prior: dict[str, tuple[str, Observation]] = {}
    for finished_at, observations in earlier:
        for o in observations:
            if o.check in wanted and o.check not in prior and o.status in READ:
                prior[o.check] = (finished_at, o)
    return [_carried(o, *prior[o.check]) if o.check in prior else o for o in newest]


def _carried(now: Observation, finished_at: str, then: Observation) -> Observation:
    why = f"{now.status}" + (f": {now.message}" if now.message else "")
    note = Evidence.make(
        "note",
        f"carried forward from the grading finished {finished_at}: this record outlives the "
        f"instance, and the newest grading could not read it ({why})",
    )
    return replace(then, evidence=[note, *then.evidence])
