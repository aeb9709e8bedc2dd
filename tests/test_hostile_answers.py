"""A student's hostile answers are failures, never grader errors: the labs' real checks run
against a hostile sshd (tests/hostile_sshd.py) that prints odd JSON shapes for the commands
they run. An `error` would be "not counted against you", and a student could turn any
failing lab into manual grading with one."""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.checks import Host, Session
from graders.labs import load_lab
from graders.probes.ssh import SshPool
from graders.runner import run_check
from graders.student import Student
from tests.hostile_sshd import HostileSshd


def observe(lab_id: str, check_id: str, script: dict[str, str], key: Path, given=None, files=None):
    """The check's observation and value, run against a hostile sshd printing `script` and
    serving `files` (end of a path -> bytes) over SFTP."""
    lab = load_lab(lab_id)
    check = next(c for c in lab.checks if c.id == check_id)
    with HostileSshd("script", script, files) as server:
        pool = SshPool(port=server.port)
        session = Session(Student("ab1", "ab1", str(key)), lab.config, None, pool)
        try:
            return run_check(check, session, given, Host("node1", "127.0.0.1"))
        finally:
            pool.close()


KUBECTL_NODES = {  # k8s_nodes asks for lines of name, Ready status, InternalIPs (jsonpath)
    "JSON, not lines": '{"items": [{"status": {"conditions": []}}]}',
    "a line of four fields": "node1\tTrue\t192.168.1.11\textra\n",
    "fields without values": "\t\t\n\t\t\n\t\t\n",
    "a huge line": "n" * 500_000,
    "not text": "\x00\x01\xff\xfe\tTrue\t\n",
    "addresses that are not addresses": "node1\tTrue\tnone\nnode2\tTrue\t::zz\nnode3\tTrue\t\n",
}


@pytest.mark.parametrize("answer", KUBECTL_NODES)
def test_kubectl_nodes_of_odd_shapes_fail(answer: str, key: Path) -> None:
    obs, _ = observe("cloud-chi", "k8s_nodes", {"kubectl get nodes": KUBECTL_NODES[answer]}, key)
    assert obs.status in ("failed", "passed"), (obs.status, obs.message)
    assert obs.status != "error"


KUBECTL_APP = {  # k8s_namespace asks for lines of kind, name, spec (JSON), ready replicas
    "specs of odd shapes": "Namespace\tgourmetgram-production\t{}\t\n"
    'Service\tgourmetgram-svc\t{"ports": "80", "externalIPs": [[1]]}\t\n'
    'Deployment\tgourmetgram-app\t{"template": []}\tmany\n'
    'HorizontalPodAutoscaler\tgourmetgram-kube-hpa\t{"metrics": 5, "minReplicas": []}\t\n',
    "specs of the wrong types inside": "Namespace\tgourmetgram-production\t{}\t\n"
    'Service\tgourmetgram-svc\t{"ports": [{"port": [80], "targetPort": {}}]}\t\n'
    'Deployment\tgourmetgram-app\t{"template": {"spec": {"containers": [1, {"image": 5}]}}}'
    "\t-1\n"
    "HorizontalPodAutoscaler\tgourmetgram-kube-hpa\t"
    '{"scaleTargetRef": {"name": "gourmetgram-app"}, "metrics": [{"resource": []}]}\t\n',
    "a spec that is not an object": "Namespace\tgourmetgram-production\t[1]\t\n",
    "lines not of four fields": "Namespace\n",
    "JSON, not lines": '{"kind": "List", "items": [1, "two", null]}',
}


@pytest.mark.parametrize("answer", KUBECTL_APP)
def test_kubernetes_objects_of_odd_shapes_fail(answer: str, key: Path) -> None:
    """The namespace check reads them once; the deployment, service and HPA checks judge
    what it read."""
    namespace, app = observe(
        "cloud-chi", "k8s_namespace", {"kubectl get namespace": KUBECTL_APP[answer]}, key
    )
    assert namespace.status in ("passed", "failed"), namespace.message
    if namespace.status == "failed":
        assert not answer.startswith("specs of"), namespace.message  # those read as objects
        return
    for child in ("k8s_deployment", "k8s_service", "k8s_hpa"):
        obs, _ = observe("cloud-chi", child, {}, key, given={"k8s_namespace": app})
        assert obs.status == "failed", (child, obs.status, obs.message)


def test_a_benchmark_that_prints_a_number_fails(key: Path) -> None:
    obs, _ = observe(
        "serve-model-chi",
        "latency_baseline",
        {"docker exec": "5\n"},
        key,
        given={"models_present": {}},
    )
    assert obs.status == "failed" and "the benchmark printed no result" in obs.message


