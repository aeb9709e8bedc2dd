"""Renderers: visibility over time, Gradescope mapping, what a student is shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema

from graders.evidence import Observation
from graders.files import schema
from graders.report import render
from graders.rubric import Item, Rubric, score

RUBRIC = Rubric(
    "lab",
    "Lab",
    (
        Item("a", "a", "Visible A", 2),
        Item("b", "b", "Later B", 3, "after_due"),
        Item("c", "c", "Secret C", 1, "hidden"),
        Item("d", "d", "Broken D", 4),
    ),
    "0" * 64,
    due="2026-03-01T12:00:00+00:00",
)
OBS = [
    Observation("a", "passed"),
    Observation("b", "failed", "saw 404"),
    Observation("c", "passed"),
    Observation("d", "error", "grader error: boom"),
]


def test_after_due_items_appear_once_the_due_date_passed() -> None:
    result = score(OBS, RUBRIC, student="s1", graded_at="t")
    before = render(result, "text", now=datetime(2026, 2, 1, tzinfo=UTC))
    after = render(result, "text", now=datetime(2026, 3, 2, tzinfo=UTC))
    assert "Later B" not in before and "2 hidden checks (4 points)" in before
    assert "Later B" in after and "saw 404" in after and "1 hidden check (1 point)" in after
    assert "Secret C" not in before + after
    assert "not counted against you" in after


def test_gradescope_maps_visibility_and_does_not_charge_grader_errors() -> None:
    result = score(OBS, RUBRIC, student="s1", graded_at="t")
    doc = json.loads(render(result, "gradescope", execution_time=1.234))
    jsonschema.validate(doc, schema("gradescope"))
    tests = {t["name"]: t for t in doc["tests"]}
    assert tests["Later B"]["visibility"] == "after_due_date"
    assert tests["Secret C"]["visibility"] == "hidden"
    assert (
        tests["Broken D"]["max_score"] == 0 and "staff will re-run" in tests["Broken D"]["output"]
    )
    assert doc["score"] == 3 and doc["execution_time"] == 1.23
    assert doc["extra_data"]["complete"] is False


def test_json_report_is_the_result_document() -> None:
    result = score(OBS, RUBRIC, student="s1", graded_at="2026-02-01T00:00:00+00:00")
    doc = json.loads(render(result, "json"))
    jsonschema.validate(doc, schema("result"))
    assert doc["max_score"] == 6 and doc["score"] == 3 and doc["complete"] is False
    assert [c["status"] for c in doc["checks"]] == ["passed", "failed", "passed", "error"]


def test_item_analysis_flags_checks_most_students_fail() -> None:
    from graders.report.cohort import item_analysis

    results = []
    for n in range(10):
        obs = [
            Observation("a", "passed" if n < 9 else "failed"),
            Observation("b", "failed" if n < 9 else "passed"),
            Observation("c", "passed"),
            Observation("d", "error", "grader error"),
        ]
        results.append(score(obs, RUBRIC, student=f"s{n}", graded_at="t"))
    stats = {s.id: s for s in item_analysis(results)}
    assert not stats["a"].suspicious and stats["a"].pass_rate == 0.9
    assert stats["b"].suspicious  # fails for 90% of the cohort: likely a broken check
    assert stats["d"].errors == 10 and stats["d"].graded == 0 and not stats["d"].suspicious


def test_rubric_validate_reports_points(capsys) -> None:
    from graders.cli import main

    assert main(["rubric", "validate", "rubrics/cloud-chi.yaml"]) == 0
    assert "valid rubric for cloud-chi: 13 items, 21 points" in capsys.readouterr().out
