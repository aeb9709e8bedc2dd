"""Training platform with MLflow: the checks follow the lab.

Bring up MinIO, Postgres and MLflow with docker compose (MLflow on port 8000, artifacts in the
bucket mlflow-artifacts), train GourmetGram's model from the Jupyter container with MLflow
tracking (experiment food11-classifier), register a logged model as food11 in MLflow's UI, then
the best run's model as food11-staging through the API.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from graders.answers import dig
from graders.checks import Lab, check
from graders.errors import Failure, GraderFault
from graders.labkit.apis import mlflow_api
from graders.labkit.chameleon import lease_check, server_check
from graders.labkit.containers import require_containers
from graders.labkit.instances import course_key_check, login_check
from graders.labkit.objectstores import bucket_objects

lease = lease_check(title="Lease mlflow_<netid> is ACTIVE")

server_active = server_check("Server node-mlflow-<user> is ACTIVE with a floating IP")


ssh_login = login_check(after=server_active)


@check(title="minio, postgres, mlflow and jupyter are running", depends=[ssh_login], vantage="host")
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
    title="Experiment food11-classifier has a training run: test metrics, validation history, "
    "GPU system metrics and gpu-info.txt",
    depends=[mlflow_up],
)
def experiment_runs(lab: Lab) -> None:
    """One FINISHED run of the experiment holds, all of its own, what the lab's train.py logs:
    the test metrics, a validation metric logged at 2 epochs or more (metrics/get-history),
    GPU system metrics (`log_system_metrics=True`: `system/gpu_0_...`) and `gpu-info.txt`
    among its artifacts. A run that only logged test metrics is no training run."""
    name, key = lab.config["experiment"], lab.config["history_metric"]
    exp_id = _experiment_id(lab)
    runs = _runs(lab, exp_id)
    finished = [r for r in runs if _info(r).get("status") == "FINISHED"]
    lab.measure("runs", len(runs))
    lab.measure("finished_runs", len(finished))
    want = set(lab.config["run_metrics"])
    tested = [r for r in finished if want <= _metrics(r).keys()]
    lab.require(
        tested,
        f"experiment {name}: {len(runs)} runs, {len(finished)} finished, none "
        f"with {', '.join(sorted(want))}",
        "Log the final test metrics with mlflow.log_metrics before the run ends.",
    )
    lab.measure(
        "best_test_accuracy", max(_number(_metrics(r).get("test_accuracy")) for r in tested)
    )

    def promise(run: dict[str, Any]) -> tuple[bool, bool, float]:
        metrics = _metrics(run)
        return bool(_gpu_keys(metrics)), key in metrics, _number(metrics.get("test_accuracy"))

    shortfalls = []
    for run in sorted(tested, key=promise, reverse=True)[:MAX_RUNS_EXAMINED]:
        run_id = str(_info(run).get("run_id", ""))
        lacks, steps = _training_lacks(lab, run, key)
        if lacks:
            shortfalls.append(f"run {run_id[:12]}: {lacks}")
            continue
        lab.measure("run_id", run_id)
        lab.measure("history_steps", steps)
        lab.measure("gpu_metrics", len(_gpu_keys(_metrics(run))))
        lab.measure("params_logged", len((run.get("data") or {}).get("params") or []))
        lab.note(
            f"run {run_id} of {name}: {', '.join(sorted(want))}, {key} at {steps} steps, GPU "
            f"system metrics and {lab.config['s3']['artifact']}",
            {"run_id": run_id, "metrics": sorted(_metrics(run))},
        )
        return
    raise Failure(
        f"experiment {name}: {len(tested)} finished runs with test metrics, none with the rest "
        f"of a training run's record ({' | '.join(shortfalls)})"[:900],
        "Run train.py (mlflow branch) to the end: it starts its run with "
        "log_system_metrics=True, logs gpu-info.txt, and the metrics of every epoch.",
    )


@check(title="Model food11 is registered (from the UI)", depends=[mlflow_up])
def ui_model(lab: Lab) -> None:
    """The model registry has food11, which the lab registers from a logged model in MLflow's
    UI, with at least one version."""
    name = lab.config["ui_model"]
    versions = _versions(lab, name)
    lab.measure("versions", len(versions))
    lab.require(
        versions,
        f"no version of registered model {name}",
        "From a logged model's page in MLflow's UI: Register model, Create new model, "
        f"named {name}.",
    )


@check(title="Model food11-staging is registered from a training run", depends=[mlflow_up])
def registered_model(lab: Lab) -> None:
    """The model registry has food11-staging with a version registered from a run of the
    experiment that trained (a validation metric logged at 2 epochs or more): the API notebook
    registers the best run's model, and its version names that run."""
    name, experiment, key = (
        lab.config["registered_model"],
        lab.config["experiment"],
        lab.config["history_metric"],
    )
    versions = _versions(lab, name)
    lab.measure("versions", len(versions))
    lab.require(
        versions,
        f"no version of registered model {name}",
        "Register the best run's model: mlflow.register_model(..., name=...).",
    )
    exp_id = _experiment_id(lab)
    found = []
    for version in sorted(versions, key=lambda v: _number(v.get("version")), reverse=True)[
        :MAX_RUNS_EXAMINED
    ]:
        run_id = str(version.get("run_id") or "")
        if not run_id:
            found.append(f"version {version.get('version')}: no run")
            continue
        try:
            doc = mlflow_api(lab, "GET", f"runs/get?run_id={quote(run_id)}", f"run {run_id}")
        except Failure as exc:  # a version of a deleted run, a run of another server
            found.append(f"version {version.get('version')}: {exc.message[:120]}")
            continue
        run = doc.get("run")
        if str(_info(run if isinstance(run, dict) else {}).get("experiment_id")) != exp_id:
            found.append(f"version {version.get('version')}: run {run_id[:12]} not in {experiment}")
            continue
        steps = _history_steps(lab, run_id, key)
        if steps < 2:
            found.append(
                f"version {version.get('version')}: run {run_id[:12]} logged {key} at {steps} steps"
            )
            continue
        lab.measure("version", str(version.get("version")))
        lab.measure("run_id", run_id)
        lab.note(f"{name} version {version.get('version')} from run {run_id} of {experiment}")
        return
    raise Failure(
        f"{name} has {len(versions)} versions, none registered from a training run of "
        f"{experiment} ({'; '.join(found)})"[:900],
        'Register the best run\'s model: model_uri=f"runs:/{best_run_id}/model".',
    )


