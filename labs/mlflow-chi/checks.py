"""Training platform with MLflow: the checks follow the lab.

Bring up MinIO, Postgres and MLflow with docker compose (MLflow on port 8000, artifacts in the
bucket mlflow-artifacts), train GourmetGram's model from the Jupyter container with MLflow
tracking (experiment food11-classifier), then register a model as food11-staging.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from graders.answers import dig
from graders.checks import Lab, check
from graders.labkit.apis import mlflow_api
from graders.labkit.chameleon import lease_check, server_check
from graders.labkit.containers import require_containers
from graders.labkit.instances import course_key_check, login_check
from graders.labkit.objectstores import bucket_objects

lease = lease_check(title="Lease mlflow_<netid> is ACTIVE")

server_active = server_check("Server node-mlflow-<user> is ACTIVE with a floating IP")


ssh_login = login_check(after=server_active)


@check(
    title="minio, postgres, mlflow and jupyter are running", depends=[ssh_login], vantage="host"
)
def containers(lab: Lab) -> None:
    """The tracking service's containers and the Jupyter container are up."""
    require_containers(lab, lab.config["containers"])


@check(title="MLflow answers on port 8000", depends=[server_active])
def mlflow_up(lab: Lab) -> None:
    """`GET /health` of the tracking server answers OK."""
    url = f"{_base(lab)}/health"
    resp = lab.http.get(url)
    lab.require(
        resp.status == 200 and resp.text.strip() == "OK",
        f"GET {url} answered HTTP {resp.status} {resp.text.strip()[:60]!r}, not OK",
    )


@check(
    title="Experiment food11-classifier has a finished run with test metrics", depends=[mlflow_up]
)
def experiment_runs(lab: Lab) -> None:
    """The experiment exists and a FINISHED run logged the lab's test metrics and params."""
    name = lab.config["experiment"]
    doc = mlflow_api(
        lab, "GET", f"experiments/get-by-name?experiment_name={quote(name)}", f"experiment {name}"
    )
    exp_id = dig(doc, "experiment", "experiment_id", what=f"MLflow's experiment {name}")
    runs = mlflow_api(
        lab, "POST", "runs/search", "runs", {"experiment_ids": [exp_id], "max_results": 200}
    ).get("runs", [])
    finished = [r for r in runs if r.get("info", {}).get("status") == "FINISHED"]
    lab.measure("runs", len(runs))
    lab.measure("finished_runs", len(finished))
    want = set(lab.config["run_metrics"])
    good = [r for r in finished if want <= _metrics(r).keys()]
    lab.require(
        good,
        f"experiment {name}: {len(runs)} runs, {len(finished)} finished, none "
        f"with {', '.join(sorted(want))}",
        "Log the final test metrics with mlflow.log_metrics before the run ends.",
    )
    best = max(_metrics(r).get("test_accuracy", 0) for r in good)
    lab.measure("best_test_accuracy", best)
    lab.measure("params_logged", len((good[0].get("data") or {}).get("params") or []))


@check(title="Model food11-staging is registered", depends=[mlflow_up])
def registered_model(lab: Lab) -> None:
    """The model registry has food11-staging with at least one version."""
    name = lab.config["registered_model"]
    doc = mlflow_api(
        lab, "GET", "model-versions/search?filter=" + quote(f"name='{name}'"), f"versions of {name}"
    )
    versions = doc.get("model_versions") or []
    lab.measure("versions", len(versions))
    lab.require(
        versions,
        f"no version of registered model {name}",
        "Register the best run's model: mlflow.register_model(..., name=...).",
    )


@check(title="The bucket mlflow-artifacts holds the runs' artifacts", depends=[server_active])
def artifact_bucket(lab: Lab) -> None:
    """MinIO's S3 API on 9000 has the bucket with artifacts, gpu-info.txt among them."""
    cfg = lab.config["s3"]
    objects = bucket_objects(lab)
    lab.measure("objects", len(objects))
    lab.require(objects, f"bucket {cfg['bucket']} is empty")
    lab.require(
        any(o["key"].endswith("/" + cfg["artifact"]) for o in objects),
        f"no {cfg['artifact']} among the {len(objects)} artifacts",
        "Log it with mlflow.log_text(nvidia-smi output, 'gpu-info.txt').",
    )


# --- helpers ----------------------------------------------------------------------------------
def _base(lab: Lab) -> str:
    return f"http://{lab.address}:{lab.port('mlflow')}"


def _metrics(run: dict[str, Any]) -> dict[str, Any]:
    return {
        m["key"]: m.get("value")
        for m in (run.get("data") or {}).get("metrics") or []
        if isinstance(m, dict) and "key" in m
    }


course_key = course_key_check(after=server_active)
