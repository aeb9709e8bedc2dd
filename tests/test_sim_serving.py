"""The serving and GPU labs of the classroom simulator (serve-system-chi, serve-model-chi,
serve-edge-chi, llm-chi), checked through the real clients: python-chi (Nova, Neutron, Zun),
fabric over the real sshd, requests against the real uvicorn/FastAPI, onnx and onnxruntime.

Needs root (sshd on port 22 of loopback addresses, the `cc` user) and OpenSSH's sshd.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import io
import json
import logging
import os
import socket
import statistics
import struct
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
from paramiko.ssh_exception import NoValidConnectionsError

from labsim import Classroom
from labsim.gourmetgram import CLASSES
from labsim.modelserver import REDIRECT_TARGET, stand_in_image, stand_in_image_sha256
from labsim.onnxmodels import MODEL_FILES, QUANTIZED_OPS, operators
from labsim.serving import injected_latency
from labsim.shared import sample_jpeg
from tests.conftest import address_of, needs_root, ssh_connect, ssh_run, student_of

pytestmark = needs_root
logging.getLogger("paramiko").setLevel(logging.CRITICAL)
logging.getLogger("stevedore.extension").setLevel(logging.CRITICAL)
logging.getLogger("neutronclient.v2_0.client").setLevel(logging.ERROR)

SYSTEM, MODEL, EDGE, LLM = "serve-system-chi", "serve-model-chi", "serve-edge-chi", "llm-chi"
LABS = ("hello-chameleon", SYSTEM, MODEL, EDGE, LLM)
LLM_MULTI = f"{LLM}/multi"  # llm-chi's second host per student: node-llm-multi
PROFILE_LIST = [
    "healthy",
    "fastapi_pt",
    "triton",
    "triton_onnx_2026",
    "stub_fastapi",
    "slow",
    "wrong_answer",
    "not_json",
    "huge_body",
    "redirect_away",
    "stall_mid_body",
    "no_gpu_driver",
    "single_gpu",
    "fake_quantized",
    "copied_models",
    "missing_models",
    "no_jupyter",
    "amd_gpus",
    "no_container",
    "jupyter_down",
    "empty_container",
    "server_error",
    "host_down",
    "tarpit",
]
B64 = base64.b64encode(sample_jpeg()).decode()


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory):
    with Classroom(tmp_path_factory.mktemp("serving"), PROFILE_LIST, labs=LABS) as classroom:
        yield classroom


def predict(host: str, **kwargs):
    return requests.post(f"http://{host}:8000/predict", json={"image": B64}, timeout=10, **kwargs)


# ---- OpenStack: regions and Zun --------------------------------------------------------------
@pytest.fixture
def chi_at(room: Classroom):
    import chi

    env = room.openstack_env

    def configure(region: str):
        cred_id, secret = room.cloud.credentials[region]  # each site has its own
        chi.reset()
        chi.set("auth_type", env["OS_AUTH_TYPE"])
        chi.set("auth_url", env["OS_AUTH_URL"])
        chi.set("region_name", region)
        chi.set("application_credential_id", cred_id)
        chi.set("application_credential_secret", secret)
        chi.set("timeout", 5)
        return chi

    yield configure
    chi.reset()


def test_each_region_lists_only_its_own_servers(room: Classroom, chi_at) -> None:
    names = {}
    for region in ("KVM@TACC", "CHI@TACC", "CHI@UC", "CHI@Edge"):
        names[region] = {s.name: s for s in chi_at(region).nova().servers.list()}
    s = student_of(room, "healthy")
    user = s.chameleon_user
    assert set(names["KVM@TACC"]) == {f"hello_chameleon-{x.chameleon_user}" for x in room.students}
    assert {f"node-serve-system-{user}", f"node-serve-model-{user}"} <= set(names["CHI@TACC"])
    assert all(n.startswith(("node-serve-system-", "node-serve-model-")) for n in names["CHI@TACC"])
    # llm-chi: node-llm-single and a separate node-llm-multi (single_gpu has not made it yet)
    assert set(names["CHI@UC"]) == {
        f"node-llm-single-{x.chameleon_user}" for x in room.students
    } | {f"node-llm-multi-{x.chameleon_user}" for x in room.students if x.profile != "single_gpu"}
    assert names["CHI@Edge"] == {}
    server = names["CHI@TACC"][f"node-serve-system-{user}"]
    assert server.status == "ACTIVE" and server.flavor["original_name"] == "baremetal"
    floating = [
        a["addr"]
        for addrs in server.addresses.values()
        for a in addrs
        if a["OS-EXT-IPS:type"] == "floating"
    ]
    assert floating == [s.address(SYSTEM)]
    broken = names["CHI@UC"][f"node-llm-single-{student_of(room, 'server_error').chameleon_user}"]
    assert broken.status == "ERROR" and broken.addresses == {}
    fips = chi_at("CHI@UC").neutron().list_floatingips()["floatingips"]
    assert {f["floating_ip_address"] for f in fips} == {
        x.address(part) for x in room.students for part in (LLM, LLM_MULTI) if x.address(part)
    }
    assert len(fips) == 2 * len(room.students) - 1 - 2  # single_gpu: one; server_error: none


def test_zun_lists_edge_containers(room: Classroom, chi_at) -> None:
    chi = chi_at("CHI@Edge")
    containers = {c.name: c for c in chi.zun().containers.list()}
    name = f"node-serve-edge-{student_of(room, 'healthy').chameleon_user.replace('_', '-')}"
    healthy = containers[name]
    assert (
        healthy.status == "Running" and healthy.image == "quay.io/jupyter/minimal-notebook:latest"
    )
    assert healthy.ports == [8888] and healthy.uuid
    (fixed,) = [a["addr"] for addrs in healthy.addresses.values() for a in addrs]
    fip = {
        f["fixed_ip_address"]: f["floating_ip_address"]
        for f in chi.neutron().list_floatingips()["floatingips"]
    }
    assert fip[fixed] == address_of(room, "healthy", EDGE)
    missing = student_of(room, "no_container").chameleon_user.replace("_", "-")
    assert f"node-serve-edge-{missing}" not in containers
    error = containers[
        f"node-serve-edge-{student_of(room, 'server_error').chameleon_user.replace('_', '-')}"
    ]
    assert error.status == "Error" and error.status_reason.startswith("Docker internal error")
    # The raw REST API through the catalog: the container endpoint of each region, with
    # that region's own credential.
    for region, expected in (("CHI@Edge", True), ("CHI@TACC", False)):
        session = chi_at(region).session()
        token = session.get_token()
        url = session.get_endpoint(service_type="container", interface="public", region_name=region)
        assert url.endswith("/container/v1")
        body = requests.get(url + "/containers", headers={"X-Auth-Token": token}, timeout=5).json()
        assert (name in {c["name"] for c in body["containers"]}) == expected
        assert body["next"] is None


def test_zun_exec_and_logs(room: Classroom, chi_at) -> None:
    """Zun's execute and logs as python-chi calls them (chi.container.execute, get_logs, the
    Container's execute), and their REST shapes: the healthy container after the lab's
    c.execute() steps and measure_pi.ipynb, the empty one after c.submit() only."""
    chi = chi_at("CHI@Edge")
    import chi.container as zc

    by_name = {c.name: c for c in chi.zun().containers.list()}

    def uuid_of(profile: str) -> str:
        user = student_of(room, profile).chameleon_user.replace("_", "-")
        return by_name[f"node-serve-edge-{user}"].uuid

    healthy, empty = uuid_of("healthy"), uuid_of("empty_container")
    done = zc.execute(healthy, "stat -c '%n %s' work/models/food11_quantized_aggressive.onnx")
    assert set(done) == {"output", "exit_code", "exec_id", "url"} and done["exit_code"] == 0
    name, size = done["output"].split()
    assert name == "work/models/food11_quantized_aggressive.onnx" and int(size) > 2_000_000
    ort = "python3 -c 'import onnxruntime; print(onnxruntime.__version__)'"
    assert zc.execute(healthy, ort)["exit_code"] == 0
    missing = zc.execute(empty, ort)
    assert missing["exit_code"] == 1 and "No module named 'onnxruntime'" in missing["output"]
    # no shell: words as docker-py splits them; a shell only when asked for
    assert zc.execute(healthy, "echo $HOME")["output"] == "$HOME\n"
    assert zc.execute(healthy, "sh -c 'ls work'")["output"].split() == [
        "measure_pi.ipynb",
        "models",
    ]
    output, code = zc.Container.from_zun_container(chi.zun().containers.get(empty)).execute(
        "ls work/models"
    )
    assert code == "2" and "No such file or directory" in output
    notebook = json.loads(zc.execute(healthy, "cat work/measure_pi.ipynb")["output"])
    printed = "".join(o["text"] for c in notebook["cells"] for o in c.get("outputs", []))
    assert printed.count("Inference Latency (single sample, median)") == 3
    logs = zc.get_logs(healthy)
    assert isinstance(logs, str) and "Saving file at /work/measure_pi.ipynb" in logs
    assert "Jupyter Server 2.14.2 is running at" in zc.get_logs(empty)
    assert "Saving file" not in zc.get_logs(empty)
    # The raw REST API: logs is a JSON string; exec in a container in Error is 409.
    session = chi.session()
    url = session.get_endpoint(service_type="container", interface="public", region_name="CHI@Edge")
    headers = {"X-Auth-Token": session.get_token(), "OpenStack-API-Version": "container 1.41"}
    answer = requests.get(
        f"{url}/containers/{healthy}/logs?stdout=True&stderr=True", headers=headers, timeout=5
    )
    assert answer.headers["Content-Type"] == "application/json" and answer.json() == logs
    error = uuid_of("server_error")
    refused = requests.post(
        f"{url}/containers/{error}/execute?command=ls&run=True", headers=headers, timeout=5
    )
    assert refused.status_code == 409 and "in Error state" in refused.text
    assert room.cloud.pids() == []  # every exec's child has exited


# ---- GPU stand-ins over SSH --------------------------------------------------------------------
QUERY = "index,name,uuid,utilization.gpu,utilization.memory,memory.used,memory.total,"
QUERY += "temperature.gpu,power.draw"


def test_nvidia_smi_formats(room: Classroom) -> None:
    single = ssh_run(room, "healthy", LLM, "nvidia-smi -L").stdout.splitlines()
    assert len(single) == 1 and single[0].startswith("GPU 0: NVIDIA A100 80GB PCIe (UUID: GPU-")
    listing = ssh_run(room, "healthy", LLM_MULTI, "nvidia-smi -L").stdout.splitlines()
    assert len(listing) == 4
    assert all(
        line.startswith(f"GPU {i}: NVIDIA A100 80GB PCIe (UUID: GPU-")
        for i, line in enumerate(listing)
    )
    csv = ssh_run(room, "healthy", LLM_MULTI, f"nvidia-smi --query-gpu={QUERY} --format=csv").stdout
    header, *rows = csv.splitlines()
    assert header == (
        "index, name, uuid, utilization.gpu [%], utilization.memory [%], memory.used [MiB], "
        "memory.total [MiB], temperature.gpu, power.draw [W]"
    )
    cells = rows[0].split(", ")
    assert cells[1] == "NVIDIA A100 80GB PCIe" and cells[3].endswith(" %")
    assert cells[6] == "81920 MiB" and cells[8].endswith(" W")
    bare = ssh_run(room, "healthy", LLM, f"nvidia-smi --query-gpu={QUERY} --format=csv,noheader")
    assert bare.stdout.splitlines()[0].split(", ")[6] == "81920 MiB"
    p100 = ssh_run(
        room,
        "healthy",
        SYSTEM,
        "nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits",
    )
    assert p100.stdout == "0, Tesla P100-PCIE-16GB, 16384\n1, Tesla P100-PCIE-16GB, 16384\n"
    table = ssh_run(room, "healthy", SYSTEM, "nvidia-smi").stdout.splitlines()
    assert table[2].startswith("| NVIDIA-SMI 550.") and "CUDA Version: 12.4" in table[2]
    assert all(len(line) == 91 for line in table[1:16] if line.startswith(("|", "+")))
    assert "Tesla P100-PCIE-16GB" in table[8] and "16384MiB" in table[9]
    xml = ssh_run(room, "healthy", LLM_MULTI, "nvidia-smi -q -x").stdout
    root = ET.fromstring(xml.split("\n", 2)[2])  # after the XML declaration and DOCTYPE
    gpus = root.findall("gpu")
    assert root.findtext("attached_gpus") == "4" and len(gpus) == 4
    assert gpus[0].findtext("fb_memory_usage/total") == "81920 MiB"
    assert gpus[0].findtext("utilization/gpu_util").endswith(" %")
    bad = ssh_run(room, "healthy", LLM, "nvidia-smi --query-gpu=bogus --format=csv")
    assert bad.exited == 2 and bad.stdout.startswith('Field "bogus" is not a valid field')


def test_nvidia_smi_follows_the_trace_and_the_profiles(room: Classroom) -> None:
    sample = (
        "nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits"
    )
    with ssh_connect(room, "healthy", LLM_MULTI) as c:
        seen = []
        for _ in range(3):
            rows = [
                line.split(", ")
                for line in c.run(sample, hide=True, in_stream=False).stdout.splitlines()
            ]
            seen.append(tuple(int(r[1]) for r in rows))
            time.sleep(0.55)
    assert all(min(s) >= 60 for s in seen)  # four GPUs busy in every sample
    assert len(set(seen)) >= 2  # the trace moves with the clock
    single = ssh_run(room, "single_gpu", LLM, sample).stdout.splitlines()
    assert len(single) == 1 and int(single[0].split(", ")[1]) >= 60
    done = ssh_run(room, "healthy", LLM, sample).stdout.splitlines()  # its runs finished
    assert len(done) == 1 and int(done[0].split(", ")[1]) == 0
    idle = ssh_run(room, "no_jupyter", LLM_MULTI, sample).stdout.splitlines()
    assert [int(r.split(", ")[1]) for r in idle] == [0, 0, 0, 0]
    broken = ssh_run(room, "no_gpu_driver", LLM, "nvidia-smi -L")
    assert broken.exited == 9 and broken.stdout == (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.\n\n"
    )
    amd = ssh_run(room, "amd_gpus", MODEL, "nvidia-smi")
    assert amd.exited == 127 and "nvidia-smi: command not found" in amd.stderr
    use = json.loads(
        ssh_run(room, "amd_gpus", MODEL, "rocm-smi --showuse --showmemuse --json").stdout
    )
    assert set(use) == {"card0"} and use["card0"]["GPU use (%)"].isdigit()
    assert "GPU Memory Allocated (VRAM%)" in use["card0"]
    vram = json.loads(ssh_run(room, "amd_gpus", MODEL, "rocm-smi --showmeminfo vram --json").stdout)
    assert int(vram["card0"]["VRAM Total Memory (B)"]) == 32752 * 1024 * 1024


# ---- the model server: FastAPI ----------------------------------------------------------------
def test_fastapi_behaves_like_the_labs_app(room: Classroom) -> None:
    host = address_of(room, "healthy", SYSTEM)
    base = f"http://{host}:8000"
    spec = requests.get(base + "/openapi.json", timeout=5).json()
    assert spec["info"]["title"] == "Food Classification API (ONNX)"
    post = spec["paths"]["/predict"]["post"]
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == {}
    assert (
        "Food Classification API"
        == requests.get(
            f"http://{address_of(room, 'fastapi_pt', SYSTEM)}:8000/openapi.json", timeout=5
        ).json()["info"]["title"]
    )
    assert requests.get(base + "/docs", timeout=5).status_code == 200
    ok = predict(host)
    body = ok.json()
    assert ok.status_code == 200 and ok.headers["server"] == "uvicorn"
    assert body["prediction"] in CLASSES and 0 <= body["probability"] <= 1
    assert predict(host).json() == body  # a stable answer for the same image
    moved = requests.post(base + "/predict/", json={"image": B64}, timeout=5, allow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"].endswith("/predict")
    missing = requests.post(base + "/predict", json={}, timeout=5)
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["type"] == "missing"
    assert missing.json()["detail"][0]["loc"] == ["body", "image"]
    wrong = requests.post(base + "/predict", json={"image": 5}, timeout=5)
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["type"] == "string_type"
    plain = requests.post(
        base + "/predict",
        data=json.dumps({"image": B64}),
        headers={"Content-Type": "text/plain"},
        timeout=5,
    )
    assert plain.status_code == 422
    padding = requests.post(base + "/predict", json={"image": "abc"}, timeout=5)
    assert (padding.status_code, padding.json()) == (200, {"error": "Incorrect padding"})
    text = base64.b64encode(b"not an image at all").decode()
    junk = requests.post(base + "/predict", json={"image": text}, timeout=5).json()
    assert junk["error"].startswith("cannot identify image file <_io.BytesIO object at 0x")


def test_latency_follows_the_injected_distribution(room: Classroom) -> None:
    s = student_of(room, "fastapi_pt")
    injected = injected_latency(s.hosts[SYSTEM])
    assert (injected.kind, injected.median_ms, injected.p95_ms) == ("lognormal", 17.0, 28.0)
    host = s.address(SYSTEM)
    with requests.Session() as http:
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            r = http.post(f"http://{host}:8000/predict", json={"image": B64}, timeout=10)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
    p50 = statistics.median(times)
    assert injected.median_ms * 0.75 <= p50 <= injected.median_ms * 1.3 + 5, times
    # One worker: 16 at once queue behind each other (throughput stays flat).
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: predict(host), range(16)))
    wall = time.perf_counter() - t0
    assert all(a.status_code == 200 for a in answers)
    assert wall >= 16 * injected.mean_ms / 1000 * 0.6, wall
    slow = address_of(room, "slow", SYSTEM)
    t0 = time.perf_counter()
    assert predict(slow).status_code == 200
    assert time.perf_counter() - t0 > 0.15


# ---- the model server: Triton -----------------------------------------------------------------
def test_triton(room: Classroom) -> None:
    base = f"http://{address_of(room, 'triton', SYSTEM)}:8000"
    ready = requests.get(base + "/v2/health/ready", timeout=5)
    assert (ready.status_code, ready.content) == (200, b"")
    assert "server" not in ready.headers
    model = requests.get(base + "/v2/models/food_classifier", timeout=5).json()
    assert model["name"] == "food_classifier" and model["versions"] == ["1"]
    assert requests.get(base + "/v2/models/food_classifier/ready", timeout=5).status_code == 200
    config = requests.get(base + "/v2/models/food_classifier/config", timeout=5).json()
    assert config["max_batch_size"] == 16 and "dynamic_batching" in config
    assert config["input"][0]["data_type"] == "TYPE_STRING"
    index = requests.post(base + "/v2/repository/index", timeout=5).json()
    assert index == [{"name": "food_classifier", "version": "1", "state": "READY"}]
    request = {
        "inputs": [{"name": "INPUT_IMAGE", "shape": [1, 1], "datatype": "BYTES", "data": [B64]}],
        "outputs": [{"name": "FOOD_LABEL"}, {"name": "PROBABILITY"}],
    }
    answer = requests.post(base + "/v2/models/food_classifier/infer", json=request, timeout=5)
    outputs = {o["name"]: o for o in answer.json()["outputs"]}
    assert answer.status_code == 200 and outputs["FOOD_LABEL"]["datatype"] == "BYTES"
    assert outputs["FOOD_LABEL"]["data"][0] in CLASSES and outputs["FOOD_LABEL"]["shape"] == [1, 1]
    assert outputs["PROBABILITY"]["datatype"] == "FP32"
    assert 0 <= outputs["PROBABILITY"]["data"][0] <= 1
    unknown = requests.get(base + "/v2/models/nope", timeout=5)
    assert unknown.status_code == 400 and "unknown model" in unknown.json()["error"]
    bad = dict(request, inputs=[dict(request["inputs"][0], shape=[1])])
    shape = requests.post(base + "/v2/models/food_classifier/infer", json=bad, timeout=5)
    assert shape.status_code == 400 and "unexpected shape" in shape.json()["error"]
    metrics = requests.get(f"http://{address_of(room, 'triton', SYSTEM)}:8002/metrics", timeout=5)
    assert 'nv_inference_request_success{model="food_classifier",version="1"}' in metrics.text
    front = requests.get(f"http://{address_of(room, 'triton', SYSTEM)}/test", timeout=15)
    assert front.status_code == 200 and front.text in CLASSES


def test_triton_onnx_2026(room: Classroom) -> None:
    """The 2026 manual's end: food_classifier_onnx configured as models_staging writes it,
    with the manual's dynamic batching; food_classifier at 4+4 instances without; Flask on
    the triton_onnx branch sending the preprocessed image as a binary tensor."""
    address = address_of(room, "triton_onnx_2026", SYSTEM)
    base = f"http://{address}:8000"
    index = requests.post(base + "/v2/repository/index", timeout=5).json()
    assert [m["name"] for m in index] == ["food_classifier", "food_classifier_onnx"]
    meta = requests.get(base + "/v2/models/food_classifier_onnx", timeout=5).json()
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 224, 224]}]
    assert meta["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 11]}]
    onnx = requests.get(base + "/v2/models/food_classifier_onnx/config", timeout=5).json()
    assert onnx["backend"] == "onnxruntime" and onnx["max_batch_size"] == 16
    assert onnx["dynamic_batching"]["preferred_batch_size"] == [4, 6, 8]
    assert onnx["dynamic_batching"]["max_queue_delay_microseconds"] == 100
    assert [(g["count"], g["gpus"]) for g in onnx["instance_group"]] == [(1, [0])]
    python = requests.get(base + "/v2/models/food_classifier/config", timeout=5).json()
    assert "dynamic_batching" not in python
    assert [(g["count"], g["gpus"]) for g in python["instance_group"]] == [(4, [0]), (4, [1])]
    # a binary tensor (as tritonclient sends it) and the same values as JSON: same scores
    values = [((i * 7) % 251) / 125.0 - 1.0 for i in range(3 * 224 * 224)]
    blob = struct.pack(f"<{len(values)}f", *values)
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [1, 3, 224, 224],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(blob)},
                }
            ],
            "outputs": [{"name": "output", "parameters": {"binary_data": False}}],
        }
    ).encode()
    url = base + "/v2/models/food_classifier_onnx/infer"
    binary = requests.post(
        url,
        data=head + blob,
        headers={"Inference-Header-Content-Length": str(len(head))},
        timeout=10,
    )
    assert binary.status_code == 200, binary.text
    scores = binary.json()["outputs"][0]["data"]
    as_json = {
        "inputs": [
            {
                "name": "input",
                "shape": [1, 3, 224, 224],
                "datatype": "FP32",
                "data": list(struct.unpack(f"<{len(values)}f", blob)),
            }
        ]
    }
    assert requests.post(url, json=as_json, timeout=20).json()["outputs"][0]["data"] == scores
    assert len(scores) == 11
    short = requests.post(
        url,
        data=head + blob[:-4],
        headers={"Inference-Header-Content-Length": str(len(head))},
        timeout=10,
    )
    assert short.status_code == 400 and "byte size mismatch" in short.json()["error"]
    # the lab's test image on the node, labelled as the course model labels it
    image = ssh_run(
        room, "triton_onnx_2026", SYSTEM, "sha256sum serve-system-chi/workspace/test_image.jpeg"
    )
    assert image.stdout.split()[0] == stand_in_image_sha256()
    shown = requests.post(
        f"http://{address}/predict",
        files={"file": ("test_image.jpeg", stand_in_image(), "image/jpeg")},
        timeout=15,
    )
    assert shown.text == (
        '<button type="button" class="btn btn-info btn-sm">Vegetable/Fruit</button>'
    )
    flask = json.loads(ssh_run(room, "triton_onnx_2026", SYSTEM, "docker inspect flask").stdout)
    assert "FOOD11_MODEL_NAME=food_classifier_onnx" in flask[0]["Config"]["Env"]
    server = json.loads(
        ssh_run(room, "triton_onnx_2026", SYSTEM, "docker inspect triton_server").stdout
    )
    assert [n["IPAddress"] for n in server[0]["NetworkSettings"]["Networks"].values()] == [address]


def test_stub_is_no_lab_container(room: Classroom) -> None:
    address = address_of(room, "stub_fastapi", SYSTEM)
    doc = requests.get(f"http://{address}:8000/openapi.json", timeout=5).json()
    assert doc["info"]["title"] == "Food Classification API (ONNX)"
    answer = requests.post(
        f"http://{address}:8000/predict",
        json={"image": base64.b64encode(stand_in_image()).decode()},
        timeout=5,
    )
    assert answer.json() == {"prediction": "Bread", "probability": 0.9}
    names = ssh_run(room, "stub_fastapi", SYSTEM, "docker ps --format '{{.Names}}'").stdout
    assert sorted(names.split()) == ["flask", "jupyter"]


# ---- hostile model servers ----------------------------------------------------------------------
def test_hostile_model_servers(room: Classroom) -> None:
    wrong = predict(address_of(room, "wrong_answer", SYSTEM)).json()
    assert wrong["prediction"] in CLASSES and wrong["probability"] > 1
    html = predict(address_of(room, "not_json", SYSTEM))
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    with predict(address_of(room, "huge_body", SYSTEM), stream=True) as huge:
        size = sum(len(chunk) for chunk in huge.iter_content(1 << 20))
        assert int(huge.headers["content-length"]) == size >= 20 * 1024 * 1024
    away = predict(address_of(room, "redirect_away", SYSTEM), allow_redirects=False)
    assert away.status_code == 302 and away.headers["location"] == REDIRECT_TARGET
    with pytest.raises(requests.ConnectionError):  # nothing is ever served there
        requests.get(REDIRECT_TARGET, timeout=2)
    # Headers and half the body, then silence: a bounded read times out with what came.
    sock = socket.create_connection((address_of(room, "stall_mid_body", SYSTEM), 8000), timeout=5)
    payload = json.dumps({"image": B64}).encode()
    sock.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )
    sock.settimeout(1.0)
    received = b""
    with pytest.raises(TimeoutError):
        while True:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection instead of stalling"
            received += chunk
    sock.close()
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
                 .split(b":")[1])  # fmt: skip
    assert head.startswith(b"HTTP/1.1 200") and 0 < len(body) == length // 2


def test_front_forwards_to_the_model_server(room: Classroom) -> None:
    page = requests.get(f"http://{address_of(room, 'healthy', SYSTEM)}/", timeout=5)
    assert "<title>GourmetGram: Snap. Share. Savor.</title>" in page.text
    test = requests.get(f"http://{address_of(room, 'healthy', SYSTEM)}/test", timeout=15)
    assert test.status_code == 200 and test.text in CLASSES
    uploaded = requests.post(
        f"http://{address_of(room, 'healthy', SYSTEM)}/predict",
        files={"file": ("food.jpg", io.BytesIO(sample_jpeg()))},
        timeout=15,
    )
    assert (
        uploaded.text == f'<button type="button" class="btn btn-info btn-sm">{test.text}</button>'
    )
    none = requests.get(f"http://{address_of(room, 'not_json', SYSTEM)}/test", timeout=15)
    assert (none.status_code, none.text) == (200, "None")


# ---- serve-model-chi: models and docker exec ----------------------------------------------------
def test_models_are_really_quantized(room: Classroom) -> None:
    listing = ssh_run(
        room, "healthy", MODEL, "ls -l --time-style=+ ~/serve-model-chi/workspace/models/"
    )
    assert sorted(line.split()[-1] for line in listing.stdout.splitlines()[1:]) == sorted(
        MODEL_FILES
    )
    sizes = ssh_run(
        room,
        "healthy",
        MODEL,
        "cd ~/serve-model-chi/workspace/models && stat -c '%n %s' " + " ".join(MODEL_FILES),
    ).stdout
    size = {name: int(n) for name, n in (line.split() for line in sizes.splitlines())}
    assert 8_000_000 < size["food11.onnx"] < 9_500_000
    assert size["food11_quantized_dynamic.onnx"] < size["food11.onnx"] / 3
    buffer = io.BytesIO()
    with ssh_connect(room, "healthy", MODEL) as c:
        c.get("serve-model-chi/workspace/models/food11_quantized_aggressive.onnx", local=buffer)
    fetched = Path(room.root) / "aggressive.onnx"
    fetched.write_bytes(buffer.getvalue())
    assert "QLinearConv" in operators(fetched)
    home = student_of(room, "healthy").hosts[MODEL].home / "serve-model-chi/workspace/models"
    assert operators(home / "food11_quantized_dynamic.onnx") & {"ConvInteger", "MatMulInteger"}
    assert not operators(home / "food11.onnx") & QUANTIZED_OPS
    fake = student_of(room, "fake_quantized").hosts[MODEL].home / "serve-model-chi/workspace/models"
    for name in ("food11_quantized_dynamic.onnx", "food11_quantized_aggressive.onnx"):
        assert not operators(fake / name) & QUANTIZED_OPS
    missing = ssh_run(room, "missing_models", MODEL, "ls ~/serve-model-chi/workspace/models/")
    assert missing.exited == 2 and "No such file or directory" in missing.stderr


def test_published_stand_ins_and_copied_models(room: Classroom) -> None:
    """The copied_models student holds the published stand-ins (whose hashes the grading test
    adds to lab.yaml's list); the healthy student's own models are none of them, and neither
    are the real published files; the conservative model is partly quantized (Q/DQ)."""
    from graders.labs import load_lab
    from labsim.onnxmodels import published_sha256

    def sha(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    stand_ins = published_sha256(Path(room.root) / "hosts")
    real = load_lab(MODEL).config["models"]["published_sha256"]
    assert len(stand_ins) == 2 and not set(stand_ins) & set(real)
    models = "serve-model-chi/workspace/models"
    healthy = student_of(room, "healthy").hosts[MODEL].home / models
    copied = student_of(room, "copied_models").hosts[MODEL].home / models
    own = {name: sha(healthy / name) for name in MODEL_FILES}
    assert len(set(own.values())) == 5 and not set(own.values()) & (set(stand_ins) | set(real))
    got = {name: sha(copied / name) for name in MODEL_FILES}
    assert {got["food11_quantized_dynamic.onnx"], got["food11_quantized_aggressive.onnx"]} == set(
        stand_ins
    )
    assert got["food11_optimized.onnx"] == got["food11.onnx"] != own["food11.onnx"]
    assert got["food11_quantized_conservative.onnx"] == got["food11_quantized_aggressive.onnx"]
    conservative = operators(healthy / "food11_quantized_conservative.onnx")
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= conservative
    assert "FusedConv" in operators(healthy / "food11_optimized.onnx")


BENCH = """import json, sys, time
import numpy as np, onnxruntime as ort
path = sys.argv[1]
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
x = np.zeros((1, 3, 224, 224), np.float32)
times = []
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    out = session.run(None, {"input": x})[0]
    times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"shape": list(out.shape), "median_ms": sorted(times)[len(times) // 2]}))
"""


def test_docker_exec_runs_the_script_in_the_jupyter_container(room: Classroom) -> None:
    script = Path(room.root) / "bench.py"
    script.write_text(BENCH)
    with ssh_connect(room, "healthy", MODEL) as c:
        c.run("mkdir -p ~/.labgrader", hide=True, in_stream=False)
        c.put(str(script), ".labgrader/bench.py")
        r = c.run(
            "docker exec -i jupyter python3 - "
            "/home/jovyan/work/models/food11_quantized_dynamic.onnx 5 < ~/.labgrader/bench.py",
            hide=True,
            warn=True,
            timeout=60,
            in_stream=False,
        )
    assert r.exited == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["shape"] == [1, 11] and result["median_ms"] > 0
    inspect = json.loads(ssh_run(room, "healthy", MODEL, "docker inspect jupyter").stdout)[0]
    assert {m["Destination"] for m in inspect["Mounts"]} == {"/home/jovyan/work", "/mnt"}
    assert inspect["State"]["Running"] is True and inspect["Name"] == "/jupyter"
    failing = ssh_run(
        room, "healthy", MODEL, "docker exec -i jupyter python3 -c 'raise SystemExit(3)'"
    )
    assert failing.exited == 3
    gone = ssh_run(room, "no_jupyter", MODEL, "docker exec -i jupyter python3 - < /dev/null")
    assert (gone.exited, gone.stderr) == (
        1,
        "Error response from daemon: No such container: jupyter\n",
    )


def test_llm_jupyter_container_has_the_gpus(room: Classroom) -> None:
    rows = [
        json.loads(line)
        for line in ssh_run(
            room, "healthy", LLM, "docker ps --format '{{json .}}'"
        ).stdout.splitlines()
    ]
    (jupyter,) = [r for r in rows if r["Names"] == "jupyter"]
    assert jupyter["Image"] == "llm-jupyter:latest" and "0.0.0.0:8888->8888/tcp" in jupyter["Ports"]
    inspect = json.loads(ssh_run(room, "healthy", LLM, "docker inspect jupyter").stdout)[0]
    (request,) = inspect["HostConfig"]["DeviceRequests"]
    assert request["Capabilities"] == [["gpu"]] and request["Count"] == -1
    missing = ssh_run(room, "no_gpu_driver", LLM, "docker inspect jupyter")
    assert (missing.exited, missing.stdout, missing.stderr) == (
        1,
        "[]\n",
        "Error: No such object: jupyter\n",
    )


def test_llm_gpu_processes_are_the_training_in_jupyter(room: Classroom) -> None:
    """nvidia-smi's compute apps and `docker top jupyter` as the real tools print them: host
    pids, so the one maps onto the other."""
    apps = "nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv"
    header, *rows = ssh_run(room, "healthy", LLM_MULTI, apps).stdout.splitlines()
    assert header == "pid, process_name, used_gpu_memory [MiB]"
    cells = [r.split(", ") for r in rows]
    assert len(cells) == 4 and all(c[2].endswith(" MiB") and int(c[2][:-4]) > 60000 for c in cells)
    assert [c[1] for c in cells] == ["python"] + ["/opt/conda/bin/python"] * 3
    top = ssh_run(room, "healthy", LLM_MULTI, "docker top jupyter").stdout.splitlines()
    assert top[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert top[0].index("PID") == 20 and top[0].index("CMD") == 140  # tabwriter: 20 wide
    by_pid = {line.split(None, 7)[1]: line.split(None, 7)[7] for line in top[1:]}
    assert by_pid[cells[0][0]] == "python fine-tune-blip.py"
    assert all(by_pid[c[0]].endswith("/home/jovyan/work/fine-tune-blip.py") for c in cells[1:])
    assert "tini -g -- start-notebook.py" in by_pid.values()
    # the single node after its runs: nothing on the GPU, just the header
    idle = ssh_run(room, "healthy", LLM, apps)
    assert (idle.exited, idle.stdout) == (0, "pid, process_name, used_gpu_memory [MiB]\n")
    (live,) = ssh_run(room, "single_gpu", LLM, apps + ",noheader").stdout.splitlines()
    assert live.startswith("51877, python, ")
    gone = ssh_run(room, "no_gpu_driver", LLM, "docker top jupyter")
    assert (gone.exited, gone.stderr) == (
        1,
        "Error response from daemon: No such container: jupyter\n",
    )


# ---- Jupyter, unreachable hosts ------------------------------------------------------------
def test_jupyter_and_unreachable_hosts(room: Classroom) -> None:
    edge = f"http://{address_of(room, 'healthy', EDGE)}:8888"
    api = requests.get(edge + "/api", timeout=5)
    assert api.status_code == 200 and api.json() == {"version": "2.14.2"}
    assert requests.get(edge + "/api/status", timeout=5).status_code == 403
    assert requests.get(edge + "/nope", timeout=5).status_code == 404
    for port in (22, 8888):  # a Zun container has no sshd; Jupyter exited
        target = (
            address_of(room, "jupyter_down", EDGE)
            if port == 8888
            else address_of(room, "healthy", EDGE)
        )
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((target, port), timeout=2)
    for lab, port in ((SYSTEM, 8000), (SYSTEM, 80), (EDGE, 8888), (LLM, 22)):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address_of(room, "host_down", lab), port), timeout=2)
        with socket.create_connection((address_of(room, "tarpit", lab), port), timeout=2) as sock:
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):
                sock.recv(1)
    with pytest.raises(NoValidConnectionsError):
        ssh_run(room, "host_down", MODEL, "true")


# ---- lifecycle -------------------------------------------------------------------------------
def test_stop_leaves_no_process_and_no_port(tmp_path: Path) -> None:
    room = Classroom(tmp_path, ["healthy"], labs=(SYSTEM, MODEL)).start()
    model_host, system_host = room.students[0].address(MODEL), room.students[0].address(SYSTEM)
    with ssh_connect(room, "healthy", MODEL) as c:
        promise = c.run(
            "docker exec jupyter python3 -c 'import time; time.sleep(60)'",
            hide=True,
            warn=True,
            asynchronous=True,
            in_stream=False,
        )
        deadline = time.monotonic() + 10
        while len(room.pids()) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = room.pids()
        room.stop()
        room.stop()  # idempotent
        try:
            promise.join()
        except Exception:  # noqa: BLE001 - the session was cut
            pass
    assert len(pids) >= 6  # supervisor, listener, session, shell, docker CLI, the exec'd python
    assert [pid for pid in pids if os.path.exists(f"/proc/{pid}")] == []
    for host, port in (
        (system_host, 8000),
        (system_host, 80),
        (system_host, 8888),
        (model_host, 22),
    ):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=2)
