"""score() is pure: these tests build observations by hand and judge them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from graders.errors import BadInput
from graders.evidence import Evidence, Observation
from graders.labs import lab_ids, load_lab
from graders.rubric import curve_fraction, load_rubric, rubric_path, score


def write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "rubric.yaml"
    p.write_text(textwrap.dedent(body))
    return p


RUBRIC = """\
    lab: demo
    items:
      - check: a
        points: 2
        feedback: {failed: "Expected A. {message}"}
      - check: b
        points: 3
        curve: {measurement: p95_ms, full: 100, zero: 500, unit: " ms"}
      - check: c
        points: 1
        visibility: hidden
      - check: d
        points: 4
"""


def obs(check: str, status: str, message: str = "", **measurements: float) -> Observation:
    return Observation(
        check,
        status,
        message,
        measurements=measurements,
        evidence=[Evidence.make("note", f"{check} seen")],
    )


def test_passed_failed_and_totals(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, RUBRIC))
    result = score(
        [
            obs("a", "passed"),
            obs("b", "passed", p95_ms=100),
            obs("c", "failed", "no"),
            obs("d", "skipped", "skipped because a did not pass"),
        ],
        rubric,
        student="s1",
        graded_at="2026-01-01T00:00:00+00:00",
    )
    by = {c.id: c for c in result.items}
    assert [by[k].score for k in "abcd"] == [2, 3, 0, 0]
    assert result.score == 5 and result.max_score == 10 and result.complete
    assert by["c"].visibility == "hidden"
    assert by["d"].feedback.startswith("skipped because a")
    assert len(result.rubric_sha256) == 64


def test_curve_is_linear_between_full_and_zero(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, RUBRIC))
    result = score([obs("b", "passed", p95_ms=300)], rubric, student="s", graded_at="t")
    b = next(c for c in result.items if c.id == "b")
    assert b.score == 1.5 and b.status == "failed"  # partial credit is not a pass
    assert "p95_ms = 300 ms" in b.feedback and "1.5 of 3" in b.feedback
    assert curve_fraction(50, 100, 500) == 1.0 and curve_fraction(900, 100, 500) == 0.0
    assert curve_fraction(15, 20, 10) == 0.5  # rising curves work too (throughput)


def test_missing_measurement_scores_zero(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, RUBRIC))
    b = score([obs("b", "passed")], rubric, student="s", graded_at="t").items[1]
    assert b.score == 0 and b.status == "failed" and "not recorded" in b.feedback


def test_error_is_not_counted_and_flags_incomplete(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, RUBRIC))
    seen = [obs("a", "error", "grader error: boom"), obs("b", "failed"), obs("c", "passed")]
    result = score([*seen, obs("d", "passed")], rubric, student="s", graded_at="t")
    assert not result.complete
    assert result.max_score == 8  # a's 2 points are out of the total, not a zero
    assert "not counted against you" in result.items[0].feedback


def test_feedback_template_quotes_message_and_help(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, RUBRIC))
    o = obs("a", "failed", "saw HTTP 404")
    o.help = "start the container"
    a = score([o], rubric, student="s", graded_at="t").items[0]
    # the template placed {message}, so it is not repeated; the help still follows
    assert a.feedback == "Expected A. saw HTTP 404\nTry: start the container"


def test_score_is_pure(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, RUBRIC))
    observations = [obs("a", "passed"), obs("b", "passed", p95_ms=250)]
    one = score(observations, rubric, student="s", graded_at="t").to_dict()
    two = score(observations, rubric, student="s", graded_at="t").to_dict()
    assert one == two


def test_unknown_check_is_refused_with_its_name(tmp_path: Path) -> None:
    lab = load_lab("hello-chameleon")
    p = write(tmp_path, "lab: hello-chameleon\nitems:\n  - {check: no_such_check, points: 1}\n")
    with pytest.raises(BadInput, match="no_such_check"):
        load_rubric(p, lab)


@pytest.mark.parametrize(
    "body, needle",
    [
        ("lab: x\nitems: []\n", "items"),
        ("lab: x\nitems:\n  - {check: a, points: -1}\n", "points"),
        ("lab: x\nitems:\n  - {check: a, points: 1, visibility: secret}\n", "visibility"),
        ("lab: x\nitems:\n  - {check: a, points: 1, curve: {measurement: m, full: 1}}\n", "zero"),
        ("lab: x\nitems: [\n", "not valid YAML"),
        ("- just\n- a list\n", "mapping"),
    ],
)
def test_schema_errors_are_one_line(tmp_path: Path, body: str, needle: str) -> None:
    with pytest.raises(BadInput) as err:
        load_rubric(write(tmp_path, body))
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("lab_id", lab_ids())
def test_shipped_rubrics_load_against_their_labs(lab_id: str) -> None:
    lab = load_lab(lab_id)
    rubric = load_rubric(rubric_path(lab_id), lab)
    assert {i.check for i in rubric.items} == {c.id for c in lab.checks}


def test_due_date_unquoted_in_yaml_and_without_zone(tmp_path: Path) -> None:
    p = write(tmp_path, "lab: x\ndue: 2026-03-01 12:00:00\nitems:\n  - {check: a, points: 1}\n")
    assert load_rubric(p).due == "2026-03-01T12:00:00+00:00"


@pytest.mark.parametrize("lab_id", lab_ids())
def test_simulator_outcomes_name_only_the_labs_checks(lab_id: str) -> None:
    """The simulator takes each lab's checks from the lab; a profile's hand-written outcomes
    may name only checks the lab has (expected() refuses any other)."""
    from labsim import PROFILES

    checks = load_lab(lab_id).checks
    for profile in PROFILES.values():
        assert list(profile.expected(lab_id, checks)) == [c.id for c in checks], profile.name


def test_simulator_builds_every_lab_and_outcomes_name_real_labs(tmp_path: Path) -> None:
    from labsim import PROFILES, Classroom

    built = [lab for family in Classroom(tmp_path, []).families for lab in family.labs]
    assert sorted(built) == lab_ids()
    named = {(p.name, lab) for p in PROFILES.values() for lab in p.outcomes}
    assert {(name, lab) for name, lab in named if lab not in lab_ids()} == set()


LEADERBOARD = """\
    lab: hello-chameleon
    items:
      - {check: server_active, points: 1, visibility: after_published}
    leaderboard:
      - {name: Speed, check: server_active, measurement: ms, order: asc}
      - {name: Size, check: server_active, measurement: bytes, order: desc}
