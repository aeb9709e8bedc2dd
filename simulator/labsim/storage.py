"""The data labs' resources: data-persist-chi and data-platform-chi, both on KVM@TACC VMs.

* data-persist-chi, as the manual leaves it before its clean-up: the first instance was deleted
  and `node-persist-{USER}` (m1.large) re-created after the Cinder volume `block-persist-{netid}`
  was made (2 GiB, re-attached as /dev/vdb, partition /dev/vdb1 ext4 mounted at /mnt/block: the
  findmnt stand-in reads the mounts); the Swift container `object-persist-{netid}` at CHI@TACC
  holds Food-11 as `rclone copy` left it (`{training,validation,evaluation}/class_NN/<c>_<n>.jpg`,
  the real split sizes); compose project `persist_block` whose minio and postgres keep their
  data in /mnt/block/minio_data and /mnt/block/postgres_data (docker-compose-block.yaml's bind
  mounts; postgres:18's at /var/lib/postgresql with `postgres18`); jupyter could not start
  (the new instance has no /mnt/object: only the first one mounted the object store); MLflow's
  REST API on 8000 (MLflow 2.20's shapes) still has the demo's run, logged on the first instance.
* data-platform-chi: server `node-data-{USER}` (m1.xlarge) with compose project `docker` in
  the state the lab ends in (api_v1 stopped, api_v2 and the streaming, Airflow, Nimtable and
  Jupyter services up; the one-shot services exited 0), and HTTP stand-ins on the published
  ports: the FastAPI `/health` on 8000, Airflow 2.11 on 8080 (airflow.py, basic auth: the two
  DAGs with their runs, `/health`), and the web UIs with their products' page titles (Redpanda
  Console 8090, Adminer 5050, RedisInsight 8081, MinIO console 9001, Nimtable 3000). The
  containers' own CLIs answer `docker exec` (engine.py, standins/imagetools): psql counts the
  moderation rows, rpk lists the topics, mc lists the uploads and the Iceberg warehouse.

A profile's `storage` knobs (profiles.StorageKnob) break one thing each.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from . import blockobject
from .airflow import AirflowServer
from .engine import DockerEngine
from .evaluation import dag, dag_run
from .family import BuildContext, Builder, Family, StartContext
from .hosts import KnobbedHost, SimHost
from .profiles import StorageKnob
from .serve import TrackedHTTPServer

Json = dict[str, Any]
PERSIST, PLATFORM = "data-persist-chi", "data-platform-chi"
OBJECT_SITE = "CHI@TACC"
SPLITS = ("training", "validation", "evaluation")
FOOD11 = {"training": 9866, "validation": 3430, "evaluation": 3347}  # images per split
ROOT_MOUNTS = [
    {
        "target": "/",
        "source": "/dev/vda1",
        "fstype": "ext4",
        "options": "rw,relatime,discard,errors=remount-ro,commit=30",
    },
    {"target": "/boot", "source": "/dev/vda16", "fstype": "ext4", "options": "rw,relatime"},
    {
        "target": "/boot/efi",
        "source": "/dev/vda15",
        "fstype": "vfat",
        "options": "rw,relatime,fmask=0077,dmask=0077,codepage=437,iocharset=iso8859-1,"
        "shortname=mixed,errors=remount-ro",
    },
]
PLATFORM_DIR = "/home/cc/data-platform-chi/docker"
# service -> (container name, image, published (host, container) ports, has a healthcheck)
PLATFORM_SERVICES: dict[str, tuple[str, str, tuple[tuple[int, int], ...], bool]] = {
    "postgres": ("postgres", "postgres:18", ((5432, 5432),), True),
    "minio": (
        "minio",
        "minio/minio:RELEASE.2025-09-07T16-13-09Z",
        ((9000, 9000), (9001, 9001)),
        True,
    ),
    "redpanda": (
        "redpanda",
        "docker.redpanda.com/redpandadata/redpanda:v25.3.7",
        ((18081, 18081), (18082, 18082), (19092, 19092), (19644, 9644)),
        True,
    ),
    "redis": ("redis", "redis:7-alpine", ((6379, 6379),), True),
    "api_v2": ("api-v2", "docker-api_v2", ((8000, 8000),), True),
    "data_generator": ("generator", "docker-data_generator", (), False),
    "stream_consumer": ("stream-consumer", "docker-stream_consumer", (), False),
    "risk_scoring_service": ("risk-scoring-service", "docker-risk_scoring_service", (), False),
    "airflow-webserver": ("airflow-webserver", "docker-airflow-webserver", ((8080, 8080),), False),
    "airflow-scheduler": ("airflow-scheduler", "docker-airflow-scheduler", (), False),
    "adminer": ("adminer", "adminer:latest", ((5050, 8080),), False),
    "redpanda-console": (
        "redpanda-console",
        "docker.redpanda.com/redpandadata/console:v3.5.2",
        ((8090, 8080),),
        False,
    ),
    "redisinsight": ("redisinsight", "redis/redisinsight:latest", ((8081, 5540),), False),
    "nimtable": ("nimtable", "ghcr.io/nimtable/nimtable:nightly", ((8182, 8182),), False),
    "nimtable-web": (
        "nimtable-web",
        "ghcr.io/nimtable/nimtable-web:nightly",
        ((3000, 3000),),
        False,
    ),
    "jupyter": ("jupyter", "docker-jupyter", ((8888, 8888),), False),
}
# one-shot services, exited 0; api_v1 was stopped when api_v2 replaced it
PLATFORM_DONE = {
    "extract-data": ("extract", "python:3.11"),
    "transform-data": ("transform", "python:3.11"),
    "minio-init": ("minio-init", "minio/mc:RELEASE.2025-08-13T08-35-41Z-cpuv1"),
    "airflow-init": ("airflow-init", "docker-airflow-init"),
    "api_v1": ("api-v1", "docker-api_v1"),
}
UI_TITLES = {  # port -> the page title its UI serves at /
    8090: "Redpanda Console",
    5050: "Login - Adminer",
    8081: "Redis Insight",
    9001: "MinIO Console",
    3000: "Nimtable",
}


# service -> the image's CLI that `docker exec` runs there (standins/imagetools)
PLATFORM_TOOLS = {"postgres": "psql", "redpanda": "rpk", "minio": "mc"}
TOPICS = (
    "gourmetgram.comments",
    "gourmetgram.flags",
    "gourmetgram.moderation_requests",
    "gourmetgram.uploads",
    "gourmetgram.views",
)
WINDOW_TABLES = ("view_windows_5min", "comment_windows_5min", "flag_windows_5min")


def _iceberg_table(table: str, run: int, when: datetime) -> list[list[Any]]:
    """The files PyIceberg 0.8 writes for one append to a table under the SQL catalog's
    default location (`<warehouse>/<namespace>.db/<table>`): the data Parquet file, the
    snapshot's manifest list and manifest, and the new metadata JSON."""
    digest = hashlib.md5(f"{table}:{run}".encode()).hexdigest()
    uid = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return [
        [f"{table}/data/00000-0-{uid}.parquet", 18_000 + 97 * run, stamp],
        [f"{table}/metadata/snap-{int(digest[:15], 16)}-0-{uid}.avro", 4_310, stamp],
        [f"{table}/metadata/{uid}-m0.avro", 7_082, stamp],
        [f"{table}/metadata/{run:05d}-{uid}.metadata.json", 2_950 + 400 * run, stamp],
    ]


