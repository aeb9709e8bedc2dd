"""The mlflow-chi tracking server (port 8000): the real MLflow server, one process per host.

What runs is what `mlflow server --backend-store-uri ... --artifacts-destination
s3://mlflow-artifacts/ --serve-artifacts --host ... --port 8000` runs (the lab's compose file,
`MLFLOW_SERVER_ALLOWED_HOSTS="*"`): MLflow's FastAPI app (its Flask REST handlers behind it) under
uvicorn, one worker, with the same environment the `mlflow server` command hands its worker.
Differences, all below the HTTP surface: SQLite instead of PostgreSQL as the backend store, and
instead of one `mlflow server` command per host (4 s of CPU and ~500 MB: its launcher process
stays resident next to the uvicorn worker), one supervisor imports MLflow once, migrates one
database, and forks a worker per host with its own copy of that database (zygote.py). MLflow's
job runner (huey consumers, seven processes) is off: nothing the lab does uses it. Uvicorn's
lifespan is off: MLflow's only lifespan work is cleaning up assistant sandbox containers (it
would call the `docker` found on PATH).

Artifacts go where the lab's go: through the server's artifact proxy into the host's S3 store
(s3sim, `MLFLOW_S3_ENDPOINT_URL=http://<host>:9000`, the lab's MinIO credentials).

Once the classroom has created the buckets it sends `seed`: the supervisor then does what a
student's notebook did, through `MlflowClient` against each host's own server: the experiment,
the runs with their params, per-epoch metrics, system metrics, `gpu-info.txt`, logged models, and
registered models. The seed of a host is plain data (`SeedRun` and friends, built by training.py).

The supervisor is `main()` here, run by zygote.Zygote; the classroom uses `MlflowFleet`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .s3sim import ACCESS_KEY, SECRET_KEY
from .s3sim import PORT as S3_PORT
from .zygote import Zygote, become_subreaper, emit, listen, serve_children, supervise

PORT = 8000
EXPERIMENT = "food11-classifier"
Json = dict[str, Any]

# The environment every MLflow process here runs with: the compose file's, plus what keeps a
# simulator quiet and local (no telemetry, no job runner).
BASE_ENV = {
    "MLFLOW_SERVER_ALLOWED_HOSTS": "*",
    "MLFLOW_LOGGING_LEVEL": "ERROR",
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_DEFAULT_REGION": "us-east-1",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    "GIT_PYTHON_REFRESH": "quiet",
}


class MlflowFleet:
    """Client side: one MLflow server per host (address -> seed data), on port 8000."""

    def __init__(self, seeds: dict[str, Json], workdir: Path) -> None:
        self.seeds = dict(seeds)
        self.seeded: dict[str, Json] = {}
        self.migrate_seconds = 0.0
        self._zygote = Zygote(
            "labsim.mlflowsim",
            {"hosts": self.seeds, "port": PORT, "workdir": str(workdir)},
            workdir,
        )

    def start(self) -> None:
        if self.seeds:
            self._zygote.start(BASE_ENV)

    def wait_forked(self, timeout: float = 60.0) -> None:
        if self.seeds:
            answer = self._zygote.read(timeout)
            self.migrate_seconds = answer.get("migrate_seconds", 0.0)

    def seed(self, timeout: float = 60.0) -> dict[str, Json]:
        """Populate every server (their S3 buckets must exist); address -> what was made."""
        if self.seeds:
            self._zygote.send("seed")
            answer = self._zygote.read(timeout)
            if answer.get("errors"):
                raise RuntimeError(f"seeding MLflow failed: {answer['errors']}")
            self.seeded = answer["seeded"]
        return self.seeded

    def pids(self) -> list[int]:
        return self._zygote.pids()

    def logs(self) -> str:
        return self._zygote.logs()

    def stop(self) -> None:
        self._zygote.stop()


# ---- supervisor ------------------------------------------------------------------------------
def _prepare_template(workdir: Path) -> Path:
    """A migrated, empty MLflow database to copy for each host (migrating takes ~1.5 s)."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.utils.server_cli_utils import resolve_default_artifact_root

    template = workdir / "template.db"
    uri = f"sqlite:///{template}"
    root = resolve_default_artifact_root(True, None, uri)
    tracking = SqlAlchemyStore(uri, root)
    registry = RegistryStore(uri)
    tracking.engine.dispose()
    registry.engine.dispose()
    return template


