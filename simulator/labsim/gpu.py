"""GPUs of a simulated host, as the `nvidia-smi` and `rocm-smi` stand-ins report them.

A host's GPUs live in its state file under "gpu": the vendor, the driver's condition, each
board's fixed facts (name, UUID, PCI bus id, memory, power limit) and a utilisation trace,
one row per second of wall-clock time since `t0`, cycling: a grader that samples once a second
for five seconds sees five consecutive rows. Each row holds, per GPU, [utilization.gpu %,
memory.used MiB]; temperature, power and memory utilisation follow from them.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

Driver = Literal["ok", "no_driver", "not_installed"]


@dataclass(frozen=True)
class Board:
    """One GPU model, with the figures its tools print."""

    name: str
    memory_mib: int
    power_limit_w: float
    idle_power_w: float
    vendor: Literal["nvidia", "amd"] = "nvidia"
    persistence: str = "On"
    ecc: str = "0"  # the table's "Volatile Uncorr. ECC" column
    mig: str = "Disabled"  # the table's "MIG M." column
    architecture: str = ""
    reserved_mib: int = 0  # fb_memory_usage.reserved (driver-reserved, outside "used")


BOARDS = {
    # gpu_p100 nodes at CHI@TACC (serve-system-chi): two PCIe P100 16 GB.
    "p100": Board("Tesla P100-PCIE-16GB", 16384, 250.0, 27.0, persistence="Off", ecc="0",
                  mig="N/A", architecture="Pascal", reserved_mib=0),
    # compute_gigaio / gpu_a100_pcie at CHI@UC (llm-chi).
    "a100": Board("NVIDIA A100 80GB PCIe", 81920, 300.0, 44.0, architecture="Ampere",
                  reserved_mib=539),
    # g1.h100.pci.1 / .4 VMs at KVM@TACC (llm-chi's and mlflow-chi's VM variants).
    "h100": Board("NVIDIA H100 PCIe", 81559, 350.0, 48.0, architecture="Hopper",
                  reserved_mib=589),
    # gpu_mi100 (AMD variants): 32 GB HBM2.
    "mi100": Board("AMD Instinct MI100", 32752, 290.0, 35.0, vendor="amd",
                   architecture="CDNA"),
}  # fmt: skip
DRIVER_VERSION = "550.127.05"  # CC-Ubuntu24.04-CUDA, 2025
CUDA_VERSION = "12.4"
ROCM_VERSION = "6.3.1"


def gpu_state(
    host_key: str,
    board: str,
    count: int,
    trace: list[list[tuple[int, int]]],
    driver: Driver = "ok",
    t0: float | None = None,
    processes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The "gpu" entry of a host's state file. `trace`: per second, per GPU (util %, MiB).
    `processes`: the compute processes nvidia-smi lists, each {"gpu": index, "pid": host pid,
    "name": its process name} (see process()); without them, one per GPU with memory in use."""
    spec = BOARDS[board]
    if any(len(row) != count for row in trace) or not trace:
        raise ValueError("every trace row needs one (util, MiB) pair per GPU")
    buses = ["00000000:04:00.0", "00000000:82:00.0", "00000000:83:00.0", "00000000:84:00.0"]
    if spec.vendor == "nvidia" and board == "a100":
        buses = ["00000000:17:00.0", "00000000:31:00.0", "00000000:B1:00.0", "00000000:CA:00.0"]
    gpus = []
    for i in range(count):
        seed = hashlib.sha256(f"{host_key}:gpu{i}".encode()).digest()
        gpus.append(
            {
                "index": i,
                "uuid": "GPU-" + str(uuid.UUID(bytes=seed[:16])),
                "serial": str(int.from_bytes(seed[16:22], "big") % 10**13).zfill(13),
                "bus_id": buses[i % len(buses)],
                "minor": i,
            }
        )
    return {
        "vendor": spec.vendor,
        "driver": driver,
        "board": {k: getattr(spec, k) for k in spec.__dataclass_fields__},
        "driver_version": DRIVER_VERSION if spec.vendor == "nvidia" else ROCM_VERSION,
        "cuda_version": CUDA_VERSION,
        "gpus": gpus,
        "t0": time.time() if t0 is None else t0,
        "trace": [[list(cell) for cell in row] for row in trace],
        **({} if processes is None else {"processes": [dict(p) for p in processes]}),
    }


def process(gpu: int, pid: int, name: str) -> dict[str, Any]:
    """A compute process on GPU `gpu` as nvidia-smi lists it: its host pid and process name
    (argv[0]: "python", "/opt/conda/bin/python"); it holds that GPU's memory in use."""
    return {"gpu": gpu, "pid": pid, "name": name}


def steady(count: int, busy: list[int], memory: list[int], seconds: int = 30) -> list:
    """A trace where GPU i hovers around busy[i] % (0 stays 0) using memory[i] MiB, with
    deterministic wobble: what a training run or a served load looks like second by second."""
    rows = []
    for t in range(seconds):
        row = []
        for i in range(count):
            base = busy[i]
            wobble = 0 if base == 0 else round(6 * math.sin(1.7 * t + i) + 3 * math.cos(0.9 * t))
            util = max(0, min(100, base + wobble))
            mem = memory[i] + (0 if memory[i] < 16 else (t * 37 + 11 * i) % 129)
            row.append((util, mem))
        rows.append(row)
    return rows


def sample(state: dict[str, Any], now: float | None = None) -> list[tuple[int, int]]:
    """The trace row for wall-clock `now` (what a stand-in prints at that moment)."""
    now = time.time() if now is None else now
    trace = state["trace"]
    return [tuple(cell) for cell in trace[int(max(0.0, now - state["t0"])) % len(trace)]]
