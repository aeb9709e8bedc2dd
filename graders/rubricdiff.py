"""`labgrader rubric diff OLD NEW --store FILE`: what a rubric change does to every student."""

from __future__ import annotations

import statistics

from graders.errors import BadInput
from graders.files import load_yaml
from graders.labs import load_lab
from graders.rubric import load_rubric, score
from graders.signing import staff_key
from graders.store import Store


def diff(old_path: str, new_path: str, store_path: str) -> str:
    lab_id = load_yaml(old_path, "rubric", "rubric")["lab"]
    lab = load_lab(lab_id)
    old, new = load_rubric(old_path, lab), load_rubric(new_path, lab)
    if new.lab != old.lab:
        raise BadInput(f"rubrics are for different labs: {old.lab} and {new.lab}")
    store = Store.open_existing(store_path, lab_id, staff_key(None))  # rows' HMACs, if a key
    before, after, changed = [], [], []
    for g in store.latest():
        if g.outcome != "graded":
            continue
        a = score(g.observations, old, student=g.netid, graded_at=g.finished_at)
        b = score(g.observations, new, student=g.netid, graded_at=g.finished_at)
        before.append(a.score / a.max_score * 100 if a.max_score else 0)
        after.append(b.score / b.max_score * 100 if b.max_score else 0)
        if (a.score, a.max_score) != (b.score, b.max_score):
            changed.append(
                f"  {g.netid:16} {a.score:g}/{a.max_score:g} -> {b.score:g}/{b.max_score:g}"
            )
    store.close()
    lines = [f"{lab_id}: {len(changed)} of {len(before)} students change score"]
    lines += changed
    lines += ["", "percent      " + "  ".join(f"{h:>7}" for h in ("mean", "median", "min", "max"))]
    for name, xs in (("before", before), ("after", after)):
        if xs:
            vals = (statistics.mean(xs), statistics.median(xs), min(xs), max(xs))
            lines.append(f"{name:12} " + "  ".join(f"{v:7.1f}" for v in vals))
    lines += ["", "distribution (percent bands):", _histogram(before, after)]
    return "\n".join(lines) + "\n"


def _histogram(before: list[float], after: list[float]) -> str:
    bands = [(0, 50), (50, 60), (60, 70), (70, 80), (80, 90), (90, 100.01)]
    rows = []
    for lo, hi in bands:
        b = sum(lo <= x < hi for x in before)
        a = sum(lo <= x < hi for x in after)
        label = f"{lo:>3}-{min(hi, 100):>3.0f}%"
        rows.append(f"  {label}  before {b:4} {'#' * b:<20.20}  after {a:4} {'#' * a:<20.20}")
    return "\n".join(rows)
