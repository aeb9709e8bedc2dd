"""GPUs on the instance: nvidia-smi or rocm-smi sampled once a second over SSH, summarized
per GPU (graders/probes/gpu.py parses), while the check may do something else meanwhile."""

from __future__ import annotations

import threading
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
