"""Rubrics: loading with schema validation, and score(), a pure function.

score() never touches the network, the clock or a file: given the same observations and
rubric it returns the same result, which is what makes rescoring and rubric what-ifs safe.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from math import isfinite
from pathlib import Path
from typing import Any, TypeGuard

from graders import __version__
from graders.errors import BadInput
from graders.evidence import MAX_MESSAGE, Observation, clean, parse_time
from graders.files import load_yaml
from graders.labs import LabSpec, rubrics_dir
from graders.results import ItemResult, Result
from graders.status import Status, counts_as_passed

MAX_FEEDBACK = 4 * MAX_MESSAGE  # bytes: the message, the rubric's words, the help


@dataclass(frozen=True)
class Item:
    id: str
    check: str
    title: str
    points: float
    visibility: str = "visible"
    feedback: dict[str, str] = field(default_factory=dict)
    curve: dict[str, Any] | None = None


@dataclass(frozen=True)
class Board:
    """A leaderboard column: a check's measurement, as Gradescope ranks it (asc: low wins)."""

    name: str
    check: str
    measurement: str
    order: str


@dataclass(frozen=True)
class Rubric:
    lab: str
    title: str
    items: tuple[Item, ...]
    sha256: str
    due: str | None = None
    leaderboard: tuple[Board, ...] = ()

    @property
    def max_score(self) -> float:
        return sum(i.points for i in self.items)


def rubric_path(lab_id: str) -> Path:
    return rubrics_dir() / f"{lab_id}.yaml"


def load_lab_rubric(lab_id: str, rubric_file: str | Path | None = None) -> tuple[LabSpec, Rubric]:
    """A lab and the rubric it is scored with (its own, unless `rubric_file` names another)."""
    from graders.labs import load_lab

    lab = load_lab(lab_id)
    return lab, load_rubric(rubric_file or rubric_path(lab_id), lab)


def load_rubric(path: str | Path, lab: LabSpec | None = None) -> Rubric:
    """Read and validate a rubric; with `lab`, refuse items naming checks the lab lacks."""
    data = load_yaml(path, "rubric", "rubric")
    label = f"rubric {path}"
    checks = {c.id: c for c in lab.checks} if lab else {}
    if lab and data["lab"] != lab.id:
        raise BadInput(f"{label}: is for lab {data['lab']!r}, not {lab.id!r}")
    items, seen = [], set()
    for n, raw in enumerate(data["items"]):
        _known_check(raw["check"], f"{label}: items[{n}]", lab)
        item_id = raw.get("id", raw["check"])
        if item_id in seen:
            raise BadInput(f"{label}: items[{n}]: item id {item_id!r} appears twice")
        seen.add(item_id)
        curve = raw.get("curve")
        if curve and curve["full"] == curve["zero"]:
            raise BadInput(f"{label}: items[{n}].curve: full and zero must differ")
        title = raw.get("title") or (checks[raw["check"]].title if lab else raw["check"])
        items.append(
            Item(
                item_id,
                raw["check"],
                title,
                float(raw["points"]),
                raw.get("visibility", "visible"),
                raw.get("feedback", {}),
                curve,
            )
        )
    due = data.get("due")
    if due is not None:
        try:
            due = parse_time(str(due)).isoformat()
        except ValueError as exc:
            raise BadInput(f"{label}: due: {due!r} is not a time ({exc})") from None
    boards: list[Board] = []
    for n, raw in enumerate(data.get("leaderboard", ())):
        _known_check(raw["check"], f"{label}: leaderboard[{n}]", lab)
        if raw["name"] in {b.name for b in boards}:
            raise BadInput(f"{label}: leaderboard[{n}]: name {raw['name']!r} appears twice")
        boards.append(Board(raw["name"], raw["check"], raw["measurement"], raw["order"]))
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    title = data.get("title", data["lab"])
    return Rubric(data["lab"], title, tuple(items), digest, due, tuple(boards))


def _known_check(check_id: str, where: str, lab: LabSpec | None) -> None:
    if lab and check_id not in {c.id for c in lab.checks}:
        known = ", ".join(c.id for c in lab.checks)
        raise BadInput(
            f"{where} names check {check_id!r}, which lab {lab.id} does not have "
            f"(its checks: {known})"
        )


def validate_rubric_file(path: str | Path) -> str:
    """Check a rubric against its schema and the lab it names; a line saying what it holds."""
    lab_id = load_yaml(path, "rubric", "rubric")["lab"]
    _, rubric = load_lab_rubric(lab_id, path)
    held = f"{len(rubric.items)} items, {rubric.max_score:g} points"
    return f"{path}: valid rubric for {lab_id}: {held}"


