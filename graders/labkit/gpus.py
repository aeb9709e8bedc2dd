"""GPUs on the instance: nvidia-smi or rocm-smi sampled once a second over SSH, summarized
per GPU (graders/probes/gpu.py parses), while the check may do something else meanwhile."""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass
from typing import Any

from graders.checks import Lab
from graders.errors import Failure
from graders.probes import gpu


def gpu_tool(lab: Lab) -> str:
    return "rocm" if lab.config.get("gpu", {}).get("vendor") == "amd" else "nvidia"


def sample_gpus(lab: Lab, seconds: int) -> dict[str, Any]:
    """Sample the GPUs for `seconds`: the summary, also recorded as measurements (every
    reading is in the command's evidence). A Failure says why nothing could be read."""
    tool = gpu_tool(lab)
    result = lab.run(gpu.sampling_command(tool, seconds), timeout=seconds + 20)
    if not result.ok:
        raise Failure(gpu.explain(tool, result.exited, result.stdout + result.stderr))
    readings = gpu.parse_samples(tool, result.stdout)
    summary = gpu.summarize(readings, lab.config.get("gpu", {}).get("busy_util", 10))
    for k, v in summary.items():
        lab.measure(k, v)
    return summary


class Background(threading.Thread):
    """Run a step (e.g. GPU sampling) while the check does something else (e.g. load)."""

    def __init__(self, fn: Any, *args: Any) -> None:
        super().__init__(daemon=True)
        self.fn, self.args = fn, args
        self.result: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.fn(*self.args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by outcome()
            self.error = exc

    def outcome(self, timeout: float) -> Any:
        self.join(timeout)
        if self.error:
            raise self.error
        return self.result


@dataclass(frozen=True)
class GpuProcess:
    """A process using the NVIDIA GPUs, with the container it runs in (of those looked at)
    and its command line, where `docker top` listed it."""

    pid: int
    name: str
    mem_mib: float | None
    container: str | None
    args: str

    def shown(self) -> str:
        where = f"in container {self.container}" if self.container else "in no container looked at"
        return f"pid {self.pid} ({self.args or self.name}, {where})"


def gpu_processes(lab: Lab, containers: list[str]) -> list[GpuProcess]:
    """The processes holding a CUDA context (`nvidia-smi --query-compute-apps`), each mapped
    to the one of `containers` it runs in by `docker top`, which lists a container's
    processes by host pid with their command lines. A Failure says why none could be read."""
    result = lab.run(gpu.COMPUTE_APPS)
    if not result.ok:
        raise Failure(gpu.explain("nvidia", result.exited, result.stdout + result.stderr))
    apps = gpu.parse_compute_apps(result.stdout)
    where: dict[int, tuple[str, str]] = {}
    for name in containers if apps else []:
        top = lab.run(f"docker top {shlex.quote(name)}")
        if top.ok:
            for pid, args in gpu.parse_docker_top(top.stdout).items():
                where.setdefault(pid, (name, args))
    return [GpuProcess(a.pid, a.name, a.mem_mib, *where.get(a.pid, (None, ""))) for a in apps]
