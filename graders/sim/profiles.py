"""Student profiles: how a simulated student's systems look, and what the grader must find.

Each profile is data: a description, the knobs the simulator builds the student's hosts from,
and, per lab, the status every check must end with. Tests and `labgrader demo` hold the grader
to these expectations, so they are written out by hand, never derived from the grader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PASSED, FAILED, SKIPPED, UNREACHABLE = "passed", "failed", "skipped", "unreachable"

# Check ids of each lab (a fixed contract with labs/*/checks.py) and the checks each depends on.
LAB_CHECKS: dict[str, dict[str, tuple[str, ...]]] = {
    "hello-chameleon": {
        "server_active": (),
        "ssh_login": ("server_active",),
        "hostname": ("ssh_login",),
        "hello_file": ("ssh_login",),
        "hello_file_edited": ("hello_file",),
    },
    "cloud-chi": {
        "nodes_active": (),
        "private_network": (),
        "floating_ip": (),
        "web_page": ("floating_ip",),
        "web_test": ("floating_ip",),
        "ssh_login": ("floating_ip",),
        "k8s_nodes": ("ssh_login",),
        "k8s_namespace": ("ssh_login",),
        "k8s_deployment": ("k8s_namespace",),
        "k8s_service": ("k8s_namespace",),
        "k8s_hpa": ("k8s_namespace",),
        "registry_container": ("ssh_login",),
    },
    "serve-system-chi": {
        "server_active": (),
        "ssh_login": ("server_active",),
        "flask_page": ("server_active",),
        "model_server": ("server_active",),
        "predict_valid": ("model_server",),
        "serving_optimized": ("model_server",),
        "latency_c1": ("predict_valid",),
        "throughput_c16": ("latency_c1", "ssh_login"),
        "gpu_sampled": ("throughput_c16",),
    },
    "serve-model-chi": {
        "server_active": (),
        "ssh_login": ("server_active",),
        "models_present": ("ssh_login",),
        "baseline_model": ("models_present",),
        "quantized_dynamic": ("models_present",),
        "quantized_aggressive": ("models_present",),
        "latency_baseline": ("models_present",),
        "latency_quantized": ("models_present",),
    },
    "serve-edge-chi": {
        "container_running": (),
        "jupyter_up": ("container_running",),
    },
    "llm-chi": {
        "server_active": (),
        "ssh_login": ("server_active",),
        "jupyter_container": ("ssh_login",),
        "gpus_present": ("ssh_login",),
        "gpu_busy": ("gpus_present",),
        "multi_gpu": ("gpu_busy",),
    },
    "mlflow-chi": {
        "server_active": (),
        "ssh_login": ("server_active",),
        "containers": ("ssh_login",),
        "mlflow_up": ("server_active",),
        "experiment_runs": ("mlflow_up",),
        "registered_model": ("mlflow_up",),
        "artifact_bucket": ("server_active",),
    },
    "mltrain-chi": {
        "server_active": (),
        "ssh_login": ("server_active",),
        "ray_containers": ("ssh_login",),
        "ray_dashboard": ("server_active",),
        "ray_cluster": ("ray_dashboard",),
        "ray_jobs": ("ray_dashboard",),
        "checkpoints": ("server_active",),
        "worker_gpus": ("ray_containers",),
    },
}
LABS = tuple(LAB_CHECKS)

Network = Literal["up", "down", "tarpit"]
HelloFile = Literal["edited", "unedited", "missing"]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    # Deviations from "every check passed", per lab; missing checks are expected to pass.
    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)
    # What the simulator builds.
    network: Network = "up"  # down: nothing listens; tarpit: accepts, never answers
    hello_file: HelloFile = "edited"
    hello_server_error: bool = False  # hello server in ERROR, with a fault, no floating IP
    cloud_error_nodes: frozenset[str] = frozenset()  # e.g. {"node3"}: in ERROR
    failing_paths: frozenset[str] = frozenset()  # GourmetGram paths answering 500
    missing_k8s: frozenset[str] = frozenset()  # kinds absent from the cluster, e.g. {"hpa"}
    # mlflow-chi / mltrain-chi deviations (training.py): "no_registered_model", "mlflow_down",
    # "empty_bucket", "mlflow_garbage", "jobs_failed", "worker_missing", "no_checkpoints",
    # "infeasible_pending", and "amd" (gpu_mi100 nodes: ROCm, rocm-smi).
    training: frozenset[str] = frozenset()

    def expected(self, lab: str) -> dict[str, str]:
        """Status of every check of `lab`, in the lab's check order."""
        if lab not in LAB_CHECKS:
            raise KeyError(f"unknown lab {lab!r}; known: {', '.join(LABS)}")
        overrides = self.outcomes.get(lab, {})
        unknown = set(overrides) - set(LAB_CHECKS[lab])
        if unknown:
            raise ValueError(f"profile {self.name}: unknown {lab} checks {sorted(unknown)}")
        return {check: overrides.get(check, PASSED) for check in LAB_CHECKS[lab]}