def _serve(address: str, db: Path) -> Any:
    def serve(sock: Any) -> None:
        import uvicorn
        from mlflow.server import (
            ARTIFACT_ROOT_ENV_VAR,
            ARTIFACTS_DESTINATION_ENV_VAR,
            BACKEND_STORE_URI_ENV_VAR,
            SERVE_ARTIFACTS_ENV_VAR,
        )
        from mlflow.server.fastapi_app import app
        from mlflow.utils.server_cli_utils import resolve_default_artifact_root

        uri = f"sqlite:///{db}"
        os.environ.update(
            {
                BACKEND_STORE_URI_ENV_VAR: uri,
                ARTIFACT_ROOT_ENV_VAR: resolve_default_artifact_root(True, None, uri),
                SERVE_ARTIFACTS_ENV_VAR: "true",
                ARTIFACTS_DESTINATION_ENV_VAR: "s3://mlflow-artifacts/",
                "MLFLOW_S3_ENDPOINT_URL": f"http://{address}:{S3_PORT}",
            }
        )
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_keep_alive=5,
        )
        uvicorn.Server(config).run(sockets=[sock])

    return serve


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    workdir = Path(config["workdir"])
    become_subreaper()
    from mlflow.server import SERVE_ARTIFACTS_ENV_VAR

    # What `mlflow server` puts in its worker's environment before the app is imported (the
    # app reads some of it at import: security middleware, serve-artifacts routes).
    os.environ[SERVE_ARTIFACTS_ENV_VAR] = "true"
    import uvicorn  # noqa: F401  # the app checks for it at import to pick its middleware
    from mlflow.server.fastapi_app import app  # noqa: F401  # imported once, before the forks

    began = time.monotonic()
    template = _prepare_template(workdir)
    migrated = time.monotonic() - began
    servers = []
    for address in config["hosts"]:
        db = workdir / f"mlflow-{address}.db"
        shutil.copyfile(template, db)
        servers.append((address, listen(address, config["port"]), _serve(address, db)))
    emit({"pids": serve_children(servers), "migrate_seconds": round(migrated, 3)})

    def on_command(line: str) -> None:
        if line.strip() == "seed":
            emit(seed_all(config["hosts"], config["port"]))

    supervise(on_command)


# ---- seeding: what the student's notebook did ------------------------------------------------
def seed_all(hosts: dict[str, Json], port: int) -> Json:
    seeded, errors = {}, {}

    def one(address: str) -> None:
        try:
            seeded[address] = seed_host(f"http://{address}:{port}", hosts[address])
        except Exception as exc:  # noqa: BLE001  # reported to the classroom
            errors[address] = repr(exc)

    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, hosts))
    return {"seeded": seeded, "errors": errors, "seconds": round(time.monotonic() - began, 3)}


def _wait_up(url: str, timeout: float = 30.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url + "/health", timeout=2).text == "OK":
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"MLflow at {url} not up after {timeout} s")
        time.sleep(0.05)


