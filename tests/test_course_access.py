"""Staff access and credentials, through the real CLI against a simulated class: staff log in
with the course key (never the students'), every login lab checks that key is on the
instance, and Chameleon credentials are per site (clouds.yaml), with a student's refused
credentials reported as the student's to fix."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from graders.course import StaffKey, key_fingerprint
from tests.conftest import loopback_rubrics, run_cli, student_of

PROFILES = ["healthy", "no_course_key", "host_down"]


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if os.geteuid() != 0:
        pytest.skip("the simulator needs root")
    from labsim import Classroom

    r = Classroom(tmp_path_factory.mktemp("access-class"), PROFILES, labs=("hello-chameleon",))
    r.start()
    yield r
    r.stop()


def labgrader(env: dict[str, str | None], *args: str) -> subprocess.CompletedProcess:
    return run_cli(env, *args)


def class_env(room, **changes: str | None) -> dict[str, str | None]:
    """The class's environment, with `changes` (None: that variable unset)."""
    return {**room.openstack_env, **changes}


def roster_without_keys(room, path: Path) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["netid", "chameleon_user", "email"])
        for s in room.students:
            w.writerow([s.netid, s.chameleon_user, f"{s.netid}@nyu.edu"])
    return path


# ---- the key itself -------------------------------------------------------------------------
def test_fingerprints_agree_with_ssh_keygen(room) -> None:
    public = room.course_key_path.with_suffix(".pub")
    printed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(public)], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert key_fingerprint(public.read_text()) == printed
    line = f'no-pty,from="10.0.0.0/8" {public.read_text().strip()}'  # options before the key
    assert StaffKey.parse(public.read_text()).in_authorized_keys(f"# staff\n{line}\n")
    assert not StaffKey.parse(printed).in_authorized_keys("ssh-ed25519 AAAAC3NzaC1lZDI1 x\n")


def test_course_key_prints_the_public_half(room) -> None:
    done = labgrader(class_env(room), "course-key")
    assert done.returncode == 0
    assert done.stdout.strip() == room.course_key_path.with_suffix(".pub").read_text().strip()
    fingerprint = key_fingerprint(done.stdout)
    only = labgrader(class_env(room, LABGRADER_STAFF_KEY=fingerprint), "course-key")
    assert only.returncode == 2 and "fingerprint" in only.stderr and not only.stdout


# ---- a student's self-check ---------------------------------------------------------------
def test_self_check_warns_loudly_when_staff_cannot_log_in(room) -> None:
    st = student_of(room, "no_course_key")
    done = labgrader(
        class_env(room), "check", "hello-chameleon", "--student", str(st.student_file),
        "--format", "json",
    )
    result = json.loads(done.stdout)
    got = {c["check"]: c for c in result["checks"] if c["status"] != "hidden"}
    assert got["ssh_login"]["status"] == "passed"  # the student's own key works
    item = got["course_key"]
    assert item["status"] == "failed" and item["max_score"] == 0
    assert item["visibility"] == "visible"
    # The exact command that adds it, with this student's key and instance.
    assert f"-i {st.key_path} cc@{st.address('hello-chameleon')}" in item["feedback"]
    assert "WARNING: staff cannot log in" in done.stderr
    assert done.returncode == 1


def test_self_check_passes_the_key_where_it_is_added(room) -> None:
    st = student_of(room, "healthy")
    done = labgrader(
        class_env(room), "check", "hello-chameleon", "--student", str(st.student_file),
        "--format", "json",
    )
    assert done.returncode == 0, done.stderr
    got = {c.get("check"): c["status"] for c in json.loads(done.stdout)["checks"]}
    assert got["course_key"] == "passed" and "WARNING" not in done.stderr


def test_nothing_found_reminds_the_student_when_to_grade(room, tmp_path: Path) -> None:
    st = student_of(room, "healthy")
    other = tmp_path / "student.yaml"
    other.write_text(f"netid: gone1\nchameleon_user: gone1\nssh_key: {st.key_path}\n")
    done = labgrader(class_env(room), "check", "hello-chameleon", "--student", str(other))
    assert done.returncode == 1
    assert "nothing of hello-chameleon was found" in done.stderr
    assert "deleting the server and the lease" in done.stderr


# ---- a staff batch with the course key ----------------------------------------------------
def test_staff_batch_logs_in_with_the_course_key(room, tmp_path: Path) -> None:
    roster = roster_without_keys(room, tmp_path / "roster.csv")
    out = tmp_path / "out"
    done = labgrader(
        class_env(room), "batch", "hello-chameleon", "--roster", str(roster), "--out", str(out),
        "--ssh-key", str(room.course_key_path),
    )
    assert done.returncode in (0, 1), done.stderr
    results = {
        s.profile: json.loads((out / "students" / s.netid / "result.json").read_text())
        for s in room.students
    }
    healthy = {c["check"]: c["observed"] for c in results["healthy"]["checks"]}
    assert set(healthy.values()) == {"passed"}
    refused = {c["check"]: c for c in results["no_course_key"]["checks"]}
    # The host is up: a missing key is said as such, never as a dead host.
    assert refused["ssh_login"]["observed"] == "failed"
    assert "course staff key was refused" in refused["ssh_login"]["feedback"]
    assert refused["course_key"]["observed"] == "failed"
    assert refused["hello_file"]["observed"] == "skipped"
    down = {c["check"]: c["observed"] for c in results["host_down"]["checks"]}
    assert down["ssh_login"] == "unreachable"
    assert "1 students have not added the course key" in done.stderr


