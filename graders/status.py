"""The one status model: what a check observed, and what a rubric item was judged.

A str Enum: it compares equal to the plain strings stored in JSON and SQLite, and writes as
them, so the stored contract is unchanged.
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"  # the student's system answered wrongly (or a partial score)
    SKIPPED = "skipped"  # a parent did not pass, or the check does not apply (reason named)
    UNREACHABLE = "unreachable"  # nothing answered in time
    ERROR = "error"  # the grader broke: pending, never charged to the student
    WAIVED = "waived"  # staff override, with a justification
    HIDDEN = "hidden"  # only in a student's own view: an item not shown yet

    def __str__(self) -> str:
        return self.value


def counts_as_passed(status: str) -> bool:
    """Passed, or waived by staff: what lets a dependent check run and an item score."""
    return status in (Status.PASSED, Status.WAIVED)