def seed_host(url: str, seed: Json) -> Json:
    """Make, through the server at `url`, what `seed` describes; returns ids for the tests."""
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric, Param, RunTag

    _wait_up(url)
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment_id = client.create_experiment(seed["experiment"])
    runs, models = [], {}
    for spec in seed["runs"]:
        run = client.create_run(
            experiment_id,
            start_time=spec["start_ms"],
            tags=spec["tags"],
            run_name=spec["name"],
        )
        run_id = run.info.run_id
        if spec.get("gpu_info") is not None:
            client.log_text(run_id, spec["gpu_info"], "gpu-info.txt")
        metrics = [Metric(m[0], m[1], m[2], m[3]) for m in spec["metrics"]]
        params = [Param(k, str(v)) for k, v in spec["params"].items()]
        for n in range(0, max(len(metrics), 1), 1000):
            client.log_batch(
                run_id,
                metrics=metrics[n : n + 1000],
                params=params if n == 0 else [],
                tags=[RunTag(k, v) for k, v in spec.get("late_tags", {}).items()] if n == 0 else [],
                synchronous=True,
            )
        for step in spec.get("model_steps", []):
            model = client.create_logged_model(
                experiment_id,
                name="model",
                source_run_id=run_id,
                model_type=None,
                tags={"mlflow.user": spec["tags"].get("mlflow.user", "jovyan")},
            )
            with tempfile.TemporaryDirectory() as tmp:
                _write_pytorch_model(Path(tmp), model.model_id, run_id, spec["end_ms"])
                client.log_model_artifacts(model.model_id, tmp)
            client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
            client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step)])
            models.setdefault(spec["name"], []).append(model.model_id)
        client.set_terminated(run_id, spec["status"], end_time=spec["end_ms"])
        runs.append(run_id)
    registered = []
    for reg in seed.get("registered", []):
        run_name = seed["runs"][reg["run"]]["name"]
        run_id = runs[reg["run"]]
        try:
            client.get_registered_model(reg["name"])
        except Exception:  # noqa: BLE001  # RESOURCE_DOES_NOT_EXIST: create it
            client.create_registered_model(reg["name"])
        if reg.get("from_run"):  # registered from runs:/<id>/model (no logged model here)
            version = client.create_model_version(
                reg["name"], source=f"runs:/{run_id}/model", run_id=run_id
            )
        else:
            model_id = models[run_name][-1]
            version = client.create_model_version(
                reg["name"], source=f"models:/{model_id}", run_id=run_id, model_id=model_id
            )
        for alias in reg.get("aliases", ()):  # an alias moves to the newest version given it
            client.set_registered_model_alias(reg["name"], alias, version.version)
        registered.append({"name": reg["name"], "version": version.version})
    return {
        "experiment_id": experiment_id,
        "runs": runs,
        "models": models,
        "registered": registered,
    }


def _write_pytorch_model(path: Path, model_id: str, run_id: str, when_ms: int) -> None:
    """The files `mlflow.pytorch.log_model(model, name="model")` writes (MLflow 3.9, torch 2.6),
    with a small stand-in for the pickled MobileNetV2 weights."""
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when_ms / 1000))
    weights = b"PK\x03\x04" + bytes(range(256)) * 32
    (path / "data").mkdir()
    (path / "data" / "model.pth").write_bytes(weights)
    (path / "data" / "pickle_module_info.txt").write_text("mlflow.pytorch.pickle_module")
    (path / "MLmodel").write_text(
        f"artifact_path: mlflow-artifacts:/models/{model_id}/artifacts\n"
        "flavors:\n"
        "  python_function:\n"
        "    data: data\n"
        "    env:\n"
        "      conda: conda.yaml\n"
        "      virtualenv: python_env.yaml\n"
        "    loader_module: mlflow.pytorch\n"
        "    pickle_module_name: mlflow.pytorch.pickle_module\n"
        "    python_version: 3.12.9\n"
        "  pytorch:\n"
        "    code: null\n"
        "    model_data: data\n"
        "    pytorch_version: 2.6.0+cu124\n"
        "is_signature_from_type_hint: false\n"
        "mlflow_version: 3.9.0\n"
        f"model_id: {model_id}\n"
        f"model_size_bytes: {len(weights) + 29}\n"
        f"model_uuid: {model_id[2:]}\n"
        "prompts: null\n"
        f"run_id: {run_id}\n"
        "type_hint_from_example: false\n"
        f"utc_time_created: '{created}.000000'\n"
    )
    (path / "conda.yaml").write_text(
        "channels:\n- conda-forge\ndependencies:\n- python=3.12.9\n- pip<=24.3.1\n- pip:\n"
        "  - mlflow==3.9.0\n  - torch==2.6.0\n  - torchvision==0.21.0\nname: mlflow-env\n"
    )
    (path / "python_env.yaml").write_text(
        "python: 3.12.9\nbuild_dependencies:\n- pip==24.3.1\n- setuptools==75.8.0\n"
        "- wheel==0.45.1\ndependencies:\n- -r requirements.txt\n"
    )
    (path / "requirements.txt").write_text("mlflow==3.9.0\ntorch==2.6.0\ntorchvision==0.21.0\n")
