"""GPU utilization over SSH: nvidia-smi's CSV query (NVIDIA) or rocm-smi's JSON (AMD).

One SSH command samples once a second for the whole window (a shell loop on the instance), so
the interval is kept by the instance's own clock and not by SSH round trips. Every sample is
kept as evidence; the summary is per GPU (mean and max utilization and memory) and how many
GPUs were busy, alone and at the same moment.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass

from graders.errors import Failure

QUERY = "index,name,utilization.gpu,memory.used,memory.total"
NVIDIA = f"nvidia-smi --query-gpu={QUERY} --format=csv,noheader,nounits"
ROCM = "rocm-smi --showuse --showmemuse --showmeminfo vram --json"
MARK = "--labgrader-sample--"
COURSE_MAX_GPUS = 8  # the most GPUs a node of the course has
MAX_GPUS = 64  # more than that in a reading is not a real node: a Failure
MAX_NAME = 100  # characters of a GPU's name kept
_INDEX = re.compile(r"\d{1,6}", re.ASCII)


@dataclass(frozen=True)
class GpuReading:
    sample: int
    index: int
    name: str
    util: float  # percent
    mem_used_mib: float | None
    mem_total_mib: float | None


def sampling_command(tool: str, seconds: int) -> str:
    """A shell loop printing one reading per second, each followed by a marker line."""
    query = NVIDIA if tool == "nvidia" else ROCM
    return f"for i in $(seq {int(seconds)}); do {query} 2>&1 || exit $?; echo {MARK}; sleep 1; done"


def explain(tool: str, exited: int, output: str) -> str:
    """What a failed GPU tool means, in words a student can act on."""
    text = output.strip()
    name = "nvidia-smi" if tool == "nvidia" else "rocm-smi"
    if exited == 127 or "command not found" in text:
        return (
            f"{name} is not installed on the instance: is this a GPU node, launched from "
            f"the {'CUDA' if tool == 'nvidia' else 'ROCm'} image?"
        )
    if "couldn't communicate with the NVIDIA driver" in text:
        return (
            "nvidia-smi cannot talk to the NVIDIA driver: the driver is not loaded "
            "(was the node launched from CC-Ubuntu24.04-CUDA? a reboot may help)"
        )
    if "No devices were found" in text:
        return "nvidia-smi found no NVIDIA GPU on this node"
    first = text.splitlines()[0] if text else f"exit {exited}"
    return f"{name} failed: {first[:200]}"


def parse_nvidia(text: str, sample: int = 0) -> list[GpuReading]:
    """Rows of `--query-gpu=index,name,utilization.gpu,memory.used,memory.total` CSV; a row
    that is not one is a Failure saying what was expected."""
    out = []
    for line in text.strip().splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != 5:
            raise Failure(f"nvidia-smi printed an unexpected line: {line[:120]!r}")
        if not _INDEX.fullmatch(cells[0]):
            raise Failure(
                f"nvidia-smi printed {cells[0][:40]!r} where a GPU index (0, 1, ...) was "
                f"expected: {line[:120]!r}"
            )
        out.append(
            GpuReading(
                sample,
                int(cells[0]),
                cells[1][:MAX_NAME],
                _num(cells[2]) or 0.0,
                _num(cells[3]),
                _num(cells[4]),
            )
        )
    return out


def parse_rocm(text: str, sample: int = 0) -> list[GpuReading]:
    """rocm-smi's JSON: {"card0": {"GPU use (%)": "87", "VRAM Total Memory (B)": ...}, ...}."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise Failure(f"rocm-smi did not print JSON: {text.strip()[:120]!r}") from None
    if not isinstance(doc, dict):
        raise Failure(f"rocm-smi printed JSON that is not an object of cards: {text[:120]!r}")
    out = []
    for card, fields in sorted(doc.items()):
        m = re.fullmatch(r"card(\d{1,6})", card, re.ASCII)
        if not m or not isinstance(fields, dict):
            continue
        total = _num(fields.get("VRAM Total Memory (B)"))
        used = _num(fields.get("VRAM Total Used Memory (B)"))
        out.append(
            GpuReading(
                sample,
                int(m.group(1)),
                str(fields.get("Card series") or fields.get("Card SKU") or "AMD GPU")[:MAX_NAME],
                _num(fields.get("GPU use (%)")) or 0.0,
                used / 2**20 if used is not None else None,
                total / 2**20 if total is not None else None,
            )
        )
    return out


