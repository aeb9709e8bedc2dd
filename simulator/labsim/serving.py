"""The serving and GPU labs in the classroom: serve-system-chi, serve-model-chi,
serve-edge-chi and llm-chi.

Each lab's builder makes one student's resources in the fake OpenStack (at the lab's site) and
a SimHost whose state file describes its GPUs (gpu.py, read by the nvidia-smi/rocm-smi
stand-ins) and its Docker containers (read by the docker stand-in; `docker exec` goes to the
engine socket, engine.py). `ServingLabs.start` then puts the live services on the hosts'
addresses: the model server on 8000 (FastAPI or Triton, modelserver.py, all under one
uvicorn), GourmetGram's `fastapi`/`triton` branch on 80 forwarding to it, Jupyter Server on
8888, the lab's ONNX models (onnxmodels.py) in `~/serve-model-chi/workspace/models/`.

What each profile changes here is in KNOBS (keyed by profile name, every one a profile's; a
profile not listed builds the healthy variant); what the grader must find is in profiles.py.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from . import gpu, onnxmodels
from .engine import DockerEngine
from .family import BuildContext, Builder, Family, StartContext
from .gourmetgram import GourmetGramHandler, GourmetGramServer, file_field
from .hosts import SimHost
from .jupyter import JupyterServer
from .modelserver import (
    Hostile,
    HostModel,
    LatencyModel,
    ModelServerFleet,
    ServerKind,
    stand_in_image,
)
from .openstack import NO_VALID_HOST, ContainerSandbox
from .profiles import PROFILES
from .serve import TrackedHTTPServer
from .shared import (
    bind_mount,
    container,
    jupyter_container,
    sample_jpeg,
    stable_hex,
    volume_mount,
)

SERVE_SYSTEM, SERVE_MODEL, SERVE_EDGE, LLM = (
    "serve-system-chi",
    "serve-model-chi",
    "serve-edge-chi",
    "llm-chi",
)
MODELS_DIR = "serve-model-chi/workspace/models"
SERVE_SYSTEM_IMAGE = "serve-system-chi/workspace/test_image.jpeg"  # in the lab's clone
WORKSPACE = "serve-model-chi/workspace"
JUPYTER_WORK = "/home/jovyan/work"
EDGE_IMAGE = "quay.io/jupyter/minimal-notebook:latest"
EDGE_MODELS = "work/models"  # under the edge container's /home/jovyan
Json = dict[str, Any]


Models = Literal["real", "fake_quantized", "missing", "copied"]
# serve-edge's Zun container: "running" is the manual through its last step (models moved to
# work/models, onnxruntime installed, measure_pi.ipynb run and saved); "empty" was created and
# given its floating IP, nothing more.
Edge = Literal["running", "missing", "jupyter_down", "empty"]
# llm-chi's single node: its runs finished (saved in the notebook), one running now, never
# trained, or deleted (its lease over); its multi node: a DDP run on 4 GPUs, a run on one
# device (the section's Experiment 1), a matmul burner in a notebook kernel, idle, or never made.
LlmSingle = Literal["done", "training", "idle", "deleted"]
LlmMulti = Literal["ddp", "one_device", "burner", "idle", "absent"]


@dataclass(frozen=True)
class Knobs:
    """How a profile's serving/GPU hosts differ from the healthy ones."""

    server: ServerKind = "fastapi_onnx"  # serve-system's model server
    latency: LatencyModel = LatencyModel("lognormal", 9.0, 14.0)
    hostile: Hostile | None = None  # how serve-system's /predict misbehaves
    driver: gpu.Driver = "ok"  # nvidia-smi's
    gpu_idle: bool = False  # GPUs present, nothing running on them
    llm_single: LlmSingle = "done"  # llm-chi's node-llm-single
    llm_multi: LlmMulti = "ddp"  # llm-chi's node-llm-multi
    models: Models = "real"  # serve-model's ONNX files
    jupyter: bool = True  # the `jupyter` container (serve-model, llm)
    amd: bool = False  # serve-model on gpu_mi100 (rocm-smi, no nvidia-smi)
    edge: Edge = "running"  # serve-edge's Zun container