def test_a_roster_without_keys_needs_the_course_key(room, tmp_path: Path) -> None:
    roster = roster_without_keys(room, tmp_path / "roster.csv")
    done = labgrader(
        class_env(room), "batch", "hello-chameleon", "--roster", str(roster),
        "--out", str(tmp_path / "out"),
    )
    assert done.returncode == 2 and "--ssh-key" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_key_that_is_not_the_course_key_is_refused(room, tmp_path: Path) -> None:
    roster = roster_without_keys(room, tmp_path / "roster.csv")
    done = labgrader(
        class_env(room), "batch", "hello-chameleon", "--roster", str(roster),
        "--out", str(tmp_path / "out"), "--ssh-key", str(room.students[0].key_path),
    )
    assert done.returncode == 2 and "is not the course staff key" in done.stderr
    assert not (tmp_path / "out").exists()


# ---- credentials per site --------------------------------------------------------------------
def test_one_sites_credentials_are_refused_at_another_as_the_students_problem(
    room, tmp_path: Path
) -> None:
    """An openrc for KVM@TACC only (no clouds.yaml); mltrain-chi is at CHI@TACC, where the
    openrc's OS_AUTH_URL does not apply: the site's own Keystone refuses KVM@TACC's
    credential."""
    st = student_of(room, "healthy")
    env = class_env(
        room,
        OS_CLIENT_CONFIG_FILE=str(tmp_path / "none.yaml"),
        LABGRADER_RUBRICS=loopback_rubrics(room, tmp_path),
    )
    done = labgrader(env, "check", "mltrain-chi", "--student", str(st.student_file))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1
    assert "your Chameleon credentials for CHI@TACC were refused: source the openrc" in lines[0]
    assert "grader error" not in lines[0]
    # The site the openrc is for works the same way.
    ok = labgrader(env, "check", "hello-chameleon", "--student", str(st.student_file))
    assert ok.returncode == 0, ok.stderr


def test_a_staff_batch_with_refused_credentials_grades_nobody(room, tmp_path: Path) -> None:
    roster = roster_without_keys(room, tmp_path / "roster.csv")
    bad = tmp_path / "clouds.yaml"
    clouds = json.loads(Path(room.openstack_env["OS_CLIENT_CONFIG_FILE"]).read_text())
    clouds["clouds"]["kvm-tacc"]["auth"]["application_credential_secret"] = "expired"
    bad.write_text(json.dumps(clouds))
    done = labgrader(
        class_env(room, OS_CLIENT_CONFIG_FILE=str(bad)), "batch", "hello-chameleon",
        "--roster", str(roster), "--out", str(tmp_path / "out"),
        "--ssh-key", str(room.course_key_path),
    )
    assert done.returncode == 2
    assert "the staff's Chameleon credentials for KVM@TACC were refused" in done.stderr
    assert not (tmp_path / "out" / "students").exists()


def test_os_cloud_naming_a_missing_entry_is_one_line(room, tmp_path: Path) -> None:
    st = student_of(room, "healthy")
    done = labgrader(
        class_env(room, OS_CLOUD="nowhere"), "check", "hello-chameleon",
        "--student", str(st.student_file),
    )
    assert done.returncode == 2 and "OS_CLOUD names cloud 'nowhere'" in done.stderr


def test_a_clouds_yaml_entry_per_site_reaches_each_site(room, tmp_path: Path) -> None:
    """With the class's clouds.yaml (an entry per site, as Chameleon's downloads give them,
    auth_url without /v3), a CHI@TACC lab gets past its credentials: mltrain-chi finds no
    server of this student there, and says so as a failed check, not a refusal."""
    st = student_of(room, "healthy")
    done = labgrader(
        class_env(room), "check", "mltrain-chi", "--student", str(st.student_file),
        "--format", "json",
    )
    got = {c.get("check"): c for c in json.loads(done.stdout)["checks"]}
    assert got["server_active"]["observed"] == "failed"
    assert "no server named" in got["server_active"]["feedback"]


def test_staff_need_every_site_a_lab_allows(room, tmp_path: Path) -> None:
    """mlflow-chi runs at CHI@TACC or KVM@TACC: a student may have built at either, so a
    staff batch whose CHI@TACC credentials are refused grades nobody, even though KVM@TACC's
    work (a student's self-check needs only the site they built at)."""
    roster = roster_without_keys(room, tmp_path / "roster.csv")
    bad = tmp_path / "clouds.yaml"
    clouds = json.loads(Path(room.openstack_env["OS_CLIENT_CONFIG_FILE"]).read_text())
    clouds["clouds"]["chi-tacc"]["auth"]["application_credential_secret"] = "expired"
    bad.write_text(json.dumps(clouds))
    done = labgrader(
        class_env(room, OS_CLIENT_CONFIG_FILE=str(bad)), "batch", "mlflow-chi",
        "--roster", str(roster), "--out", str(tmp_path / "out"),
        "--ssh-key", str(room.course_key_path),
    )
    assert done.returncode == 2
    assert "the staff's Chameleon credentials for CHI@TACC were refused" in done.stderr
    assert not (tmp_path / "out" / "students").exists()
