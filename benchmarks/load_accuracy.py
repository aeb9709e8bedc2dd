"""How right is the load probe? Simulated model servers inject known latency distributions;
the probe's p50/p95 at concurrency 1 are compared with the latencies the servers really
had (each one from arrival to last byte sent, recorded server-side), alone and while a
200-student cloud-chi batch runs on the same machine.

Run by hand as root:  .venv/bin/python benchmarks/load_accuracy.py [--batch-students 200]
Goal: within 5% or 1 ms (whichever is larger) for latencies from 5 ms up.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from graders.probes.load import _pct, run_load
from graders.sim import Classroom, profiles
from graders.sim.modelserver import LatencyModel
from graders.sim.serving import KNOBS, Knobs, sample_jpeg

LEVELS = {"lat5": (5, 8), "lat20": (20, 30), "lat100": (100, 160), "lat400": (400, 650)}
REQUESTS = 150


def add_profiles() -> None:
    """Benchmark-only profiles: a healthy serve-system host with a given latency."""
    for name, (p50, p95) in LEVELS.items():
        KNOBS[name] = Knobs(latency=LatencyModel("lognormal", float(p50), float(p95)))
        profiles.PROFILES[name] = profiles.Profile(name, f"injected {p50}/{p95} ms")


def measure(room, label: str) -> list[dict]:
    image = base64.b64encode(sample_jpeg()).decode()
    rows = []
    for s in room.students:
        host = s.hosts["serve-system-chi"]
        model = room._serving.fleet.hosts[host.address]
        model.answered_ms.clear()
        r = run_load(
            f"http://{host.address}:8000/predict",
            requests=REQUESTS,
            concurrency=1,
            json_body={"image": image},
            warmup=5,
            deadline_s=300,
        )
        m = r.measurements()
        truth = sorted(list(model.answered_ms)[-REQUESTS:])
        row = {"when": label, "profile": s.profile}
        for p in (50, 95):
            want, got = _pct(truth, p), m[f"p{p}_ms"]
            err = got - want
            row[f"p{p}_true_ms"], row[f"p{p}_measured_ms"] = round(want, 2), got
            row[f"p{p}_error_ms"] = round(err, 2)
            row[f"p{p}_ok"] = abs(err) <= max(0.05 * want, 1.0)
        row["grader_cpu_per_request_ms"] = m["grader_cpu_per_request_ms"]
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-students", type=int, default=200)
    args = ap.parse_args()
    add_profiles()
    root = Path(tempfile.mkdtemp(prefix="bench-acc-"))
    with Classroom(root / "serve", list(LEVELS), labs=("serve-system-chi",)) as room:
        rows = measure(room, "alone")
        with Classroom(
            root / "load", ["healthy"] * args.batch_students, labs=("cloud-chi",)
        ) as busy:
            roster = root / "roster.csv"
            with roster.open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["netid", "chameleon_user", "ssh_key"])
                for s in busy.students:
                    w.writerow([s.netid, s.chameleon_user, s.key_path])
            env = {**os.environ, **busy.openstack_env}
            batch = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "graders.cli",
                    "batch",
                    "cloud-chi",
                    "--roster",
                    str(roster),
                    "--out",
                    str(root / "out"),
                    "--jobs",
                    "64",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(3)  # let the batch get going
            during: list[dict] = []
            t = threading.Thread(target=lambda: during.extend(measure(room, "during batch")))
            t.start()
            t.join()
            still_running = batch.poll() is None
            batch.wait()
        rows += during
    print(
        json.dumps(
            {
                "requests_per_level": REQUESTS,
                "batch_still_running_at_end": still_running,
                "rows": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
