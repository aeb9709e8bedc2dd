"""Student profiles: how a simulated student's systems look, and what the grader must find.

Each profile is data: a description, the knobs the simulator builds the student's hosts from,
and, per lab, the status every check must end with. Tests and `labgrader demo` hold the grader
to these expectations, so they are written out by hand, never derived from the grader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args

PASSED, FAILED, SKIPPED, UNREACHABLE = "passed", "failed", "skipped", "unreachable"


class LabCheck(Protocol):
    """What the simulator needs of one of a lab's checks (graders' Check has it): the lab
    itself says which checks it has, in which order."""

    @property
    def id(self) -> str: ...


# What the simulator builds for a profile. Each family's deviations are a Literal, so that mypy
# rejects a misspelt one where a profile names it or a family compares one (strict equality; a
# family's `"knob" in knobs` is read by tests/test_sim.py), and Profile.__post_init__ rejects
# one at run time.
Network = Literal["up", "down", "tarpit"]  # down: nothing listens; tarpit: accepts, never answers
HelloFile = Literal["edited", "unedited", "missing"]
CloudNode = Literal["node1", "node2", "node3"]  # cloud-chi's nodes
K8sKind = Literal["namespace", "deployment", "service", "hpa"]  # cloud-chi objects (cluster.py)
TrainingKnob = Literal[  # mlflow-chi and mltrain-chi (training.py)
    "no_registered_model",  # food11-staging never registered from the API notebook
    "mlflow_down",  # `docker stop mlflow`
    "empty_bucket",  # mlflow-artifacts emptied after MLflow wrote it
    "mlflow_garbage",  # port 8000 answers an HTML page, not MLflow's API
    "jobs_failed",  # every Ray job FAILED
    "worker_missing",  # `docker stop ray-worker-1`, never restarted
    "no_checkpoints",  # bucket ray holds no Ray Train checkpoints
    "infeasible_pending",  # the infeasible 2-GPU job still PENDING
    "amd",  # gpu_mi100 nodes: ROCm and rocm-smi
]
MlopsKnob = Literal[  # mlops-chi (mlops.py)
    "staging_test_failed",
    "canary_stale",
    "argocd_degraded",
    "argo_missing",
    "version_garbage",
    "ci_failed",
    "no_github_repo",
    "gateway_no_canary",
]
MonitoringKnob = Literal[  # eval-online-chi (monitoring.py)
    "target_down",
    "no_custom_metrics",
    "missing_dashboard",
    "unknown_metric",
    "no_alert_rule",
    "grafana_garbage",
    "grafana_huge",
]
EvaluationKnob = Literal[  # eval-offline-chi and eval-loop-chi (evaluation.py)
    "tests_failing",
    "collection_error",
    "production_empty",
    "production_untagged",
    "no_ls_project",
    "dag_failed",
    "api_garbage",
]
StorageKnob = Literal[  # data-persist-chi and data-platform-chi (storage.py)
    "block_not_mounted",
    "volume_detached",
    "empty_object_container",
    "no_object_container",
    "compose_service_down",
    "health_garbage",
    "health_huge",
]
# Profile field -> the values it may hold (a field holding a set: each of its members).
KNOWN_KNOBS: dict[str, tuple[str, ...]] = {
    "network": get_args(Network),
    "hello_file": get_args(HelloFile),
    "cloud_error_nodes": get_args(CloudNode),
    "missing_k8s": get_args(K8sKind),
    "training": get_args(TrainingKnob),
    "mlops": get_args(MlopsKnob),
    "monitoring": get_args(MonitoringKnob),
    "evaluation": get_args(EvaluationKnob),
    "storage": get_args(StorageKnob),
}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    # Deviations from "every check passed", per lab; missing checks are expected to pass.
    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)
    # What the simulator builds.
    network: Network = "up"
    hello_file: HelloFile = "edited"
    hello_server_error: bool = False  # hello server in ERROR, with a fault, no floating IP
    cloud_error_nodes: frozenset[CloudNode] = frozenset()  # in ERROR
    failing_paths: frozenset[str] = frozenset()  # GourmetGram paths answering 500
    missing_k8s: frozenset[K8sKind] = frozenset()  # kinds absent from the cluster
    training: frozenset[TrainingKnob] = frozenset()
    mlops: frozenset[MlopsKnob] = frozenset()
    monitoring: frozenset[MonitoringKnob] = frozenset()
    evaluation: frozenset[EvaluationKnob] = frozenset()
    storage: frozenset[StorageKnob] = frozenset()
    course_key: bool = True  # the course staff key is in ~cc/.ssh/authorized_keys

    def __post_init__(self) -> None:
        """A misspelt knob would build the healthy variant and fail nowhere: refuse it."""
        for name, known in KNOWN_KNOBS.items():
            value = getattr(self, name)
            given = value if isinstance(value, frozenset) else frozenset([value])
            unknown = sorted(given - set(known))
            if unknown:
                raise ValueError(
                    f"profile {self.name!r}: unknown {name} knob {', '.join(map(repr, unknown))}"
                    f"; known: {', '.join(known)}"
                )

    def expected(self, lab: str, checks: Sequence[LabCheck]) -> dict[str, str]:
        """Status of each of `checks` (the lab's checks, in its order) that this profile
        makes: its own outcomes for `lab`, every other check passed."""
        ids = [c.id for c in checks]
        overrides = self.outcomes.get(lab, {})
        unknown = set(overrides) - set(ids)
        if unknown:
            raise ValueError(f"profile {self.name}: unknown {lab} checks {sorted(unknown)}")
        found = {check: overrides.get(check, PASSED) for check in ids}
        if "course_key" in found and "course_key" not in overrides:
            # It logs in to the same host as ssh_login: it ends as that login does, and
            # fails where the login works but the key is missing.
            if "ssh_login" not in found:
                raise ValueError(f"{lab}: a course_key check without ssh_login to follow")
            login = found["ssh_login"]
            found["course_key"] = FAILED if login == PASSED and not self.course_key else login
        return found


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
    "optimized_model": SKIPPED,
    "quantized_dynamic": SKIPPED,
    "quantized_aggressive": SKIPPED,
    "quantized_conservative": SKIPPED,
    "latency_baseline": SKIPPED,
    "latency_quantized": SKIPPED,
}
_SERVE_EDGE_SKIPPED = {  # behind container_running
    "jupyter_up": SKIPPED,
    "models_in_container": SKIPPED,
    "onnxruntime_installed": SKIPPED,
    "measure_pi_run": SKIPPED,
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
    "serve-edge-chi": {"container_running": FAILED, **_SERVE_EDGE_SKIPPED},
    "llm-chi": {"server_active": FAILED, "ssh_login": SKIPPED, **_LLM_SKIPPED},
}
_BAD_PREDICTION = {  # the model server answers /predict, but not a valid prediction
    "predict_valid": FAILED,
    "latency_c1": SKIPPED,
    "throughput_c16": SKIPPED,
    "gpu_sampled": SKIPPED,
}
_MLOPS_UNREACHABLE = {  # GitHub answers all the same: CI records outlive the instance
    "ssh_login": UNREACHABLE,
    "argo_templates": SKIPPED,
    "argo_workflows": SKIPPED,
    "argocd_apps": SKIPPED,
    "mlflow_model": UNREACHABLE,
    "env_staging": UNREACHABLE,
    "env_canary": UNREACHABLE,
    "env_production": UNREACHABLE,
    "versions_agree": SKIPPED,
    "gateway_split": SKIPPED,
}
_EVAL_UNREACHABLE = {  # eval-offline-chi and eval-loop-chi (evaluation.py)
    "eval-offline-chi": {
        "ssh_login": UNREACHABLE,
        "jupyter_container": SKIPPED,
        "test_files": SKIPPED,
        "suite_runs": SKIPPED,
        "lab_tests": SKIPPED,
        "tests_pass": SKIPPED,
    },
    "eval-loop-chi": {
        "production_bucket": UNREACHABLE,
        "labelstudio_projects": UNREACHABLE,
        "airflow_dags": UNREACHABLE,
        "dag_runs": SKIPPED,
    },
}
_HELLO_UNREACHABLE = {
    "ssh_login": UNREACHABLE,
    "hostname": SKIPPED,
    "hello_file": SKIPPED,
    "hello_file_edited": SKIPPED,
}
# eval-online-chi (monitoring.py): the node's ports 8000, 9090 and 3000
_EVAL_ONLINE_UNREACHABLE = {
    "app_metrics": UNREACHABLE,
    "prometheus_target": UNREACHABLE,
    "prometheus_metrics": SKIPPED,
    "grafana_dashboards": UNREACHABLE,
    "dashboard_queries": SKIPPED,
    "alert_rule": UNREACHABLE,
}
_EVAL_ONLINE_SKIPPED = {  # the Prometheus target or the dashboards fail
    "prometheus_metrics": SKIPPED,
    "dashboard_queries": SKIPPED,
}
# data-persist-chi and data-platform-chi (storage.py): the Chameleon APIs still answer for a
# dead host, so the object store and the volume are judged all the same
_STORAGE_UNREACHABLE = {
    "data-persist-chi": {
        "ssh_login": UNREACHABLE,
        "block_mounted": SKIPPED,
        "mlflow_on_volume": SKIPPED,
    },
    "data-platform-chi": {
        "ssh_login": UNREACHABLE,
        "compose_services": SKIPPED,
        "api_health": UNREACHABLE,
        "airflow_health": UNREACHABLE,
        "web_uis": UNREACHABLE,
    },
}

# A host that never answers (down or tarpit) ends the same way in every lab: one table, so a
# new lab is added once.
_DEAD_HOST = {
    "hello-chameleon": _HELLO_UNREACHABLE,
    "cloud-chi": _CLOUD_UNREACHABLE,
    "mlflow-chi": _MLFLOW_UNREACHABLE,
    "mltrain-chi": _MLTRAIN_UNREACHABLE,
    "mlops-chi": _MLOPS_UNREACHABLE,
    "eval-online-chi": _EVAL_ONLINE_UNREACHABLE,
    **_SERVING_UNREACHABLE,
    **_EVAL_UNREACHABLE,
    **_STORAGE_UNREACHABLE,
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
            "eval-online-chi": {
                "server_active": FAILED,
                **{c: SKIPPED for c in _EVAL_ONLINE_UNREACHABLE},
            },
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
        _DEAD_HOST,
        network="down",
    ),
    Profile(
        "tarpit",
        "API says ACTIVE; ports 22 and 80 accept connections and never send a byte.",
        _DEAD_HOST,
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
    # ---- mlops-chi (mlops.py) ------------------------------------------------------------------
    Profile(
        "staging_test_failed",
        "mlops: stopped right after Part 3's mlops-bad run: the newest test-staging workflow "
        "Failed, so version 3 has the staging alias but stayed out of canary (version 2 "
        "there and in production, as MLflow says).",
        {"mlops-chi": {"argo_workflows": FAILED}},
        mlops=frozenset({"staging_test_failed"}),
    ),
    Profile(
        "canary_stale",
        "mlops: MLflow's canary alias is on version 4, but canary's /version still answers "
        "1.0.2 (the rollout never happened).",
        {"mlops-chi": {"versions_agree": FAILED}},
        mlops=frozenset({"canary_stale"}),
    ),
    Profile(
        "argocd_degraded",
        "mlops: ArgoCD application gourmetgram-canary is OutOfSync and Degraded.",
        {"mlops-chi": {"argocd_apps": FAILED}},
        mlops=frozenset({"argocd_degraded"}),
    ),
    Profile(
        "argo_missing",
        "mlops: Argo Workflows is not installed (no CRDs: the server doesn't have a resource "
        "type workflowtemplates); ArgoCD and the environments work.",
        {"mlops-chi": {"argo_templates": FAILED, "argo_workflows": SKIPPED}},
        mlops=frozenset({"argo_missing"}),
    ),
    Profile(
        "version_garbage",
        "mlops: production's /version answers 200 text/html (a page that mentions the version) "
        "instead of the app's JSON.",
        {
            "mlops-chi": {
                "env_production": FAILED,
                "versions_agree": SKIPPED,
                "gateway_split": SKIPPED,
            }
        },
        mlops=frozenset({"version_garbage"}),
    ),
    Profile(
        "gateway_no_canary",
        "mlops: HTTPRoute gourmetgram-route sends every request on port 80 to production "
        "(canary's weight 0); canary itself answers on 8081.",
        {"mlops-chi": {"gateway_split": FAILED}},
        mlops=frozenset({"gateway_no_canary"}),
    ),
    Profile(
        "ci_failed",
        "mlops: the newest GitHub Actions run of the student's repository concluded failure.",
        {"mlops-chi": {"github_actions": FAILED}},
        mlops=frozenset({"ci_failed"}),
    ),
    Profile(
        "no_github_repo",
        "mlops: student.yaml names no github_repo: the GitHub Actions check does not apply.",
        {"mlops-chi": {"github_actions": SKIPPED}},
        mlops=frozenset({"no_github_repo"}),
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
        {
            "serve-model-chi": {
                "quantized_dynamic": FAILED,
                "quantized_aggressive": FAILED,
                "quantized_conservative": FAILED,
                "latency_quantized": SKIPPED,  # timing a float copy says nothing of quantization
            }
        },
    ),
    Profile(
        "copied_models",
        "serve-model: the course's published models copied in, no notebook run: food11.onnx, "
        "food11_quantized_dynamic.onnx and food11_quantized_aggressive.onnx from serve-edge-chi's "
        "workspace/models/, food11_optimized.onnx a copy of food11.onnx, "
        "food11_quantized_conservative.onnx a copy of the aggressive one. (The stand-ins' hashes "
        "are added to lab.yaml's published_sha256 by the test, see onnxmodels.py.)",
        {
            "serve-model-chi": {
                "optimized_model": FAILED,
                "quantized_dynamic": FAILED,
                "quantized_aggressive": FAILED,
                "quantized_conservative": FAILED,
                "latency_quantized": SKIPPED,
            }
        },
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
        {"serve-edge-chi": {"container_running": FAILED, **_SERVE_EDGE_SKIPPED}},
    ),
    Profile(
        "jupyter_down",
        "serve-edge: the Zun container is Running with its floating IP, but nothing listens "
        "on 8888 (Jupyter exited).",
        {"serve-edge-chi": {"jupyter_up": UNREACHABLE}},
    ),
    Profile(
        "empty_container",
        "serve-edge: the Zun container is Running with its floating IP and Jupyter answers, but "
        "nothing after c.submit() and associate_floating_ip() ran: no clone, no work/models, "
        "no onnxruntime, measure_pi.ipynb never run.",
        {
            "serve-edge-chi": {
                "models_in_container": FAILED,
                "onnxruntime_installed": FAILED,
                "measure_pi_run": FAILED,
            }
        },
    ),
    # ---- eval-online-chi (monitoring.py) ----------------------------------------------------
    Profile(
        "prometheus_target_down",
        "eval-online: the fastapi_server container is gone (nothing on 8000); Prometheus and "
        "Grafana still run, and Prometheus shows the food11 target down.",
        {
            "eval-online-chi": {
                "app_metrics": UNREACHABLE,
                "prometheus_target": FAILED,
                **_EVAL_ONLINE_SKIPPED,
            }
        },
        monitoring=frozenset({"target_down"}),
    ),
    Profile(
        "no_custom_metrics",
        "eval-online: never made the lab's app.py edits: only the instrumentator's metrics, no "
        "prediction_confidence, predicted_class_total or drift metrics; dashboards imported.",
        {
            "eval-online-chi": {
                "app_metrics": FAILED,
                "prometheus_metrics": FAILED,
                "dashboard_queries": FAILED,
            }
        },
        monitoring=frozenset({"no_custom_metrics"}),
    ),
    Profile(
        "missing_dashboard",
        "eval-online: never imported the Drift Monitoring dashboard; the other two are there.",
        {"eval-online-chi": {"grafana_dashboards": FAILED, "dashboard_queries": SKIPPED}},
        monitoring=frozenset({"missing_dashboard"}),
    ),
    Profile(
        "panel_unknown_metric",
        "eval-online: the Requests per second panel queries http_request_total (a typo: no such "
        "metric in Prometheus).",
        {"eval-online-chi": {"dashboard_queries": FAILED}},
        monitoring=frozenset({"unknown_metric"}),
    ),
    Profile(
        "no_alert_rule",
        "eval-online: Grafana has the Low prediction confidence rule, but no Failed requests rule.",
        {"eval-online-chi": {"alert_rule": FAILED}},
        monitoring=frozenset({"no_alert_rule"}),
    ),
    Profile(
        "grafana_garbage",
        "eval-online: port 3000 answers every path with 200 text/html bytes that are not JSON.",
        {
            "eval-online-chi": {
                "grafana_dashboards": FAILED,
                "dashboard_queries": SKIPPED,
                "alert_rule": FAILED,
            }
        },
        monitoring=frozenset({"grafana_garbage"}),
    ),
    Profile(
        "grafana_huge",
        "eval-online: port 3000 answers every path with a 20 MiB JSON body.",
        {
            "eval-online-chi": {
                "grafana_dashboards": FAILED,
                "dashboard_queries": SKIPPED,
                "alert_rule": FAILED,
            }
        },
        monitoring=frozenset({"grafana_huge"}),
    ),
]

_ALL += [  # ---- eval-offline-chi and eval-loop-chi (evaluation.py) -----------------------------
    Profile(
        "tests_failing",
        "eval-offline: the suite runs; test_cake_looks_like_accuracy (40%) and "
        "test_indian_dessert_accuracy (50%) fail, the other three pass.",
        {"eval-offline-chi": {"tests_pass": FAILED}},
        evaluation=frozenset({"tests_failing"}),
    ),
    Profile(
        "tests_collection_error",
        "eval-offline: test_food11_test_cases.py has a syntax error (a missing colon): pytest "
        "stops at collection (exit 2) and its report holds a 'collection failure'.",
        {"eval-offline-chi": {"suite_runs": FAILED, "lab_tests": SKIPPED, "tests_pass": SKIPPED}},
        evaluation=frozenset({"collection_error"}),
    ),
    Profile(
        "production_empty",
        "eval-loop: bucket production exists (minio_init made it) but holds nothing.",
        {"eval-loop-chi": {"production_bucket": FAILED}},
        evaluation=frozenset({"production_empty"}),
    ),
    Profile(
        "production_untagged",
        "eval-loop: a dozen images under class_NN/ in production, none with tags (the app "
        "before the put_object_tagging step).",
        {"eval-loop-chi": {"production_bucket": FAILED}},
        evaluation=frozenset({"production_untagged"}),
    ),
    Profile(
        "labelstudio_no_project",
        "eval-loop: Label Studio has every project but 'Food11 Low Confidence'.",
        {"eval-loop-chi": {"labelstudio_projects": FAILED}},
        evaluation=frozenset({"no_ls_project"}),
    ),
    Profile(
        "airflow_dag_failed",
        "eval-loop: pipeline_2_process_labeled_data succeeded once, then its last run failed.",
        {"eval-loop-chi": {"dag_runs": FAILED}},
        evaluation=frozenset({"dag_failed"}),
    ),
    Profile(
        "loop_api_garbage",
        "eval-loop: Label Studio's /api/projects answers 200 with a page that is not JSON; "
        "Airflow's /api/v1/dags answers a 3 MiB JSON document.",
        {
            "eval-loop-chi": {
                "labelstudio_projects": FAILED,
                "airflow_dags": FAILED,
                "dag_runs": SKIPPED,
            }
        },
        evaluation=frozenset({"api_garbage"}),
    ),
]

_ALL += [  # ---- data-persist-chi and data-platform-chi (storage.py) ---------------------------
    Profile(
        "block_not_mounted",
        "data-persist: the new instance never ran `mount /dev/vdb1 /mnt/block`: /mnt/block is "
        "a plain directory on the root disk, where compose made minio_data and postgres_data.",
        {"data-persist-chi": {"block_mounted": FAILED, "mlflow_on_volume": SKIPPED}},
        storage=frozenset({"block_not_mounted"}),
    ),
    Profile(
        "volume_detached",
        "data-persist: block-persist-<netid> is `available`, attached to nothing (the "
        "re-attach cell never ran); /mnt/block is a plain directory.",
        {
            "data-persist-chi": {
                "volume_attached": FAILED,
                "block_mounted": SKIPPED,
                "mlflow_on_volume": SKIPPED,
            }
        },
        storage=frozenset({"volume_detached"}),
    ),
    Profile(
        "empty_object_container",
        "data-persist: object-persist-<netid> exists at CHI@TACC but holds nothing (the ETL "
        "load stage never ran).",
        {"data-persist-chi": {"object_container": FAILED}},
        storage=frozenset({"empty_object_container"}),
    ),
    Profile(
        "no_object_container",
        "data-persist: there is no container object-persist-<netid> at CHI@TACC.",
        {"data-persist-chi": {"object_container": FAILED}},
        storage=frozenset({"no_object_container"}),
    ),
    Profile(
        "compose_service_down",
        "data-platform: redpanda is up but unhealthy, stream_consumer is restarting (exit 1), "
        "airflow-scheduler was stopped 20 minutes ago, so Airflow's /health says the "
        "scheduler is unhealthy.",
        {"data-platform-chi": {"compose_services": FAILED, "airflow_health": FAILED}},
        storage=frozenset({"compose_service_down"}),
    ),
    Profile(
        "health_garbage",
        "data-platform: port 8000 answers /health with 200 text/html of bytes that are neither "
        "UTF-8 nor JSON.",
        {"data-platform-chi": {"api_health": FAILED}},
        storage=frozenset({"health_garbage"}),
    ),
    Profile(
        "health_huge",
        "data-platform: port 8000 answers /health with a 20 MiB JSON document.",
        {"data-platform-chi": {"api_health": FAILED}},
        storage=frozenset({"health_huge"}),
    ),
]

_ALL.append(
    Profile(
        "no_course_key",
        "Everything done, but the course staff key was never added to ~cc/.ssh/authorized_keys: "
        "the student's own self-check logs in and warns; a staff run with the course key is "
        "refused at login.",
        course_key=False,
    )
)

PROFILES: dict[str, Profile] = {p.name: p for p in _ALL}
