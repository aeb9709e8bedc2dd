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
HelloFile = Literal["edited", "unedited", "missing", "edited_in_place", "edited_windows"]
LeaseState = Literal["active", "expired"]  # expired: every lease TERMINATED
CloudNode = Literal["node1", "node2", "node3"]  # cloud-chi's nodes
K8sKind = Literal["namespace", "deployment", "service", "hpa"]  # cloud-chi objects (cluster.py)
CloudKnob = Literal[  # cloud-chi's cluster (cluster.py)
    "wrong_image",  # `kubectl create deployment gourmetgram-app --image=nginx`
    "no_probe",  # the lab's deployment without its readinessProbe block
    "service_floating_ip",  # the Service's externalIPs hold the floating IP
    "hpa_values",  # the HPA scales 1 to 10 at 80% CPU
    "public_nodes",  # kubespray's inventory lists the nodes' sharednet1 addresses
    "port_security_on",  # port2/port3 made without --disable-port-security
    "no_bind_page",  # Part 3's bind-mount step skipped: no ~/data/web/index.html
]
TrainingKnob = Literal[  # mlflow-chi and mltrain-chi (training.py)
    "no_registered_model",  # food11-staging never registered from the API notebook
    "mlflow_down",  # `docker stop mlflow`
    "empty_bucket",  # mlflow-artifacts emptied after MLflow wrote it
    "mlflow_garbage",  # port 8000 answers an HTML page, not MLflow's API
    "one_liner_run",  # no training: one log_metrics run, food11-staging from it, gpu-info mc cp'd
    "jobs_failed",  # every Ray job FAILED
    "worker_missing",  # `docker stop ray-worker-1`, never restarted
    "no_checkpoints",  # bucket ray holds no Ray Train checkpoints
    "infeasible_pending",  # the infeasible 2-GPU job still PENDING
    "amd",  # gpu_mi100 nodes: ROCm and rocm-smi
    "train_v1",  # mltrain: RAY_TRAIN_V2_ENABLED=0, Ray Train V1's TorchTrainer_* layout
    "train_v2_only",  # mltrain: bucket ray holds the Train V2 runs only (no Tune run)
    "cheap_passes",  # mltrain: `ray job submit -- true`, a ray.init() driver, a fake object
    "worker1_no_gpu",  # mltrain: ray-worker-1 started without its GPU reservation
    "monitoring_down",  # mltrain: `docker stop grafana`, ray-head's Prometheus killed
]
MlopsKnob = Literal[  # mlops-chi (mlops.py)
    "staging_test_failed",
    "mlops_part3_done",
    "promotion_in_flight",
    "real_size_workflows",
    "no_bad_run",
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
    "grafana_password_changed",
    "query_comments",
    "app_recreated",
    "no_cadvisor",
    "no_drift",
    "no_confidence_rule",
]
EvaluationKnob = Literal[  # eval-offline-chi and eval-loop-chi (evaluation.py)
    "offline_clone_only",
    "offline_no_data",
    "offline_tampered",
    "offline_terminal_run",
    "offline_template_unlucky",
    "production_empty",
    "production_untagged",
    "no_ls_project",
    "ls_empty",
    "no_feedback",
    "dag_later_failed",
    "dag_never_succeeded",
    "pipelines_unrun",
    "api_garbage",
]
StorageKnob = Literal[  # data-persist-chi and data-platform-chi (storage.py)
    "block_not_mounted",
    "volume_detached",
    "empty_object_container",
    "no_object_container",
    "dummy_objects",
    "never_recreated",
    "postgres18",
    "mlflow_data_lost",
    "no_data_flowing",
    "api_v1",
    "ui_impostor",
    "dag_rerun",
    "training_failed",
    "compose_service_down",
    "health_garbage",
    "health_huge",
]
# Profile field -> the values it may hold (a field holding a set: each of its members).
KNOWN_KNOBS: dict[str, tuple[str, ...]] = {
    "network": get_args(Network),
    "hello_file": get_args(HelloFile),
    "lease": get_args(LeaseState),
    "cloud_error_nodes": get_args(CloudNode),
    "missing_k8s": get_args(K8sKind),
    "cloud": get_args(CloudKnob),
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
    cloud: frozenset[CloudKnob] = frozenset()  # deviations of cloud-chi's cluster
    training: frozenset[TrainingKnob] = frozenset()
    mlops: frozenset[MlopsKnob] = frozenset()
    monitoring: frozenset[MonitoringKnob] = frozenset()
    evaluation: frozenset[EvaluationKnob] = frozenset()
    storage: frozenset[StorageKnob] = frozenset()
    course_key: bool = True  # the course staff key is in ~cc/.ssh/authorized_keys
    lease: LeaseState = "active"
    # lab -> the other site its manual allows, where this student built it (BuildContext.site)
    sites: dict[str, str] = field(default_factory=dict)

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
        # A lab with a second server (llm-chi) checks the key there too, after its own login.
        for key, login_id in (("course_key", "ssh_login"), ("course_key_multi", "ssh_login_multi")):
            if key in found and key not in overrides:
                # It logs in to the same host as the login check: it ends as that login does,
                # and fails where the login works but the key is missing.
                if login_id not in found:
                    raise ValueError(f"{lab}: a {key} check without {login_id} to follow")
                login = found[login_id]
                found[key] = FAILED if login == PASSED and not self.course_key else login
        return found


_CLOUD_UNREACHABLE = {
    "web_page": UNREACHABLE,
    "web_test": UNREACHABLE,
    "ssh_login": UNREACHABLE,
    "k8s_nodes": SKIPPED,
    "k8s_node_network": SKIPPED,
    "k8s_namespace": SKIPPED,
    "k8s_deployment": SKIPPED,
    "k8s_readiness": SKIPPED,
    "k8s_service": SKIPPED,
    "k8s_hpa": SKIPPED,
    "registry_container": SKIPPED,
    "bind_mount_page": SKIPPED,
}
_MLFLOW_UNREACHABLE = {
    "ssh_login": UNREACHABLE,
    "containers": SKIPPED,
    "mlflow_up": UNREACHABLE,
    "experiment_runs": SKIPPED,
    "ui_model": SKIPPED,
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
    "ray_grafana": UNREACHABLE,
    "ray_prometheus": UNREACHABLE,
}
_SERVE_SYSTEM_UNREACHABLE = {
    "ssh_login": UNREACHABLE,
    "flask_page": UNREACHABLE,
    "model_server": UNREACHABLE,
    "model_container": SKIPPED,
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
# llm-chi: the single part's checks on node-llm-single, the multi part's on node-llm-multi.
_LLM_SINGLE_SKIPPED = {
    "jupyter_container": SKIPPED,
    "gpus_present": SKIPPED,
    "single_training": SKIPPED,
}
_LLM_MULTI_SKIPPED = {
    "jupyter_container_multi": SKIPPED,
    "gpu_busy": SKIPPED,
    "gpu_training": SKIPPED,
    "multi_gpu": SKIPPED,
}
_LLM_SKIPPED = {**_LLM_SINGLE_SKIPPED, **_LLM_MULTI_SKIPPED}
_LLM_NO_SINGLE = {"server_active": FAILED, "ssh_login": SKIPPED, **_LLM_SINGLE_SKIPPED}
_LLM_NO_MULTI = {"server_multi_active": FAILED, "ssh_login_multi": SKIPPED, **_LLM_MULTI_SKIPPED}
# serve-system-chi, serve-model-chi, serve-edge-chi and llm-chi (serving.py)
_SERVING_UNREACHABLE = {
    "serve-system-chi": _SERVE_SYSTEM_UNREACHABLE,
    "serve-model-chi": {"ssh_login": UNREACHABLE, **_SERVE_MODEL_SKIPPED},
    "serve-edge-chi": {"jupyter_up": UNREACHABLE},
    "llm-chi": {"ssh_login": UNREACHABLE, "ssh_login_multi": UNREACHABLE, **_LLM_SKIPPED},
}
_SERVING_SERVER_ERROR = {
    "serve-system-chi": {
        "server_active": FAILED,
        **{c: SKIPPED for c in _SERVE_SYSTEM_UNREACHABLE},
    },
    "serve-model-chi": {"server_active": FAILED, "ssh_login": SKIPPED, **_SERVE_MODEL_SKIPPED},
    "serve-edge-chi": {"container_running": FAILED, **_SERVE_EDGE_SKIPPED},
    "llm-chi": {**_LLM_NO_SINGLE, **_LLM_NO_MULTI},
}
_BAD_PREDICTION = {  # the model server answers /predict, but not a valid prediction
    "predict_valid": FAILED,
    "latency_c1": SKIPPED,
    "throughput_c16": SKIPPED,
    "gpu_sampled": SKIPPED,
}
_SERVE_SYSTEM_NO_GPU = {  # answers, but no GPU shown working: the load's figures do not count
    "throughput_c16": FAILED,
    "latency_c1": SKIPPED,
    "gpu_sampled": SKIPPED,
}
_MLOPS_UNREACHABLE = {  # GitHub answers all the same: CI records outlive the instance
    "ssh_login": UNREACHABLE,
    "argo_templates": SKIPPED,
    "argo_workflows": SKIPPED,
    "bad_model_stopped": SKIPPED,
    "cron_schedule": SKIPPED,
    "argocd_apps": SKIPPED,
    "mlflow_model": UNREACHABLE,
    "env_staging": UNREACHABLE,
    "env_canary": UNREACHABLE,
    "env_production": UNREACHABLE,
    "versions_agree": SKIPPED,
    "gateway_split": SKIPPED,
}
_OFFLINE_VERDICTS = (  # eval-offline-chi's five tests, each scored by reaching a verdict
    "overall_accuracy",
    "per_class_accuracy",
    "template_permutations",
    "cake_looks_like_accuracy",
    "indian_dessert_accuracy",
)
_EVAL_UNREACHABLE = {  # eval-offline-chi and eval-loop-chi (evaluation.py)
    "eval-offline-chi": {
        "ssh_login": UNREACHABLE,
        "jupyter_container": SKIPPED,
        "test_files": SKIPPED,
        "food11_data": SKIPPED,
        "notebook_executed": SKIPPED,
        "tests_run": SKIPPED,
        "suite_runs": SKIPPED,
        **{f"verdict_{t}": SKIPPED for t in _OFFLINE_VERDICTS},
    },
    "eval-loop-chi": {
        "flask_app": UNREACHABLE,
        "fastapi_server": UNREACHABLE,
        "production_bucket": UNREACHABLE,
        "feedback_tags": SKIPPED,
        "labelstudio_projects": UNREACHABLE,
        "labelstudio_annotated": SKIPPED,
        "airflow_dags": UNREACHABLE,
        "dag_runs": SKIPPED,
        "pipeline_buckets": UNREACHABLE,
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
    "ssh_login": UNREACHABLE,
    "app_metrics": UNREACHABLE,
    "prometheus_target": UNREACHABLE,
    "prediction_metrics": UNREACHABLE,
    "drift_metrics": UNREACHABLE,
    "cadvisor_target": UNREACHABLE,
    "grafana_dashboards": UNREACHABLE,
    "dashboard_queries": SKIPPED,
    "cadvisor_dashboard": UNREACHABLE,
    "alert_rule": UNREACHABLE,
    "confidence_alert_rule": UNREACHABLE,
}
_EVAL_ONLINE_GRAFANA_BROKEN = {  # port 3000 answers, but not as Grafana
    "grafana_dashboards": FAILED,
    "dashboard_queries": SKIPPED,
    "cadvisor_dashboard": FAILED,
    "alert_rule": FAILED,
    "confidence_alert_rule": FAILED,
}
# data-persist-chi and data-platform-chi (storage.py): the Chameleon APIs still answer for a
# dead host, so the object store and the volume are judged all the same
_STORAGE_UNREACHABLE = {
    "data-persist-chi": {
        "ssh_login": UNREACHABLE,
        "block_mounted": SKIPPED,
        "object_mounted": SKIPPED,
        "mlflow_on_volume": SKIPPED,
        "mlflow_runs_survived": UNREACHABLE,
    },
    "data-platform-chi": {
        "ssh_login": UNREACHABLE,
        "compose_services": SKIPPED,
        "api_health": UNREACHABLE,
        "airflow_health": UNREACHABLE,
        "web_uis": UNREACHABLE,
        "airflow_dag_runs": UNREACHABLE,
        "images_uploaded": SKIPPED,
        "event_topics": SKIPPED,
        "moderation_rows": SKIPPED,
        "lakehouse_tables": SKIPPED,
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

# The labs' lease checks (0 points), per lab.
LEASE_CHECKS: dict[str, tuple[str, ...]] = {
    "mlflow-chi": ("lease",),
    "mltrain-chi": ("lease",),
    "data-platform-chi": ("lease",),
    "eval-online-chi": ("lease",),
    "llm-chi": ("lease", "lease_multi"),
    "mlops-chi": ("lease",),
    "hello-chameleon": ("lease",),
    "cloud-chi": ("lease_gui", "lease_cli"),
    "serve-system-chi": ("lease",),
    "serve-model-chi": ("lease",),
    "serve-edge-chi": ("lease",),
}

# data-persist-chi's re-created instance (the manual's end) never mounts the object store again:
# the rclone mount (0 points) is observed only on the first instance, and skipped here
_PERSIST_RECREATED = {"object_mounted": SKIPPED}

_ALL = [
    Profile(
        "healthy",
        "Everything done as the labs ask: hello.txt written and then edited; cloud-chi "
        "cluster, app, registry all up; data-persist's instance re-created, the volume "
        "re-attached, MLflow's earlier run still there.",
        {"data-persist-chi": _PERSIST_RECREATED},
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
        "edited_in_place",
        "~/hello.txt's one line edited in place on a Mac ('Hello from <hostname> \u2014 edited "
        "on my Mac'), as the lab's 'make a change (any change!)' allows; cloud-chi complete.",
        hello_file="edited_in_place",
    ),
    Profile(
        "edited_windows",
        "~/hello.txt edited in Windows Notepad and saved as 'Unicode': UTF-16LE with a BOM, "
        "CRLF line ends, a line added; cloud-chi complete.",
        hello_file="edited_windows",
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
        "k8s_wrong_image",
        "cloud-chi: `kubectl create deployment gourmetgram-app --image=nginx -n "
        "gourmetgram-production` instead of the lab's manifest, with the lab's Service and HPA: "
        "nginx pods ready, but nothing answers on the Service's target port 8000.",
        {
            "cloud-chi": {
                "web_page": UNREACHABLE,
                "web_test": UNREACHABLE,
                "k8s_deployment": FAILED,
                "k8s_readiness": SKIPPED,
            }
        },
        cloud=frozenset({"wrong_image"}),
    ),
    Profile(
        "k8s_no_probe",
        "cloud-chi: the lab's deployment.yaml without its readinessProbe block; all else works.",
        {"cloud-chi": {"k8s_readiness": FAILED}},
        cloud=frozenset({"no_probe"}),
    ),
    Profile(
        "k8s_service_floating_ip",
        "cloud-chi: the Service's externalIPs hold node1's floating IP instead of its sharednet1 "
        "address, so nothing answers on port 80 (Neutron delivers to the fixed address).",
        {
            "cloud-chi": {
                "web_page": UNREACHABLE,
                "web_test": UNREACHABLE,
                "k8s_service": FAILED,
            }
        },
        cloud=frozenset({"service_floating_ip"}),
    ),
    Profile(
        "k8s_hpa_values",
        "cloud-chi: the HPA gourmetgram-kube-hpa scales 1 to 10 replicas at 80% CPU, not the "
        "lab's 2 to 6 at 50%; all else works.",
        {"cloud-chi": {"k8s_hpa": FAILED}},
        cloud=frozenset({"hpa_values"}),
    ),
    Profile(
        "k8s_public_nodes",
        "cloud-chi: kubespray's inventory listed the nodes' sharednet1 addresses (10.56.x.y), so "
        "the cluster runs off the private network; all else works.",
        {"cloud-chi": {"k8s_node_network": FAILED}},
        cloud=frozenset({"public_nodes"}),
    ),
    Profile(
        "skipped_bind_mount",
        "cloud-chi: skipped Part 3's bind-mount step (no ~/data/web/index.html on node1); all "
        "else works.",
        {"cloud-chi": {"bind_mount_page": FAILED}},
        cloud=frozenset({"no_bind_page"}),
    ),
    Profile(
        "ports_with_security",
        "cloud-chi: the CLI part's `openstack port create` without --disable-port-security: "
        "port2_<netid> and port3_<netid> filter traffic; all else works.",
        {"cloud-chi": {"private_ports": FAILED}},
        cloud=frozenset({"port_security_on"}),
    ),
    Profile(
        "k8s_torn_down",
        "cloud-chi: graded after the lab's last Kubernetes step, `kubectl delete -f "
        "deployment.yaml`: the namespace (made by `kubectl create namespace`) is left, its "
        "Service, Deployment and HPA are gone, port 80 refuses.",
        {
            "cloud-chi": {
                "web_page": UNREACHABLE,
                "web_test": UNREACHABLE,
                "k8s_deployment": FAILED,
                "k8s_readiness": SKIPPED,
                "k8s_service": FAILED,
                "k8s_hpa": FAILED,
            }
        },
        missing_k8s=frozenset({"deployment", "service", "hpa"}),
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
                "ui_model": SKIPPED,
                "registered_model": SKIPPED,
            }
        },
        training=frozenset({"mlflow_down"}),
    ),
    Profile(
        "empty_bucket",
        "MLflow has the runs, but bucket `mlflow-artifacts` is empty (the MinIO volume was "
        "recreated): no gpu-info.txt, no models; the runs' artifacts MLflow lists are gone too.",
        {"mlflow-chi": {"experiment_runs": FAILED, "artifact_bucket": FAILED}},
        training=frozenset({"empty_bucket"}),
    ),
    Profile(
        "mlflow_garbage",
        "Port 8000 answers /health with OK, and every other path with a 200 text/html page "
        "(bytes that are neither UTF-8 nor JSON): not MLflow's REST API.",
        {
            "mlflow-chi": {
                "experiment_runs": FAILED,
                "ui_model": FAILED,
                "registered_model": FAILED,
            }
        },
        training=frozenset({"mlflow_garbage"}),
    ),
    Profile(
        "one_liner_run",
        "Cheap pass, no training: in food11-classifier one run of a single "
        "mlflow.log_metrics({'test_accuracy': .91, 'test_loss': .31}) (no epochs, no system "
        "metrics, no gpu-info.txt), food11-staging registered from it, no food11, and a "
        "gpu-info.txt put in the bucket with `mc cp`, outside any run.",
        {
            "mlflow-chi": {
                "experiment_runs": FAILED,
                "ui_model": FAILED,
                "registered_model": FAILED,
                "artifact_bucket": FAILED,
            }
        },
        training=frozenset({"one_liner_run"}),
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
        "ray_train_v2",
        "mltrain: the manual to its last step on Ray 2.54, whose Ray Train is V2 by default: "
        "bucket `ray` holds the Train runs as `ray_train_run-<date>/checkpoint_<date>/"
        "checkpoint.ckpt` only (the Tune run's folder deleted in the MinIO browser).",
        training=frozenset({"train_v2_only"}),
    ),
    Profile(
        "ray_train_v1",
        "mltrain: the manual to its last step with RAY_TRAIN_V2_ENABLED=0 in runtime.json: "
        "Ray Train V1's `TorchTrainer_<date>/TorchTrainer_<id>_00000_0_<date>/checkpoint_"
        "00000N/` layout (as the manual's 2025 log excerpt shows), and the Tune run.",
        training=frozenset({"train_v1"}),
    ),
    Profile(
        "true_ray_job",
        "mltrain: the cluster is up, but the only jobs are `ray job submit -- true` "
        '(SUCCEEDED) and a driver `python -c "import ray; ray.init()"` run in ray-head '
        "(DRIVER, SUCCEEDED); bucket `ray` holds one object `TorchTrainer_x` (`mc cp`).",
        {"mltrain-chi": {"ray_jobs": FAILED, "checkpoints": FAILED}},
        training=frozenset({"cheap_passes"}),
    ),
    Profile(
        "worker1_no_gpu",
        "mltrain: ray-worker-1 runs without its GPU reservation (the deploy block removed "
        "from the compose file): no nvidia-smi inside it; ray-worker-0 has its GPU.",
        {"mltrain-chi": {"worker_gpus": FAILED}},
        training=frozenset({"worker1_no_gpu"}),
    ),
    Profile(
        "monitoring_down",
        "mltrain: `docker stop grafana` and ray-head's Prometheus killed: nothing listens on "
        "3000 or 9090; the Ray cluster, its jobs and checkpoints are fine.",
        {"mltrain-chi": {"ray_grafana": UNREACHABLE, "ray_prometheus": UNREACHABLE}},
        training=frozenset({"monitoring_down"}),
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
        "mlops: stopped right after Part 3's mlops-bad run (before its cron step): the newest "
        "test-staging workflow Failed on version 3, which has the staging alias but stayed out "
        "of canary (version 2 there and in production, as MLflow says); staging's pod crashes "
        "on the model (8082 refuses, ArgoCD's staging app Degraded); cron-train still daily.",
        {"mlops-chi": {"cron_schedule": FAILED}},
        mlops=frozenset({"staging_test_failed"}),
    ),
    Profile(
        "mlops_part3_done",
        "mlops: did exactly what the 2026 manual says through Part 3: Parts 1-2 (one accuracy "
        "failure, canary promoted to production by hand), the mlops-bad run stopped by "
        "test-staging, cron-train at */15 with three cron-created train-model runs (one "
        "accuracy failure) and a fourth training now.",
        mlops=frozenset({"mlops_part3_done"}),
    ),
    Profile(
        "promotion_in_flight",
        "mlops: Part 3 done; a cron pipeline's promote-model just moved MLflow's canary alias "
        "to version 5 and its deploy-container-image to canary is still Running: canary "
        "answers 1.0.4 and ArgoCD's canary app is Progressing.",
        mlops=frozenset({"promotion_in_flight"}),
    ),
    Profile(
        "real_size_workflows",
        "mlops: Part 3 done, then cron-train every 15 min for three hours: about 90 Workflows "
        "of real size (each with its stored template spec and nodes), over 1 MiB as "
        "`kubectl get workflows -n argo -o json`.",
        mlops=frozenset({"real_size_workflows"}),
    ),
    Profile(
        "no_bad_run",
        "mlops: Parts 1-2 and the cron step of Part 3, but never the mlops-bad run.",
        {"mlops-chi": {"bad_model_stopped": FAILED}},
        mlops=frozenset({"no_bad_run"}),
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
        {
            "mlops-chi": {
                "argo_templates": FAILED,
                "argo_workflows": SKIPPED,
                "bad_model_stopped": SKIPPED,
                "cron_schedule": SKIPPED,
            }
        },
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
        "triton_onnx_2026",
        "serve-system: the 2026 manual through its last step before `docker compose down`: "
        "Triton serves food_classifier (4+4 instances, no batching) and food_classifier_onnx "
        "(one instance on GPU 0, dynamic_batching preferred [4, 6, 8], 100 us), GourmetGram's "
        "triton_onnx branch with FOOD11_MODEL_NAME=food_classifier_onnx on port 80; 6.7 ms "
        "median, the lab's figure.",
    ),
    Profile(
        "stub_fastapi",
        "serve-system: no lab container on port 8000 but a plain process, a FastAPI titled "
        "'Food Classification API (ONNX)' answering {'prediction': 'Bread', 'probability': "
        "0.9} at once to anything; GourmetGram on 80; the GPUs idle.",
        {
            "serve-system-chi": {
                "model_container": FAILED,  # port 8000 is no container of the lab's
                "predict_valid": FAILED,  # the lab's test image is not Bread
                "serving_optimized": SKIPPED,  # its "(ONNX)" title counts for nothing
                **{c: SKIPPED for c in _SERVE_SYSTEM_NO_GPU},
            }
        },
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
            # nothing shows a GPU at work: the load's figures do not count
            "serve-system-chi": _SERVE_SYSTEM_NO_GPU,
            "llm-chi": {  # on both nodes; the single notebook holds no finished run
                "jupyter_container": FAILED,
                "gpus_present": FAILED,
                "single_training": FAILED,
                "jupyter_container_multi": FAILED,
                "gpu_busy": FAILED,
                "gpu_training": SKIPPED,
                "multi_gpu": SKIPPED,
            },
        },
    ),
    Profile(
        "gpu_idle",
        "GPUs present but idle (0 %): llm-chi's two nodes run jupyter and train nothing (the "
        "single notebook holds no finished run); serve-system's GPUs show no load while the "
        "grader sends requests.",
        # gpu_busy only needs readable samples (the rubric scores the utilization);
        # serve-system's load figures count only with a GPU at work.
        {
            "llm-chi": {"single_training": FAILED, "gpu_training": FAILED, "multi_gpu": SKIPPED},
            "serve-system-chi": _SERVE_SYSTEM_NO_GPU,
        },
    ),
    Profile(
        "single_gpu",
        "llm-chi: in the middle of the single part: `python fine-tune-blip.py` runs now on "
        "node-llm-single's one A100 (its first run: no finished run saved yet); "
        "node-llm-multi not created yet.",
        {"llm-chi": _LLM_NO_MULTI},
    ),
    Profile(
        "llm_single_only",
        "llm-chi: the single part done (its runs finished, saved in 2_single_gpu.ipynb; the "
        "GPU idle now); node-llm-multi never created.",
        {"llm-chi": _LLM_NO_MULTI},
    ),
    Profile(
        "llm_multi_only",
        "llm-chi: node-llm-single deleted (its lease over after the single part); "
        "node-llm-multi running a DDP run on its four A100s in the jupyter container.",
        {"llm-chi": _LLM_NO_SINGLE},
    ),
    Profile(
        "llm_one_device",
        "llm-chi: node-llm-multi running the multi section's Experiment 1 (devices 1): one "
        "fine-tune-blip.py process, GPU 0 busy, the other three idle.",
        {"llm-chi": {"multi_gpu": FAILED}},
    ),
    Profile(
        "gpu_burner",
        "llm-chi: node-llm-multi's four GPUs kept at 100 % by a torch.matmul loop in a "
        "Python notebook's kernel in the jupyter container, not by the lab's training.",
        {"llm-chi": {"gpu_training": FAILED, "multi_gpu": SKIPPED}},
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
            "llm-chi": {  # on both nodes; the single notebook holds no finished run
                "jupyter_container": FAILED,
                "single_training": FAILED,
                "jupyter_container_multi": FAILED,
                "gpu_training": FAILED,
                "multi_gpu": SKIPPED,
            },
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
        "Grafana still run, and Prometheus shows the food11 target down (it never stored the "
        "app's metrics).",
        {
            "eval-online-chi": {
                "app_metrics": UNREACHABLE,
                "prometheus_target": FAILED,
                "prediction_metrics": FAILED,
                "drift_metrics": FAILED,
                "dashboard_queries": SKIPPED,
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
                "prediction_metrics": FAILED,
                "drift_metrics": FAILED,
                "dashboard_queries": FAILED,
            }
        },
        monitoring=frozenset({"no_custom_metrics"}),
    ),
    Profile(
        "no_drift",
        "eval-online: did the lab up to its drift section and stopped: the prediction "
        "metrics, cAdvisor and both alert rules are there; no drift metrics in app.py, no "
        "Drift Monitoring dashboard.",
        {
            "eval-online-chi": {
                "drift_metrics": FAILED,
                "grafana_dashboards": FAILED,
                "dashboard_queries": SKIPPED,
            }
        },
        monitoring=frozenset({"no_drift"}),
    ),
    Profile(
        "no_cadvisor",
        "eval-online: skipped the infrastructure section: no cadvisor container, no job "
        "cadvisor in prometheus.yml, no cAdvisor Docker Insights dashboard; all else done.",
        {"eval-online-chi": {"cadvisor_target": FAILED, "cadvisor_dashboard": FAILED}},
        monitoring=frozenset({"no_cadvisor"}),
    ),
    Profile(
        "missing_dashboard",
        "eval-online: never imported the Drift Monitoring dashboard; the other three are there.",
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
        "no_confidence_rule",
        "eval-online: Grafana has the Failed requests rule, but no Low prediction confidence rule.",
        {"eval-online-chi": {"confidence_alert_rule": FAILED}},
        monitoring=frozenset({"no_confidence_rule"}),
    ),
    Profile(
        "grafana_garbage",
        "eval-online: port 3000 answers every path with 200 text/html bytes that are not JSON.",
        {"eval-online-chi": _EVAL_ONLINE_GRAFANA_BROKEN},
        monitoring=frozenset({"grafana_garbage"}),
    ),
    Profile(
        "grafana_huge",
        "eval-online: port 3000 answers every path with a 20 MiB JSON body.",
        {"eval-online-chi": _EVAL_ONLINE_GRAFANA_BROKEN},
        monitoring=frozenset({"grafana_huge"}),
    ),
    # legitimate variations of eval-online-chi: full marks
    Profile(
        "grafana_password_changed",
        "eval-online: the whole lab done, but at Grafana's first sign-in the student chose a "
        "new password instead of 'Skip' (the manual offers both): admin/admin is refused.",
        monitoring=frozenset({"grafana_password_changed"}),
    ),
    Profile(
        "query_comments",
        "eval-online: the whole lab done; the Failed requests panel's two queries were pasted "
        "with the lab's '# set this up as the first query' comment lines (valid PromQL).",
        monitoring=frozenset({"query_comments"}),
    ),
    Profile(
        "app_recreated",
        "eval-online: the whole lab done, then fastapi_server recreated (docker compose up -d) "
        "with no prediction since: /metrics has no predicted_class_total yet, Prometheus has it.",
        monitoring=frozenset({"app_recreated"}),
    ),
    # ---- every lab: leases and sites ----------------------------------------------------------
    Profile(
        "lease_expired",
        "Every lab's lease ended an hour ago (Blazar: TERMINATED): in the minutes its "
        "instances are torn down, Nova still lists them ACTIVE but nothing answers; the lease "
        "check says why.",
        {
            lab: {**dead, **{lease: FAILED for lease in LEASE_CHECKS.get(lab, ())}}
            for lab, dead in _DEAD_HOST.items()
        },
        network="down",
        lease="expired",
    ),
    Profile(
        "mlflow_kvm_h100",
        "mlflow-chi on an H100 VM at KVM@TACC (the manual's VM variant: flavor g1.h100.pci.1 "
        "from lease mlflow_<netid>), not bare metal at CHI@TACC; everything done.",
        sites={"mlflow-chi": "KVM@TACC"},
    ),
    Profile(
        "llm_kvm_h100",
        "llm-chi on the manual's H100 VMs at KVM@TACC: node-llm-single on g1.h100.pci.1, "
        "node-llm-multi on g1.h100.pci.4 (four H100s, a DDP run going); everything done.",
        sites={"llm-chi": "KVM@TACC"},
    ),
    Profile(
        "serve_model_chi_uc",
        "serve-model-chi on a compute_gigaio node at CHI@UC (the manual allows CHI@TACC or "
        "CHI@UC); everything done.",
        sites={"serve-model-chi": "CHI@UC"},
    ),
]

_ALL += [  # ---- eval-offline-chi and eval-loop-chi (evaluation.py) -----------------------------
    Profile(
        "clone_only",
        "eval-offline (cheap pass): the clone, the jupyter container and `pip install pytest`, "
        "nothing more: no Food-11 in the volume, the notebook as cloned (never run), no run "
        "of the suite. The grader's own pytest run would report tests; it earns nothing.",
        {
            "eval-offline-chi": {
                "food11_data": FAILED,
                "notebook_executed": FAILED,
                "tests_run": FAILED,
                "suite_runs": SKIPPED,
                **{f"verdict_{t}": SKIPPED for t in _OFFLINE_VERDICTS},
            }
        },
        evaluation=frozenset({"offline_clone_only"}),
    ),
    Profile(
        "offline_no_data",
        "eval-offline: everything but the data step: the food11 volume is empty, so the "
        "`predictions` fixture errors and the two accuracy tests reach no verdict; the "
        "template and failure-mode tests (the repository's images) still do.",
        {
            "eval-offline-chi": {
                "food11_data": FAILED,
                "verdict_overall_accuracy": FAILED,
                "verdict_per_class_accuracy": FAILED,
            }
        },
        evaluation=frozenset({"offline_no_data"}),
    ),
    Profile(
        "tests_tampered",
        "eval-offline (cheap pass): the lab done, then the 60% Dessert floor edited to 0 "
        "in test_food11_test_cases.py so that the failure-mode tests pass.",
        {
            "eval-offline-chi": {
                "test_files": FAILED,
                "suite_runs": SKIPPED,
                **{f"verdict_{t}": SKIPPED for t in _OFFLINE_VERDICTS},
            }
        },
        evaluation=frozenset({"offline_tampered"}),
    ),
    Profile(
        "offline_terminal_run",
        "eval-offline (legitimate variation): the notebook run and saved, but the suite run "
        "from a terminal in Jupyter (the pytest cell left unrun): pytest's cache shows it.",
        evaluation=frozenset({"offline_terminal_run"}),
    ),
    Profile(
        "offline_template_unlucky",
        "eval-offline (legitimate variation): test_template_permutations' random draw picks "
        "a food image the course model misreads, so it fails too (4 of 5 tests fail): every "
        "test still reaches a verdict.",
        evaluation=frozenset({"offline_template_unlucky"}),
    ),
    Profile(
        "production_empty",
        "eval-loop: bucket production exists (minio_init made it) but holds nothing, so the "
        "pipelines had nothing to sort either.",
        {
            "eval-loop-chi": {
                "production_bucket": FAILED,
                "feedback_tags": SKIPPED,
                "pipeline_buckets": FAILED,
            }
        },
        evaluation=frozenset({"production_empty"}),
    ),
    Profile(
        "production_untagged",
        "eval-loop: a dozen images under class_NN/ in production, none with tags (the app "
        "before the put_object_tagging step); pipeline_1 skips untimestamped images.",
        {
            "eval-loop-chi": {
                "production_bucket": FAILED,
                "feedback_tags": SKIPPED,
                "pipeline_buckets": FAILED,
            }
        },
        evaluation=frozenset({"production_untagged"}),
    ),
    Profile(
        "loop_no_feedback",
        "eval-loop: GourmetGram left on the production branch: images tagged with class, "
        "confidence and timestamp, none flagged or corrected by a user.",
        {"eval-loop-chi": {"feedback_tags": FAILED}},
        evaluation=frozenset({"no_feedback"}),
    ),
    Profile(
        "labelstudio_no_project",
        "eval-loop: Label Studio has every project but 'Food11 Low Confidence'.",
        {"eval-loop-chi": {"labelstudio_projects": FAILED, "labelstudio_annotated": SKIPPED}},
        evaluation=frozenset({"no_ls_project"}),
    ),
    Profile(
        "empty_ls_projects",
        "eval-loop (cheap pass): the four projects made by one curl loop against "
        "/api/projects, with no task and no annotation in any.",
        {"eval-loop-chi": {"labelstudio_annotated": FAILED}},
        evaluation=frozenset({"ls_empty"}),
    ),
    Profile(
        "airflow_later_run_failed",
        "eval-loop (legitimate variation): both pipelines succeeded when triggered; later, "
        "the @daily schedule's run of pipeline_2_process_labeled_data failed (newest run).",
        evaluation=frozenset({"dag_later_failed"}),
    ),
    Profile(
        "airflow_never_succeeded",
        "eval-loop: every run of pipeline_2_process_labeled_data failed.",
        {"eval-loop-chi": {"dag_runs": FAILED}},
        evaluation=frozenset({"dag_never_succeeded"}),
    ),
    Profile(
        "pipelines_unrun",
        "eval-loop: Airflow up with the lab's DAGs (they come with the clone), the pipelines "
        "never triggered: no run, no pipeline bucket.",
        {"eval-loop-chi": {"dag_runs": FAILED, "pipeline_buckets": FAILED}},
        evaluation=frozenset({"pipelines_unrun"}),
    ),
    Profile(
        "loop_api_garbage",
        "eval-loop: Label Studio's /api/projects answers 200 with a page that is not JSON; "
        "Airflow's /api/v1/dags answers a 3 MiB JSON document.",
        {
            "eval-loop-chi": {
                "labelstudio_projects": FAILED,
                "labelstudio_annotated": SKIPPED,
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
        "a plain directory on the root disk, where compose made minio_data and postgres_data; "
        "MLflow started with an empty database (no experiment).",
        {
            "data-persist-chi": {
                **_PERSIST_RECREATED,
                "block_mounted": FAILED,
                "mlflow_on_volume": SKIPPED,
                "mlflow_runs_survived": FAILED,
            }
        },
        storage=frozenset({"block_not_mounted"}),
    ),
    Profile(
        "volume_detached",
        "data-persist: block-persist-<netid> is `available`, attached to nothing (the "
        "re-attach cell never ran); /mnt/block is a plain directory.",
        {
            "data-persist-chi": {
                **_PERSIST_RECREATED,
                "volume_attached": FAILED,
                "server_recreated": SKIPPED,
                "block_mounted": SKIPPED,
                "mlflow_on_volume": SKIPPED,
                "mlflow_runs_survived": SKIPPED,
            }
        },
        storage=frozenset({"volume_detached"}),
    ),
    Profile(
        "empty_object_container",
        "data-persist: object-persist-<netid> exists at CHI@TACC but holds nothing (the ETL "
        "load stage never ran).",
        {"data-persist-chi": {**_PERSIST_RECREATED, "object_container": FAILED}},
        storage=frozenset({"empty_object_container"}),
    ),
    Profile(
        "no_object_container",
        "data-persist: there is no container object-persist-<netid> at CHI@TACC.",
        {"data-persist-chi": {**_PERSIST_RECREATED, "object_container": FAILED}},
        storage=frozenset({"no_object_container"}),
    ),
    Profile(
        "dummy_objects",
        "data-persist: object-persist-<netid> holds three objects, training/, validation/ and "
        "evaluation/class_00/0_0.jpg: every split present, but not Food-11 (10 classes "
        "missing, 3 objects of 16,643).",
        {"data-persist-chi": {**_PERSIST_RECREATED, "object_container": FAILED}},
        storage=frozenset({"dummy_objects"}),
    ),
    Profile(
        "never_recreated",
        "data-persist: stopped before the lab's point: the first instance (created before the "
        "volume) still runs, with the volume, MLflow and the rclone mount of the object store.",
        {"data-persist-chi": {"server_recreated": FAILED, "mlflow_runs_survived": SKIPPED}},
        storage=frozenset({"never_recreated"}),
    ),
    Profile(
        "postgres18",
        "data-persist, legitimately varied: postgres:latest is 18, so (as the course's own "
        "mlflow-chi fix does) the compose file binds /mnt/block/postgres_data at "
        "/var/lib/postgresql, and PGDATA is /var/lib/postgresql/18/docker below it.",
        {"data-persist-chi": _PERSIST_RECREATED},
        storage=frozenset({"postgres18"}),
    ),
    Profile(
        "mlflow_data_lost",
        "data-persist: re-created and re-attached, but MLflow's database on the new instance "
        "holds only a run logged after the re-creation (the notebook run again): the first "
        "instance's run did not survive.",
        {"data-persist-chi": {**_PERSIST_RECREATED, "mlflow_runs_survived": FAILED}},
        storage=frozenset({"mlflow_data_lost"}),
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
    Profile(
        "no_data_flowing",
        "data-platform, the cheap pass: every service up and healthy, but the data generator "
        "was never started and no DAG triggered: no uploads in gourmetgram-images, no "
        "moderation rows, no DAG runs, no Iceberg tables. The topics exist all the same (the "
        "consumers' subscriptions auto-create them in dev-container mode).",
        {
            "data-platform-chi": {
                "images_uploaded": FAILED,
                "moderation_rows": FAILED,
                "airflow_dag_runs": FAILED,
                "lakehouse_tables": FAILED,
            }
        },
        storage=frozenset({"no_data_flowing"}),
    ),
    Profile(
        "api_v1",
        "data-platform: api_v1 still serves 8000 (api_v2 never started): /health says "
        "{'status': 'healthy'} with no kafka_enabled.",
        {"data-platform-chi": {"compose_services": FAILED, "api_health": FAILED}},
        storage=frozenset({"api_v1"}),
    ),
    Profile(
        "ui_impostor",
        "data-platform: ports 9001 and 3000 answer 200 with nginx's welcome page, not the "
        "MinIO console and Nimtable.",
        {"data-platform-chi": {"web_uis": FAILED}},
        storage=frozenset({"ui_impostor"}),
    ),
    Profile(
        "dag_rerun",
        "data-platform, legitimately varied: each DAG's first run failed and was triggered "
        "again (green), and a later run failed too: each has a successful run.",
        storage=frozenset({"dag_rerun"}),
    ),
    Profile(
        "training_failed",
        "data-platform: redpanda_event_aggregation ran green, moderation_training's only run "
        "failed: no moderation.training_data in the warehouse.",
        {"data-platform-chi": {"airflow_dag_runs": FAILED, "lakehouse_tables": FAILED}},
        storage=frozenset({"training_failed"}),
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
