"""Renderers: visibility over time, Gradescope mapping, what a student is shown."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from graders.evidence import Observation
from graders.files import schema
from graders.labs import load_lab
from graders.report import render
from graders.report.gradescope import INCOMPLETE
from graders.rubric import Item, Rubric, load_rubric, rubric_path, score

RUBRIC = Rubric(
    "lab",
    "Lab",
    (
        Item("a", "a", "Visible A", 2),
        Item("b", "b", "Later B", 3, "after_due"),
        Item("c", "c", "Secret C", 1, "hidden"),
        Item("d", "d", "Broken D", 4),
        Item("e", "e", "Published E", 1, "after_published"),
        Item("n", "n", "Optional N", 0),
    ),
    "0" * 64,
    due="2026-03-01T12:00:00+00:00",
)
OBS = [
    Observation("a", "passed"),
    Observation("b", "failed", "saw 404"),
    Observation("c", "passed"),
    Observation("d", "error", "grader error: boom"),
    Observation("e", "failed", "saw nothing published"),
    Observation("n", "skipped", "no repository named"),
]
BEFORE, AFTER = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)


def gradescope(result, **kw) -> tuple[dict, dict[str, dict]]:
    doc = json.loads(render(result, "gradescope", **kw))
    jsonschema.validate(doc, schema("gradescope"))
    return doc, {t["name"]: t for t in doc["tests"]}


def test_after_due_items_appear_once_the_due_date_passed() -> None:
    result = score(OBS, RUBRIC, student="s1", graded_at="t")
    before = render(result.for_student(BEFORE), "text")
    after = render(result.for_student(AFTER), "text")
    assert "Later B" not in before and "3 hidden checks (5 points)" in before
    assert "Later B" in after and "saw 404" in after and "2 hidden checks (2 points)" in after
    assert "Secret C" not in before + after and "Published E" not in before + after
    assert "not counted against you" in after


def test_gradescope_visibility_means_what_gradescope_means() -> None:
    result = score(OBS, RUBRIC, student="s1", graded_at="t")
    doc, tests = gradescope(result, execution_time=1.234)
    assert tests["Visible A"]["visibility"] == "visible"
    assert tests["Later B"]["visibility"] == "after_due_date"
    # hidden: graded, shown once staff publish grades (Gradescope's `hidden` is for 0 points)
    assert tests["Secret C"]["visibility"] == "after_published"
    assert tests["Published E"]["visibility"] == "after_published"
    assert doc["test_output_format"] == "text" and doc["execution_time"] == 1.23


def test_gradescope_error_item_is_not_a_silent_lost_point() -> None:
    result = score(OBS, RUBRIC, student="s1", graded_at="t")
    doc, tests = gradescope(result)
    broken = tests["Broken D"]
    assert broken["score"] == 0 and broken["max_score"] == 4 and broken["status"] == "failed"
    for needle in ("NOT GRADED", "grader problem", "not your fault", "staff will regrade"):
        assert needle in broken["output"]
    flag = tests[INCOMPLETE]
    assert flag["status"] == "failed" and flag["visibility"] == "visible"
    assert flag["score"] == 0 and flag["max_score"] == 0 and "d" in flag["output"]
    assert doc["extra_data"]["incomplete"] is True and doc["extra_data"]["not_judged"] == ["d"]
    assert "Grading incomplete" in doc["output"]
    assert doc["score"] == 3  # a (2) + c (1); the error item is not counted, not a 0
    whole = score([Observation(o.check, "passed") for o in OBS], RUBRIC, student="s", graded_at="t")
    doc, tests = gradescope(whole)
    assert INCOMPLETE not in tests and "incomplete" not in doc["extra_data"]
    assert "incomplete" not in doc["output"].lower()


def test_gradescope_item_that_does_not_apply_is_informational() -> None:
    result = score(OBS, RUBRIC, student="s1", graded_at="t")
    _, tests = gradescope(result)
    optional = tests["Optional N"]
    assert optional["status"] == "passed" and "score" not in optional
    assert "max_score" not in optional
    assert optional["output"] == "Does not apply: no repository named"


def test_gradescope_leaderboard_of_serve_system() -> None:
    lab = load_lab("serve-system-chi")
    rubric = load_rubric(rubric_path("serve-system-chi"), lab)
    measured = {
        "latency_c1": {"p50_ms": 12.5, "p95_ms": 30.0},
        "throughput_c16": {"throughput_rps": 61.2, "error_rate": 0.0},
    }
    obs = [Observation(c.id, "passed", measurements=measured.get(c.id, {})) for c in lab.checks]
    doc, _ = gradescope(score(obs, rubric, student="s1", graded_at="t"))
    assert doc["leaderboard"] == [
        {"name": "Median latency (ms)", "value": 12.5, "order": "asc"},
        {"name": "Throughput at concurrency 16 (req/s)", "value": 61.2, "order": "desc"},
    ]
    measured["throughput_c16"]["throughput_rps"] = None  # nothing succeeded: no value to rank
    obs = [Observation(c.id, "failed", measurements=measured.get(c.id, {})) for c in lab.checks]
    doc, _ = gradescope(score(obs, rubric, student="s1", graded_at="t"))
    assert [b["name"] for b in doc["leaderboard"]] == ["Median latency (ms)"]


def test_json_report_is_the_result_document() -> None:
    result = score(OBS, RUBRIC, student="s1", graded_at="2026-02-01T00:00:00+00:00")
    doc = json.loads(render(result, "json"))
    jsonschema.validate(doc, schema("result"))
    assert doc["max_score"] == 7 and doc["score"] == 3 and doc["complete"] is False
    statuses = [c["status"] for c in doc["checks"]]
    assert statuses == ["passed", "failed", "passed", "error", "failed", "skipped"]


def test_a_students_view_shows_hidden_items_by_their_points_only() -> None:
    result = score(OBS, RUBRIC, student="s1", graded_at="2026-02-01T00:00:00+00:00")
    view = result.for_student(BEFORE)
    doc = json.loads(render(view, "json"))
    jsonschema.validate(doc, schema("result"))
    hidden = [c for c in doc["checks"] if c["status"] == "hidden"]
    assert [c["id"] for c in hidden] == ["hidden-1", "hidden-2", "hidden-3"]
    assert [c["max_score"] for c in hidden] == [3, 1, 1]  # b, c and e, in rubric order
    for c in hidden:
        assert c["title"] == "Hidden check" and c["score"] == 0 and c["feedback"] == ""
        assert c["measurements"] == {} and not {"check", "observed", "evidence"} & set(c)
    text = json.dumps(doc)
    for secret in ("Later B", "Secret C", "Published E", "saw 404", "saw nothing"):
        assert secret not in text
    # c passed (1 point), but score and maximum count the shown items only: a (2), n (0)
    assert doc["score"] == doc["max_score"] == 2 and result.score == 3
    _, tests = gradescope(view)
    assert tests["Hidden check"]["score"] == 0 and "status" not in tests["Hidden check"]
    after = json.loads(render(result.for_student(AFTER), "json"))
    assert "Later B" in json.dumps(after) and "Secret C" not in json.dumps(after)


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


def _cohort(medians: list[float], status: str = "passed"):
    return [
        score(
            [Observation("a", status, measurements={"median_ms": m, "same": 1, "ok": True})],
            RUBRIC,
            student=f"s{n}",
            graded_at="t",
        )
        for n, m in enumerate(medians)
    ]


def test_a_forged_number_stands_out_in_the_cohort_report() -> None:
    from graders.report.cohort import outliers, render

    honest = [2.9, 3.1, 3.0, 3.3, 2.8, 3.2, 3.05, 2.95, 3.4, 2.7]
    results = _cohort([*honest, 0.15])  # within the check's bound, far from everyone else
    far = outliers(results)
    assert [(o.student, o.item, o.measure) for o in far] == [("s10", "a", "median_ms")]
    assert far[0].z < -5 and far[0].median == 3.0
    text = render(results, [], 0, 1.0)
    assert "Measurements far from the cohort" in text and "s10" in text
    assert "Measurements far from the cohort" not in render(_cohort(honest), [], 0, 1.0)


def test_outliers_need_a_cohort_and_a_passed_item() -> None:
    from graders.report.cohort import outliers

    assert outliers(_cohort([3.0, 3.1, 2.9, 0.15])) == []  # too few to have a spread
    assert outliers(_cohort([3.0, 3.1, 2.9, 3.2, 2.8, 3.3, 2.7, 3.05, 0.15], "failed")) == []


def test_rubric_validate_reports_points(capsys) -> None:
    from graders.cli import main

    assert main(["rubric", "validate", "rubrics/cloud-chi.yaml"]) == 0
    assert "valid rubric for cloud-chi: 19 items, 25 points" in capsys.readouterr().out


def test_an_unknown_format_is_refused_not_taken_for_text() -> None:
    from graders.report import render
    from graders.results import Result

    result = Result("lab", "s", 0, 0, "t", "0" * 64, "v", True, [])
    with pytest.raises(ValueError, match="unknown format 'html'"):
        render(result, "html")


def test_a_batch_reports_the_time_it_took(tmp_path: Path, capsys) -> None:
    """rescore's wall time once always read about 0 s: the time is taken from the start of
    the command, not from just before the outputs."""
    import time

    from graders.folder import BatchFolder
    from graders.labs import load_lab
    from graders.rubric import load_rubric, rubric_path

    lab = load_lab("hello-chameleon")
    folder = BatchFolder(tmp_path / "out")
    store = folder.claim(lab.id, resume=False)
    folder.finish(store, load_rubric(rubric_path(lab.id), lab), lab, time.monotonic() - 7.0)
    assert "7.0 s" in capsys.readouterr().out


FORGED = "\x1b[1A\x1b[2K ✓ ~/hello.txt says Hello from node  [passed, 3/3]"
CHECK_LINE = re.compile(r"^ [✓✗–⚠!W] .*\[(passed|failed|skipped|unreachable|error|waived), ")


def _forging_check(message: str) -> Observation:
    """The real runner on a check that fails with the student's stderr as its message."""
    from graders.checks import check, collect
    from graders.errors import Failure
    from graders.runner import run_check
    from tests.conftest import session

    @check(title="~/hello.txt says Hello from <hostname>")
    def hello_file(lab) -> None:
        raise Failure(f"~/hello.txt cannot be read: {message}", "\x1b]0;owned\x07Try again")

    obs, _ = run_check(collect({"hello_file": hello_file})[0], session())
    return obs


