"""The evaluation labs in the classroom: eval-offline-chi and eval-loop-chi (KVM@TACC VMs).

* eval-offline-chi (`node-eval-offline-{USER}`): the `jupyter` container with
  ~/eval-offline-chi/workspace mounted at /home/jovyan/work, and the student's pytest suite in
  workspace/tests/: small real test files with the lab's file and test names (pure Python:
  the "model" is a table of predictions). `docker exec jupyter python -m pytest ...` really runs
  them (engine.py), so the grader reads a JUnit report that pytest itself wrote.
* eval-loop-chi (`node-eval-loop-{USER}`): MinIO's S3 API on 9000 (moto's real S3 server,
  s3sim.py) whose bucket `production` holds the images GourmetGram saved, tagged as its
  `production` branch tags them; Label Studio on 8080 (labelstudio.py) and Airflow's webserver
  on 8081 (airflow.py), stand-ins in the real tools' shapes. No SSH is needed for this lab.

A profile's `evaluation` knobs (profiles.EvaluationKnob) break one thing each:
* tests_failing: two of the five tests fail (cake-looks-like, Indian desserts)
* collection_error: test_food11_test_cases.py has a syntax error
* production_empty: bucket production exists, empty
* production_untagged: images saved without tags (the app before the tagging step)
* no_ls_project: Label Studio lacks "Food11 Low Confidence"
* dag_failed: pipeline_2_process_labeled_data's last run failed
* api_garbage: Label Studio answers non-JSON; Airflow a 3 MiB DAG list
"""

from __future__ import annotations

import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .airflow import AirflowServer
from .engine import DockerEngine
from .family import BuildContext, Builder, Family, StartContext
from .gourmetgram import CLASSES
from .hosts import SimHost
from .labelstudio import LabelStudioServer, project
from .profiles import EvaluationKnob
from .s3sim import S3Fleet
from .s3sim import client as s3_client
from .serve import TrackedHTTPServer
from .shared import bind_mount, jupyter_container, volume_mount

OFFLINE, LOOP = "eval-offline-chi", "eval-loop-chi"
WORKSPACE = "eval-offline-chi/workspace"
TOKEN = "ab9927067c51ff279d340d7321e4890dc2841c4a"
S3_PORT, LS_PORT, AIRFLOW_PORT = 9000, 8080, 8081
Json = dict[str, Any]


# ---- eval-offline-chi: the student's suite ---------------------------------------------------
CONFTEST = '''"""Fixtures of the suite: the model's predictions, precomputed (no torch here)."""
import pytest

CAKE_DESSERT = {cake}  # of 10 cake-looks-like images, how many were predicted Dessert
INDIAN_DESSERT = {indian}


@pytest.fixture(scope="session")
def predictions():
    labels = [i % 11 for i in range(330)]
    preds = [c if i % 12 else (c + 1) % 11 for i, c in enumerate(labels)]
    return labels, preds


@pytest.fixture(scope="session")
def model():
    return {{
        "cake_looks_like": [2] * CAKE_DESSERT + [5] * (10 - CAKE_DESSERT),
        "indian_dessert": [2] * INDIAN_DESSERT + [1] * (10 - INDIAN_DESSERT),
        "templates": [(c, c) for c in (5, 9, 10) for _ in range(4)] + [(5, 8)],
    }}


@pytest.fixture(scope="session")
def predict():
    return lambda model, image: image
'''
ACCURACY = """def test_overall_accuracy(predictions):
    labels, preds = predictions
    acc = sum(a == b for a, b in zip(labels, preds)) / len(labels) * 100
    assert acc > 85, f"Overall accuracy too low: {acc:.2f}%"


def test_per_class_accuracy(predictions):
    labels, preds = predictions
    failed = []
    for cls in range(11):
        pairs = [(a, b) for a, b in zip(labels, preds) if a == cls]
        acc = sum(a == b for a, b in pairs) / len(pairs) * 100
        if acc < 75:
            failed.append(f"{cls} ({acc:.2f}%)")
    assert not failed, "Some classes have low accuracy: " + ", ".join(failed)
"""
TEMPLATE = """def test_template_permutations(model, predict):
    cases = model["templates"]
    passed = sum(predict(model, pred) == true for true, pred in cases)
    assert passed / len(cases) >= 0.80, f"Only {passed}/{len(cases)} permutations passed"
"""
TEST_CASES = """def evaluate_folder(model, folder, predict):
    preds = [predict(model, p) for p in model[folder]]
    return sum(p == 2 for p in preds) / len(preds) * 100


def test_cake_looks_like_accuracy(model, predict){colon}
    acc = evaluate_folder(model, "cake_looks_like", predict)
    assert acc >= 60, f"cake_looks_like accuracy too low: {{acc:.2f}}%"


def test_indian_dessert_accuracy(model, predict):
    acc = evaluate_folder(model, "indian_dessert", predict)
    assert acc >= 60, f"indian_dessert accuracy too low: {{acc:.2f}}%"
"""