def parse_samples(tool: str, output: str) -> list[GpuReading]:
    parse = parse_nvidia if tool == "nvidia" else parse_rocm
    readings: list[GpuReading] = []
    for n, block in enumerate(b for b in output.split(MARK) if b.strip()):
        readings += parse(block, n)
    return readings


def summarize(readings: list[GpuReading], busy_util: float) -> dict[str, float | int | str]:
    """Per GPU mean/max utilization and memory; GPUs busy at all; most GPUs busy together.

    One pass over the readings. More than MAX_GPUS GPUs is a Failure: no node of the course
    has more than 8, and each GPU adds measurement keys to every result."""
    if not readings:
        return {"gpu_samples": 0}
    per_gpu: dict[int, list[GpuReading]] = {}
    busy_in_sample: dict[int, set[int]] = {}
    for r in readings:
        per_gpu.setdefault(r.index, []).append(r)
        busy = busy_in_sample.setdefault(r.sample, set())
        if r.util >= busy_util:
            busy.add(r.index)
    if len(per_gpu) > MAX_GPUS:
        raise Failure(
            f"the GPU tool listed {len(per_gpu)} GPUs; no node of the course has more than "
            f"{COURSE_MAX_GPUS} (the grader reads at most {MAX_GPUS})"
        )
    out: dict[str, float | int | str] = {}
    gpus_busy = 0
    for g in sorted(per_gpu):
        mine = per_gpu[g]
        utils = [r.util for r in mine]
        out[f"gpu{g}_name"] = mine[0].name
        out[f"gpu{g}_util_mean"] = round(statistics.fmean(utils), 1)
        out[f"gpu{g}_util_max"] = max(utils)
        mems = [r.mem_used_mib for r in mine if r.mem_used_mib is not None]
        if mems:
            out[f"gpu{g}_mem_used_max_mib"] = max(mems)
        if mine[0].mem_total_mib is not None:
            out[f"gpu{g}_mem_total_mib"] = mine[0].mem_total_mib
        gpus_busy += max(utils) >= busy_util
    out.update(
        gpu_count=len(per_gpu),
        gpu_samples=len(busy_in_sample),
        gpus_busy=gpus_busy,
        gpus_busy_together=max(len(b) for b in busy_in_sample.values()),
        gpu_util_mean=round(statistics.fmean(r.util for r in readings), 1),
        gpu_util_max=max(r.util for r in readings),
    )
    return out


def _num(value: object) -> float | None:
    try:
        number = float(str(value).strip().rstrip("%"))
    except (TypeError, ValueError):
        return None  # "[N/A]" and friends
    return number if math.isfinite(number) else None  # "nan", "inf": not a reading


# ---- which processes use the GPUs (NVIDIA), and which container each runs in ---------------
COMPUTE_APPS = "nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv"
MAX_APPS = 256  # more GPU processes than that is not a real node: the rest are ignored


@dataclass(frozen=True)
class GpuApp:
    """A process with a CUDA context, as `nvidia-smi --query-compute-apps` lists it."""

    pid: int
    name: str
    mem_mib: float | None


def parse_compute_apps(text: str) -> list[GpuApp]:
    """`nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv`:
    `pid, process_name, used_gpu_memory [MiB]` then one row per process (`41873, python,
    61230 MiB`); none but the header when nothing runs. A row that is not one is a Failure."""
    apps = []
    for line in text.strip().splitlines():
        if line.startswith("pid,") or not line.strip():
            continue
        pid, _, rest = line.partition(",")
        name, _, mem = rest.rpartition(",")  # a process name may hold a comma
        if not _INDEX.fullmatch(pid.strip()) or not name:
            raise Failure(f"nvidia-smi printed an unexpected process line: {line[:120]!r}")
        apps.append(GpuApp(int(pid), name.strip()[:MAX_NAME], _num(mem.strip().split(" ")[0])))
    return apps[:MAX_APPS]


def parse_docker_top(text: str) -> dict[int, str]:
    """`docker top NAME` (the engine's `ps -ef`: UID PID PPID C STIME TTY TIME CMD): each
    process's host pid -> its command line."""
    lines = text.splitlines()
    if not lines or lines[0].split()[:2] != ["UID", "PID"]:
        return {}
    found = {}
    for line in lines[1:]:
        cells = line.split(None, 7)
        if len(cells) == 8 and _INDEX.fullmatch(cells[1]):
            found[int(cells[1])] = cells[7].strip()
    return found