@check(title="The bucket mlflow-artifacts holds the runs' artifacts", depends=[server_active])
def artifact_bucket(lab: Lab) -> None:
    """MinIO's S3 API on 9000 has the bucket with artifacts, among them a run's gpu-info.txt
    where MLflow's artifact proxy writes it (`<experiment id>/<run id>/artifacts/`). The
    listing is read whole (every page) and kept as this check's record."""
    cfg = lab.config["s3"]
    objects = bucket_objects(lab)
    lab.measure("objects", len(objects))
    lab.note(
        f"bucket {cfg['bucket']}: {len(objects)} objects in {objects.pages} pages"
        + (f", stopped: {objects.stopped}" if objects.stopped else ""),
        "\n".join(f"{o['size']}\t{o['key']}" for o in objects),
    )
    lab.require(objects, f"bucket {cfg['bucket']} is empty")
    pattern = re.compile(r"[^/]+/[0-9a-f]{32}/artifacts/" + re.escape(cfg["artifact"]))
    found = [o["key"] for o in objects if pattern.fullmatch(o["key"])]
    lab.measure("runs_with_artifact", len(found))
    if not found and objects.at_limit:
        raise GraderFault(
            f"bucket {cfg['bucket']}: no run's {cfg['artifact']} among the first "
            f"{len(objects)} objects, and the grader reads no further ({objects.stopped})"
        )
    lab.require(
        found,
        f"no run's {cfg['artifact']} (<experiment>/<run id>/artifacts/{cfg['artifact']}) among "
        f"the {len(objects)} objects"
        + (f" the grader read ({objects.stopped})" if objects.stopped else ""),
        "Log it from the run with mlflow.log_text(nvidia-smi output, 'gpu-info.txt').",
    )