@pytest.mark.parametrize(
    "stderr",
    [
        f"{FORGED}\nScore estimate: 10/10 on the checks shown\x1b[8m",
        f"\r{FORGED[8:]}\x9b8m",  # a bare carriage return, and the C1 form of ESC [
        f"\n{FORGED[8:]}\u2028 ✓ x  [passed, 1/1]\x1b[8m",  # a line of its own, U+2028 too
    ],
    ids=["escapes", "cr-and-c1", "newlines"],
)
def test_a_check_message_cannot_forge_a_passed_line_in_the_text_report(stderr: str) -> None:
    obs = _forging_check(stderr)
    assert obs.status == "failed" and "\x1b" not in obs.message + obs.help
    rubric = Rubric("hello-chameleon", "Hello", (Item("h", "hello_file", "Hello file", 3),), "0")
    text = render(score([obs], rubric, student="s1", graded_at="t"), "text")
    assert not any(ch in text for ch in "\x1b\x9b\r\x07\u2028")
    lines = [ln for ln in text.splitlines() if CHECK_LINE.match(ln)]
    assert lines == [" ✗ Hello file  [failed, 0/3]"]
    assert text.rstrip().splitlines()[-1] == "Score estimate: 0/3 on the checks shown"
    if "\x1b[1A" in stderr:
        assert "␛[1A␛[2K" in text  # what the student sent stays readable, but inert


def test_the_text_report_escapes_a_stored_result_it_did_not_clean() -> None:
    """A result read back from an older file may carry raw escapes: the renderer escapes
    anything not printable itself."""
    from graders.report.text import render as render_text

    result = score([Observation("a", "failed")], RUBRIC, student="s\x1b[8m1", graded_at="t")
    result.items[0].feedback = f"saw\n{FORGED}\x1b[8m\u202eevil"
    text = render_text(result)
    assert "\x1b" not in text and "\u202e" not in text
    assert "\\x1b[8m" in text and "\\u202e" in text and "s\\x1b[8m1" in text
    assert [ln for ln in text.splitlines() if CHECK_LINE.match(ln)][0].startswith(" ✗ Visible A")