def score(
    observations: list[Observation],
    rubric: Rubric,
    *,
    student: str,
    graded_at: str,
) -> Result:
    """Judge observations against a rubric. Pure: no I/O, no clock.

    Staff waivers and overrides are not the rubric's: the course gradebook applies them to a
    scored Result afterwards, item by item (status `waived`, the justification as feedback),
    so that a rescore with a new rubric keeps them."""
    by_check = {o.check: o for o in observations}
    items = [_judge(item, by_check.get(item.check)) for item in rubric.items]
    counted = [i for i in items if i.status != Status.ERROR]
    return Result(
        lab=rubric.lab,
        student=student,
        score=round(sum(i.score for i in counted), 2),
        max_score=round(sum(i.max_score for i in counted), 2),
        graded_at=graded_at,
        rubric_sha256=rubric.sha256,
        grader_version=__version__,
        complete=len(counted) == len(items),
        items=items,
        due=rubric.due,
        leaderboard=_leaderboard(rubric.leaderboard, by_check),
    )


def _leaderboard(boards: tuple[Board, ...], by_check: dict[str, Observation]) -> list[dict]:
    """Each column's measured value; a column whose value was not measured is left out."""
    rows = []
    for b in boards:
        obs = by_check.get(b.check)
        value = obs.measurements.get(b.measurement) if obs else None
        if _is_number(value):
            rows.append({"name": b.name, "value": value, "order": b.order})
    return rows


def curve_fraction(value: float, full: float, zero: float) -> float:
    """1 at `full`, 0 at `zero`, linear between, clamped; works for rising or falling curves."""
    frac = (value - zero) / (full - zero)
    return max(0.0, min(1.0, frac))


def _judge(item: Item, obs: Observation | None) -> ItemResult:
    if obs is None:
        obs = Observation(item.check, Status.ERROR, "grader error: the check left no observation")
    values: dict[str, Any] = {
        **obs.measurements,
        "message": obs.message,
        "help": obs.help,
        "points": _num(item.points),
    }
    status, points = obs.status, 0.0
    template = item.feedback.get(status, "")
    if status == Status.PASSED and item.curve:
        status, points, template = _curve(item, obs, values)
    elif status == Status.PASSED:
        points = item.points
    elif status == Status.ERROR and not template:
        template = "{message}. This is a grader problem: it is not counted against you."
    result = ItemResult(
        id=item.id,
        title=item.title,
        status=status,
        score=round(points, 2),
        max_score=item.points,
        feedback="",
        measurements=dict(obs.measurements),
        visibility=item.visibility,
        observed=obs.status,
        check=item.check,
        evidence=[e.to_dict() for e in obs.evidence],
    )
    values["score"] = _num(result.score)
    result.feedback = _feedback(template, values, status)
    return result


def _curve(item: Item, obs: Observation, values: dict[str, Any]) -> tuple[Status, float, str]:
    curve = item.curve or {}
    name, unit = curve["measurement"], curve.get("unit", "")
    value = obs.measurements.get(name)
    values.update(value=value, full=_num(curve["full"]), zero=_num(curve["zero"]), unit=unit)
    if not _is_number(value):
        return Status.FAILED, 0.0, f"The measurement {name} was not recorded, so no points."
    frac = curve_fraction(float(value), float(curve["full"]), float(curve["zero"]))
    points = item.points * frac
    values["value"] = _num(value)
    if frac >= 1.0:
        return Status.PASSED, points, item.feedback.get("passed", "")
    default = (
        f"{name} = {{value}}{unit}: full points at {{full}}{unit}, none at "
        f"{{zero}}{unit}, so {{score}} of {{points}} points."
    )
    return Status.FAILED, points, item.feedback.get("partial", default)


def _feedback(template: str, values: dict[str, Any], status: Status) -> str:
    """What a student reads under an item: cleaned like a check's message (no control
    character, no secret) and capped to MAX_FEEDBACK bytes, whatever the rubric's template
    and the observation (perhaps one stored before messages were cleaned) hold."""
    try:
        text = template.format_map(_Keep(values)) if template else ""
    except (ValueError, IndexError, TypeError):  # a bad format spec in the rubric text
        text = template
    if counts_as_passed(status) or status == Status.ERROR:
        return clean(text.strip(), MAX_FEEDBACK)
    # What was seen (the check's message), what was expected (the rubric's text), what to
    # try (the check's help); a template that quotes {message} or {help} places them itself.
    parts = [values["message"] if "{message}" not in template else "", text]
    if values["help"] and "{help}" not in template:
        parts.append(f"Try: {values['help']}")
    return clean("\n".join(p for p in parts if p).strip(), MAX_FEEDBACK)


class _Keep(dict):
    """format_map that leaves unknown {names} as they are instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _is_number(value: object) -> TypeGuard[float]:
    """A real, finite number (True is not 1 here, and NaN ranks nowhere)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and isfinite(value)


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(float(x), 2)
