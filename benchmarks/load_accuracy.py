"""How right is the load probe? Four simulated model servers inject known latency
distributions (5, 20, 100 and 400 ms medians); `labgrader batch serve-system-chi` measures them
with latency_c1 (100 requests at concurrency 1), and its p50/p95 are compared with the
latencies the servers really had (each from arrival to last byte sent, recorded server-side).

Twice: the four students graded alone, one at a time; then the same four inside a
200-student serve-system batch (`--jobs 64`) in one grader process, on the same machine as the
200 simulated hosts. The batch's labs are the real ones, with the GPU window cut to 1 s and
the concurrency-16 run to 160 requests, so 196 filler students take minutes, not a quarter
hour; latency_c1 is untouched.

Run by hand as root:  .venv/bin/python benchmarks/load_accuracy.py [--students 200]
Goal: within 5% or 1 ms (whichever is larger) for latencies from 5 ms up.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

from graders.probes.load import _pct
from labsim import Classroom, profiles
from labsim.modelserver import LatencyModel
from labsim.serving import KNOBS, Knobs

LAB = "serve-system-chi"
LEVELS = {"lat5": (5, 8), "lat20": (20, 30), "lat100": (100, 160), "lat400": (400, 650)}


def add_profiles() -> None:
    """Benchmark-only profiles: a healthy serve-system host with a given latency."""
    for name, (p50, p95) in LEVELS.items():
        KNOBS[name] = Knobs(latency=LatencyModel("lognormal", float(p50), float(p95)))
        profiles.PROFILES[name] = profiles.Profile(name, f"injected {p50}/{p95} ms")


def class_profiles(n: int) -> list[str]:
    """n students, the four measured ones spread through the roster, the rest healthy."""
    names = ["healthy"] * n
    for k, level in enumerate(LEVELS):
        names[(2 * k + 1) * n // 8] = level
    return names


def quick_labs(root: Path) -> Path:
    """A copy of labs/ with serve-system-chi's GPU window and c16 run shortened."""
    dest = root / "labs"
    shutil.copytree(Path(__file__).resolve().parents[1] / "labs", dest)
    spec_path = dest / LAB / "lab.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["gpu"]["window_s"] = 1
    spec["load"]["c16"]["requests"] = 160
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return dest


def run_batch(env: dict, students, out: Path, jobs: int) -> float:
    roster = out.with_suffix(".csv")
    with roster.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["netid", "chameleon_user", "ssh_key"])
        for s in students:
            w.writerow([s.netid, s.chameleon_user, s.key_path])
    cmd = [sys.executable, "-m", "graders.cli", "batch", LAB, "--roster", str(roster)]
    t0 = time.monotonic()
    proc = subprocess.run(
        [*cmd, "--out", str(out), "--jobs", str(jobs)], env=env, capture_output=True, text=True
    )
    if proc.returncode not in (0, 1):  # 1: not everyone passed everything
        sys.exit(f"batch failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return round(time.monotonic() - t0, 1)


def accuracy(room, out: Path, label: str) -> list[dict]:
    """Each measured student's latency_c1 p50/p95 against its server's own record."""
    rows = []
    for s in room.students:
        if s.profile not in LEVELS:
            continue
        result = json.loads((out / "students" / s.netid / "result.json").read_text())
        item = next(i for i in result["checks"] if i.get("check") == "latency_c1")
        run = next(e for e in item["evidence"] if e["kind"] == "http")
        ended = datetime.fromisoformat(run["at"]).timestamp()
        host = room.family(LAB).fleet.hosts[s.hosts[LAB].address]
        n = int(item["measurements"]["requests"])
        served = [ms for at, path, ms in host.answered if path == "/predict" and at < ended]
        truth = sorted(served[-n:])  # the run's counted requests: the last before it ended
        row = {"when": label, "profile": s.profile, "requests": n}
        for p in (50, 95):
            want, got = _pct(truth, p), item["measurements"][f"p{p}_ms"]
            row[f"p{p}_true_ms"], row[f"p{p}_measured_ms"] = round(want, 2), got
            row[f"p{p}_error_ms"] = round(got - want, 2)
            row[f"p{p}_ok"] = abs(got - want) <= max(0.05 * want, 1.0)
        row["grader_cpu_per_request_ms"] = item["measurements"].get("grader_cpu_per_request_ms")
        rows.append(row)
    return rows


def statuses(out: Path) -> dict[str, int]:
    """Items by the checks' own status over the whole batch (a grader error shows here)."""
    counts: collections.Counter[str] = collections.Counter()
    for path in (out / "students").glob("*/result.json"):
        counts.update(i["observed"] for i in json.loads(path.read_text())["checks"])
    return dict(counts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=64)
    args = ap.parse_args()
    add_profiles()
    root = Path(tempfile.mkdtemp(prefix="bench-acc-"))
    env = {**os.environ, "LABGRADER_LABS": str(quick_labs(root))}
    with Classroom(root / "room", class_profiles(args.students), labs=(LAB,)) as room:
        env.update(room.openstack_env)
        measured = [s for s in room.students if s.profile in LEVELS]
        alone_s = run_batch(env, measured, root / "alone", 1)
        rows = accuracy(room, root / "alone", "alone")
        batch_s = run_batch(env, room.students, root / "batch", args.jobs)
        rows += accuracy(room, root / "batch", f"in a {args.students}-student batch")
        print(
            json.dumps(
                {
                    "alone_wall_s": alone_s,
                    "batch_wall_s": batch_s,
                    "batch_students": args.students,
                    "batch_items_by_status": statuses(root / "batch"),
                    "within_goal": f"{sum(r[f'p{p}_ok'] for r in rows for p in (50, 95))}"
                    f" of {2 * len(rows)}",
                    "rows": rows,
                },
                indent=1,
            )
        )
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
