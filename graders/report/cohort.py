"""What a TA reads after a batch: totals, where the time went, and an item analysis.

A check that fails for more than 80% of a cohort is more likely broken than the cohort:
it is flagged for staff.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from graders.results import Result
from graders.status import Status, counts_as_passed

if TYPE_CHECKING:  # report reads results; the store is only named in annotations
    from graders.store import Grading

BROKEN_CHECK_FAIL_RATE = 0.8


@dataclass
class ItemStats:
    id: str
    title: str
    graded: int
    passed: int
    errors: int

    @property
    def pass_rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0

    @property
    def suspicious(self) -> bool:
        return self.graded > 0 and (1 - self.pass_rate) > BROKEN_CHECK_FAIL_RATE


def item_analysis(results: list[Result]) -> list[ItemStats]:
    stats: dict[str, ItemStats] = {}
    for r in results:
        for c in r.items:
            s = stats.setdefault(c.id, ItemStats(c.id, c.title, 0, 0, 0))
            if c.status == Status.ERROR:
                s.errors += 1  # the grader's fault: not the check's pass rate
                continue
            s.graded += 1
            s.passed += counts_as_passed(c.status)
    return list(stats.values())


def time_per_check(gradings: list[Grading]) -> list[tuple[str, float, float, float]]:
    """(check, total s, mean s, max s), the most expensive first."""
    times: dict[str, list[float]] = defaultdict(list)
    for g in gradings:
        for o in g.observations:
            times[o.check].append(o.duration_s)
    rows = [(k, sum(v), statistics.mean(v), max(v)) for k, v in times.items()]
    return sorted(rows, key=lambda r: -r[1])


def render(results: list[Result], gradings: list[Grading], crashed: int, wall_s: float) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    buf = StringIO()
    console = Console(file=buf, width=120, force_terminal=False)
    scores = [r.score for r in results]
    summary = Table(title="Batch summary")
    for col in (
        "students",
        "graded",
        "crashed",
        "incomplete",
        "mean",
        "median",
        "min",
        "max",
        "wall time",
    ):
        summary.add_column(col)
    summary.add_row(
        str(len(results) + crashed),
        str(len(results)),
        str(crashed),
        str(sum(not r.complete for r in results)),
        *(
            f"{f(scores):.2f}" if scores else "-"
            for f in (statistics.mean, statistics.median, min, max)
        ),
        f"{wall_s:.1f} s",
    )
    console.print(summary)
    timing = Table(title="Time per check (where the batch spent its time)")
    for col in ("check", "total s", "mean s", "max s"):
        timing.add_column(col)
    for check, total, mean, mx in time_per_check(gradings):
        timing.add_row(check, f"{total:.1f}", f"{mean:.2f}", f"{mx:.2f}")
    console.print(timing)
    items = Table(title="Item analysis (pass rate per check)")
    for col in ("item", "passed", "pass rate", "grader errors", "flag"):
        items.add_column(col)
    for s in item_analysis(results):
        flag = "LIKELY BROKEN CHECK: fails for >80% of students" if s.suspicious else ""
        items.add_row(s.id, f"{s.passed}/{s.graded}", f"{s.pass_rate:.0%}", str(s.errors), flag)
    console.print(items)
    return buf.getvalue()
