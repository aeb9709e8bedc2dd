"""Grade one student on one lab: observe (network), then judge (pure)."""

from __future__ import annotations

from graders.checks import Session
from graders.errors import BadInput
from graders.evidence import Observation, now
from graders.files import load_yaml
from graders.labs import LabSpec, rubrics_dir
from graders.probes.chameleon import Chameleon, Site, credentials_problem
from graders.probes.ssh import SshPool
from graders.results import Result
from graders.rubric import Rubric, score
from graders.runner import run_lab
from graders.student import Student


def site_for(lab: LabSpec) -> Site:
    return site_named(lab.config["site"], f"lab {lab.id}")


def site_named(name: str, who: str = "a lab") -> Site:
    """A Chameleon site by name, with its auth URL from rubrics/course.yaml."""
    sites = load_yaml(rubrics_dir() / "course.yaml", "course", "course file")["sites"]
    if name not in sites:
        raise BadInput(f"{who} uses site {name!r}, which rubrics/course.yaml does not list")
    return Site(name, sites[name]["auth_url"])


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
