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
    with pytest.raises(BadInput, match="durable names unknown checks no_such_check"):
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
