"""Durable records: a regrade that finds the instance gone keeps what an earlier grading read
for the checks a lab marks `durable`, and judges every other check from the newest grading."""

from __future__ import annotations

import json
from pathlib import Path

from graders.evidence import Evidence, Observation
from graders.folder import BatchFolder
from graders.labs import load_lab
from graders.rubric import load_rubric, rubric_path
from graders.store import Grading, Store

LAB = "mlflow-chi"


def grading(statuses: dict[str, str], finished: str) -> Grading:
    obs = [
        Observation(
            c, s, message=f"{c} {s}", evidence=[Evidence.make("note", f"{c} at {finished}")]
        )
        for c, s in statuses.items()
    ]
    return Grading(LAB, "st001", {"netid": "st001"}, "graded", "", obs, "0" * 64, "t0", finished, 1)


def test_a_gone_instance_keeps_its_durable_records(tmp_path: Path) -> None:
    lab = load_lab(LAB)
    durable = tuple(lab.config["durable"])
    assert "experiment_runs" in durable and "containers" not in durable
    checks = [c.id for c in lab.checks]
    before = {c: "passed" for c in checks} | {"artifact_bucket": "failed"}
    after = {c: "skipped" for c in checks} | {"server_active": "failed", "mlflow_up": "unreachable"}
    store = Store(tmp_path / "store.sqlite", LAB)
    store.add(grading(before, "2026-11-01T10:00:00.000+00:00"))
    store.add(grading(after, "2026-12-20T10:00:00.000+00:00"))
    BatchFolder(tmp_path).write_outputs(store, load_rubric(rubric_path(LAB), lab), durable)
    result = json.loads((tmp_path / "students/st001/result.json").read_text())
    seen = {i["check"]: i for i in result["checks"]}
    # durable: the earlier reading stands, and says where it came from
    assert seen["experiment_runs"]["observed"] == "passed"
    assert "carried forward from the grading finished 2026-11-01" in json.dumps(
        seen["experiment_runs"]["evidence"]
    )
    assert seen["artifact_bucket"]["observed"] == "failed"  # a failed reading is carried too
    # not durable: judged from the newest grading only
    assert seen["containers"]["observed"] == "skipped"
    assert seen["mlflow_up"]["observed"] == "unreachable"


def test_a_new_reading_of_a_durable_record_wins(tmp_path: Path) -> None:
    lab = load_lab(LAB)
    checks = [c.id for c in lab.checks]
    store = Store(tmp_path / "store.sqlite", LAB)
    store.add(grading({c: "passed" for c in checks}, "2026-11-01T10:00:00.000+00:00"))
    now = {c: "passed" for c in checks} | {"experiment_runs": "failed"}
    store.add(grading(now, "2026-11-02T10:00:00.000+00:00"))
    BatchFolder(tmp_path).write_outputs(
        store, load_rubric(rubric_path(LAB), lab), tuple(lab.config["durable"])
    )
    result = json.loads((tmp_path / "students/st001/result.json").read_text())
    seen = {i["check"]: i for i in result["checks"]}
    assert seen["experiment_runs"]["observed"] == "failed"
    assert "carried forward" not in json.dumps(seen["experiment_runs"]["evidence"])


def test_a_durable_checks_notes_are_kept_whole() -> None:
    from graders.checks import Lab, check, collect
    from tests.conftest import session

    @check(title="Listing")
    def listing(lab: Lab) -> None:
        pass

    listing_ = [{"name": f"training/class_{i % 11:02d}/{i}.jpg", "bytes": i} for i in range(400)]
    kept = {}
    for durable in ([], ["listing"]):
        lab = Lab(session({"durable": durable}), collect({"listing": listing})[0])
        lab.note("bucket: 400 objects", listing_)
        kept[bool(durable)] = lab.evidence[0]
    assert kept[False].truncated and len(kept[False].excerpt) <= 4096 + 200
    assert not kept[True].truncated and "training/class_03/399.jpg" in kept[True].excerpt


def test_each_part_on_its_own_lease_is_judged_from_when_its_server_stood(tmp_path: Path) -> None:
    """llm-chi's single and multi parts run on two servers, on two leases, one after the
    other. Graded during each lease, every part is judged from its own server: the part
    whose server is gone now (found no server: not found broken) keeps its grading from
    its own lease."""
    from graders.durable import phases_of

    lab = load_lab("llm-chi")
    phases = phases_of(lab.config)
    single, multi = ({p.server, *p.checks} for p in phases)
    assert single.isdisjoint(multi) and single | multi == {c.id for c in lab.checks}

    def gone(server: str) -> Observation:
        return Observation(server, "failed", message=f"no server named {server}",
                           measurements={"server_found": False})

    def at(statuses: dict[str, Observation], finished: str) -> Grading:
        return Grading("llm-chi", "st001", {"netid": "st001"}, "graded", "",
                       list(statuses.values()), "0" * 64, "t0", finished, 1)

    def obs(check: str, status: str, when: str) -> Observation:
        return Observation(check, status, evidence=[Evidence.make("note", f"seen {when}")])

    during_single = {c: obs(c, "passed", "single") for c in single}
    during_single |= {c: obs(c, "skipped", "single") for c in multi}
    during_single["server_multi_active"] = gone("server_multi_active")
    during_multi = {c: obs(c, "passed", "multi") for c in multi}
    during_multi["gpu_busy"].measurements = {"gpu_util_mean": 96.0}  # its curve's figure
    during_multi |= {c: obs(c, "skipped", "multi") for c in single}
    during_multi["server_active"] = gone("server_active")
    store = Store(tmp_path / "store.sqlite", "llm-chi")
    store.add(at(during_single, "2026-11-01T10:00:00.000+00:00"))
    store.add(at(during_multi, "2026-11-08T10:00:00.000+00:00"))
    rubric = load_rubric(rubric_path("llm-chi"), lab)
    BatchFolder(tmp_path).write_outputs(store, rubric, (), phases=phases)
    result = json.loads((tmp_path / "students/st001/result.json").read_text())
    assert result["score"] == result["max_score"] == rubric.max_score
    seen = {i["check"]: i for i in result["checks"]}
    carried = json.dumps(seen["single_training"]["evidence"])
    assert "carried forward from the grading finished 2026-11-01" in carried
    assert "seen single" in carried
    assert "carried forward" not in json.dumps(seen["multi_gpu"]["evidence"])

    # A server found, but broken, is judged as it is now: nothing is carried.
    broken = dict(during_multi)
    broken["server_active"] = Observation("server_active", "failed", message="is ERROR",
                                          measurements={"server_found": True})
    store.add(at(broken, "2026-11-09T10:00:00.000+00:00"))
    BatchFolder(tmp_path).write_outputs(store, rubric, (), phases=phases)
    seen = {i["check"]: i for i in json.loads(
        (tmp_path / "students/st001/result.json").read_text())["checks"]}
    assert seen["server_active"]["observed"] == "failed"
    assert seen["single_training"]["observed"] == "skipped"
