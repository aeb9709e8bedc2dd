"""What a TA reads after a batch: totals, where the time went, and an item analysis.

A check that fails for more than 80% of a cohort is more likely broken than the cohort:
it is flagged for staff. So is a number far from the cohort's (a robust z-score, median and
MAD): several measurements come from the student's own code (the serve-model benchmark, the
JUnit report, nvidia-smi), and a forged one that stays within the checks' plausible bounds can
still stand out against 200 honest ones.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from graders.results import Result
from graders.status import Status, counts_as_passed

if TYPE_CHECKING:  # report reads results; the store is only named in annotations
    from graders.store import Grading

BROKEN_CHECK_FAIL_RATE = 0.8
OUTLIER_Z = 5.0  # robust z past which a passed item's measurement is shown to staff
OUTLIER_MIN_COHORT = 8  # fewer values than this have no meaningful spread
OUTLIERS_SHOWN = 50


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


@dataclass
class Outlier:
    student: str
    item: str
    measure: str
    value: float
    median: float
    z: float


def outliers(results: list[Result]) -> list[Outlier]:
    """Numbers of passed items far from the cohort's, the farthest first: z = 0.6745 (x -
    median) / MAD per (item, measurement). A measurement every student shares (MAD 0) has no
    spread to judge by and is left out."""
    values: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for r in results:
        for item in r.items:
            if item.status != Status.PASSED:
                continue
            for key, value in item.measurements.items():
                number = _number(value)
                if number is not None:
                    values[(item.id, key)].append((r.student, number))
    found = []
    for (item_id, key), pairs in values.items():
        if len(pairs) < OUTLIER_MIN_COHORT:
            continue
        numbers = [v for _, v in pairs]
        median = statistics.median(numbers)
        mad = statistics.median(abs(v - median) for v in numbers)
        if mad == 0:
            continue
        for student, v in pairs:
            z = 0.6745 * (v - median) / mad
            if abs(z) > OUTLIER_Z:
                found.append(Outlier(student, item_id, key, v, median, round(z, 1)))
    return sorted(found, key=lambda o: -abs(o.z))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


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
    far = outliers(results)
    if far:
        table = Table(
            title=f"Measurements far from the cohort (robust z > {OUTLIER_Z:g}: read these by "
            "hand; some numbers come from the student's own code)"
        )
        for col in ("student", "item", "measurement", "value", "cohort median", "z"):
            table.add_column(col)
        for o in far[:OUTLIERS_SHOWN]:
            table.add_row(o.student, o.item, o.measure, f"{o.value:g}", f"{o.median:g}", f"{o.z:g}")
        console.print(table)
        if len(far) > OUTLIERS_SHOWN:
            console.print(f"... and {len(far) - OUTLIERS_SHOWN} more")
    return buf.getvalue()