# --- M6: numbers and models the student's own code produced -------------------------------
BENCH = '{{"median_ms": {}, "p95_ms": {}, "batch_fps": {}, "runs": 100, "batch": 32}}\n'


@pytest.mark.parametrize(
    "numbers, believed",
    [
        ((3.1, 3.9, 1150.0), True),  # the lab's CPU target: < 3 ms, >= 1000 FPS
        ((0.8, 1.1, 5200.0), True),  # its GPU target: < 1 ms, >= 5000 FPS
        ((41.0, 55.0, 30.2), True),  # a slow but honest run
        ((0.001, 0.002, 1e9), False),  # the review's forged benchmark
        ((2.0, 1.0, 900.0), False),  # p95 below the median
        ((3.0, 4.0, 50_000.0), False),  # a batch of 32 faster than one image
        ((3.0, 4.0, float("nan")), False),
        ((-1.0, 4.0, 900.0), False),
    ],
)
def test_benchmark_numbers_are_believed_only_when_plausible(
    numbers: tuple[float, float, float], believed: bool, key: Path
) -> None:
    text = BENCH.format(*(n if n == n else "NaN" for n in numbers))
    obs, _ = observe("serve-model-chi", "latency_baseline", {"docker exec": text}, key, given={})
    assert obs.status == ("passed" if believed else "failed"), obs.message
    if not believed:
        assert "not plausible" in obs.message


def test_a_benchmark_run_other_than_asked_is_not_believed(key: Path) -> None:
    text = '{"median_ms": 3, "p95_ms": 4, "batch_fps": 900, "runs": 1, "batch": 1}\n'
    obs, _ = observe("serve-model-chi", "latency_baseline", {"docker exec": text}, key, given={})
    assert obs.status == "failed" and "not 100 runs of batch 32" in obs.message


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from labsim.onnxmodels import build_models_apart

    return build_models_apart(tmp_path_factory.mktemp("models"))


def _quantized_check(models: dict[str, Path], served: bytes, key: Path):
    """The check reads all five models at once (one reader process); the other four are the
    lab's own."""
    base = models["food11.onnx"].stat().st_size
    files = {name: path.read_bytes() for name, path in models.items() if "/" not in name}
    obs, _ = observe(
        "serve-model-chi",
        "quantized_dynamic",
        {},
        key,
        given={"models_present": {"food11.onnx": base}},
        files={**files, "food11_quantized_dynamic.onnx": served},
    )
    return obs


def test_a_really_quantized_model_passes(models: dict[str, Path], key: Path) -> None:
    obs = _quantized_check(models, models["food11_quantized_dynamic.onnx"].read_bytes(), key)
    assert obs.status == "passed", obs.message
    assert 0.1 < obs.measurements["size_ratio"] < 0.5


