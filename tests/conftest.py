"""Shared fixtures: one simulated classroom for the session, real servers, torn down at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ALL_PROFILES = [
    "healthy",
    "missing_file",
    "unedited_file",
    "server_error",
    "endpoint_500",
    "missing_k8s_object",
    "host_down",
    "tarpit",
]


@pytest.fixture(scope="session")
def classroom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Every profile once, both labs, with the OpenStack variables pointing at the fake API."""
    if os.geteuid() != 0:
        pytest.skip("the simulator needs root (sshd, ports 22 and 80)")
    from graders.probes.chameleon import reset_cache
    from graders.sim import Classroom

    room = Classroom(Path(tmp_path_factory.mktemp("class")), ALL_PROFILES)
    room.start()
    saved = {k: os.environ.get(k) for k in room.openstack_env}
    os.environ.update(room.openstack_env)
    reset_cache()
    try:
        yield room
    finally:
        room.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_cache()


@pytest.fixture(scope="session")
def by_profile(classroom) -> dict[str, object]:
    return {s.profile: s for s in classroom.students}
