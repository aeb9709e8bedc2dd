"""The stand-ins' error paths, against the real tools on this machine: a mistyped command on a
simulated host must fail with the text the real tool prints."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labsim.hosts import STANDINS


def _both(tool: str, args: list[str], state: Path) -> tuple[tuple, tuple]:
    real_tool = shutil.which(tool)
    if not real_tool:
        pytest.skip(f"no {tool} here to compare with")
    # run as a shell finds it on PATH: getopt's messages start with argv[0]
    real = subprocess.run([tool, *args], executable=real_tool, capture_output=True, text=True)
    fake = subprocess.run(
        [sys.executable, "-IS", str(STANDINS / tool), *args],
        capture_output=True,
        text=True,
        env={"LABGRADER_SIM_STATE": str(state)},
    )
    return (fake.returncode, fake.stdout, fake.stderr), (real.returncode, real.stdout, real.stderr)


@pytest.mark.parametrize("args", [["get", "pods", "-n"], ["zzzqqq"]])
def test_kubectl_usage_errors(tmp_path: Path, args: list[str]) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"kubernetes": [], "crds": []}))
    mine, real = _both("kubectl", args, state)
    assert mine == real


@pytest.mark.parametrize("args", [["--target"], ["-o"], ["--output"]])
def test_findmnt_usage_errors(tmp_path: Path, args: list[str]) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"fs": {"mounts": [], "dirs": []}}))
    mine, real = _both("findmnt", args, state)
    assert mine == real