KNOBS: dict[str, Knobs] = {
    "fastapi_pt": Knobs(server="fastapi_pt", latency=LatencyModel("lognormal", 17.0, 28.0)),
    "triton": Knobs(server="triton", latency=LatencyModel("lognormal", 19.0, 30.0)),
    # the lab's Triton ONNX figure: 6.7 ms at concurrency 1 (workspace/6_triton.ipynb)
    "triton_onnx_2026": Knobs(server="triton_onnx", latency=LatencyModel("lognormal", 6.7, 9.5)),
    "stub_fastapi": Knobs(hostile="stub", gpu_idle=True),
    "slow": Knobs(latency=LatencyModel("lognormal", 400.0, 650.0)),
    "wrong_answer": Knobs(hostile="wrong_answer"),
    "not_json": Knobs(hostile="not_json"),
    "huge_body": Knobs(hostile="huge_body"),
    "redirect_away": Knobs(hostile="redirect_away"),
    "stall_mid_body": Knobs(hostile="stall_mid_body"),
    "no_gpu_driver": Knobs(driver="no_driver"),
    "gpu_idle": Knobs(gpu_idle=True),
    "single_gpu": Knobs(llm_single="training", llm_multi="absent"),
    "llm_single_only": Knobs(llm_multi="absent"),
    "llm_multi_only": Knobs(llm_single="deleted"),
    "llm_one_device": Knobs(llm_multi="one_device"),
    "gpu_burner": Knobs(llm_multi="burner"),
    "fake_quantized": Knobs(models="fake_quantized"),
    "missing_models": Knobs(models="missing"),
    "no_jupyter": Knobs(jupyter=False, gpu_idle=True),
    "amd_gpus": Knobs(amd=True),  # the profile training.py defines too
    "no_container": Knobs(edge="missing"),
    "jupyter_down": Knobs(edge="jupyter_down"),
    "copied_models": Knobs(models="copied"),
    "empty_container": Knobs(edge="empty"),
}
if set(KNOBS) - set(PROFILES):  # a misspelt profile would get the healthy hosts, silently
    raise ValueError(f"serving.KNOBS names unknown profiles {sorted(set(KNOBS) - set(PROFILES))}")


def knobs(profile: str) -> Knobs:
    return KNOBS.get(profile, Knobs())


def injected_latency(host: SimHost) -> LatencyModel:
    """The service-time distribution a serve-system host's model server adds per request."""
    return LatencyModel.from_state(host.state["model_server"]["latency"])


def _nvidia_tools(k: Knobs) -> tuple[str, ...]:
    """An NVIDIA node's tools: nvidia-smi unless the driver was never installed."""
    return ("hostname", "docker") + (() if k.driver == "not_installed" else ("nvidia-smi",))


def serve_system_containers(
    key: str, created: datetime, home: Path, k: Knobs, address: str = ""
) -> list[Json]:
    """serve-system-chi's containers: `jupyter`, and the compose project the student ran
    last (fastapi_test or triton_test): Flask on 80 and the model server on 8000 (none for
    a stub: a plain process holds the port). The model server's address on its Docker
    network is `address`, where the simulated server listens (the node reaches it there, as
    the lab's Jupyter container reaches fastapi_server:8000)."""
    triton = k.server in ("triton", "triton_onnx")
    project = "triton_test" if triton else "fastapi_test"
    compose = {"com.docker.compose.project": project}
    # The model server: Triton's image or the student's FastAPI app, as the compose file says.
    if triton:
        service, command = "triton_server", ["tritonserver", "--model-repository=/models"]
        ports: tuple[tuple[int, int], ...] = ((8000, 8000), (8001, 8001), (8002, 8002))
        settings: Json = {
            "entrypoint": ["/opt/nvidia/nvidia_entrypoint.sh"],
            "workdir": "/opt/tritonserver",
        }
    else:
        service = "fastapi_server"
        command = ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000"]
        ports, settings = ((8000, 8000),), {"workdir": "/app"}
    server = container(
        key,
        service,
        f"{project}-{service}",
        command,
        created,
        ports=ports,
        gpus=k.driver == "ok",
        labels={**compose, "com.docker.compose.service": service},
        network=f"{project}_default",
        **settings,
    )
    if address:
        for net in server["NetworkSettings"]["Networks"].values():
            net["IPAddress"] = address
    # The compose file's environment for Flask (2026's last step: FOOD11_MODEL_NAME=
    # food_classifier_onnx on the triton_onnx branch).
    if triton:
        model = "food_classifier_onnx" if k.server == "triton_onnx" else "food_classifier"
        env = ["TRITON_SERVER_URL=triton_server:8000", f"FOOD11_MODEL_NAME={model}"]
    else:
        env = ["FASTAPI_SERVER_URL=http://fastapi_server:8000"]
    flask = container(
        key,
        "flask",
        f"{project}-flask",
        ["python", "app.py"],
        created + timedelta(seconds=3),
        ports=((80, 5000),),
        env=["PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", *env],
        labels={**compose, "com.docker.compose.service": "flask"},
        network=f"{project}_default",
        workdir="/app",
    )
    jupyter = jupyter_container(
        key,
        "quay.io/jupyter/minimal-notebook:latest",
        created + timedelta(seconds=5),
        [bind_mount(home / "serve-system-chi/workspace", JUPYTER_WORK)],
        False,
    )
    if k.hostile == "stub":
        return [jupyter, flask]
    return [jupyter, flask, server]