def _platform_data(service: str, key: str, knobs: frozenset[StorageKnob], up: datetime) -> Json:
    """What a container's CLI reports: Postgres's row counts, Redpanda's topics, MinIO's
    buckets, as the lab leaves them (or, with `no_data_flowing`, with nothing generated: the
    consumers' subscriptions auto-created the topics, nothing else happened)."""
    flowing = "no_data_flowing" not in knobs
    if service == "postgres":
        app = {"users": 10, "images": 180, "comments": 702, "flags": 29, "moderation": 57}
        if not flowing:
            app = dict.fromkeys(app, 0)
        return {"databases": {"gourmetgram": app, "airflow": {"variable": 1}}}
    if service == "redpanda":
        return {"topics": {"_schemas": 1, **dict.fromkeys(TOPICS, 1)}}
    stamp = (up + timedelta(minutes=40)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    images = [
        [f"{hashlib.md5(f'{key}:img:{n}'.encode()).hexdigest()}.jpg", 30_000 + n, stamp]
        for n in range(180 if flowing else 0)
    ]
    warehouse: list[list[Any]] = []
    if flowing:
        when = up + timedelta(minutes=70)
        for table in WINDOW_TABLES:
            warehouse += _iceberg_table(f"warehouse/event_aggregations.db/{table}", 1, when)
        if "training_failed" not in knobs:
            warehouse += _iceberg_table("warehouse/moderation.db/training_data", 1, when)
        for table in ("comments", "flags", "images", "users"):
            warehouse.append([f"raw/{table}/latest.parquet", 9_000, stamp])
        warehouse.append(["processed/training_data.parquet", 41_000, stamp])
    return {"buckets": {"gourmetgram-images": images, "gourmetgram-datalake": warehouse}}


def _platform_dags(
    knobs: frozenset[StorageKnob], up: datetime
) -> tuple[list[Json], dict[str, list[Json]]]:
    """The two DAGs of batch-etl-airflow/dags and their runs, as 5_iceberg leaves them:
    each triggered once and green (paused; `dag_rerun`: a failed run before the green one and a
    failed one after; `training_failed`: moderation_training's only run failed)."""
    files = {
        "redpanda_event_aggregation": ("redpanda_event_aggregation.py", 1),
        "moderation_training": ("etl_moderation.py", 24),
    }
    dags, runs = [], {}
    first = up + timedelta(minutes=60)
    for n, (dag_id, (fileloc, hours)) in enumerate(files.items()):
        d = dag(dag_id, True, up + timedelta(hours=2), fileloc)
        d.update(
            owners=["gourmetgram"],
            schedule_interval={
                "__type": "TimeDelta",
                "days": hours // 24,
                "seconds": 3600 * (hours % 24),
                "microseconds": 0,
            },
        )
        dags.append(d)
        start = first + timedelta(minutes=10 * n)
        if "no_data_flowing" in knobs:
            runs[dag_id] = []
        elif "training_failed" in knobs and dag_id == "moderation_training":
            runs[dag_id] = [dag_run(dag_id, start, "failed")]
        elif "dag_rerun" in knobs:
            runs[dag_id] = [
                dag_run(dag_id, start - timedelta(minutes=30), "failed"),
                dag_run(dag_id, start, "success"),
                dag_run(dag_id, start + timedelta(minutes=40), "failed"),
            ]
        else:
            runs[dag_id] = [dag_run(dag_id, start, "success")]
    return dags, runs


def _airflow_health(knobs: frozenset[StorageKnob]) -> Json:
    """Airflow 2.11's webserver /health; the scheduler stopped 20 minutes ago with
    `compose_service_down`."""
    now = datetime.now(UTC)
    stopped = "compose_service_down" in knobs
    beat = now - timedelta(minutes=20 if stopped else 0, seconds=3)
    return {
        "metadatabase": {"status": "healthy"},
        "scheduler": {
            "latest_scheduler_heartbeat": beat.isoformat(),
            "status": "unhealthy" if stopped else "healthy",
        },
        "triggerer": {"latest_triggerer_heartbeat": None, "status": None},
        "dag_processor": {"latest_dag_processor_heartbeat": None, "status": None},
    }


def _container(
    key: str,
    name: str,
    image: str,
    created: datetime,
    project: str,
    service: str,
    ports: tuple[tuple[int, int], ...] = (),
    mounts: tuple[tuple[str, str], ...] = (),
    state: str = "running",
    health: str | None = None,
    exit_code: int = 0,
    status: str | None = None,
) -> Json:
    """A container as the Engine lists it (docker stand-in state), with compose's labels."""
    cid = hashlib.sha256(f"{key}:{name}".encode()).hexdigest()
    labels = {
        "com.docker.compose.project": project,
        "com.docker.compose.service": service,
        "com.docker.compose.container-number": "1",
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.version": "2.40.3",
    }
    item: Json = {
        "Id": cid,
        "Names": ["/" + name],
        "Image": image,
        "ImageID": "sha256:" + hashlib.sha256(image.encode()).hexdigest(),
        "Command": "docker-entrypoint.sh",
        "Created": int(created.timestamp()),
        "Ports": [
            {"IP": ip, "PrivatePort": c, "PublicPort": h, "Type": "tcp"}
            for h, c in ports
            for ip in ("0.0.0.0", "::")
        ],
        "Labels": labels,
        "State": state,
        "NetworkSettings": {"Networks": {f"{project}_default": {}}},
        "Mounts": [
            {
                "Type": "bind",
                "Source": src,
                "Destination": dst,
                "Mode": "",
                "RW": True,
                "Propagation": "rprivate",
            }
            for src, dst in mounts
        ],
        "_started": int(created.timestamp()) + 5,
    }
    if health:
        item["_health"] = health
    if state == "exited":
        item["_exit_code"] = exit_code
        item["_finished"] = int(created.timestamp()) + 60
    if status:
        item["Status"] = status
    return item


def persist_mounts(netid: str, block_mounted: bool, object_mounted: bool = True) -> list[Json]:
    """data-persist-chi's mounts as findmnt lists them: the root disk's, the volume's
    partition on /mnt/block (where the student mounted it), rclone's mount of the container
    (on the first instance)."""
    mounts = list(ROOT_MOUNTS)
    if block_mounted:
        mounts.append(
            {
                "target": "/mnt/block",
                "source": "/dev/vdb1",
                "fstype": "ext4",
                "options": "rw,relatime",
            }
        )
    if not object_mounted:
        return mounts
    mounts.append(
        {
            "target": "/mnt/object",
            "source": f"chi_tacc:object-persist-{netid}",
            "fstype": "fuse.rclone",
            "options": "ro,nosuid,nodev,relatime,user_id=1000,group_id=1000,allow_other",
        }
    )
    return mounts


PG_ENV = [  # the postgres image's own environment (17; 18 differs in versions and PGDATA)
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/17/bin",
    "GOSU_VERSION=1.17",
    "LANG=en_US.utf8",
    "PG_MAJOR=17",
    "PG_VERSION=17.6-1.pgdg13+1",
    "PGDATA=/var/lib/postgresql/data",
]
PG18_ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/18/bin",
    "GOSU_VERSION=1.19",
    "LANG=en_US.utf8",
    "PG_MAJOR=18",
    "PG_VERSION=18.1-1.pgdg13+2",
    "PGDATA=/var/lib/postgresql/18/docker",
]
PG_COMPOSE_ENV = ["POSTGRES_USER=user", "POSTGRES_PASSWORD=password", "POSTGRES_DB=mlflowdb"]


