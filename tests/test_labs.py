"""Loading a lab: its checks, the names it declares durable, and its variant for the year."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from graders.errors import BadInput
from graders.labs import load_lab

LAB = "mlflow-chi"
REPO = Path(__file__).resolve().parents[1]


def test_durable_must_name_the_labs_checks(tmp_path: Path, monkeypatch) -> None:
    labs = tmp_path / "labs"
    shutil.copytree(REPO / "labs" / LAB, labs / LAB)
    spec = labs / LAB / "lab.yaml"
    spec.write_text(spec.read_text().replace("durable: [", "durable: [no_such_check, "))
    monkeypatch.setenv("LABGRADER_LABS", str(labs))
    with pytest.raises(BadInput, match="durable or phases name unknown checks no_such_check"):
        load_lab(LAB)


def test_the_course_year_picks_the_labs_ports(tmp_path: Path, monkeypatch) -> None:
    assert load_lab("mlops-chi").config["ports"]["staging"] == 8082  # course.yaml: 2026
    rubrics = tmp_path / "rubrics"
    shutil.copytree(REPO / "rubrics", rubrics)
    course = rubrics / "course.yaml"
    course.write_text(course.read_text().replace("year: 2026", "year: 2025"))
    monkeypatch.setenv("LABGRADER_RUBRICS", str(rubrics))
    config = load_lab("mlops-chi").config
    ports = config["ports"]
    assert (ports["staging"], ports["canary"], ports["production"]) == (8081, 8080, 80)
    assert ports["mlflow"] == 8000  # what the year does not name stays
    assert config["gateway"] is None  # 2025 had no gateway: gateway_split skips itself


def test_every_lab_that_logs_in_checks_the_course_key() -> None:
    """A 0-point item, always shown: the student sees when staff could not log in."""
    from graders.labkit.instances import COURSE_KEY_CHECK
    from graders.labs import lab_ids, load_lab
    from graders.rubric import load_rubric, rubric_path

    logging_in = 0
    for lab_id in lab_ids():
        lab = load_lab(lab_id)
        rubric = load_rubric(rubric_path(lab_id), lab)
        ids = [c.id for c in lab.checks]
        if not any(c.vantage == "host" for c in lab.checks):
            assert COURSE_KEY_CHECK not in ids, lab_id
            continue
        logging_in += 1
        assert COURSE_KEY_CHECK in ids, f"{lab_id} logs in but does not check the course key"
        items = [i for i in rubric.items if i.check == COURSE_KEY_CHECK]
        assert len(items) == 1 and items[0].points == 0 and items[0].visibility == "visible"
    assert logging_in == 12


def test_the_guide_says_when_to_grade_each_lab_as_its_lab_file_does() -> None:
    from graders.labs import lab_ids, load_lab
    from graders.paths import ROOT

    guide = (ROOT / "student_template" / "GUIDE.md").read_text()
    table = guide[guide.index("<!-- grade-before -->") : guide.index("<!-- /grade-before -->")]
    rows = dict(
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in table.splitlines()[1:]
    )
    assert rows == {lab_id: load_lab(lab_id).config["grade_before"] for lab_id in lab_ids()}


def test_the_readme_says_when_to_grade_each_lab_as_its_lab_file_does() -> None:
    """The README's lab table ends each row with the step of the manual to grade before."""
    from graders.labs import lab_ids, load_lab
    from graders.paths import ROOT

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("<!-- labs -->") : readme.index("<!-- /labs -->")]
    rows = {
        cells[0]: cells[-1]
        for line in table.splitlines()[3:]
        if (cells := [c.strip() for c in line.strip().strip("|").split("|")])
    }
    assert rows == {lab_id: load_lab(lab_id).config["grade_before"] for lab_id in lab_ids()}