def suite(knobs: frozenset[EvaluationKnob]) -> dict[str, str]:
    """workspace/tests/ as the student left it (home-relative path -> text)."""
    failing = "tests_failing" in knobs
    tests = f"{WORKSPACE}/tests"
    return {
        f"{tests}/conftest.py": CONFTEST.format(
            cake=4 if failing else 7, indian=5 if failing else 8
        ),
        f"{tests}/test_food11_accuracy.py": ACCURACY,
        f"{tests}/test_food11_template.py": TEMPLATE,
        f"{tests}/test_food11_test_cases.py": TEST_CASES.format(
            colon="" if "collection_error" in knobs else ":"
        ),
    }


# ---- eval-loop-chi: what the services hold ---------------------------------------------------
@dataclass
class LoopPlan:
    address: str
    network: str
    objects: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    projects: list[Json] = field(default_factory=list)
    dags: list[Json] = field(default_factory=list)
    runs: dict[str, list[Json]] = field(default_factory=dict)
    garbage: bool = False


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def production_objects(key: str, now: datetime, tagged: bool) -> list[tuple[str, bytes, Json]]:
    """A dozen uploads through GourmetGram: `class_NN/<uuid>.jpg`, tagged as app.py does; two
    flagged by the user, one of them corrected."""
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
        if n in (3, 8):
            tags["flagged"] = "true"
        if n == 8:
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
        self.loops: list[LoopPlan] = []
        self._servers: list[TrackedHTTPServer] = []
        self._s3: S3Fleet | None = None

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
        jupyter = jupyter_container(
            student.netid,
            "quay.io/jupyter/pytorch-notebook:pytorch-2.5.1",
            now - timedelta(hours=1),
            [bind_mount(ctx.home / WORKSPACE, "/home/jovyan/work"), volume_mount("food11", "/mnt")],
            False,
            env=("FOOD11_DATA_DIR=/mnt/Food-11",),
        )
        host = SimHost(
            name,
            name.replace("_", "-"),
            address,
            fixed_ip,
            ctx.root,
            profile.network,
            ("hostname", "docker"),
            files=suite(profile.evaluation),
            state={
                "docker": {"containers": [jupyter], "engine": self._engine_path(ctx.hosts_dir)},
            },
        )
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
                student.netid, now, tagged="production_untagged" not in knobs
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
        plan.projects = [
            project(n, t, _iso(now - timedelta(hours=3, minutes=-n)), 10, 10 if n < 5 else 0)
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
            last = (
                "failed" if dag_id.startswith("pipeline_2") and "dag_failed" in knobs else "success"
            )
            plan.runs[dag_id] = [
                dag_run(dag_id, first, "success"),
                dag_run(dag_id, first + timedelta(minutes=50), last),  # listed oldest first
            ]
        self.loops.append(plan)
        return SimHost(
            name, name.replace("_", "-"), address, fixed_ip, ctx.root, profile.network, sshd=False
        )

    # ---- serving -----------------------------------------------------------------------------
    def start(self, ctx: StartContext) -> None:
        """Serve every evaluation host: the docker engine, S3, Label Studio, Airflow, tarpits."""
        hub, tarpit = ctx.hub, ctx.tarpit
        if self.engine is not None:
            for host in self.offline:
                self.engine.register(host.state_file, host.root, host.bin_dir)
            self.engine.start(hub)
        up = [p for p in self.loops if p.network == "up"]
        for plan in self.loops:
            if plan.network == "tarpit":
                for port in (S3_PORT, LS_PORT, AIRFLOW_PORT):
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
            for server in (ls, af):
                self._servers.append(server)
                hub.add(server.socket, server.accept)
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
        if self._s3 is not None:
            self._s3.stop()
            self._s3 = None
        self.offline, self.loops = [], []