_CLOUD_UNREACHABLE = {
    "web_page": UNREACHABLE,
    "web_test": UNREACHABLE,
    "ssh_login": UNREACHABLE,
    "k8s_nodes": SKIPPED,
    "k8s_namespace": SKIPPED,
    "k8s_deployment": SKIPPED,
    "k8s_service": SKIPPED,
    "k8s_hpa": SKIPPED,
    "registry_container": SKIPPED,
}
_MLFLOW_UNREACHABLE = {
    "ssh_login": UNREACHABLE,
    "containers": SKIPPED,
    "mlflow_up": UNREACHABLE,
    "experiment_runs": SKIPPED,
    "registered_model": SKIPPED,
    "artifact_bucket": UNREACHABLE,
}
_MLTRAIN_UNREACHABLE = {
    "ssh_login": UNREACHABLE,
    "ray_containers": SKIPPED,
    "ray_dashboard": UNREACHABLE,
    "ray_cluster": SKIPPED,
    "ray_jobs": SKIPPED,
    "checkpoints": UNREACHABLE,
    "worker_gpus": SKIPPED,
}
_SERVE_SYSTEM_UNREACHABLE = {
    "ssh_login": UNREACHABLE,
    "flask_page": UNREACHABLE,
    "model_server": UNREACHABLE,
    "predict_valid": SKIPPED,
    "serving_optimized": SKIPPED,
    "latency_c1": SKIPPED,
    "throughput_c16": SKIPPED,
    "gpu_sampled": SKIPPED,
}
_SERVE_MODEL_SKIPPED = {
    "models_present": SKIPPED,
    "baseline_model": SKIPPED,
    "quantized_dynamic": SKIPPED,
    "quantized_aggressive": SKIPPED,
    "latency_baseline": SKIPPED,
    "latency_quantized": SKIPPED,
}
_LLM_SKIPPED = {
    "jupyter_container": SKIPPED,
    "gpus_present": SKIPPED,
    "gpu_busy": SKIPPED,
    "multi_gpu": SKIPPED,
}
# serve-system-chi, serve-model-chi, serve-edge-chi and llm-chi (serving.py)
_SERVING_UNREACHABLE = {
    "serve-system-chi": _SERVE_SYSTEM_UNREACHABLE,
    "serve-model-chi": {"ssh_login": UNREACHABLE, **_SERVE_MODEL_SKIPPED},
    "serve-edge-chi": {"jupyter_up": UNREACHABLE},
    "llm-chi": {"ssh_login": UNREACHABLE, **_LLM_SKIPPED},
}
_SERVING_SERVER_ERROR = {
    "serve-system-chi": {
        "server_active": FAILED,
        **{c: SKIPPED for c in _SERVE_SYSTEM_UNREACHABLE},
    },
    "serve-model-chi": {"server_active": FAILED, "ssh_login": SKIPPED, **_SERVE_MODEL_SKIPPED},
    "serve-edge-chi": {"container_running": FAILED, "jupyter_up": SKIPPED},
    "llm-chi": {"server_active": FAILED, "ssh_login": SKIPPED, **_LLM_SKIPPED},
}
_BAD_PREDICTION = {  # the model server answers /predict, but not a valid prediction
    "predict_valid": FAILED,
    "latency_c1": SKIPPED,
    "throughput_c16": SKIPPED,
    "gpu_sampled": SKIPPED,
}
_HELLO_UNREACHABLE = {
    "ssh_login": UNREACHABLE,
    "hostname": SKIPPED,
    "hello_file": SKIPPED,
    "hello_file_edited": SKIPPED,
}

