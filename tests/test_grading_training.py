"""End to end on the training labs: a real MLflow tracking server and a real S3 server (moto)
per simulated host, a Ray dashboard stand-in, GPU stand-ins inside the Ray workers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import jsonschema
import pytest

from graders.files import schema
from graders.grade import grade, site_for
from graders.labs import load_lab
from graders.probes.chameleon import reset_cache
from graders.rubric import load_rubric, rubric_path
from graders.student import load_student

PROFILES = {
    "mlflow-chi": [
        "healthy",
        "no_registered_model",
        "mlflow_down",
        "empty_bucket",
        "mlflow_garbage",
        "host_down",
    ],
    "mltrain-chi": [
        "healthy",
        "job_failed",
        "worker_missing",
        "no_checkpoints",
        "amd_gpus",
        "host_down",
    ],
}


@pytest.fixture(scope="module", params=list(PROFILES))
def room(request, tmp_path_factory) -> Iterator[tuple[str, object]]:
    if os.geteuid() != 0:
        pytest.skip("the simulator needs root")
    from graders.sim import Classroom

    lab = request.param
    r = Classroom(tmp_path_factory.mktemp(lab), PROFILES[lab], labs=(lab,))
    r.start()
    saved = {k: os.environ.get(k) for k in r.openstack_env}
    os.environ.update(r.openstack_env)
    reset_cache()
    try:
        yield lab, r
    finally:
        r.stop()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        reset_cache()


def test_every_profile_is_graded_as_expected(room) -> None:
    lab_id, r = room
    lab = load_lab(lab_id)
    rubric = load_rubric(rubric_path(lab_id), lab)
    wrong = {}
    for s in r.students:
        result = grade(lab, rubric, load_student(s.student_file), site_for(lab))
        got = {c.check: c.observed for c in result.checks}
        if got != s.expected(lab_id):
            wrong[s.profile] = {
                k: (v, got.get(k)) for k, v in s.expected(lab_id).items() if got.get(k) != v
            }
        jsonschema.validate(result.to_dict(), schema("result"))
        for c in result.checks:
            assert c.evidence, f"{s.profile}: {c.id} kept no evidence"
            if c.observed not in ("passed", "skipped"):
                assert c.feedback and "grader error" not in c.feedback, (s.profile, c.feedback)
    assert not wrong, wrong
