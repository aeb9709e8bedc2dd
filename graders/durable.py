"""Records that outlive the instance: MLflow runs, CI runs, object-store contents.

A lab names the checks that read such records in lab.yaml (`durable:`). Students delete their
leases when a lab is over, so a regrade after that finds the instance gone. For a durable
check, the newest grading that could still read the record then stands: its observation is
carried forward, marked with when it was made and what the newer grading saw. Every other
check is judged from the newest grading alone, and a durable check that now reads a
different record (passed or failed) is judged from what it reads now.

Phases (lab.yaml `phases:`) are parts of a lab done one after the other, each on its own
server and lease (llm-chi's single node, then its multi node): the manual never has both up
at once. A phase whose server is gone now (its server check found no server of the name) is
judged from the newest earlier grading in which that server stood: the whole phase, its
server check and every check below it, as observed then, from that phase's own server.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from graders.evidence import Evidence, Observation
from graders.status import Status

READ = (Status.PASSED, Status.FAILED)  # the record was read and judged


@dataclass(frozen=True)
class Phase:
    """A part of a lab on its own server: the check that finds it, and the checks below."""

    server: str
    checks: tuple[str, ...]


def phases_of(config: dict[str, Any]) -> tuple[Phase, ...]:
    """lab.yaml's `phases`: [{server: CHECK, checks: [CHECK, ...]}, ...]."""
    return tuple(
        Phase(str(p["server"]), tuple(str(c) for c in p.get("checks", ())))
        for p in config.get("phases") or ()
    )


def carry_forward(
    newest: list[Observation],
    earlier: Iterable[tuple[str, list[Observation]]],
    durable: Iterable[str],
    phases: Sequence[Phase] = (),
) -> list[Observation]:
    """`newest` with each durable check that could not read its record now replaced by the
    latest earlier reading of it, and each phase whose server is gone by its latest grading
    while that server stood. `earlier`: (finished_at, observations), newest first."""
    gone = [p for p in phases if _gone(newest, p.server)]
    if gone:
        earlier = list(earlier)
        newest = _phases_carried(newest, earlier, gone)
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


def _gone(observations: Iterable[Observation], server: str) -> bool:
    """Whether the server check found no server of its name (not: found it broken)."""
    return any(
        o.check == server
        and o.status == Status.FAILED
        and o.measurements.get("server_found") is False
        for o in observations
    )


def _phases_carried(
    newest: list[Observation], earlier: list[tuple[str, list[Observation]]], gone: list[Phase]
) -> list[Observation]:
    replaced: dict[str, Observation] = {}
    for phase in gone:
        for finished_at, observations in earlier:
            if any(o.check == phase.server for o in observations) and not _gone(
                observations, phase.server
            ):
                ids = {phase.server, *phase.checks}
                for o in observations:
                    if o.check in ids:
                        replaced[o.check] = _stood(o, finished_at, phase.server)
                break
    return [replaced.get(o.check, o) for o in newest]


def _stood(then: Observation, finished_at: str, server: str) -> Observation:
    note = Evidence.make(
        "note",
        f"carried forward from the grading finished {finished_at}, while this part's server "
        f"stood: the newest grading found it gone ({server} found no server), and the lab "
        "does this part on its own server, one part after the other",
    )
    return replace(then, evidence=[note, *then.evidence])