# --- helpers ----------------------------------------------------------------------------------
MAX_RUN_PAGES, RUN_PAGE = 20, 50  # runs/search: up to 1,000 runs, 50 an answer
MAX_RUNS_EXAMINED = 10  # runs (versions) whose history and artifacts are fetched
GPU_METRIC = re.compile(r"system/(?:[^/]+/)?gpu_\d+_")  # MLflow's GPU monitors (NVIDIA, ROCm)


def _base(lab: Lab) -> str:
    return f"http://{lab.address}:{lab.port('mlflow')}"


def _experiment_id(lab: Lab) -> str:
    name = lab.config["experiment"]
    doc = mlflow_api(
        lab, "GET", f"experiments/get-by-name?experiment_name={quote(name)}", f"experiment {name}"
    )
    return str(dig(doc, "experiment", "experiment_id", what=f"MLflow's experiment {name}"))


def _runs(lab: Lab, exp_id: str) -> list[dict[str, Any]]:
    """The experiment's runs, page after page (MAX_RUN_PAGES pages at most)."""
    runs: list[dict[str, Any]] = []
    token = ""
    for _ in range(MAX_RUN_PAGES):
        body: dict[str, Any] = {"experiment_ids": [exp_id], "max_results": RUN_PAGE}
        if token:
            body["page_token"] = token
        doc = mlflow_api(lab, "POST", "runs/search", "runs", body)
        runs += [r for r in doc.get("runs") or [] if isinstance(r, dict)]
        token = str(doc.get("next_page_token") or "")
        if not token:
            break
    return runs


def _versions(lab: Lab, name: str) -> list[dict[str, Any]]:
    doc = mlflow_api(
        lab, "GET", "model-versions/search?filter=" + quote(f"name='{name}'"), f"versions of {name}"
    )
    return [v for v in doc.get("model_versions") or [] if isinstance(v, dict)]


def _training_lacks(lab: Lab, run: dict[str, Any], key: str) -> tuple[str, int]:
    """What a run lacks of train.py's record ("" when nothing) and how many steps it logged
    `key` at: GPU system metrics, a history of `key` over 2 steps or more, gpu-info.txt among
    its artifacts (each fetched only while nothing else lacks)."""
    run_id = str(_info(run).get("run_id", ""))
    if not _gpu_keys(_metrics(run)):
        return "no GPU system metrics (system/gpu_...): start it with log_system_metrics", 0
    steps = _history_steps(lab, run_id, key) if key in _metrics(run) else 0
    if steps < 2:
        return f"{key} logged at {steps} steps, not once an epoch", steps
    artifact = lab.config["s3"]["artifact"]
    files = (
        mlflow_api(
            lab, "GET", f"artifacts/list?run_id={quote(run_id)}", f"artifacts of run {run_id}"
        ).get("files")
        or []
    )
    if not any(isinstance(f, dict) and f.get("path") == artifact for f in files):
        return f"no {artifact} among its {len(files)} artifacts", steps
    return "", steps


def _history_steps(lab: Lab, run_id: str, key: str) -> int:
    """How many distinct steps the run logged `key` at (metrics/get-history)."""
    doc = mlflow_api(
        lab,
        "GET",
        f"metrics/get-history?run_id={quote(run_id)}&metric_key={quote(key)}&max_results=1000",
        f"history of {key} in run {run_id}",
    )
    return len({m.get("step") for m in doc.get("metrics") or [] if isinstance(m, dict)})


def _info(run: dict[str, Any]) -> dict[str, Any]:
    info = run.get("info")
    return info if isinstance(info, dict) else {}


def _gpu_keys(metrics: dict[str, Any]) -> list[str]:
    return [k for k in metrics if isinstance(k, str) and GPU_METRIC.match(k)]


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _metrics(run: dict[str, Any]) -> dict[str, Any]:
    return {
        m["key"]: m.get("value")
        for m in (run.get("data") or {}).get("metrics") or []
        if isinstance(m, dict) and "key" in m
    }


course_key = course_key_check(after=server_active)
