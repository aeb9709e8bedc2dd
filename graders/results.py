"""The result document: what score() produces and every report reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from graders.evidence import parse_time
from graders.status import Status, counts_as_passed

WITHHELD = ("hidden", "after_published")  # rubric visibilities shown only once staff release
HIDDEN_TITLE = "Hidden check"
FULL_VIEW, STUDENT_VIEW = "full", "student"


@dataclass
class ItemResult:
    id: str
    title: str
    status: Status  # judged: passed only with full points; `hidden` in a student's view
    score: float
    max_score: float
    feedback: str
    measurements: dict[str, Any] = field(default_factory=dict)
    visibility: str = "visible"
    observed: Status | None = None  # the check's own status, before judging
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
    items: list[ItemResult]  # one per rubric item; "checks" in the JSON document
    due: str | None = None
    leaderboard: list[dict[str, Any]] = field(default_factory=list)  # {name, value, order}
    view: str = FULL_VIEW  # every item as judged; STUDENT_VIEW: for_student()

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (graders/schemas/result.schema.json): items go under "checks"."""
        d = asdict(self)
        d["checks"] = d.pop("items")
        for key in ("due", "leaderboard"):
            if not d[key]:
                del d[key]
        for c in d["checks"]:
            if c["status"] == Status.HIDDEN:  # a withheld item names neither check nor outcome
                for key in ("observed", "check", "evidence"):
                    del c[key]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        d = dict(d)
        d.pop("signature", None)  # the file's, not the result's (graders/signing.py)
        items = []
        for c in d.pop("checks"):
            c = {**c, "status": Status(c["status"])}
            c["observed"] = Status(c["observed"]) if c.get("observed") else None
            items.append(ItemResult(**c))
        return cls(**d, items=items)

    def due_at(self) -> datetime | None:
        return parse_time(self.due) if self.due else None

    def not_judged(self) -> list[str]:
        """Ids of the items a grader error kept from being judged (staff must regrade)."""
        return [c.id for c in self.items if c.status == Status.ERROR]

    def all_shown_passed(self, now: datetime) -> bool:
        """Every check a student may see passed; a skipped check worth no points (one that
        does not apply, e.g. no repository named) does not count against that."""
        due = self.due_at()
        return all(
            counts_as_passed(c.status) or (c.status == Status.SKIPPED and not c.max_score)
            for c in self.items
            if c.shown(now, due)
        )

    def for_student(self, now: datetime) -> Result:
        """The student's own view: each item not shown yet keeps only its points (status
        `hidden`, score 0, no title, feedback, measurements or evidence), and the score, the
        maximum, `complete` and the leaderboard come from the shown items alone, so that no
        hidden outcome can be inferred from them. Staff outputs use the whole result."""
        due = self.due_at()
        items, hidden = [], 0
        for c in self.items:
            if c.shown(now, due):
                items.append(c)
                continue
            hidden += 1
            items.append(
                ItemResult(
                    id=f"hidden-{hidden}",
                    title=HIDDEN_TITLE,
                    status=Status.HIDDEN,
                    score=0.0,
                    max_score=c.max_score,
                    feedback="",
                    visibility=c.visibility,
                )
            )
        if not hidden:
            return replace(self, view=STUDENT_VIEW)
        counted = [c for c in items if c.status not in (Status.ERROR, Status.HIDDEN)]
        return replace(
            self,
            score=round(sum(c.score for c in counted), 2),
            max_score=round(sum(c.max_score for c in counted), 2),
            complete=not any(c.status == Status.ERROR for c in items),
            items=items,
            leaderboard=[],  # a value on it may be what a hidden item scores
            view=STUDENT_VIEW,
        )


@dataclass
class BatchRow:
    """One roster student in a batch's outputs: the result, or why grading crashed."""

    student: dict[str, Any]  # the roster row (netid, email, section, ...)
    result: Result | None  # None: grading crashed
    crash: str = ""

    @property
    def complete(self) -> bool:
        """Every item judged: only then may a total go to an LMS."""
        return self.result is not None and self.result.complete
