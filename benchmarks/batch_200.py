"""Grade 200 simulated students on cloud-chi and report the figures of issue 3.

Run by hand as root (the simulator needs sshd and ports 22/80 on loopback):
    .venv/bin/python benchmarks/batch_200.py [--students 200] [--jobs 64]

Reports, in one run: the batch wall time; the same students one after another, extrapolated
from a sample of 20 graded with --jobs 1; the slowest single student graded alone; the
grader's peak memory; rescoring all students from the store; and whether every student got
the results its profile expects (a load that distorts grading would show here).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from graders.labs import load_lab
from graders.probes import ssh
from labsim import Classroom

MIX = {  # 10% of hosts down or tarpit, as the issue asks; the rest a realistic spread
    "healthy": 0.70,
    "missing_k8s_object": 0.05,
    "endpoint_500": 0.05,
    "server_error": 0.05,
    "missing_file": 0.05,
    "host_down": 0.05,
    "tarpit": 0.05,
}


def profiles(n: int) -> list[str]:
    out: list[str] = []
    for name, share in MIX.items():
        out += [name] * round(n * share)
    out += ["healthy"] * (n - len(out))
    # interleave, so every slice of the roster (a sample, a shard) has the same mix
    stride = next(s for s in (7, 11, 13, 17, 19, 23) if math.gcd(s, n) == 1)
    return [out[(i * stride) % n] for i in range(n)]


def write_roster(path: Path, students) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["netid", "chameleon_user", "ssh_key"])
        for s in students:
            w.writerow([s.netid, s.chameleon_user, s.key_path])


def machine_cpu_s() -> float:
    """CPU seconds used by the whole machine so far (grader, simulator, sshd, stand-ins)."""
    fields = Path("/proc/stat").read_text().split("\n")[0].split()[1:]
    busy = sum(int(x) for x in fields) - int(fields[3]) - int(fields[4])  # minus idle, iowait
    return busy / os.sysconf("SC_CLK_TCK")


CPU: dict[str, float] = {}


def batch(
    env: dict, roster: Path, out: Path, jobs: int, *extra: str, ok: tuple[int, ...] = (0,)
) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `labgrader batch` process; an exit status
    outside `ok` stops the benchmark (1: some result incomplete)."""
    m0 = machine_cpu_s()
    cmd = [
        sys.executable,
        "-m",
        "graders.cli",
        "batch",
        "cloud-chi",
        "--roster",
        str(roster),
        "--out",
        str(out),
        "--jobs",
        str(jobs),
        *extra,
    ]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    CPU[str(out.name)] = round(usage.ru_utime + usage.ru_stime, 1)
    CPU[str(out.name) + "_machine"] = round(machine_cpu_s() - m0, 1)
    if os.waitstatus_to_exitcode(status) not in ok:
        sys.exit(f"batch failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss


def per_student_seconds(out: Path) -> dict[str, float]:
    import sqlite3

    with sqlite3.connect(out / "store.sqlite") as db:
        return dict(db.execute("SELECT netid, seconds FROM gradings"))


def mismatches(out: Path, room) -> list[str]:
    checks = load_lab("cloud-chi").checks
    bad = []
    for s in room.students:
        f = out / "students" / s.netid / "result.json"
        if not f.exists():
            continue
        got = {c["check"]: c["observed"] for c in json.loads(f.read_text())["checks"]}
        want = s.expected("cloud-chi", checks)
        if got != want:
            diff = {k: (v, got.get(k)) for k, v in want.items() if got.get(k) != v}
            bad.append(f"{s.netid} ({s.profile}): {diff}")
    return bad


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=200)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-"))
    with Classroom(root / "class", profiles(args.students), labs=("cloud-chi",)) as room:
        env = {**os.environ, **room.openstack_env}
        print(f"classroom of {args.students} up in {room.start_seconds:.1f} s", flush=True)
        roster = root / "roster.csv"
        write_roster(roster, room.students)
        wall, rss = batch(env, roster, root / "all", args.jobs)
        wrong = mismatches(root / "all", room)
        sample = room.students[:: max(1, args.students // 20)][:20]
        sample_roster = root / "sample.csv"
        write_roster(sample_roster, sample)
        seq_wall, _ = batch(env, sample_roster, root / "seq", 1)
        alone = per_student_seconds(root / "seq")
        sequential = seq_wall / len(sample) * args.students
        slowest = max(alone.values())
        t0 = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "graders.cli",
                "rescore",
                "cloud-chi",
                "--store",
                str(root / "all" / "store.sqlite"),
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        rescore_cli = time.monotonic() - t0
    from graders.rubric import load_rubric, rubric_path, score
    from graders.store import Store

    store = Store(root / "all" / "store.sqlite", "cloud-chi", create=False)
    rubric = load_rubric(rubric_path("cloud-chi"), load_lab("cloud-chi"))
    t0 = time.perf_counter()
    gradings = list(store.latest())
    for g in gradings:
        score(g.observations, rubric, student=g.netid, graded_at=g.finished_at)
    rescore_core = time.perf_counter() - t0
    budget = 2 * slowest + ssh.CONNECT_TIMEOUT_S
    kinds = {p: profiles(args.students).count(p) for p in MIX}
    print(
        json.dumps(
            {
                "students": args.students,
                "jobs": args.jobs,
                "profiles": kinds,
                "batch_wall_s": round(wall, 1),
                "sample_sequential_wall_s": round(seq_wall, 1),
                "sample_size": len(sample),
                "sequential_extrapolated_s": round(sequential, 1),
                "speedup": round(sequential / wall, 1),
                "slowest_student_alone_s": round(slowest, 1),
                "budget_2x_slowest_plus_connect_s": round(budget, 1),
                "within_budget": wall <= budget,
                "grader_peak_rss_mib": round(rss / 1024, 1),
                "rescore_200_score_only_s": round(rescore_core, 3),
                "rescore_cli_wall_s": round(rescore_cli, 2),
                "cpu_s_grader_and_machine": CPU,
                "results_not_as_expected": wrong,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
