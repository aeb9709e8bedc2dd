"""A 200-student cloud-chi batch with 10 hostile students mixed in, against the same batch
without them (issue 11).

Run by hand as root (the simulator needs sshd and ports 22/80 on loopback):
    .venv/bin/python benchmarks/hostile_batch.py [--honest 190] [--jobs 200]

The honest students are batch_200.py's mix (healthy, failing, down, tarpit). Each hostile one
has node1-cloud-<netid> ACTIVE in the fake cloud, its floating IP on 127.250.0.k, where a
paramiko sshd (tests/hostile_sshd.py) misbehaves: never answers an exec request, floods
stdout, answers every command slowly, or prints odd JSON and terminal escapes; two also
drip HTTP headers on port 80, one byte a second. Reports the wall time of both batches, the
grader's peak memory, the statuses the hostile students got, and every honest student whose
observations differ between the batches (the goal: none). The honest batch runs before and
after the mixed one, and the ratio is taken to the faster of the two.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.hostile_sshd

from benchmarks.batch_200 import batch, profiles, write_roster  # noqa: E402
from labsim import Classroom  # noqa: E402
from tests.hostile_sshd import HostileSshd  # noqa: E402

DEEP = "[" * 100_000 + "]" * 100_000
ESCAPES = "\x1b[2J\x1b[H\x1b]0;passed\x07 cloud-chi 21/21 passed\r\n" * 20_000  # ~1 MiB
KINDS: list[tuple[str, str, dict[str, str]]] = [  # (kind, sshd mode, answers by command)
    ("noexec", "noexec", {}),
    ("noexec", "noexec", {}),
    ("flood", "flood", {}),
    ("flood", "flood", {}),
    ("slow", "slow", {}),
    ("slow", "slow", {}),
    ("deep_json", "script", {"kubectl": DEEP, "docker": DEEP, "hostname": "cc"}),
    ("escapes", "script", {"kubectl": ESCAPES, "docker": ESCAPES, "hostname": ESCAPES}),
    ("http_drip", "normal", {}),
    ("http_drip", "normal", {}),
]


class HeaderDrip:
    """Port 80 of `address`: accepts, then sends a status line and headers a byte a second."""

    def __init__(self, address: str) -> None:
        self.sock = socket.create_server((address, 80), reuse_port=False)
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 3600:
                if self.stop:
                    return
                try:
                    conn.send(bytes([byte]))
                except OSError:
                    return
                time.sleep(1)

    def close(self) -> None:
        self.stop = True
        self.sock.close()


def observed(out: Path, netid: str) -> dict[str, str] | None:
    f = out / "students" / netid / "result.json"
    if not f.exists():
        return None
    return {c["check"]: c["observed"] for c in json.loads(f.read_text())["checks"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--honest", type=int, default=190)
    ap.add_argument("--jobs", type=int, default=200)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    servers: list[HostileSshd] = []
    drips: list[HeaderDrip] = []
    with Classroom(root / "class", profiles(args.honest), labs=("cloud-chi",)) as room:
        env = {**os.environ, **room.openstack_env}
        print(f"classroom of {args.honest} up in {room.start_seconds:.1f} s", flush=True)
        honest = room.students
        alone = root / "honest.csv"
        write_roster(alone, honest)
        wall_a, rss_a = batch(env, alone, root / "honest", args.jobs)
        print(f"honest batch: {wall_a:.1f} s", flush=True)

        assert room.cloud is not None
        hostile = []
        for k, (kind, mode, script) in enumerate(KINDS):
            netid = f"hostile{k:02d}"
            address = f"127.250.0.{k + 1}"
            servers.append(HostileSshd(mode, script, address=address, port=22).__enter__())
            if kind == "http_drip":
                drips.append(HeaderDrip(address))
            room.cloud.add_instance(
                f"node1-cloud-{netid}", "m1.medium", address, f"10.56.3.{240 + k}"
            )
            hostile.append((netid, kind))
        key = honest[0].key_path  # the hostile sshd takes any key

        class Row:
            def __init__(self, netid: str) -> None:
                self.netid, self.chameleon_user, self.key_path = netid, netid, key

        mixed: list = list(honest)
        step = max(1, len(mixed) // len(hostile))
        for i, (netid, _) in enumerate(hostile):
            mixed.insert(i * (step + 1), Row(netid))
        roster = root / "mixed.csv"
        write_roster(roster, mixed)
        wall_b, rss_b = batch(env, roster, root / "mixed", args.jobs, ok=(0, 1))
        print(f"mixed batch: {wall_b:.1f} s", flush=True)
        # The honest batch again, after: the first run of a classroom pays for cold caches.
        wall_a2, _ = batch(env, alone, root / "honest-again", args.jobs)
        print(f"honest batch again: {wall_a2:.1f} s", flush=True)
        for d in drips:
            d.close()
        for s in servers:
            s.__exit__(None, None, None)
    changed = {}
    for s in honest:
        a, b = observed(root / "honest", s.netid), observed(root / "mixed", s.netid)
        if a != b or observed(root / "honest-again", s.netid) != a:
            diff = {k: (v, (b or {}).get(k)) for k, v in (a or {}).items() if (b or {}).get(k) != v}
            changed[s.netid] = diff or "differs between the two honest batches, or missing"
    statuses = {}
    for netid, kind in hostile:
        got = observed(root / "mixed", netid)
        statuses[f"{netid} ({kind})"] = dict(Counter((got or {}).values())) or "no result"
    print(
        json.dumps(
            {
                "honest_students": len(honest),
                "hostile_students": len(hostile),
                "jobs": args.jobs,
                "batch_without_hostile_s": [round(wall_a, 1), round(wall_a2, 1)],
                "batch_with_hostile_s": round(wall_b, 1),
                "ratio_to_the_faster": round(wall_b / min(wall_a, wall_a2), 2),
                "goal_ratio": 1.5,
                "grader_peak_rss_mib": {
                    "without": round(rss_a / 1024, 1),
                    "with": round(rss_b / 1024, 1),
                },
                "hostile_statuses": statuses,
                "honest_results_changed": changed,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
