"""Grade one student on one lab: observe (network), then judge (pure)."""

from __future__ import annotations

from graders.checks import Session
from graders.errors import BadInput
from graders.evidence import Observation, now
from graders.labs import LabSpec, site_for, site_named  # noqa: F401 - site_named re-exported
from graders.probes.chameleon import Chameleon, Site, credentials_problem
from graders.probes.ssh import SshPool
from graders.results import Result
from graders.rubric import Rubric, score
from graders.runner import run_lab
from graders.student import Student


def preflight(lab: LabSpec) -> Site | None:
    """Problems the user must fix before anything connects."""
    if not lab.config.get("uses_chameleon", True):
        return None
    problem = credentials_problem()
    if problem:
        raise BadInput(problem)
    return site_for(lab)


def observe(lab: LabSpec, student: Student, site: Site | None) -> list[Observation]:
    ssh = SshPool(port=int(lab.config.get("ports", {}).get("ssh", 22)))
    session = Session(student, lab.config, Chameleon(site) if site else None, ssh)
    try:
        return run_lab(lab.checks, session)
    finally:
        ssh.close()


def grade(lab: LabSpec, rubric: Rubric, student: Student, site: Site | None) -> Result:
    observations = observe(lab, student, site)
    return score(observations, rubric, student=student.netid, graded_at=now())
