"""Wall times a user meets: `labgrader --help`, and one `labgrader check` per lab on a
healthy and on a tarpit simulated student (the slowest kind: every probe runs out its time).

Run by hand as root:  .venv/bin/python benchmarks/check_times.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labsim import Classroom

LABGRADER = [sys.executable, "-m", "graders.cli"]


def wall(cmd: list[str], env: dict | None = None) -> float:
    t0 = time.monotonic()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def main() -> None:
    exe = str(Path(sys.executable).with_name("labgrader"))
    helps = sorted(wall([exe, "--help"]) for _ in range(15))
    print(
        f"labgrader --help: median {statistics.median(helps):.3f} s, "
        f"min {helps[0]:.3f} s, max {helps[-1]:.3f} s (15 runs)"
    )
    with Classroom(Path(tempfile.mkdtemp(prefix="bench-")), ["healthy", "tarpit"]) as room:
        env = {**os.environ, **room.openstack_env}
        for s in room.students:
            for lab in ("hello-chameleon", "cloud-chi"):
                runs = [
                    wall([exe, "check", lab, "--student", str(s.student_file)], env)
                    for _ in range(3)
                ]
                print(
                    f"labgrader check {lab:16} {s.profile:8}: median "
                    f"{statistics.median(runs):.2f} s (3 runs: "
                    + ", ".join(f"{r:.2f}" for r in runs)
                    + ")"
                )


if __name__ == "__main__":
    main()
