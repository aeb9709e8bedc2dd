"""The result document: what score() produces and every report reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

WITHHELD = ("hidden", "after_published")  # rubric visibilities shown only once staff release


@dataclass
class ItemResult:
    id: str
    title: str
    status: str  # judged: passed only with full points
    score: float
    max_score: float
    feedback: str
    measurements: dict[str, Any] = field(default_factory=dict)
    visibility: str = "visible"
    observed: str = ""  # the check's own status, before judging
    check: str = ""  # the check this item judged (several items may judge one check)
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def shown(self, now: datetime, due: datetime | None) -> bool:
        """Whether a student may see this item's details now."""
        if self.visibility in WITHHELD:
            return False
        return self.visibility == "visible" or (due is not None and now >= due)


@dataclass
class Result:
    lab: str
    student: str
    score: float
    max_score: float
    graded_at: str
    rubric_sha256: str
    grader_version: str
    complete: bool
    checks: list[ItemResult]
    due: str | None = None
    leaderboard: list[dict[str, Any]] = field(default_factory=list)  # {name, value, order}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("due", "leaderboard"):
            if not d[key]:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        d = dict(d)
        d["checks"] = [ItemResult(**c) for c in d["checks"]]
        return cls(**d)

    def due_at(self) -> datetime | None:
        return datetime.fromisoformat(self.due) if self.due else None

    def not_judged(self) -> list[str]:
        """Ids of the items a grader error kept from being judged (staff must regrade)."""
        return [c.id for c in self.checks if c.status == "error"]

    def all_shown_passed(self, now: datetime) -> bool:
        """Every check a student may see passed; a skipped check worth no points (one that
        does not apply, e.g. no repository named) does not count against that."""
        due = self.due_at()
        return all(
            c.status in ("passed", "waived") or (c.status == "skipped" and not c.max_score)
            for c in self.checks
            if c.shown(now, due)
        )
