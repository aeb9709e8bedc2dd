"""GPU output parsing and ONNX inspection, on real formats and real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graders.errors import Failure
from graders.probes import gpu
from graders.probes.onnxmodel import inspect_model

# nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total
#            --format=csv,noheader,nounits, two samples of a 2-GPU node, with the marker.
TWO_P100 = (
    "0, Tesla P100-PCIE-16GB, 87, 3021, 16384\n1, Tesla P100-PCIE-16GB, 0, 2, 16384\n"
    f"{gpu.MARK}\n"
    "0, Tesla P100-PCIE-16GB, 91, 3021, 16384\n1, Tesla P100-PCIE-16GB, 45, 900, 16384\n"
    f"{gpu.MARK}\n"
)
ROCM = (
    '{"card0": {"GPU use (%)": "78", "GPU Memory Allocated (VRAM%)": "40", '
    '"VRAM Total Memory (B)": "34342961152", "VRAM Total Used Memory (B)": "13737184460"},'
    ' "card1": {"GPU use (%)": "0", "GPU Memory Allocated (VRAM%)": "0", '
    '"VRAM Total Memory (B)": "34342961152", "VRAM Total Used Memory (B)": "11071488"}}'
)


def test_nvidia_samples_summarised_per_gpu() -> None:
    readings = gpu.parse_samples("nvidia", TWO_P100)
    s = gpu.summarize(readings, busy_util=10)
    assert s["gpu_samples"] == 2 and s["gpu_count"] == 2
    assert s["gpu0_util_mean"] == 89.0 and s["gpu0_util_max"] == 91
    assert s["gpu1_util_max"] == 45 and s["gpu0_mem_total_mib"] == 16384
    assert s["gpus_busy"] == 2 and s["gpus_busy_together"] == 2
    assert s["gpu0_name"] == "Tesla P100-PCIE-16GB"


def test_busy_together_needs_the_same_sample() -> None:
    text = f"0, A, 90, 1, 2\n1, A, 0, 1, 2\n{gpu.MARK}\n0, A, 0, 1, 2\n1, A, 90, 1, 2\n"
    s = gpu.summarize(gpu.parse_samples("nvidia", text), busy_util=10)
    assert s["gpus_busy"] == 2 and s["gpus_busy_together"] == 1


def test_rocm_json_and_not_available_fields() -> None:
    s = gpu.summarize(gpu.parse_samples("rocm", ROCM), busy_util=10)
    assert s["gpu_count"] == 2 and s["gpu0_util_max"] == 78 and s["gpus_busy"] == 1
    assert round(s["gpu0_mem_total_mib"]) == 32752
    na = gpu.parse_nvidia("0, Tesla P100-PCIE-16GB, [N/A], [N/A], 16384")
    assert na[0].util == 0.0 and na[0].mem_used_mib is None


@pytest.mark.parametrize(
    "exited, output, needle",
    [
        (127, "bash: line 1: nvidia-smi: command not found", "not installed"),
        (
            9,
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make "
            "sure that the latest NVIDIA driver is installed and running.",
            "driver is not loaded",
        ),
        (6, "No devices were found", "no NVIDIA GPU"),
    ],
)
def test_failures_are_explained(exited: int, output: str, needle: str) -> None:
    assert needle in gpu.explain("nvidia", exited, output)


def test_garbage_is_a_failure_not_a_crash() -> None:
    with pytest.raises(Failure):
        gpu.parse_samples("nvidia", "<html>oops</html>")
    with pytest.raises(Failure):
        gpu.parse_samples("rocm", "not json")


def test_twenty_thousand_gpus_are_a_failure_not_a_hundred_thousand_keys() -> None:
    lines = "".join(f"{i}, Fake GPU, 50, 1, 2\n" for i in range(20_000))
    readings = gpu.parse_samples("nvidia", lines + f"{gpu.MARK}\n" + lines)
    assert len(readings) == 40_000
    with pytest.raises(Failure, match="listed 20000 GPUs; no node of the course has more than 8"):
        gpu.summarize(readings, busy_util=10)


def test_sixty_four_gpus_are_still_summarised() -> None:
    lines = "".join(f"{i}, A100, {i % 2 * 90}, 1, 2\n" for i in range(gpu.MAX_GPUS))
    s = gpu.summarize(gpu.parse_samples("nvidia", lines), busy_util=10)
    assert s["gpu_count"] == 64 and s["gpus_busy"] == 32 and s["gpus_busy_together"] == 32
    assert len(s) == 5 * 64 + 6


@pytest.mark.parametrize(
    "text, words",
    [
        ("GPU-0, Tesla, 1, 2, 3", "'GPU-0' where a GPU index (0, 1, ...) was expected"),
        ("9" * 5000 + ", Tesla, 1, 2, 3", "where a GPU index"),
        ("\u00b2, Tesla, 1, 2, 3", "where a GPU index"),  # a digit to str.isdigit, not to int
    ],
)
def test_a_gpu_index_that_is_not_a_number_is_a_failure(text: str, words: str) -> None:
    with pytest.raises(Failure, match=words.replace("(", r"\(").replace(")", r"\)")):
        gpu.parse_nvidia(text)


def test_readings_that_are_not_numbers_or_not_cards() -> None:
    nan = gpu.parse_nvidia("0, Tesla, nan, inf, -inf")[0]
    assert nan.util == 0.0 and nan.mem_used_mib is None and nan.mem_total_mib is None
    for text in ("[1, 2]", "[" * 100_000):  # JSON, but no cards; JSON too deep to read
        with pytest.raises(Failure, match="rocm-smi"):
            gpu.parse_rocm(text)
    assert gpu.parse_rocm('{"card' + "9" * 5000 + '": {}}') == []  # not a card: ignored


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small real classifier, and its dynamic-quantized form from onnxruntime's tools."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import quantize_dynamic

    d = tmp_path_factory.mktemp("onnx")
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((16, 3, 3, 3)).astype(np.float32), "w")
    fc = numpy_helper.from_array(rng.standard_normal((16, 11)).astype(np.float32), "fc")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("GlobalAveragePool", ["r"], ["g"]),
            helper.make_node("Flatten", ["g"], ["f"]),
            helper.make_node("MatMul", ["f", "fc"], ["output"]),
        ],
        "food11",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 11])],
        [w, fc],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    base = d / "food11.onnx"
    onnx.save(model, base)
    quant = d / "food11_quantized_dynamic.onnx"
    quantize_dynamic(str(base), str(quant))
    junk = d / "junk.onnx"
    junk.write_bytes(b"\x00\xffnot a protobuf" * 50)
    return {"base": base, "quant": quant, "junk": junk}


def test_real_quantized_model_is_recognised(models: dict[str, Path]) -> None:
    base, quant = inspect_model(models["base"]), inspect_model(models["quant"])
    assert not base.is_quantized and base.quantized_ops == []
    assert quant.is_quantized and quant.int8_weights > 0
    assert set(quant.quantized_ops) & {"MatMulInteger", "DynamicQuantizeLinear", "ConvInteger"}
    assert base.inputs == [("input", ["batch", 3, 224, 224])]
    assert base.outputs == [("output", ["batch", 11])]


def test_not_onnx_is_a_failure(models: dict[str, Path]) -> None:
    with pytest.raises(Failure, match="not a readable ONNX model"):
        inspect_model(models["junk"])


def test_benchmark_script_runs_on_a_real_model(models: dict[str, Path]) -> None:
    import json
    import subprocess
    import sys

    from graders.probes.onnxmodel import BENCH

    out = subprocess.run(
        [sys.executable, "-", str(models["quant"]), "20", "4"],
        stdin=BENCH.open(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["median_ms"] > 0 and doc["p95_ms"] >= doc["median_ms"] and doc["batch_fps"] > 0
    missing = subprocess.run(
        [sys.executable, "-", "/nonexistent.onnx", "5", "2"],
        stdin=BENCH.open(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "cannot load" in json.loads(missing.stdout)["error"]


def test_a_protobuf_bomb_is_read_in_a_bounded_child(tmp_path) -> None:
    """40 MB of empty graph nodes would take gigabytes to build in the grader's process: the
    bounded reader fails it as no plausible model, and a real-size model still reads."""
    from graders.probes.onnxmodel import inspect_bounded

    payload = b"\x0a\x00" * 20_000_000  # GraphProto.node, empty, twenty million times
    size = len(payload)
    varint = bytearray()
    while True:
        varint.append((size & 0x7F) | (0x80 if size > 0x7F else 0))
        size >>= 7
        if not size:
            break
    bomb = tmp_path / "bomb.onnx"
    bomb.write_bytes(b"\x3a" + bytes(varint) + payload)  # ModelProto.graph
    with pytest.raises(Failure, match="not a (readable|plausible) ONNX model"):
        inspect_bounded(bomb)


# `nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv` on a 4-GPU node
# in a DDP run, and `docker top jupyter` (the engine's `ps -ef`, through a tabwriter).
APPS = (
    "pid, process_name, used_gpu_memory [MiB]\n"
    "51877, python, 61230 MiB\n"
    "51991, /opt/conda/bin/python, 60983 MiB\n"
    "7001, /usr/bin/python3, [N/A]\n"
)
TOP = (
    "UID                 PID                 PPID                C                   STIME"
    "               TTY                 TIME                CMD\n"
    "cc                  3112                3090                0                   13:02"
    "               ?                   00:00:02            tini -g -- start-notebook.py\n"
    "cc                  51877               48236               99                  13:49"
    "               ?                   00:02:50            python fine-tune-blip.py\n"
    "cc                  51991               51877               99                  13:50"
    "               ?                   00:01:50            /opt/conda/bin/python "
    "/home/jovyan/work/fine-tune-blip.py\n"
)


def test_compute_apps_and_docker_top_map_pids_to_command_lines() -> None:
    apps = gpu.parse_compute_apps(APPS)
    assert [(a.pid, a.name, a.mem_mib) for a in apps] == [
        (51877, "python", 61230.0),
        (51991, "/opt/conda/bin/python", 60983.0),
        (7001, "/usr/bin/python3", None),
    ]
    assert gpu.parse_compute_apps("pid, process_name, used_gpu_memory [MiB]\n") == []
    top = gpu.parse_docker_top(TOP)
    assert top[51877] == "python fine-tune-blip.py"
    assert top[51991] == "/opt/conda/bin/python /home/jovyan/work/fine-tune-blip.py"
    assert 7001 not in top and top[3112] == "tini -g -- start-notebook.py"
    assert gpu.parse_docker_top("Error response from daemon: No such container: x\n") == {}


def test_compute_apps_garbage_is_a_failure() -> None:
    with pytest.raises(Failure, match="unexpected process line"):
        gpu.parse_compute_apps("pid, process_name, used_gpu_memory [MiB]\nnot a pid, x, 1 MiB\n")
    many = "".join(f"{i}, python, 1 MiB\n" for i in range(1000))
    assert len(gpu.parse_compute_apps(many)) == gpu.MAX_APPS
