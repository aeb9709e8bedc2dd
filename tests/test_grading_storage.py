"""End to end on the data labs: python-chi, unchanged, lists Swift containers and Cinder volumes
from the fake OpenStack (blockobject.py); a real sshd runs the docker, docker compose and
findmnt stand-ins; the platform's health endpoints are HTTP stand-ins on their ports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import graded_as_expected

PROFILES = {
    "data-persist-chi": [
        "healthy",
        "block_not_mounted",
        "volume_detached",
        "empty_object_container",
        "no_object_container",
        "dummy_objects",
        "never_recreated",
        "postgres18",
        "mlflow_data_lost",
        "host_down",
        "tarpit",
    ],
    "data-platform-chi": [
        "healthy",
        "compose_service_down",
        "health_garbage",
        "health_huge",
        "no_data_flowing",
        "api_v1",
        "ui_impostor",
        "dag_rerun",
        "training_failed",
        "host_down",
        "tarpit",
    ],
}


def test_every_profile_is_graded_as_expected(lab_room) -> None:
    lab_id, r = lab_room
    graded = graded_as_expected(lab_id, r.students)
    if lab_id == "data-persist-chi":  # the durable record: the listing with sizes and MD5s
        result = next(res for s, res in graded if s.profile == "healthy")
        listing = next(c for c in result.items if c.check == "object_container")
        assert listing.measurements["objects"] == 16643  # Food-11: 9,866 + 3,430 + 3,347
        assert len(listing.measurements["listing_sha256"]) == 64


def test_findmnt_standin_prints_what_util_linux_prints(tmp_path) -> None:
    """Fed this machine's own mounts, the stand-in's output is byte for byte the real one's."""
    from labsim.hosts import STANDINS

    if not shutil.which("findmnt"):
        pytest.skip("no findmnt here")

    def real(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["findmnt", *args], capture_output=True, text=True)

    mounts = [json.loads(real("-J", t).stdout)["filesystems"][0] for t in ("/", "/proc")]
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"fs": {"mounts": mounts, "dirs": ["/etc"]}}))
    for args in (["-J", "/"], ["/proc"], ["-J", "-T", "/etc"], ["-n", "/proc"], ["-J", "/etc"]):
        fake = subprocess.run(
            [sys.executable, "-IS", str(STANDINS / "findmnt"), *args],
            capture_output=True,
            text=True,
            env={"LABGRADER_SIM_STATE": str(state)},
        )
        want = real(*args)
        assert (fake.returncode, fake.stdout) == (want.returncode, want.stdout), args


def test_compose_json_of_every_v2_release_is_read() -> None:
    """One object per line (Compose v2.21+) and one JSON array (older v2) read the same;
    anything else is the student's failure, named."""
    from graders.errors import Failure
    from graders.labs import load_lab

    rows = [{"Service": "redis", "State": "running"}, {"Service": "minio", "State": "exited"}]
    lab = load_lab("data-platform-chi")
    read = next(c.func for c in lab.checks if c.id == "compose_services").__globals__[
        "_compose_rows"
    ]

    assert read("\n".join(json.dumps(r) for r in rows) + "\n") == rows
    assert read(json.dumps(rows)) == rows
    assert read("") == []
    with pytest.raises(Failure, match="not JSON"):
        read("NAME  IMAGE  COMMAND\n")


def test_deleted_resources_keep_their_durable_readings() -> None:
    """After the lab's last step deletes server, volume and container, a regrade skips the
    durable checks, and the earlier readings stand."""
    from graders.durable import carry_forward
    from graders.evidence import Observation
    from graders.labs import load_lab

    lab = load_lab("data-persist-chi")
    durable = lab.config["durable"]
    assert set(durable) == {"object_container", "volume_attached", "server_recreated"}
    before = [Observation(c.id, "passed") for c in lab.checks]
    after = [Observation("server_active", "failed")] + [
        Observation(c.id, "skipped") for c in lab.checks if c.id != "server_active"
    ]
    kept = {o.check: o.status for o in carry_forward(after, [("t0", before)], durable)}
    assert kept["object_container"] == kept["volume_attached"] == "passed"
    assert kept["server_recreated"] == "passed"
    assert kept["server_active"] == "failed" and kept["block_mounted"] == "skipped"
