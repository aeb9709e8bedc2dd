"""The plain install, as a student gets it: the wheel built from this tree, installed by the
guide's own install line, as a user who is not root, into a fresh venv, with no extras and no
simulator. Then that install lists every lab, validates every rubric and grades a simulated
student. Wheels come from the set-up's wheelhouse: no index is reached (tests stay on
loopback)."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import expected

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "student_template" / "GUIDE.md"
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
SPEC = '"labgrader @ git+https://github.com/COURSE/labgrader"'  # the guide's placeholder
USER = "lgstudent"
SYSTEM_PYTHON = Path("/usr/bin/python3")


def install_line() -> str:
    """The one line the guide gives students (the first line of its install block)."""
    text = GUIDE.read_text()
    block = re.search(r"<!-- install -->\s*```bash\n(.+?)\n", text)
    assert block, "GUIDE.md lost its install block (marked <!-- install -->)"
    return block.group(1)


def _same_python() -> bool:
    """The wheelhouse holds wheels for this interpreter's version; the student's python3
    must be that version for them to install."""
    if not SYSTEM_PYTHON.exists():
        return False
    out = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return out == str(sys.version_info[:2])


@pytest.fixture(scope="module")
def student_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A non-root user whose home holds the venv the guide's line made from a fresh wheel."""
    if os.geteuid() != 0:
        pytest.skip("creating the non-root student account needs root")
    if not (WHEELHOUSE / ".stamp").is_file():
        pytest.skip("no wheelhouse: run scripts/setup.sh")
    if not _same_python():
        pytest.skip(f"{SYSTEM_PYTHON} is not Python {sys.version_info[0]}.{sys.version_info[1]}")
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("labgrader-*.whl"))
    # The student's files live where that user can read them (pytest's tmp dirs are 0700).
    base = Path(tempfile.mkdtemp(prefix="lg-student-", dir="/tmp"))
    base.chmod(0o755)
    home = base / "home"
    shared = base / "wheels"
    shutil.copytree(WHEELHOUSE, shared)
    shutil.copy(wheel, shared)
    created = subprocess.run(["id", USER], capture_output=True).returncode != 0
    if created:
        subprocess.run(
            ["useradd", "--home-dir", str(home), "--create-home", "--shell", "/bin/bash", USER],
            check=True,
        )
    else:
        home.mkdir()
    pw = pwd.getpwnam(USER)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        # The guide's line as written; pip is pointed at the local wheels by its own variables.
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(shared),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    line = install_line().replace(SPEC, str(shared / wheel.name))
    done = as_student(line, env, timeout=600)
    try:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        venv = home / "labgrader"
        yield {"home": home, "env": env, "venv": venv, "bin": venv / "bin" / "labgrader"}
    finally:
        if created:
            subprocess.run(["userdel", USER], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def as_student(command: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups",
         "bash", "-c", command],
        env=env,
        cwd=env["HOME"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_install_line_needs_no_root_and_gives_check(student_install) -> None:
    done = as_student(f"{student_install['bin']} check --help", student_install["env"])
    assert done.returncode == 0, done.stderr
    assert "--student" in done.stdout


def test_the_plain_install_has_no_simulator_and_no_test_servers(student_install) -> None:
    site = next((student_install["venv"] / "lib").glob("python3*/site-packages"))
    present = {p.name.lower() for p in site.iterdir()}
    for absent in ("labsim", "mlflow", "moto", "onnxruntime", "fastapi", "pytest"):
        assert absent not in present, f"{absent} is in the student's install"
    demo = as_student(f"{student_install['bin']} demo", student_install["env"])
    lines = demo.stderr.strip().splitlines()
    assert demo.returncode == 2 and len(lines) == 1 and "simulator" in lines[0], demo.stderr


def test_the_wheel_lists_every_lab_and_validates_every_rubric(student_install) -> None:
    env, lg = student_install["env"], student_install["bin"]
    labs = as_student(f"{lg} labs", env)
    assert labs.returncode == 0, labs.stderr
    listed = {line.split()[0] for line in labs.stdout.splitlines()}
    assert listed == {p.name for p in (ROOT / "labs").iterdir() if (p / "lab.yaml").is_file()}
    assert len(listed) == 14
    # The rubrics the wheel carries, not the repository's: found through the installed package.
    where = as_student(
        f"{student_install['venv']}/bin/python -c "
        "'from graders.labs import rubrics_dir; print(rubrics_dir())'",
        env,
    )
    rubrics = Path(where.stdout.strip())
    assert str(rubrics).startswith(str(student_install["venv"])), rubrics
    files = sorted(p for p in rubrics.glob("*.yaml") if p.name not in ("course.yaml",))
    assert len(files) == 14
    for f in files:
        done = as_student(f"{lg} rubric validate {f}", env)
        assert done.returncode == 0 and "valid rubric" in done.stdout, (f, done.stderr)


def test_the_wheel_grades_a_student_of_the_simulator(student_install, by_profile) -> None:
    """The installed labgrader, run as the student, grades a healthy simulated student."""
    st = by_profile["healthy"]
    home, env = student_install["home"], dict(student_install["env"])
    pw = pwd.getpwnam(USER)
    key = home / "id_rsa_chameleon"
    shutil.copy(st.key_path, key)
    os.chown(key, pw.pw_uid, pw.pw_gid)
    key.chmod(0o600)
    (home / "student.yaml").write_text(
        f"netid: {st.netid}\nchameleon_user: {st.chameleon_user}\nssh_key: {key}\n"
    )
    env.update(
        {k: v for k, v in os.environ.items() if k.startswith(("OS_", "LABGRADER_"))}
    )  # the classroom's API and course key; its clouds.yaml, where the student can read it
    clouds = home / "clouds.yaml"
    shutil.copy(os.environ["OS_CLIENT_CONFIG_FILE"], clouds)
    os.chown(clouds, pw.pw_uid, pw.pw_gid)
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    done = as_student(
        f"{student_install['bin']} check hello-chameleon --student student.yaml "
        "--format json --show-hidden",  # every check's observed status, the hidden one too
        env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    got = {c["check"]: c["observed"] for c in result["checks"]}
    assert got == expected(st, "hello-chameleon")
