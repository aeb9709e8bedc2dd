"""The student install: how long the guide's install line takes and how large the venv is.

    .venv/bin/python benchmarks/student_install.py            # from the set-up's wheelhouse
    .venv/bin/python benchmarks/student_install.py --index    # from PyPI, as a student does

The line is the one in student_template/GUIDE.md, with the repository address replaced by a
wheel built from this tree. Offline, pip reads only .cache/wheelhouse (scripts/setup.sh fills
it); with --index it downloads from the package index (network; not a test).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.test_install import SPEC, WHEELHOUSE, install_line  # noqa: E402


def size_mib(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", action="store_true", help="install from the package index")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
             "--no-index", "-w", str(home / "dist"), str(ROOT)],
            check=True,
        )
        wheel = next((home / "dist").glob("labgrader-*.whl"))
        env = {**os.environ, "HOME": str(home), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        env.pop("VIRTUAL_ENV", None)
        if not args.index:
            env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(WHEELHOUSE))
        line = install_line().replace(SPEC, str(wheel))
        t0 = time.monotonic()
        subprocess.run(["bash", "-c", line], cwd=home, env=env, check=True)
        took = time.monotonic() - t0
        venv = home / "labgrader"
        site = next((venv / "lib").glob("python3*/site-packages"))
        dists = len(list(site.glob("*.dist-info")))
        total = size_mib(venv)
        biggest = sorted(
            ((size_mib(p), p.name) for p in site.iterdir() if p.is_dir()), reverse=True
        )[:8]
    source = "the package index" if args.index else "the local wheelhouse"
    print(f"install line from {source}: {took:.1f} s")
    print(f"venv: {total:.0f} MiB, {dists} distributions")
    print("largest: " + ", ".join(f"{name} {mib:.0f} MiB" for mib, name in biggest))


if __name__ == "__main__":
    main()