def persist_containers(
    netid: str, up: datetime, postgres18: bool = False, object_mounted: bool = False
) -> list[Json]:
    """Compose project persist_block (docker-compose-block.yaml): MinIO and Postgres keep
    their data on /mnt/block. Jupyter reads Food-11 through /mnt/object where the object store
    is mounted; elsewhere (the re-created instance) compose created it but could not start it."""
    project, data = "persist_block", "/mnt/block"
    postgres = _container(
        netid,
        "postgres",
        "postgres:latest",
        up,
        project,
        "postgres",
        ((5432, 5432),),
        (
            (f"{data}/postgres_data", "/var/lib/postgresql")
            if postgres18
            else (f"{data}/postgres_data", "/var/lib/postgresql/data"),
        ),
    )
    postgres["_inspect"] = {
        "Config": {"Env": [*PG_COMPOSE_ENV, *(PG18_ENV if postgres18 else PG_ENV)]}
    }
    jupyter = _container(
        netid,
        "jupyter",
        "quay.io/jupyter/pytorch-notebook:pytorch-2.5.1",
        up,
        project,
        "jupyter",
        ((8888, 8888),),
        (
            ("/home/cc/data-persist-chi/workspace", "/home/jovyan/work"),
            ("/mnt/object", "/mnt/Food-11"),
        ),
    )
    if not object_mounted:  # the long-syntax bind of a missing /mnt/object: never started
        jupyter.update(State="created", Status="Created", _exit_code=127)
    return [
        _container(
            netid,
            "minio",
            "minio/minio",
            up,
            project,
            "minio",
            ((9000, 9000), (9001, 9001)),
            ((f"{data}/minio_data", "/data"),),
            health="healthy",
        ),
        _container(
            netid,
            "persist_block-minio-create-bucket-1",
            "minio/mc",
            up,
            project,
            "minio-create-bucket",
            state="exited",
        ),
        postgres,
        _container(
            netid, "mlflow", "ghcr.io/mlflow/mlflow:v2.20.2", up, project, "mlflow", ((8000, 8000),)
        ),
        jupyter,
    ]


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _mlflow_run(netid: str, n: int, start: datetime) -> Json:
    """A run of the demo notebook's MLflow cell as MLflow 2.20's REST API returns it: the
    metric eval_accuracy and `mlflow.pytorch.log_model(model, "food11")` (its history tag)."""
    run_id = hashlib.md5(f"{netid}:run:{n}".encode()).hexdigest()
    end = start + timedelta(seconds=41)
    history = [
        {
            "run_id": run_id,
            "artifact_path": "food11",
            "utc_time_created": (end - timedelta(seconds=6)).strftime("%Y-%m-%d %H:%M:%S.%f"),
            "model_uuid": hashlib.md5(f"{run_id}:model".encode()).hexdigest(),
            "flavors": {
                "pytorch": {"model_data": "data", "pytorch_version": "2.5.1", "code": None},
                "python_function": {
                    "pickle_module_name": "mlflow.pytorch.pickle_module",
                    "loader_module": "mlflow.pytorch",
                    "python_version": "3.11.10",
                    "data": "data",
                    "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                },
            },
        }
    ]
    tags = {
        "mlflow.user": "jovyan",
        "mlflow.source.name": "/opt/conda/lib/python3.11/site-packages/ipykernel_launcher.py",
        "mlflow.source.type": "LOCAL",
        "mlflow.runName": ("bemused-gull-512", "fearless-owl-93")[n % 2],
        "mlflow.log-model.history": json.dumps(history),
    }
    return {
        "info": {
            "run_uuid": run_id,
            "experiment_id": "1",
            "run_name": tags["mlflow.runName"],
            "user_id": "jovyan",
            "status": "FINISHED",
            "start_time": _ms(start),
            "end_time": _ms(end),
            "artifact_uri": f"mlflow-artifacts:/1/{run_id}/artifacts",
            "lifecycle_stage": "active",
            "run_id": run_id,
        },
        "data": {
            "metrics": [
                {"key": "eval_accuracy", "value": 0.6123, "timestamp": _ms(end), "step": 0}
            ],
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        },
        "inputs": {},
    }


@dataclass
class MlflowPlan:
    """data-persist-chi's MLflow on a host: the runs Postgres holds now (none: no experiment),
    and when the experiment was made (the first instance, right after the volume)."""

    host: SimHost
    runs: list[Json]
    made: datetime


@dataclass
class StorageLabs(Family):
    plans: list[KnobbedHost[StorageKnob]] = field(default_factory=list)
    mlflow: list[MlflowPlan] = field(default_factory=list)
    airflow: dict[str, tuple[list[Json], dict[str, list[Json]]]] = field(default_factory=dict)
    engine: DockerEngine | None = None
    _servers: list[TrackedHTTPServer] = field(default_factory=list)

    def builders(self) -> dict[str, Builder]:
        return {PERSIST: self._persist, PLATFORM: self._platform}

    # -- data-persist-chi
    def _persist(self, ctx: BuildContext) -> SimHost:
        """The manual's story, back from the classroom's start: the first instance (6 h ago),
        the volume (5 h), the demo's MLflow run (4 h), the re-created instance (3 h) and the
        volume re-attached to it; `never_recreated` stops before the deletion."""
        knobs, netid, fixed_ip, now = (
            ctx.profile.storage,
            ctx.student.netid,
            ctx.next_fixed(),
            ctx.now,
        )
        name = f"node-persist-{ctx.student.chameleon_user}"
        groups = ("default", "allow-ssh", "allow-8888", "allow-8000", "allow-9000", "allow-9001")
        server = ctx.cloud.add_instance(name, "m1.large", ctx.address, fixed_ip, groups)
        first = "never_recreated" in knobs
        made, logged = now - timedelta(hours=5), now - timedelta(hours=4)
        created = now - timedelta(hours=6 if first else 3)
        server.update(
            created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            updated=(created + timedelta(seconds=45)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        server["OS-SRV-USG:launched_at"] = (created + timedelta(seconds=40)).strftime(
            "%Y-%m-%dT%H:%M:%S.%f"
        )
        attached = "volume_detached" not in knobs
        blockobject.add_volume(
            ctx.cloud,
            f"block-persist-{netid}",
            2,
            made,
            server if attached else None,
            attached_at=made + timedelta(minutes=3) if first else created + timedelta(minutes=8),
        )
        if "no_object_container" not in knobs:
            objects = [] if "empty_object_container" in knobs else self._food11(netid, knobs, made)
            blockobject.add_container(ctx.cloud, OBJECT_SITE, f"object-persist-{netid}", objects)
        block = attached and "block_not_mounted" not in knobs
        mounts = persist_mounts(netid, block, object_mounted=first)
        dirs = [
            "/mnt/block/lost+found",
            "/mnt/block/minio_data/mlflow-artifacts",
            "/mnt/block/postgres_data/18/docker/base"
            if "postgres18" in knobs
            else "/mnt/block/postgres_data/base",
        ]
        if first:
            dirs.append("/mnt/object/training")
        up = created + timedelta(minutes=20)
        containers = persist_containers(netid, up, "postgres18" in knobs, object_mounted=first)
        host = SimHost(
            name,
            name,
            ctx.address,
            fixed_ip,
            ctx.root,
            ctx.profile.network,
            ("hostname", "docker", "findmnt"),
            state={"docker": {"containers": containers}, "fs": {"mounts": mounts, "dirs": dirs}},
        )
        # What MLflow's Postgres holds now: the demo's run of the first instance, unless the
        # data never reached the volume (then only what was logged on the new instance).
        lost = not block or "mlflow_data_lost" in knobs
        runs = [] if lost else [_mlflow_run(netid, 0, logged)]
        if "mlflow_data_lost" in knobs:  # the notebook run again on the new instance
            runs.append(_mlflow_run(netid, 1, up + timedelta(minutes=15)))
        self.mlflow.append(MlflowPlan(host, runs, made))
        return host

    @staticmethod
    def _food11(
        netid: str, knobs: frozenset[StorageKnob], made: datetime
    ) -> list[blockobject.SwiftObject]:
        """Food-11 after the transform stage: each split's images spread over 11 classes."""
        when = made + timedelta(minutes=20)
        if "dummy_objects" in knobs:  # one object per split: the old three-prefix test passes
            names = [f"{split}/class_00/0_0.jpg" for split in SPLITS]
        else:
            names = [
                f"{split}/class_{n % 11:02d}/{n % 11}_{n // 11}.jpg"
                for split in SPLITS
                for n in range(FOOD11[split])
            ]
        return [blockobject.sample_object(netid, name, when) for name in names]

    # -- data-platform-chi
    def _platform(self, ctx: BuildContext) -> SimHost:
        student, profile, address, now = ctx.student, ctx.profile, ctx.address, ctx.now
        knobs, key, fixed_ip = profile.storage, student.netid, ctx.next_fixed()
        name = f"node-data-{student.chameleon_user}"
        groups = (
            "default",
            "allow-ssh",
            "allow-8888",
            "allow-8000",
            "allow-8080",
            "allow-5050",
            "allow-8090",
            "allow-8081",
            "allow-9001",
            "allow-3000",
        )
        ctx.cloud.add_instance(name, "m1.xlarge", address, fixed_ip, groups)
        up = now - timedelta(hours=2)
        down = "compose_service_down" in knobs
        flowing = "no_data_flowing" not in knobs
        containers = []
        for service, (cname, image, ports, checked) in PLATFORM_SERVICES.items():
            c = _container(
                key,
                cname,
                image,
                up,
                "docker",
                service,
                ports,
                health="healthy" if checked else None,
            )
            if down and service == "redpanda":
                c["_health"] = "unhealthy"
            if down and service == "stream_consumer":
                c.update(State="restarting", Status="Restarting (1) 8 seconds ago")
            if down and service == "airflow-scheduler":
                c.update(State="exited", _exit_code=0, _finished=int(now.timestamp()) - 1200)
            if "api_v1" in knobs and service == "api_v2":
                continue  # never started: api_v1 still serves 8000
            if not flowing and service == "data_generator":
                continue  # never brought up
            tools = PLATFORM_TOOLS.get(service)
            if tools:
                c["_inspect"] = {"_tools": {tools: "imagetools"}}
                c["_data"] = _platform_data(service, key, knobs, up)
            containers.append(c)
        for service, (cname, image) in PLATFORM_DONE.items():
            if "api_v1" in knobs and service == "api_v1":
                running = _container(key, cname, image, up, "docker", service, ((8000, 8000),))
                containers.append(dict(running, _health="healthy"))
                continue
            containers.append(_container(key, cname, image, up, "docker", service, state="exited"))
        host = SimHost(
            name,
            name,
            address,
            fixed_ip,
            ctx.root,
            profile.network,
            ("hostname", "docker"),
            state={
                "docker": {"containers": containers, "engine": self._engine_path(ctx)},
                "compose_files": {f"{PLATFORM_DIR}/docker-compose.yaml": "docker"},
            },
        )
        self.plans.append(KnobbedHost(host, knobs))
        self.airflow[address] = _platform_dags(knobs, up)
        return host

    def _engine_path(self, ctx: BuildContext) -> str:
        """The classroom's `docker exec` engine for the data platform's containers' CLIs."""
        if self.engine is None:
            self.engine = DockerEngine.under(ctx.hosts_dir, "dockerd-data.sock")
        return str(self.engine.socket_path)

    # ---- running ----------------------------------------------------------------------
    def start(self, ctx: StartContext) -> None:
        """The data platform's web services on every data-platform-chi host that is up, and
        MLflow on every data-persist-chi host."""
        hub, tarpit = ctx.hub, ctx.tarpit
        for m in self.mlflow:
            if m.host.network == "tarpit":
                tarpit.listen(m.host.address, 8000)
            if m.host.network != "up":
                continue
            mlflow = TrackedHTTPServer((m.host.address, 8000), _MlflowHandler)
            mlflow.plan = m  # type: ignore[attr-defined]
            self._servers.append(mlflow)
            hub.add(mlflow.socket, mlflow.accept)
        if self.engine is not None:
            for plan in self.plans:
                host = plan.host
                self.engine.register(host.state_file, host.root, host.bin_dir)
            self.engine.start(hub)
        for plan in self.plans:
            host = plan.host
            ports = [8000, 8080, *UI_TITLES]
            if host.network == "tarpit":
                for port in ports:
                    tarpit.listen(host.address, port)
            if host.network != "up":
                continue
            dags, runs = self.airflow[host.address]
            airflow = AirflowServer(
                host.address,
                8080,
                dags,
                runs,
                "ok",
                password="gourmetgram_airflow",
                basic_auth=True,
                health=partial(_airflow_health, plan.knobs),
            )
            self._servers.append(airflow)
            hub.add(airflow.socket, airflow.accept)
            for port in (8000, *UI_TITLES):
                server = TrackedHTTPServer((host.address, port), _PlatformHandler)
                server.knobs = plan.knobs  # type: ignore[attr-defined]
                self._servers.append(server)
                hub.add(server.socket, server.accept)

    def pids(self) -> list[int]:
        return self.engine.pids() if self.engine else []

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        self.airflow = {}
        for server in self._servers:
            server.close()
        self._servers = []
        self.plans = []
        self.mlflow = []


class _PlatformHandler(BaseHTTPRequestHandler):
    """The platform's web services, by the port they listen on."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(
        self, code: int, body: bytes, ctype: str, server: str, extra: Json | None = None
    ) -> None:
        self.send_response_only(code)
        self.send_header("date", self.date_time_string())
        self.send_header("server", server)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the grader stops reading a huge body
            self.close_connection = True

    def do_GET(self) -> None:
        _, port = cast(tuple[str, int], self.server.server_address)
        knobs: frozenset[StorageKnob] = self.server.knobs  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        if port == 8000:
            return self._api(path, knobs)
        title = UI_TITLES[port]
        if "ui_impostor" in knobs and port in (9001, 3000):  # some other web server's page
            title = "Welcome to nginx!"
        page = f'<!doctype html><html><head><title>{title}</title></head><body><div id="root">'
        page += "</div></body></html>"
        self._send(200, page.encode(), "text/html; charset=utf-8", "nginx")

    def _api(self, path: str, knobs: frozenset[StorageKnob]) -> None:
        """api_v2 (FastAPI under uvicorn): /health reports the Kafka producer too."""
        if path != "/health":
            return self._send(404, b'{"detail":"Not Found"}', "application/json", "uvicorn")
        if "api_v1" in knobs:  # api_v1/app/main.py's /health
            return self._send(200, b'{"status":"healthy"}', "application/json", "uvicorn")
        if "health_garbage" in knobs:  # not JSON, not even UTF-8
            return self._send(200, bytes(range(128, 256)) * 8, "text/html", "uvicorn")
        if "health_huge" in knobs:  # 20 MiB of JSON
            pad = "0," * (10 << 20)
            body = ('{"status":"healthy","kafka_stats":[' + pad + "0]}").encode()
            return self._send(200, body, "application/json", "uvicorn")
        stats = {
            "enabled": True,
            "total_events": 5312,
            "events_by_topic": {
                "gourmetgram.views": 4410,
                "gourmetgram.comments": 702,
                "gourmetgram.uploads": 171,
                "gourmetgram.flags": 29,
            },
        }
        health = {"status": "healthy", "kafka_enabled": True, "kafka_stats": stats}
        self._send(
            200, json.dumps(health, separators=(",", ":")).encode(), "application/json", "uvicorn"
        )


class _MlflowHandler(BaseHTTPRequestHandler):
    """MLflow 2.20's tracking server (gunicorn behind `mlflow server`), the two REST calls a
    grader makes and /health; errors as MLflow answers them (`error_code`, `message`)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, code: int, doc: Any) -> None:
        body = doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()
        self.send_response_only(code)
        self.send_header("server", "gunicorn")
        self.send_header("date", self.date_time_string())
        ctype = "text/html; charset=utf-8" if isinstance(doc, str) else "application/json"
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _experiment(self) -> Json | None:
        plan: MlflowPlan = self.server.plan  # type: ignore[attr-defined]
        if not plan.runs:
            return None
        made = _ms(plan.made + timedelta(minutes=50))
        return {
            "experiment_id": "1",
            "name": "food11-classifier",
            "artifact_location": "mlflow-artifacts:/1",
            "lifecycle_stage": "active",
            "last_update_time": made,
            "creation_time": made,
        }

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            return self._send(200, "OK")
        if url.path == "/api/2.0/mlflow/experiments/get-by-name":
            name = parse_qs(url.query).get("experiment_name", [""])[0]
            exp = self._experiment()
            if exp is None or name != exp["name"]:
                message = f"Could not find experiment with name '{name}'"
                return self._send(
                    404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": message}
                )
            return self._send(200, {"experiment": exp})
        self._send(404, "<!doctype html><title>404 Not Found</title><h1>Not Found</h1>")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        try:
            query = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            query = None
        if urlsplit(self.path).path != "/api/2.0/mlflow/runs/search":
            return self._send(404, "<!doctype html><title>404 Not Found</title><h1>Not Found</h1>")
        if not isinstance(query, dict):
            message = "Invalid JSON in request body"
            return self._send(400, {"error_code": "MALFORMED_REQUEST", "message": message})
        plan: MlflowPlan = self.server.plan  # type: ignore[attr-defined]
        ids = [str(i) for i in query.get("experiment_ids") or []]
        runs = [r for r in plan.runs if r["info"]["experiment_id"] in ids]
        runs.sort(key=lambda r: -r["info"]["start_time"])  # MLflow's default order
        self._send(200, {"runs": runs} if runs else {})