# ---- serve-edge-chi: what the Zun container holds ---------------------------------------------
# Illustrative Raspberry Pi 5 figures (median, p95, p99 ms; FPS) for the three models.
_PI_LATENCY = {
    "food11.onnx": (41.83, 43.02, 44.90, 23.74),
    "food11_quantized_dynamic.onnx": (97.15, 99.61, 101.37, 10.26),
    "food11_quantized_aggressive.onnx": (13.92, 14.48, 15.03, 71.35),
}


def _measure_pi_notebook() -> str:
    """serve-edge-chi's workspace/measure_pi.ipynb (fea0eb5) as Jupyter saves it once every
    cell ran: the three benchmark cells print the lab's latency lines."""

    def code(n: int, source: str, text: str = "") -> dict[str, Any]:
        outputs = [{"name": "stdout", "output_type": "stream", "text": text}] if text else []
        return {
            "cell_type": "code",
            "execution_count": n,
            "id": stable_hex(f"measure_pi-{n}")[:8],
            "metadata": {},
            "outputs": outputs,
            "source": source,
        }

    cells = [
        code(1, "import os, time\nimport numpy as np\nimport onnxruntime as ort"),
        code(2, "def benchmark_session(ort_session):\n    ...  # the lab's timing loop"),
    ]
    for n, (model, (median, p95, p99, fps)) in enumerate(_PI_LATENCY.items(), start=3):
        source = (
            f'onnx_model_path = "models/{model}"\n'
            "ort_session = ort.InferenceSession(onnx_model_path, "
            "providers=['CPUExecutionProvider'])\nbenchmark_session(ort_session)"
        )
        text = (
            f"Inference Latency (single sample, median): {median:.2f} ms\n"
            f"Inference Latency (single sample, 95th percentile): {p95:.2f} ms\n"
            f"Inference Latency (single sample, 99th percentile): {p99:.2f} ms\n"
            f"Inference Throughput (single sample): {fps:.2f} FPS\n"
        )
        cells.append(code(n, source, text))
    doc = {
        "cells": cells,
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
                "name": "python3",
            },
            "language_info": {"name": "python", "version": "3.12.9"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(doc, indent=1) + "\n"


def _edge_logs(ctx: BuildContext, hostname: str, done: bool) -> str:
    """What quay.io/jupyter/minimal-notebook prints (Jupyter Server logs to stderr), as
    `chi.container.get_logs` shows it: start-up, then, once the student ran measure_pi.ipynb,
    its kernel and the saves."""
    start = ctx.now - timedelta(hours=1)

    def at(minutes: float, text: str) -> str:
        stamp = (start + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return f"[I {stamp} ServerApp] {text}\n"

    token = stable_hex(f"token-{hostname}")[:48]
    lines = [
        "Entered start.sh with args: start-notebook.py\n",
        "Running hooks in: /usr/local/bin/start-notebook.d as uid: 1000 gid: 100\n",
        "Done running hooks in: /usr/local/bin/start-notebook.d\n",
        "Running hooks in: /usr/local/bin/before-notebook.d as uid: 1000 gid: 100\n",
        "Done running hooks in: /usr/local/bin/before-notebook.d\n",
        "Executing the command: start-notebook.py\n",
        "Executing: jupyter lab\n",
        at(0.02, "jupyterlab | extension was successfully loaded."),
        at(0.02, "Serving notebooks from local directory: /home/jovyan"),
        at(0.02, "Jupyter Server 2.14.2 is running at:"),
        at(0.02, f"http://{hostname}:8888/lab?token={token}"),
        at(0.02, f"    http://127.0.0.1:8888/lab?token={token}"),
        at(
            0.02,
            "Use Control-C to stop this server and shut down all kernels (twice to skip "
            "confirmation).",
        ),
    ]
    if done:
        kernel = str(uuid.UUID(stable_hex(f"kernel-{hostname}")[:32]))
        lines += [
            at(6.5, f"Kernel started: {kernel}"),
            at(6.6, f"Connecting to kernel {kernel}."),
            at(8.2, "Saving file at /work/measure_pi.ipynb"),
            at(10.2, "Saving file at /work/measure_pi.ipynb"),
        ]
    return "".join(lines)


# ---- GourmetGram's fastapi / triton branch on port 80 ---------------------------------------
class FrontHandler(GourmetGramHandler):
    """GourmetGram's `fastapi`, `triton` or `triton_onnx` branch (Flask on 5000, published on
    host port 80): /test and /predict forward the image to the model server and show its
    `prediction`, or "None" when the model server is down or answers something else."""

    server: FrontServer

    def _route(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/test" and self.command in ("GET", "HEAD"):
            return self._send(200, str(self.server.forward(sample_jpeg())))
        return super()._route()

    def _predict(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        image = file_field(self.headers.get("Content-Type", ""), body)
        if image is None:
            return self._error(400)
        label = self.server.forward(image)
        self._send(200, f'<button type="button" class="btn btn-info btn-sm">{label}</button>')


class FrontServer(GourmetGramServer):
    def __init__(self, address: str, backend: str, port: int = 80) -> None:
        TrackedHTTPServer.__init__(self, (address, port), FrontHandler)
        self.test_class = ""
        self.failing_paths = frozenset()
        self.backend = backend  # fastapi | triton | triton_onnx
        self.model_url = f"http://{address}:8000"

    def forward(self, image: bytes) -> str | None:
        """What the branch's app.py does with the model server's answer (None on any error;
        the real app has no timeout, this one gives up after 10 s)."""
        import requests

        b64 = base64.b64encode(image).decode()
        try:
            if self.backend == "triton_onnx":
                return self._onnx(image)
            if self.backend == "triton":
                body = {
                    "inputs": [
                        {"name": "INPUT_IMAGE", "shape": [1, 1], "datatype": "BYTES", "data": [b64]}
                    ],
                    "outputs": [{"name": "FOOD_LABEL"}, {"name": "PROBABILITY"}],
                }
                url = f"{self.model_url}/v2/models/food_classifier/infer"
                r = requests.post(url, json=body, timeout=10)
                r.raise_for_status()
                outputs = {o["name"]: o["data"] for o in r.json()["outputs"]}
                return outputs["FOOD_LABEL"][0]
            r = requests.post(f"{self.model_url}/predict", json={"image": b64}, timeout=10)
            r.raise_for_status()
            return r.json().get("prediction")
        except Exception:  # noqa: BLE001 - the app prints the error and shows None
            return None

    def _onnx(self, image: bytes) -> str:
        """The triton_onnx branch: preprocess here, send the tensor as binary data (as
        tritonclient does) to food_classifier_onnx, softmax and argmax its 11 scores."""
        import json
        import math

        import requests

        from .gourmetgram import CLASSES
        from .modelserver import preprocess

        tensor = preprocess(image)
        header = {
            "inputs": [
                {
                    "name": "input",
                    "shape": [1, 3, 224, 224],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(tensor)},
                }
            ],
            "outputs": [{"name": "output", "parameters": {"binary_data": False}}],
        }
        head = json.dumps(header).encode()
        r = requests.post(
            f"{self.model_url}/v2/models/food_classifier_onnx/infer",
            data=head + tensor,
            headers={"Inference-Header-Content-Length": str(len(head))},
            timeout=10,
        )
        r.raise_for_status()
        logits = next(o["data"] for o in r.json()["outputs"] if o["name"] == "output")
        top = max(logits)
        probs = [math.exp(x - top) for x in logits]
        return CLASSES[probs.index(max(probs))]


# ---- the labs ---------------------------------------------------------------------------
@dataclass
class _Plan:
    """What `start` must bring up for one host."""

    host: SimHost
    model: HostModel | None = None
    front: str | None = None  # fastapi | triton
    jupyter: bool = False
    models: Models | None = None  # serve-model's, when it has any
    engine: bool = False
    extra_ports: tuple[int, ...] = ()
    binary_files: dict[str, bytes] = field(default_factory=dict)  # home-relative -> bytes
    edge_models: bool = False  # serve-edge: the published models in the container's work/models


@dataclass
class ServingLabs(Family):
    plans: list[_Plan] = field(default_factory=list)
    fleet: ModelServerFleet = field(default_factory=ModelServerFleet)
    engine: DockerEngine | None = None
    _servers: list[TrackedHTTPServer] = field(default_factory=list)

    def builders(self) -> dict[str, Builder]:
        return {
            SERVE_SYSTEM: self._serve_system,
            SERVE_MODEL: self._serve_model,
            SERVE_EDGE: self._serve_edge,
            LLM: self._llm,
        }

    # -- helpers
    def _engine_path(self, hosts_dir: Path) -> str:
        if self.engine is None:
            self.engine = DockerEngine.under(hosts_dir, "dockerd.sock")
        return str(self.engine.socket_path)

    @staticmethod
    def _server(
        ctx: BuildContext,
        name: str,
        region: str,
        image: str = "CC-Ubuntu24.04-CUDA",
        flavor: str = "baremetal",
    ) -> str | None:
        """A server (bare metal, unless `flavor` names a VM's) with a floating IP at `region`;
        its fixed IP, or None when the profile's server is in ERROR."""
        if ctx.profile.hello_server_error:
            ctx.cloud.add_server(name, flavor, [], (), image, NO_VALID_HOST, region=region)
            return None
        fixed_ip = ctx.next_fixed()
        ctx.cloud.add_instance(name, flavor, ctx.address, fixed_ip, image=image, region=region)
        return fixed_ip

    @staticmethod
    def _hostname(name: str) -> str:
        return name.replace("_", "-").lower()

    # -- serve-system-chi
    def _serve_system(self, ctx: BuildContext) -> SimHost | None:
        student, profile, address, now = ctx.student, ctx.profile, ctx.address, ctx.now
        k = knobs(profile.name)
        name = f"node-serve-system-{student.chameleon_user}"
        fixed_ip = self._server(ctx, name, "CHI@TACC")
        if fixed_ip is None:
            return None
        busy = [0, 0] if k.gpu_idle else [55, 0]
        gpus = gpu.gpu_state(name, "p100", 2, gpu.steady(2, busy, [1843, 1]), k.driver)
        created = now - timedelta(hours=2)
        containers = serve_system_containers(student.netid, created, ctx.home, k, address)
        model = HostModel(address, k.server, k.latency, k.hostile, seed=student.index)
        host = SimHost(
            name,
            self._hostname(name),
            address,
            fixed_ip,
            ctx.root,
            profile.network,
            _nvidia_tools(k),
            files={"serve-system-chi/workspace/input.json": '{"data": []}\n'},
            state={
                "gpu": gpus,
                "docker": {
                    "containers": containers,
                    "engine": self._engine_path(ctx.hosts_dir),
                },
                "model_server": {
                    "kind": k.server,
                    "port": 8000,
                    "hostile": k.hostile,
                    "latency": k.latency.to_state(),
                },
            },
        )
        triton = k.server in ("triton", "triton_onnx")
        extra = (8000, 8002) if triton else (8000,)
        front = k.server if triton else "fastapi"
        self.plans.append(
            _Plan(
                host,
                model,
                front,
                jupyter=True,
                engine=True,
                extra_ports=(*extra, 8888),
                binary_files={SERVE_SYSTEM_IMAGE: stand_in_image()},
            )
        )
        return host

    # -- serve-model-chi
    def _serve_model(self, ctx: BuildContext) -> SimHost | None:
        student, profile, address, now = ctx.student, ctx.profile, ctx.address, ctx.now
        k = knobs(profile.name)
        name = f"node-serve-model-{student.chameleon_user}"
        image = "CC-Ubuntu24.04-ROCm" if k.amd else "CC-Ubuntu24.04-CUDA"
        # compute_liqid at CHI@TACC, or compute_gigaio at CHI@UC: both A100s
        fixed_ip = self._server(ctx, name, ctx.site("CHI@TACC"), image)
        if fixed_ip is None:
            return None
        busy = [0] if k.gpu_idle else [12]
        if k.amd:
            gpus = gpu.gpu_state(name, "mi100", 1, gpu.steady(1, busy, [912]), k.driver)
            tools: tuple[str, ...] = ("hostname", "docker", "rocm-smi")
        else:
            gpus = gpu.gpu_state(name, "a100", 1, gpu.steady(1, busy, [1024]), k.driver)
            tools = _nvidia_tools(k)
        home = ctx.home
        containers = []
        if k.jupyter:
            # The lab's first container is the CPU image; its GPU image needs the driver.
            gpu_image = k.driver == "ok"
            image_name = (
                ("jupyter-onnx-amd" if k.amd else "jupyter-onnx-gpu")
                if gpu_image
                else "jupyter-onnx-base"
            )
            containers.append(
                jupyter_container(
                    student.netid,
                    image_name,
                    now - timedelta(hours=1),
                    [bind_mount(home / WORKSPACE, JUPYTER_WORK), volume_mount("food11", "/mnt")],
                    gpu_image and not k.amd,
                )
            )
        notebooks = {
            f"{WORKSPACE}/{nb}.ipynb": '{"cells": [], "metadata": {}, "nbformat": 4, '
            '"nbformat_minor": 5}\n'
            for nb in ("5_measure_torch", "6_measure_onnx", "7_optimize_onnx", "8_ep_onnx")
        }
        host = SimHost(
            name,
            self._hostname(name),
            address,
            fixed_ip,
            ctx.root,
            profile.network,
            tools,
            files=notebooks,
            state={
                "gpu": gpus,
                "docker": {"containers": containers, "engine": self._engine_path(ctx.hosts_dir)},
            },
        )
        models = None if k.models == "missing" else k.models
        self.plans.append(
            _Plan(host, jupyter=k.jupyter, models=models, engine=True, extra_ports=(8888,))
        )
        return host

    # -- serve-edge-chi
    def _serve_edge(self, ctx: BuildContext) -> SimHost | None:
        student, profile, address, cloud = ctx.student, ctx.profile, ctx.address, ctx.cloud
        k = knobs(profile.name)
        name = f"node-serve-edge-{student.chameleon_user.replace('_', '-')}"
        if k.edge == "missing":
            return None
        fixed_ip = ctx.next_fixed()
        if profile.hello_server_error:
            reason = (
                'Docker internal error: 500 Server Error: Internal Server Error ("failed to '
                "create task for container: failed to create shim task: OCI runtime create "
                'failed: unable to start container process: error during container init")'
            )
            cloud.add_container(name, EDGE_IMAGE, fixed_ip, (8888,), "Error", reason)
            return None
        # The container's /home/jovyan is the SimHost's home: Zun's exec runs there.
        done = k.edge != "empty"  # the lab's c.execute() steps and measure_pi.ipynb
        hostname = stable_hex(name)[:12]
        sandbox = ContainerSandbox(ctx.home, onnxruntime=done, logs=_edge_logs(ctx, hostname, done))
        cloud.add_container(
            name, EDGE_IMAGE, fixed_ip, (8888,), floating_ip=address, sandbox=sandbox
        )
        files = {"work/.keep": ""}  # the image's empty work/
        if done:
            files = {
                "serve-edge-chi/README.md": "# Serving on edge devices\n",
                "work/measure_pi.ipynb": _measure_pi_notebook(),
            }
        host = SimHost(
            name,
            hostname,
            address,
            fixed_ip,
            ctx.root,
            profile.network,
            sshd=False,
            files=files,
        )
        self.plans.append(
            _Plan(host, jupyter=k.edge != "jupyter_down", extra_ports=(8888,), edge_models=done)
        )
        return host

    # -- llm-chi
    def addresses(self, lab: str) -> int:
        return 2 if lab == LLM else 1  # llm-chi: node-llm-single and node-llm-multi

    def _llm(self, ctx: BuildContext) -> SimHost | None:
        """node-llm-single (one A100 80GB) and node-llm-multi (four, gpu_a100_pcie), each
        with the jupyter container of llm-jupyter:latest and the lab's clone in ~/llm-chi."""
        k = knobs(ctx.profile.name)
        ok = k.driver == "ok"
        # The real lab's state at the grader's look, per node: the GPUs' load, and the
        # compute processes nvidia-smi lists (host pids, in the jupyter container).
        single = "idle" if k.gpu_idle or not ok else k.llm_single
        multi = "idle" if k.gpu_idle or not ok else k.llm_multi
        host = None
        if single != "deleted":
            host = self._llm_node(ctx, "single", 1, single)
        if multi != "absent":
            more = ctx.another()
            multi_host = self._llm_node(more, "multi", 4, multi)
            if multi_host is not None:
                ctx.add_host("multi", multi_host)
        return host

    def _llm_node(self, ctx: BuildContext, part: str, n: int, doing: str) -> SimHost | None:
        student, profile, now = ctx.student, ctx.profile, ctx.now
        k = knobs(profile.name)
        name = f"node-llm-{part}-{student.chameleon_user}"
        # CHI@UC bare metal (A100 80GB), or the manual's H100 VMs at KVM@TACC
        vm = ctx.site("CHI@UC") == "KVM@TACC"
        board = "h100" if vm else "a100"
        flavor = f"g1.h100.pci.{n}" if vm else "baremetal"
        fixed_ip = self._server(ctx, name, ctx.site("CHI@UC"), flavor=flavor)
        if fixed_ip is None:
            return None
        started = now - timedelta(minutes=50)
        kernel = "/home/jovyan/.local/share/jupyter/runtime/kernel-" + stable_hex(name, "k")[:8]
        top = [  # `docker top jupyter`: host pids, host user cc (uid 1000, jovyan inside)
            _proc(3112, 3090, 0, started, 2, "tini -g -- start-notebook.py"),
            _proc(
                3157, 3112, 0, started, 41, "/opt/conda/bin/python3.12 /opt/conda/bin/jupyter-lab"
            ),
            _proc(
                48210,
                3157,
                0,
                now - timedelta(minutes=40),
                12,
                f"/opt/conda/bin/python -m bash_kernel -f {kernel}.json",
            ),
            _proc(
                48236,
                48210,
                0,
                now - timedelta(minutes=40),
                1,
                "/bin/bash --rcfile /opt/conda/lib/python3.12/site-packages/pexpect/bashrc.sh",
            ),
            _proc(48790, 3157, 0, now - timedelta(minutes=38), 0, "/bin/bash -l", "pts/0"),
            _proc(48801, 48790, 1, now - timedelta(minutes=38), 25, "nvtop", "pts/0"),
        ]
        procs = []
        if doing in ("training", "ddp", "one_device"):  # `python fine-tune-blip.py` in a cell
            ranks = 4 if doing == "ddp" else 1
            top.append(
                _proc(51877, 48236, 99, now - timedelta(minutes=3), 170, "python fine-tune-blip.py")
            )
            procs.append(gpu.process(0, 51877, "python"))
            for rank in range(1, ranks):  # Lightning's DDP/FSDP launcher: one per device
                pid = 51990 + rank
                top.append(
                    _proc(
                        pid,
                        51877,
                        99,
                        now - timedelta(minutes=2),
                        110,
                        "/opt/conda/bin/python /home/jovyan/work/fine-tune-blip.py",
                    )
                )
                procs.append(gpu.process(rank, pid, "/opt/conda/bin/python"))
        elif doing == "burner":  # torch.matmul in a loop, in a Python notebook's kernel
            top.append(
                _proc(
                    50412,
                    3157,
                    99,
                    now - timedelta(minutes=6),
                    340,
                    f"/opt/conda/bin/python -m ipykernel_launcher -f {kernel}b.json",
                )
            )
            procs += [gpu.process(i, 50412, "/opt/conda/bin/python") for i in range(n)]
        busy_gpus = {p["gpu"] for p in procs}
        busy = [(100 if doing == "burner" else 96) if i in busy_gpus else 0 for i in range(n)]
        memory = [(2305 if doing == "burner" else 61234) if i in busy_gpus else 1 for i in range(n)]
        gpus = gpu.gpu_state(
            name, board, n, gpu.steady(n, busy, memory), k.driver, processes=procs
        )
        containers = []
        if k.jupyter and k.driver == "ok":  # `docker run --gpus all` needs the driver
            jupyter = jupyter_container(
                student.netid,
                "llm-jupyter:latest",
                started,
                [bind_mount(ctx.home / f"llm-chi/{part}/workspace", JUPYTER_WORK)],
                True,
            )
            jupyter["_top"] = top
            containers.append(jupyter)
        workspace = f"llm-chi/{part}/workspace"
        notebook = "2_single_gpu.ipynb" if part == "single" else "3_multi_gpu.ipynb"
        # The notebook as saved: the finished runs' outputs where the part's runs are done.
        runs = _FINISHED_RUNS if part == "single" and doing == "done" else []
        files = {
            f"{workspace}/fine-tune-blip.py": "# fine-tune BLIP-2 with Lightning\n",
            f"{workspace}/{notebook}": _notebook(runs, running=doing in ("training", "ddp")),
        }
        if part == "single":
            files[f"{workspace}/fine-tune-blip-lora.py"] = "# fine-tune BLIP-2 with LoRA\n"
        host = SimHost(
            name,
            self._hostname(name),
            ctx.address,
            fixed_ip,
            ctx.root,
            profile.network,
            _nvidia_tools(k),
            files=files,
            state={
                "gpu": gpus,
                "docker": {"containers": containers, "engine": self._engine_path(ctx.hosts_dir)},
            },
        )
        self.plans.append(_Plan(host, jupyter=bool(containers), engine=True, extra_ports=(8888,)))
        return host

    # ---- running ----------------------------------------------------------------------
    def start(self, ctx: StartContext) -> None:
        """Bring up every planned host's services (after the hosts are built)."""
        hub, tarpit, hosts_dir = ctx.hub, ctx.tarpit, ctx.hosts_dir
        owner = pwd.getpwnam("cc")
        cache = None
        for plan in self.plans:
            host = plan.host
            if plan.models or plan.edge_models:
                if cache is None:
                    cache = onnxmodels.build_models_apart(hosts_dir / onnxmodels.CACHE)
                if plan.models:
                    models_dir = host.home / MODELS_DIR
                    onnxmodels.place(cache, models_dir, plan.models)
                else:  # serve-edge: `mv serve-edge-chi/workspace/models work/`
                    models_dir = host.home / EDGE_MODELS
                    onnxmodels.place(cache, models_dir, "published", onnxmodels.PUBLISHED)
                for path in (models_dir.parent, models_dir):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            for rel, data in plan.binary_files.items():
                target = host.home / rel
                target.write_bytes(data)
                target.chmod(0o664)
                os.chown(target, owner.pw_uid, owner.pw_gid)
            if plan.engine and self.engine is not None:
                self.engine.register(host.state_file, host.root, host.bin_dir)
            if host.network == "tarpit":
                for port in plan.extra_ports:
                    tarpit.listen(host.address, port)
                continue
            if host.network != "up":
                continue
            if plan.model is not None:
                self.fleet.add(plan.model)
            if plan.front:
                front = FrontServer(host.address, plan.front)
                self._servers.append(front)
                hub.add(front.socket, front.accept)
            if plan.jupyter:
                jupyter = JupyterServer(host.address)
                self._servers.append(jupyter)
                hub.add(jupyter.socket, jupyter.accept)
        if self.engine is not None:
            self.engine.start(hub)
        self.fleet.start()

    def pids(self) -> list[int]:
        return self.engine.pids() if self.engine else []

    def stop(self) -> None:
        """Stop everything started (idempotent) and forget the plans, ready to build anew."""
        if self.engine is not None:
            self.engine.close()
        self.fleet.stop()
        for server in self._servers:
            server.close()
        self._servers = []
        self.plans = []
        self.fleet = ModelServerFleet()
        self.engine = None


# ---- llm-chi's processes and notebooks -------------------------------------------------------
# (train s, peak GB) of runs of the single part that finished; two of the manual's runs OOM.
_FINISHED_RUNS = [(412.6, 59.71), (389.1, 60.02), (141.8, 29.87), (166.3, 33.4), (301.5, 52.9)]


def _proc(
    pid: int, ppid: int, cpu: int, start: datetime, cpu_s: int, cmd: str, tty: str = "?"
) -> Json:
    """A process of a container as `docker top` (ps -ef on the host) lists it."""
    return {"uid": "cc", "pid": pid, "ppid": ppid, "c": cpu, "start": start.timestamp(),
            "cpu_s": cpu_s, "tty": tty, "cmd": cmd}  # fmt: skip


def _notebook(runs: list[tuple[float, float]], running: bool) -> str:
    """The part's notebook as Jupyter saves it (nbformat 4, bash kernel): a cell per
    `python fine-tune-blip.py`, with what each finished run printed last; an OOM run; the
    one running now has printed its config only."""
    import json

    def cell(lines: list[str]) -> Json:
        return {
            "cell_type": "code",
            "execution_count": None if not lines else 1,
            "metadata": {},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": lines}]
            if lines
            else [],
            "source": [
                "# runs in the Jupyter service on node-llm-single\n",
                "python fine-tune-blip.py",
            ],
        }

    cfg = ["[cfg]\n", "  accumulate_grad_batches: 4\n", "  batch_size: 16\n", "  devices: 1\n"]
    cells = [
        cell(cfg + [f"[epoch 1] avg_train_loss: 2.{i}417\n", "\n",
                    f"[done] train time: {t} s | peak memory: {gb:.2f} GB\n"])
        for i, (t, gb) in enumerate(runs)
    ]  # fmt: skip
    if runs:
        oom = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.25 GiB.\n"
        cells.append(cell([*cfg, oom]))
    cells.append(cell(cfg if running else []))
    doc = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Bash", "language": "bash", "name": "bash"},
            "language_info": {"name": "bash", "mimetype": "text/x-sh", "file_extension": ".sh"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(doc, indent=1) + "\n"