_ALL = [
    Profile(
        "healthy",
        "Everything done as the labs ask: hello.txt written and then edited; cloud-chi "
        "cluster, app, registry all up.",
    ),
    Profile(
        "missing_file",
        "Never wrote ~/hello.txt (cat: No such file or directory); cloud-chi complete.",
        {"hello-chameleon": {"hello_file": FAILED, "hello_file_edited": SKIPPED}},
        hello_file="missing",
    ),
    Profile(
        "unedited_file",
        "~/hello.txt holds exactly the one line 'Hello from <hostname>': never edited.",
        {"hello-chameleon": {"hello_file_edited": FAILED}},
        hello_file="unedited",
    ),
    Profile(
        "server_error",
        "hello_chameleon server in ERROR (No valid host was found), no floating IP; "
        "cloud-chi node3 in ERROR, the rest working; the serving and GPU labs' servers in "
        "ERROR too (serve-edge: its Zun container in Error).",
        {
            "hello-chameleon": {
                "server_active": FAILED,
                "ssh_login": SKIPPED,
                "hostname": SKIPPED,
                "hello_file": SKIPPED,
                "hello_file_edited": SKIPPED,
            },
            "cloud-chi": {"nodes_active": FAILED},
            **_SERVING_SERVER_ERROR,
        },
        hello_server_error=True,
        cloud_error_nodes=frozenset({"node3"}),
    ),
    Profile(
        "endpoint_500",
        "GourmetGram on node1 answers /test with Werkzeug's 500 page; all else works.",
        {"cloud-chi": {"web_test": FAILED}},
        failing_paths=frozenset({"/test"}),
    ),
    Profile(
        "missing_k8s_object",
        "Never created the HorizontalPodAutoscaler gourmetgram-kube-hpa; all else works.",
        {"cloud-chi": {"k8s_hpa": FAILED}},
        missing_k8s=frozenset({"hpa"}),
    ),
    Profile(
        "host_down",
        "API says ACTIVE with a floating IP, but nothing listens on the address "
        "(connection refused on 22 and 80).",
        {
            "hello-chameleon": _HELLO_UNREACHABLE,
            "cloud-chi": _CLOUD_UNREACHABLE,
            "mlflow-chi": _MLFLOW_UNREACHABLE,
            "mltrain-chi": _MLTRAIN_UNREACHABLE,
            **_SERVING_UNREACHABLE,
        },
        network="down",
    ),
    Profile(
        "tarpit",
        "API says ACTIVE; ports 22 and 80 accept connections and never send a byte.",
        {
            "hello-chameleon": _HELLO_UNREACHABLE,
            "cloud-chi": _CLOUD_UNREACHABLE,
            "mlflow-chi": _MLFLOW_UNREACHABLE,
            "mltrain-chi": _MLTRAIN_UNREACHABLE,
            **_SERVING_UNREACHABLE,
        },
        network="tarpit",
    ),
    # ---- mlflow-chi and mltrain-chi (training.py) ----------------------------------------
    Profile(
        "no_registered_model",
        "MLflow has the runs and the model `food11` registered from the UI, but the API "
        "notebook never registered `food11-staging`.",
        {"mlflow-chi": {"registered_model": FAILED}},
        training=frozenset({"no_registered_model"}),
    ),
    Profile(
        "mlflow_down",
        "`docker stop mlflow`: the container exited (137), nothing listens on 8000; MinIO "
        "still holds the artifacts of earlier runs.",
        {
            "mlflow-chi": {
                "containers": FAILED,
                "mlflow_up": UNREACHABLE,
                "experiment_runs": SKIPPED,
                "registered_model": SKIPPED,
            }
        },
        training=frozenset({"mlflow_down"}),
    ),
    Profile(
        "empty_bucket",
        "MLflow has the runs, but bucket `mlflow-artifacts` is empty (the MinIO volume was "
        "recreated): no gpu-info.txt, no models.",
        {"mlflow-chi": {"artifact_bucket": FAILED}},
        training=frozenset({"empty_bucket"}),
    ),
    Profile(
        "mlflow_garbage",
        "Port 8000 answers /health with OK, and every other path with a 200 text/html page "
        "(bytes that are neither UTF-8 nor JSON): not MLflow's REST API.",
        {"mlflow-chi": {"experiment_runs": FAILED, "registered_model": FAILED}},
        training=frozenset({"mlflow_garbage"}),
    ),
    Profile(
        "job_failed",
        "Every Ray job FAILED (train.py ran out of GPU memory: exit code 1, "
        "JOB_ENTRYPOINT_COMMAND_ERROR); checkpoints of the epochs before the crash remain.",
        {"mltrain-chi": {"ray_jobs": FAILED}},
        training=frozenset({"jobs_failed"}),
    ),
    Profile(
        "worker_missing",
        "`docker stop ray-worker-1` (the fault-tolerance step, never restarted): the container "
        "exited and its Ray node is DEAD, leaving 1 head + 1 worker alive.",
        {
            "mltrain-chi": {
                "ray_containers": FAILED,
                "ray_cluster": FAILED,
                "worker_gpus": SKIPPED,
            }
        },
        training=frozenset({"worker_missing"}),
    ),
    Profile(
        "no_checkpoints",
        "Only the plain `ray job submit` jobs ran (no Ray Train): bucket `ray` exists and is "
        "empty.",
        {"mltrain-chi": {"checkpoints": FAILED}},
        training=frozenset({"no_checkpoints"}),
    ),
    Profile(
        "infeasible_pending",
        "The infeasible 2-GPU job was submitted last, six minutes ago, and is still PENDING "
        "(in `healthy` it has long since FAILED: Ray gives up after 15 minutes).",
        training=frozenset({"infeasible_pending"}),
    ),
    Profile(
        "amd_gpus",
        "Both labs on gpu_mi100 nodes (AMD, ROCm): rocm-smi instead of nvidia-smi on the "
        "host, in gpu-info.txt and in the Ray workers; everything works.",
        training=frozenset({"amd"}),
    ),
    # ---- serve-system-chi, serve-model-chi, serve-edge-chi, llm-chi (serving.py) ------------
    Profile(
        "fastapi_pt",
        "serve-system: stopped at the PyTorch FastAPI server (title 'Food Classification API', "
        "median 17 ms), never moved to ONNX or Triton.",
        {"serve-system-chi": {"serving_optimized": FAILED}},
    ),
    Profile(
        "triton",
        "serve-system: Triton with food_classifier READY and dynamic batching; GourmetGram's "
        "triton branch on port 80 (metrics on 8002).",
    ),
    Profile(
        "slow",
        "serve-system: every prediction takes a lognormal service time with median 400 ms and "
        "p95 650 ms (100 sequential requests take about 40 s); everything answers correctly.",
    ),
    Profile(
        "wrong_answer",
        "serve-system: /predict returns the raw logit as the probability (a valid class with "
        "probability > 1).",
        {"serve-system-chi": _BAD_PREDICTION},
    ),
    Profile(
        "not_json",
        "serve-system: /predict answers 200 text/html (an HTML page naming the class).",
        {"serve-system-chi": _BAD_PREDICTION},
    ),
    Profile(
        "huge_body",
        "serve-system: /predict answers 200 with a 20 MiB JSON body (the prediction plus a "
        "huge embedding array).",
        {"serve-system-chi": _BAD_PREDICTION},
    ),
    Profile(
        "redirect_away",
        "serve-system: /predict answers 302 to http://127.255.255.254/ (another host, where "
        "nothing listens).",
        {"serve-system-chi": _BAD_PREDICTION},
    ),
    Profile(
        "stall_mid_body",
        "serve-system: /predict sends its headers and half its JSON body, then nothing, "
        "holding the connection open.",
        {"serve-system-chi": _BAD_PREDICTION},  # a stalled body is a failed answer
    ),
    Profile(
        "no_gpu_driver",
        "NVIDIA driver not loaded: nvidia-smi fails ('couldn't communicate with the NVIDIA "
        "driver', exit 9). serve-system serves on CPU; llm-chi's `docker run --gpus all` "
        "failed, so there is no jupyter container; serve-model uses the CPU Jupyter image.",
        {
            "serve-system-chi": {"gpu_sampled": FAILED},
            "llm-chi": {
                "jupyter_container": FAILED,
                "gpus_present": FAILED,
                "gpu_busy": SKIPPED,
                "multi_gpu": SKIPPED,
            },
        },
    ),
    Profile(
        "gpu_idle",
        "GPUs present but idle (0 %): nothing training on llm-chi's node; serve-system's "
        "GPUs show no load while the grader sends requests.",
        # gpu_busy only needs readable samples (the rubric scores the utilization).
        {"llm-chi": {"multi_gpu": FAILED}},
    ),
    Profile(
        "single_gpu",
        "llm-chi: only the single-GPU part (one A100 80GB, busy); the multi-GPU node was "
        "never used.",
        {"llm-chi": {"multi_gpu": FAILED}},
    ),
    Profile(
        "fake_quantized",
        "serve-model: the quantized files are copies of food11.onnx (quantization never ran; "
        "only the names are right).",
        {"serve-model-chi": {"quantized_dynamic": FAILED, "quantized_aggressive": FAILED}},
    ),
    Profile(
        "missing_models",
        "serve-model: ~/serve-model-chi/workspace/models/ does not exist (the notebooks were "
        "never run).",
        {"serve-model-chi": {**_SERVE_MODEL_SKIPPED, "models_present": FAILED}},
    ),
    Profile(
        "no_jupyter",
        "No `jupyter` container (stopped and removed): serve-model's benchmark has nowhere to "
        "run; llm-chi's GPUs sit idle.",
        {
            "serve-model-chi": {"latency_baseline": FAILED, "latency_quantized": FAILED},
            "llm-chi": {"jupyter_container": FAILED, "multi_gpu": FAILED},
        },
    ),
    Profile(
        "no_container",
        "serve-edge: the Zun container was never created (or already deleted).",
        {"serve-edge-chi": {"container_running": FAILED, "jupyter_up": SKIPPED}},
    ),
    Profile(
        "jupyter_down",
        "serve-edge: the Zun container is Running with its floating IP, but nothing listens "
        "on 8888 (Jupyter exited).",
        {"serve-edge-chi": {"jupyter_up": UNREACHABLE}},
    ),
]

PROFILES: dict[str, Profile] = {p.name: p for p in _ALL}