def _one_quantize_node() -> bytes:
    """The review's forgery: a graph of one QuantizeLinear node reads as "quantized"."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["input", "scale", "zero"], ["output"])],
        "forged",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 11])],
        [helper.make_tensor_value_info("output", TensorProto.UINT8, ["n", 11])],
        [
            helper.make_tensor("scale", TensorProto.FLOAT, [], [0.1]),
            helper.make_tensor("zero", TensorProto.UINT8, [], [0]),
        ],
    )
    return helper.make_model(graph).SerializeToString()


def _float_model_with_a_quantize_node(models: dict[str, Path]) -> bytes:
    """food11.onnx itself, with one QuantizeLinear/DequantizeLinear pair on its output."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(models["food11.onnx"]))
    graph = model.graph
    last = graph.output[0].name
    graph.node.extend(
        [
            helper.make_node("QuantizeLinear", [last, "s", "z"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"]),
        ]
    )
    graph.initializer.extend(
        [
            helper.make_tensor("s", TensorProto.FLOAT, [], [0.1]),
            helper.make_tensor("z", TensorProto.UINT8, [], [0]),
        ]
    )
    out = graph.output[0]
    graph.output.remove(out)
    graph.output.append(helper.make_tensor_value_info("dq", TensorProto.FLOAT, ["batch_size", 11]))
    return model.SerializeToString()


def test_one_quantize_node_is_not_a_quantized_model(models: dict[str, Path], key: Path) -> None:
    obs = _quantized_check(models, _one_quantize_node(), key)
    assert obs.status == "failed", obs.message


def test_the_float_model_with_a_quantize_node_is_not_quantized(
    models: dict[str, Path], key: Path
) -> None:
    obs = _quantized_check(models, _float_model_with_a_quantize_node(models), key)
    assert obs.status == "failed" and "of food11.onnx's size" in obs.message, obs.message


def test_the_aggressive_model_copied_as_conservative_fails(
    models: dict[str, Path], key: Path
) -> None:
    """Quantized, 8-bit, with Q/DQ nodes and a quantized size: only its sha256 beside the
    aggressive model's shows it is no conservative quantization of its own."""
    files = {name: path.read_bytes() for name, path in models.items() if "/" not in name}
    files["food11_quantized_conservative.onnx"] = files["food11_quantized_aggressive.onnx"]
    base = len(files["food11.onnx"])
    obs, _ = observe(
        "serve-model-chi",
        "quantized_conservative",
        {},
        key,
        given={"models_present": {"food11.onnx": base}},
        files=files,
    )
    assert obs.status == "failed", obs.message
    assert "a copy of food11_quantized_aggressive.onnx" in obs.message, obs.message


def test_the_baseline_resaved_as_optimized_fails(models: dict[str, Path], key: Path) -> None:
    """food11.onnx saved again under the optimized name (other bytes, the same graph)."""
    import onnx

    from graders.probes.onnxmodel import inspect_model

    model = onnx.load(str(models["food11.onnx"]))
    model.doc_string = "optimized, honestly"
    files = {name: path.read_bytes() for name, path in models.items() if "/" not in name}
    files["food11_optimized.onnx"] = model.SerializeToString()
    obs, _ = observe(
        "serve-model-chi",
        "optimized_model",
        {},
        key,
        given={"baseline_model": inspect_model(models["food11.onnx"])},
        files=files,
    )
    assert obs.status == "failed" and "the same graph as food11.onnx" in obs.message, obs.message
    files["food11_optimized.onnx"] = models["food11_optimized.onnx"].read_bytes()
    obs, _ = observe(
        "serve-model-chi",
        "optimized_model",
        {},
        key,
        given={"baseline_model": inspect_model(models["food11.onnx"])},
        files=files,
    )
    assert obs.status == "passed", obs.message
    assert obs.measurements["nodes"] < obs.measurements["baseline_nodes"]


LAB_TESTS = load_lab("eval-offline-chi").config["lab_tests"]
FORGED_REPORT = (
    '<testsuites><testsuite name="pytest" tests="5" failures="0" errors="0" skipped="0">'
    + "".join(f'<testcase classname="tests.test_food11" name="{t}"/>' for t in LAB_TESTS)
    + "</testsuite></testsuites>"
)


@pytest.mark.parametrize("pytest_exit, status", [(0, "passed"), (1, "failed")])
def test_a_report_that_contradicts_pytests_exit_code_fails(
    pytest_exit: int, status: str, key: Path
) -> None:
    """A conftest.py hook can rewrite the report to five passes; pytest still exits 1."""
    obs, _ = observe(
        "eval-offline-chi",
        "suite_runs",
        {"python -m pytest": ("5 passed", pytest_exit), "head -c": FORGED_REPORT},
        key,
        given={},
    )
    assert obs.status == status, obs.message
    if status == "failed":
        assert "not pytest's own" in obs.message


def _read_workflows(key: Path, answer: str):
    from graders.checks import check
    from graders.labkit.kubernetes import kubectl_json

    @check(title="Argo's workflows, read whole", vantage="host")
    def workflows(lab) -> int:
        """`kubectl get workflows -o json`, however long, as one JSON object."""
        return len(kubectl_json(lab, "get workflows -n argo -o json")["items"])

    with HostileSshd("script", {"kubectl get workflows": answer}) as server:
        pool = SshPool(port=server.port)
        session = Session(Student("ab1", "ab1", str(key)), {}, None, pool)
        try:
            return run_check(workflows.__check__, session, None, Host("node1", "127.0.0.1"))
        finally:
            pool.close()


def test_a_large_kubectl_answer_is_read_whole_and_only_a_flood_fails(key: Path) -> None:
    """Argo Workflows embed their template spec and node statuses: a finished mlops lab's
    listing passes 1 MiB. It is read whole; only an answer past the generous bound fails,
    and says so, never 'did not print JSON'."""
    import json

    item = {"metadata": {"name": "train-model-x"}, "status": {"nodes": {"n": "x" * 3000}}}
    big = json.dumps({"items": [item] * 1000})  # about 3 MiB
    obs, value = _read_workflows(key, big)
    assert (obs.status, value) == ("passed", 1000), obs.message
    flood = json.dumps({"items": [item] * 6000})  # about 18 MiB
    obs, _ = _read_workflows(key, flood)
    assert obs.status == "failed" and "more than 16 MiB" in obs.message, obs.message
