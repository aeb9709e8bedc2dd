"""The evaluation labs in the classroom: eval-offline-chi and eval-loop-chi (KVM@TACC VMs).

* eval-offline-chi (`node-eval-offline-{USER}`): the `jupyter` container with
  ~/eval-offline-chi/workspace mounted at /home/jovyan/work, and the student's pytest suite in
  workspace/tests/: our own stand-ins for the lab's test files (evalsuite/: its file, test and
  fixture names), run on the simulated course model (fakeml/). `docker exec jupyter python -m
  pytest ...` really runs them (engine.py), so the grader reads a JUnit report that pytest
  itself wrote.
* eval-loop-chi (`node-eval-loop-{USER}`): MinIO's S3 API on 9000 (moto's real S3 server,
  s3sim.py) whose bucket `production` holds the images GourmetGram saved, tagged as its
  `production` branch tags them; Label Studio on 8080 (labelstudio.py) and Airflow's webserver
  on 8081 (airflow.py), stand-ins in the real tools' shapes; GourmetGram's Flask app on 5000
  (gourmetgram.py) and its fastapi_pt model server on 8000 (modelserver.py); the buckets the
  Airflow DAGs fill. No SSH is needed for this lab.

A profile's `evaluation` knobs (profiles.EvaluationKnob), each one change:
* offline_clone_only: the clone, jupyter and pytest only: no data, notebook unrun, no own run
* offline_no_data: the food11 volume empty (the accuracy tests' fixture errors)
* offline_tampered: the Dessert floor edited from 60 to 0 in test_food11_test_cases.py
* offline_terminal_run: the suite run from a terminal, not the notebook's cell (a variation)
* offline_template_unlucky: the template test's random draw misread, so it fails (a variation)
* production_empty: bucket production exists, empty
* production_untagged: images saved without tags (the app before the tagging step)
* no_feedback: GourmetGram left on its production branch: no flagged or corrected_class tag
* no_ls_project: Label Studio lacks "Food11 Low Confidence"
* ls_empty: the four projects exist with no task or annotation (one curl loop)
* dag_later_failed: pipeline_2 succeeded, then its newest (scheduled) run failed (a variation)
* dag_never_succeeded: every run of pipeline_2 failed
* pipelines_unrun: the pipeline DAGs never ran: no runs, no pipeline buckets
* api_garbage: Label Studio answers non-JSON; Airflow a 3 MiB DAG list
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .airflow import AirflowServer
from .engine import DockerEngine
from .family import BuildContext, Builder, Family, StartContext
from .gourmetgram import CLASSES, GourmetGramServer
from .hosts import SimHost
from .labelstudio import LabelStudioServer, project
from .modelserver import HostModel, ModelServerFleet
from .profiles import EvaluationKnob
from .s3sim import S3Fleet
from .s3sim import client as s3_client
from .serve import TrackedHTTPServer
from .shared import bind_mount, jupyter_container, volume_mount

OFFLINE, LOOP = "eval-offline-chi", "eval-loop-chi"
WORKSPACE = "eval-offline-chi/workspace"
TOKEN = "ab9927067c51ff279d340d7321e4890dc2841c4a"
S3_PORT, LS_PORT, AIRFLOW_PORT, FLASK_PORT, FASTAPI_PORT = 9000, 8080, 8081, 5000, 8000
Json = dict[str, Any]


# ---- eval-offline-chi: the lab's suite, the course model, the data, the notebook ---------------
SUITE = Path(__file__).with_name("evalsuite")  # stand-ins for the lab's tests (its README.md)
FAKEML = Path(__file__).with_name("fakeml")  # torch/torchvision stand-ins (fakeml/README.md)
TEST_FILES = (
    "conftest.py",
    "test_food11_accuracy.py",
    "test_food11_template.py",
    "test_food11_test_cases.py",
)
LAB_TESTS = {
    "test_overall_accuracy": "test_food11_accuracy.py",
    "test_per_class_accuracy": "test_food11_accuracy.py",
    "test_template_permutations": "test_food11_template.py",
    "test_cake_looks_like_accuracy": "test_food11_test_cases.py",
    "test_indian_dessert_accuracy": "test_food11_test_cases.py",
}
EVAL_PER_CLASS = 6  # images per class in the simulated Food-11 evaluation set
DESSERT = 2


def _image(cls: int, size: int = 16, fmt: str = "JPEG", mode: str = "RGB") -> bytes:
    """A solid image the simulated course model (fakeml) labels `cls`: red = 11 + 23 * cls."""
    from PIL import Image

    colour = (11 + 23 * cls, 90, 160) + ((255,) if mode == "RGBA" else ())
    out = io.BytesIO()
    Image.new(mode, (size, size), colour).save(out, fmt)
    return out.getvalue()


def offline_workspace(knobs: frozenset[EvaluationKnob]) -> dict[str, str | bytes]:
    """~/eval-offline-chi/workspace as the clone left it, then the student's work (home-relative
    path -> content): the lab's own test files, the model, the image folders, the notebook and,
    where the student ran the suite, pytest's cache."""
    ws = WORKSPACE
    files: dict[str, str | bytes] = {}
    for name in TEST_FILES:
        text = (SUITE / name).read_text()
        if name == "test_food11_test_cases.py" and "offline_tampered" in knobs:
            assert "FLOOR = 60" in text
            text = text.replace("FLOOR = 60", "FLOOR = 0")  # "now it passes"
        files[f"{ws}/tests/{name}"] = text
    files[f"{ws}/models/food11.pth"] = b"PK\x03\x04" + hashlib.sha256(b"food11").digest() * 64
    # The course model on the lab's image folders: 2 of 5 cake-looks-like images and 4 of 10
    # Indian desserts predicted Dessert (the manual: "much lower accuracy" on both).
    for n, name in enumerate(("burger", "butter", "egg", "fish", "watermelon")):
        files[f"{ws}/cake_looks_like/{name}.jpg"] = _image(DESSERT if n < 2 else 1 + n)
    for n in range(10):
        files[f"{ws}/indian_dessert/dessert_{n}.jpg"] = _image(DESSERT if n < 4 else 1)
    unlucky = "offline_template_unlucky" in knobs  # its random draw: a food the model misreads
    for food in (5, 9, 10):
        for n in range(1, 4):
            cls = 8 if unlucky and food == 10 else food
            files[f"{ws}/templates/food/{food:02d}/{n:03d}.png"] = _image(cls, 32, "PNG", "RGBA")
    for n in range(1, 4):
        files[f"{ws}/templates/background/{n:03d}.jpg"] = _image(0, 64)
    for name in ("fork", "plastic_fork", "spoon"):
        files[f"{ws}/templates/extras/{name}.png"] = _image(4, 16, "PNG", "RGBA")
    worked = "offline_clone_only" not in knobs
    in_notebook = worked and "offline_terminal_run" not in knobs
    files[f"{ws}/4_eval_offline.ipynb"] = notebook(executed=worked, pytest_cell=in_notebook)
    if worked:  # `pytest --verbose --tb=no tests/`, then the manual's `--lf`
        ids = [f"tests/{f}::{t}" for t, f in LAB_TESTS.items()]
        failed = [i for i in ids if i.rsplit("::", 1)[1] in _FAILING]
        files[f"{ws}/.pytest_cache/v/cache/nodeids"] = json.dumps(ids, indent=2)
        files[f"{ws}/.pytest_cache/v/cache/lastfailed"] = json.dumps(
            dict.fromkeys(failed, True), indent=2
        )
    return files


