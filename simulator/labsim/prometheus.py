"""Real Prometheus servers (Debian's `prometheus` package), one per simulated student node, as
the eval-online lab runs them: listening on the node's address port 9090, with job `food11`
scraping the FastAPI server on port 8000 of the same node and, where the student added
cAdvisor, job `cadvisor` scraping port 8080. No rule files: the lab's alerting lives in Grafana.

The processes run under reaper.py (started and stopped by its pid; it ends every process below
it), each with its storage under the classroom's root. `wait_scraped` polls each server's
`/api/v1/targets` until each of its targets has been scraped after a given moment: Prometheus
applies new targets on a ~5 s tick, so no fixed sleep would be right.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import requests

from .reaper import end_supervisor, tree

BINARY = "prometheus"
INSTALL = "apt-get install -y --no-install-recommends prometheus"
JOB = "food11"
CADVISOR_JOB = "cadvisor"


def binary() -> str:
    """The prometheus executable, or a RuntimeError that says how to install it."""
    path = shutil.which(BINARY)
    if path is None:
        raise RuntimeError(
            f"`{BINARY}` is not installed; the eval-online-chi simulator runs the real one. "
            f"Install it with: {INSTALL} (scripts/setup.sh does)"
        )
    return path


def config(target: str, scrape_interval: str, cadvisor: str = "") -> str:
    """The lab's prometheus.yml (job food11; job cadvisor once the student added it), the
    instance labels as the lab's compose names them."""
    text = (
        f"global:\n  scrape_interval: {scrape_interval}\n"
        "scrape_configs:\n"
        f"  - job_name: '{JOB}'\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
        "    relabel_configs:\n"
        "      - {target_label: instance, replacement: 'fastapi_server:8000'}\n"
    )
    if cadvisor:
        text += (
            f"  - job_name: '{CADVISOR_JOB}'\n"
            f"    static_configs:\n      - targets: ['{cadvisor}']\n"
            "    relabel_configs:\n"
            "      - {target_label: instance, replacement: 'cadvisor:8080'}\n"
        )
    return text


class PrometheusFleet:
    def __init__(self, workdir: Path, scrape_interval: str = "1s") -> None:
        self.workdir = workdir
        self.scrape_interval = scrape_interval
        self.addresses: list[str] = []
        self._supervisor: subprocess.Popen | None = None

    def start(
        self,
        addresses: list[str],
        port: int = 9090,
        target_port: int = 8000,
        cadvisor: frozenset[str] = frozenset(),
    ) -> None:
        """Start one Prometheus per address, those in `cadvisor` also scraping port 8080
        (returns at once; see wait_scraped)."""
        if not addresses:
            return
        exe = binary()
        self.addresses = list(addresses)
        commands = []
        for address in addresses:
            d = self.workdir / address
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            cfg = d / "prometheus.yml"
            extra = f"{address}:8080" if address in cadvisor else ""
            cfg.write_text(config(f"{address}:{target_port}", self.scrape_interval, extra))
            argv = [
                exe,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={d / 'data'}",
                f"--web.listen-address={address}:{port}",
                "--log.level=warn",
            ]
            commands.append({"argv": argv, "log": str(d / "prometheus.log")})
        reaper = Path(__file__).with_name("reaper.py")
        self._supervisor = subprocess.Popen(
            [sys.executable, str(reaper), json.dumps(commands)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        if not self._supervisor.stdout.readline():  # type: ignore[union-attr]
            self.stop()
            raise RuntimeError("the Prometheus supervisor exited before starting Prometheus")

    def wait_scraped(self, after: datetime, timeout: float = 30.0, port: int = 9090) -> float:
        """Poll every server until each of its targets was scraped after `after` (up or
        down); the seconds it took."""
        began = time.monotonic()
        pending = list(self.addresses)
        while pending:
            pending = [a for a in pending if not self._scraped(a, port, after)]
            if not pending:
                break
            if time.monotonic() - began > timeout:
                logs = (self.workdir / pending[0] / "prometheus.log").read_text(errors="replace")
                raise RuntimeError(
                    f"Prometheus on {pending[:3]} had not scraped job {JOB} within "
                    f"{timeout:g} s; log of the first:\n{logs[-1500:]}"
                )
            time.sleep(0.1)
        return time.monotonic() - began

    @staticmethod
    def _scraped(address: str, port: int, after: datetime) -> bool:
        try:
            doc = requests.get(f"http://{address}:{port}/api/v1/targets", timeout=2).json()
        except (requests.RequestException, ValueError):
            return False
        targets = doc["data"]["activeTargets"]
        return any(t["labels"].get("job") == JOB for t in targets) and all(
            t["health"] != "unknown" and datetime.fromisoformat(t["lastScrape"]) > after
            for t in targets
        )

    def pids(self) -> list[int]:
        return tree(self._supervisor)

    def stop(self) -> None:
        proc, self._supervisor = self._supervisor, None
        end_supervisor(proc)
