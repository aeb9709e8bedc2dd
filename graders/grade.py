"""Grade one student on one lab: observe (network), then judge (pure)."""

from __future__ import annotations

from graders.checks import Session
from graders.course import Site
from graders.errors import BadInput, GraderFault
from graders.evidence import Observation, now
from graders.labs import LabSpec, site_for, site_named  # noqa: F401 - site_named re-exported
from graders.probes.chameleon import Chameleon, CredentialsRefused
from graders.probes.ssh import SshPool
from graders.results import Result
from graders.rubric import Rubric, score
from graders.runner import run_lab
from graders.student import Student


def preflight(lab: LabSpec, *, staff: bool = False) -> Site | None:
    """Problems to fix before anything connects: Chameleon credentials that are missing,
    refused or cannot reach a site the lab uses. One token and one server listing per site
    (cached: the checks reuse it). A student's refused credentials are the student's to fix,
    said as such; the staff's stop the batch before anyone is graded.

    Where the manual allows several sites for the lab's servers, a student needs credentials
    only where they built (an openrc is per site): one working site is enough, and a server
    found at none of them says which could not be searched. Staff need every site."""
    if not lab.config.get("uses_chameleon", True):
        return None
    whose = "the staff's" if staff else "your"
    in_containers = lab.config.get("inventory") == "containers"  # Zun, at CHI@Edge
    server_sites = lab.config["sites"]
    problems: dict[str, BadInput] = {}
    for name in lab.sites:
        site = site_named(name, f"lab {lab.id}")
        probe = Chameleon(site)
        try:
            probe.token()
            if name in server_sites:  # where the lab's resources are: list them once
                (probe.containers if in_containers else probe.servers)()
        except CredentialsRefused:
            entry = f", or its clouds.yaml entry {site.cloud!r}" if site.cloud else ""
            problems[name] = BadInput(
                f"{whose} Chameleon credentials for {site.name} were refused: source the openrc "
                f"for that site{entry} (application credentials are per site)"
            )
        except GraderFault as exc:
            problems[name] = BadInput(f"{exc} (checked before grading with {whose} credentials)")
    usable = [s for s in server_sites if s not in problems]
    fatal = [p for s, p in problems.items() if staff or s not in server_sites or not usable]
    if fatal:
        raise fatal[0]
    return site_for(lab)


def observe(lab: LabSpec, student: Student, site: Site | None) -> list[Observation]:
    ssh = SshPool(port=int(lab.config.get("ports", {}).get("ssh", 22)), staff=student.staff_login)
    owner = student.chameleon_user_id or ""
    also = tuple(site_named(s, f"lab {lab.id}") for s in lab.config["sites"][1:])
    chameleon = Chameleon(site, owner=owner, also=also) if site else None
    session = Session(student, lab.config, chameleon, ssh)
    try:
        return run_lab(lab.checks, session)
    finally:
        ssh.close()


def grade(lab: LabSpec, rubric: Rubric, student: Student, site: Site | None) -> Result:
    observations = observe(lab, student, site)
    return score(observations, rubric, student=student.netid, graded_at=now())