"""


def test_leaderboard_copies_numeric_measurements_only(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, LEADERBOARD), load_lab("hello-chameleon"))
    assert rubric.items[0].visibility == "after_published"
    measured = obs("server_active", "failed", ms=41.5, bytes=2048)
    seen = score([measured], rubric, student="s", graded_at="t")
    assert seen.leaderboard == [
        {"name": "Speed", "value": 41.5, "order": "asc"},
        {"name": "Size", "value": 2048, "order": "desc"},
    ]
    odd = obs("server_active", "passed", ms=True)
    odd.measurements["bytes"] = "big"
    assert score([odd], rubric, student="s", graded_at="t").leaderboard == []
    assert score([], rubric, student="s", graded_at="t").leaderboard == []


@pytest.mark.parametrize(
    "change, needle",
    [
        (("check: server_active, measurement: ms", "check: nope, measurement: ms"), "nope"),
        (("name: Size", "name: Speed"), "appears twice"),
        (("order: desc", "order: up"), "order"),
    ],
)
def test_bad_leaderboards_are_refused(tmp_path: Path, change: tuple[str, str], needle: str) -> None:
    p = write(tmp_path, LEADERBOARD.replace(*change))
    with pytest.raises(BadInput) as err:
        load_rubric(p, load_lab("hello-chameleon"))
    assert needle in str(err.value) and "leaderboard[" in str(err.value)