def suite_sha256() -> dict[str, str]:
    """file name -> sha256 of the simulator's stand-in for that test file of the lab, which
    lab.yaml's `test_files` (the real files' hashes) does not list: what a test that grades
    the simulated class adds to it."""
    return {name: hashlib.sha256((SUITE / name).read_bytes()).hexdigest() for name in TEST_FILES}


_FAILING = (
    "test_per_class_accuracy",
    "test_cake_looks_like_accuracy",
    "test_indian_dessert_accuracy",
)


def evaluation_set(knobs: frozenset[EvaluationKnob]) -> dict[str, bytes]:
    """The food11 volume's Food-11/evaluation (volume-relative path -> bytes): class_NN
    folders; the course model right on all but two Dairy product images (called Dessert):
    overall above 85%, Dairy product below the 75% per-class floor."""
    if "offline_no_data" in knobs or "offline_clone_only" in knobs:
        return {}
    data = {}
    for cls in range(len(CLASSES)):
        for n in range(EVAL_PER_CLASS):
            predicted = DESSERT if cls == 1 and n < 2 else cls
            data[f"Food-11/evaluation/class_{cls:02d}/{cls}_{n}.jpg"] = _image(predicted)
    return data


def notebook(executed: bool, pytest_cell: bool) -> str:
    """A notebook in Jupyter's nbformat 4 shape: the lab's steps as code cells (our own short
    stand-ins for its code), executed and saved with outputs, or as the clone has it."""
    steps = [
        ('model_path = "models/food11.pth"\nmodel = torch.load(model_path)', None),
        ("overall_accuracy = (all_predictions == all_labels).mean() * 100", "Overall: 97.0%"),
        ("plt.show()  # confusion matrix", "image"),
        ("plt.show()  # GradCAM", "image"),
        ("plt.show()  # templates", "image"),
        ("!pytest --verbose --tb=no tests/", "pytest"),
    ]
    cells: list[Json] = []
    count = 0
    for source, kind in steps:
        run = executed and (kind != "pytest" or pytest_cell)
        outputs: list[Json] = []
        if run:
            count += 1
            if kind == "image":
                outputs.append(
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"image/png": "iVBORw0KGgo=", "text/plain": ["<Figure>"]},
                    }
                )
            elif kind == "pytest":
                text = [
                    f"tests/{f}::{t} {'FAILED' if t in _FAILING else 'PASSED'}\n"
                    for t, f in LAB_TESTS.items()
                ]
                outputs.append({"output_type": "stream", "name": "stdout", "text": text})
            elif kind:
                outputs.append({"output_type": "stream", "name": "stdout", "text": [kind]})
        cells.append(
            {
                "cell_type": "code",
                "execution_count": count if run else None,
                "metadata": {},
                "outputs": outputs,
                "source": source.splitlines(keepends=True),
            }
        )
    return json.dumps(
        {
            "cells": cells,
            "metadata": {"kernelspec": {"name": "python3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


# ---- eval-loop-chi: what the services hold ---------------------------------------------------
@dataclass
class LoopPlan:
    address: str
    network: str
    objects: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    projects: list[Json] = field(default_factory=list)
    dags: list[Json] = field(default_factory=list)
    runs: dict[str, list[Json]] = field(default_factory=dict)
    pipeline: dict[str, list[str]] = field(default_factory=dict)  # bucket -> keys copied there
    garbage: bool = False


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def production_objects(
    key: str, now: datetime, tagged: bool, feedback: bool = True
) -> list[tuple[str, bytes, Json]]:
    """A dozen uploads through GourmetGram: `class_NN/<uuid>.jpg`, tagged as app.py does; two
    flagged by the user (feedback branch), one of them corrected (userlabel branch)."""
    objects = []
    for n in range(12):
        cls = (n * 7) % 11
        pid = uuid.uuid5(uuid.NAMESPACE_URL, f"{key}:{n}")
        body = b"\xff\xd8\xff\xe0" + hashlib.sha256(f"{key}:{n}".encode()).digest() * (40 + n)
        tags = {
            "predicted_class": CLASSES[cls],
            "confidence": f"{0.41 + (n * 37 % 58) / 100:.3f}",
            "timestamp": (now - timedelta(minutes=90 - 5 * n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if feedback and n in (3, 8):
            tags["flagged"] = "true"
        if feedback and n == 8:
            tags["corrected_class"] = CLASSES[(cls + 1) % 11]
        objects.append((f"class_{cls:02d}/{pid}.jpg", body, tags if tagged else {}))
    return objects


def dag(dag_id: str, paused: bool, now: datetime, fileloc: str) -> Json:
    """A DAG as GET /api/v1/dags lists it (Airflow 2.9.3), @daily."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "dag_id": dag_id,
        "dag_display_name": dag_id,
        "default_view": "grid",
        "description": None,
        "file_token": hashlib.sha256(fileloc.encode()).hexdigest()[:40],
        "fileloc": f"/opt/airflow/dags/{fileloc}",
        "has_import_errors": False,
        "has_task_concurrency_limits": False,
        "is_active": True,
        "is_paused": paused,
        "is_subdag": False,
        "last_expired": None,
        "last_parsed_time": _iso(now - timedelta(seconds=20)),
        "last_pickled": None,
        "max_active_runs": 16,
        "max_active_tasks": 16,
        "max_consecutive_failed_dag_runs": 0,
        "next_dagrun": _iso(midnight),
        "next_dagrun_create_after": _iso(midnight + timedelta(days=1)),
        "next_dagrun_data_interval_end": _iso(midnight + timedelta(days=1)),
        "next_dagrun_data_interval_start": _iso(midnight),
        "owners": ["airflow"],
        "pickle_id": None,
        "root_dag_id": None,
        "schedule_interval": {"__type": "CronExpression", "value": "0 0 * * *"},
        "scheduler_lock": None,
        "tags": [],
        "timetable_description": "At 00:00",
    }


def dag_run(dag_id: str, start: datetime, state: str) -> Json:
    """A manual run, as GET /api/v1/dags/{dag_id}/dagRuns lists it."""
    return {
        "conf": {},
        "dag_id": dag_id,
        "dag_run_id": f"manual__{_iso(start)}",
        "data_interval_end": _iso(start),
        "data_interval_start": _iso(start - timedelta(days=1)),
        "end_date": None if state == "running" else _iso(start + timedelta(seconds=41)),
        "execution_date": _iso(start),
        "external_trigger": True,
        "last_scheduling_decision": _iso(start + timedelta(seconds=40)),
        "logical_date": _iso(start),
        "note": None,
        "run_type": "manual",
        "start_date": _iso(start + timedelta(seconds=1)),
        "state": state,
    }


# ---- the family --------------------------------------------------------------------------
class EvaluationLabs(Family):
    """Builds the evaluation labs' hosts (called by the classroom per student) and serves them."""

    def __init__(self) -> None:
        self.engine: DockerEngine | None = None
        self.offline: list[SimHost] = []
        self.volumes: list[tuple[Path, dict[str, bytes]]] = []  # eval-offline's food11 volumes
        self.loops: list[LoopPlan] = []
        self._servers: list[TrackedHTTPServer] = []
        self._s3: S3Fleet | None = None
        self._models = ModelServerFleet()

    def builders(self) -> dict[str, Builder]:
        return {OFFLINE: self._build_offline, LOOP: self._build_loop}

    @staticmethod
    def _server(ctx: BuildContext, name: str, ports: tuple[int, ...]) -> str:
        groups = ("default", "allow-ssh", *(f"allow-{p}" for p in ports))
        fixed_ip = ctx.next_fixed()
        ctx.cloud.add_instance(name, "m1.medium", ctx.address, fixed_ip, groups)
        return fixed_ip

    def _engine_path(self, hosts_dir: Path) -> str:
        if self.engine is None:
            self.engine = DockerEngine.under(hosts_dir, "dockerd-eval.sock")
        return str(self.engine.socket_path)

    def _build_offline(self, ctx: BuildContext) -> SimHost:
        student, profile, address, now = ctx.student, ctx.profile, ctx.address, ctx.now
        name = f"node-eval-offline-{student.chameleon_user}"
        fixed_ip = self._server(ctx, name, (8888,))
        # The food11 volume, its data under the host's tree (Docker keeps it under
        # /var/lib/docker/volumes); written when the classroom starts (start()).
        volume = ctx.root / "docker-volumes" / "food11" / "_data"
        jupyter = jupyter_container(
            student.netid,
            "quay.io/jupyter/pytorch-notebook:pytorch-2.5.1",
            now - timedelta(hours=1),
            [
                bind_mount(ctx.home / WORKSPACE, "/home/jovyan/work"),
                {**volume_mount("food11", "/mnt"), "Source": str(volume)},
            ],
            False,
            # PYTHONPATH, LABSIM_MOUNTS: the simulator's torch stand-ins (the image has the real
            # PyTorch) and where they find the volume (fakeml/torchvision/datasets.py)
            env=(
                "FOOD11_DATA_DIR=/mnt/Food-11",
                f"PYTHONPATH={FAKEML}",
                f"LABSIM_MOUNTS=/mnt={volume}",
            ),
        )
        host = SimHost(
            name,
            name.replace("_", "-"),
            address,
            fixed_ip,
            ctx.root,
            profile.network,
            ("hostname", "docker"),
            files=offline_workspace(profile.evaluation),
            state={
                "docker": {"containers": [jupyter], "engine": self._engine_path(ctx.hosts_dir)},
            },
        )
        self.volumes.append((volume, evaluation_set(profile.evaluation)))
        self.offline.append(host)
        return host

    def _build_loop(self, ctx: BuildContext) -> SimHost:
        student, profile, address, now = ctx.student, ctx.profile, ctx.address, ctx.now
        knobs = profile.evaluation
        name = f"node-eval-loop-{student.chameleon_user}"
        fixed_ip = self._server(ctx, name, (5000, 8000, 8888, 9000, 9001, 8080, 8081))
        plan = LoopPlan(address, profile.network, garbage="api_garbage" in knobs)
        if "production_empty" not in knobs:
            plan.objects = production_objects(
                student.netid,
                now,
                tagged="production_untagged" not in knobs,
                feedback="no_feedback" not in knobs,
            )
        titles = [
            "Food11 Production",
            "Food11 Random Sample",
            "Food11 Low Confidence",
            "Food11 User Flagged",
            "Food11 Continuous X",
            *(f"Sandbox {n}" for n in range(1, 8)),  # the student's own tries: two pages
        ]
        if "no_ls_project" in knobs:
            titles.remove("Food11 Low Confidence")
        if "pipelines_unrun" in knobs:
            titles.remove("Food11 Continuous X")  # pipeline_1 makes it

        def counts(n: int) -> tuple[int, int]:  # (tasks, tasks annotated)
            if "ls_empty" in knobs and n < 5:  # made by a curl loop: no task at all
                return 0, 0
            return {5: (7, 4)}.get(n, (12, 12) if n < 5 else (0, 0))

        plan.projects = [
            project(n, t, _iso(now - timedelta(hours=3, minutes=-n)), *counts(n))
            for n, t in enumerate(titles, start=1)
        ]
        files = {
            "test_dag_hello_world": "test_dag.py",
            "pipeline_1_get_and_label": "pipeline_1_get_and_label.py",
            "pipeline_2_process_labeled_data": "pipeline_2_process_labeled_data.py",
        }
        plan.dags = [dag(d, d == "test_dag_hello_world", now, f) for d, f in files.items()]
        for n, dag_id in enumerate(files):
            first = now - timedelta(hours=2, minutes=n * 10)
            states = ["success", "success"]
            if dag_id.startswith("pipeline_2") and "dag_later_failed" in knobs:
                states = ["success", "failed"]  # the next scheduled run failed
            if dag_id.startswith("pipeline_2") and "dag_never_succeeded" in knobs:
                states = ["failed", "failed"]
            if dag_id.startswith("pipeline") and "pipelines_unrun" in knobs:
                states = []
            plan.runs[dag_id] = [  # listed oldest first
                dag_run(dag_id, first + timedelta(minutes=50 * i), state)
                for i, state in enumerate(states)
            ]
        # What the DAGs left in MinIO (pipeline_*.py): images with a timestamp tag sampled
        # to production-label-wait, the rest to production-noisy; those labelled in Food11
        # Continuous X copied to production-clean and production-noisy, out of label-wait.
        if "pipelines_unrun" not in knobs:
            stamped = [k for k, _, tags in plan.objects if "timestamp" in tags]
            sampled, labelled = stamped[:7], stamped[:4]
            plan.pipeline = {
                "production-label-wait": [k for k in sampled if k not in labelled],
                "production-noisy": [k for k in stamped if k not in sampled]
                + [k for k in labelled],
                "production-clean": list(labelled),
            }
        self.loops.append(plan)
        return SimHost(
            name, name.replace("_", "-"), address, fixed_ip, ctx.root, profile.network, sshd=False
        )

    # ---- serving -----------------------------------------------------------------------------
    def start(self, ctx: StartContext) -> None:
        """Serve every evaluation host: the docker engine, S3, Label Studio, Airflow, tarpits."""
        hub, tarpit = ctx.hub, ctx.tarpit
        for volume, data in self.volumes:
            volume.mkdir(parents=True, exist_ok=True)
            for rel, body in data.items():
                (volume / rel).parent.mkdir(parents=True, exist_ok=True)
                (volume / rel).write_bytes(body)
        if self.engine is not None:
            for host in self.offline:
                self.engine.register(host.state_file, host.root, host.bin_dir)
            self.engine.start(hub)
        up = [p for p in self.loops if p.network == "up"]
        for plan in self.loops:
            if plan.network == "tarpit":
                for port in (S3_PORT, LS_PORT, AIRFLOW_PORT, FLASK_PORT, FASTAPI_PORT):
                    tarpit.listen(plan.address, port)
        if not up:
            return
        self._s3 = S3Fleet([p.address for p in up], ctx.root / "evaluation")
        self._s3.start()
        for plan in up:
            mode = "garbage" if plan.garbage else "ok"
            ls = LabelStudioServer(plan.address, LS_PORT, TOKEN, plan.projects, mode)
            af = AirflowServer(
                plan.address, AIRFLOW_PORT, plan.dags, plan.runs, "huge" if plan.garbage else "ok"
            )
            # GourmetGram (userlabel branch: its / and /test as on master) and fastapi_pt
            flask = GourmetGramServer(plan.address, FLASK_PORT, test_class="Vegetable/Fruit")
            for server in (ls, af, flask):
                self._servers.append(server)
                hub.add(server.socket, server.accept)
            self._models.add(HostModel(plan.address, "fastapi_pt"), FASTAPI_PORT, None)
        self._models.start()
        self._s3.wait()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self._fill, up, [s3_client(p.address) for p in up]))

    @staticmethod
    def _fill(plan: LoopPlan, s3: Any) -> None:
        """What minio_init and GourmetGram did: the bucket, each upload and its tags."""
        s3.create_bucket(Bucket="production")
        for key, body, tags in plan.objects:
            s3.put_object(Bucket="production", Key=key, Body=body, ContentType="image/jpeg")
            if tags:
                tag_set = [{"Key": k, "Value": v} for k, v in tags.items()]
                s3.put_object_tagging(Bucket="production", Key=key, Tagging={"TagSet": tag_set})
        for bucket, keys in plan.pipeline.items():
            s3.create_bucket(Bucket=bucket)
            for key in keys:
                src = {"Bucket": "production", "Key": key}
                s3.copy_object(Bucket=bucket, CopySource=src, Key=key)

    def pids(self) -> list[int]:
        return [
            *(self.engine.pids() if self.engine else []),
            *(self._s3.pids() if self._s3 else []),
        ]

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        for server in self._servers:
            server.close()
        self._servers = []
        self._models.stop()
        self._models = ModelServerFleet()
        if self._s3 is not None:
            self._s3.stop()
            self._s3 = None
        self.offline, self.loops, self.volumes = [], [], []
