"""Data platforms: the checks follow the lab.

Bring up the services of docker/docker-compose.yaml stage by stage (PostgreSQL and Adminer,
MinIO, the API, Redpanda, Redis and the streaming services, Airflow and Nimtable), ending with
api_v2 in place of api_v1; the API's /health, Airflow's /health and the web UIs answer on the
instance's floating IP. Data flows: the generator's uploads land in MinIO, its events in the
Redpanda topics, risk scoring writes moderation rows to Postgres, and both Airflow DAGs ran
green, writing the Iceberg tables (moderation.training_data) to the MinIO warehouse.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any
from urllib.parse import quote

from graders.answers import as_dict
from graders.checks import Lab, check
from graders.errors import Failure, TransportError
from graders.labkit.apis import get_json, title_of
from graders.labkit.chameleon import lease_check, server_check
from graders.labkit.instances import course_key_check, login_check

lease = lease_check(title="Lease lease-data-<user> is ACTIVE")

server_active = server_check("Server node-data-<user> is ACTIVE with a floating IP")


ssh_login = login_check(after=server_active)


@check(
    title="The lab's compose services are running and healthy",
    depends=[ssh_login],
    vantage="host",
)
def compose_services(lab: Lab) -> None:
    """`docker compose ps` shows every service of the lab running, none unhealthy."""
    cfg = lab.config["compose"]
    command = f"docker compose -p {shlex.quote(cfg['project'])} ps -a --format json"
    result = lab.run(command)
    lab.require(
        result.ok,
        f"`{command}` failed: {(result.stderr or result.stdout).strip()[:200]}",
        "Is Docker (with its compose plugin) installed, and is cc in the docker group?",
    )
    services: dict[str, dict[str, Any]] = {}
    for row in _compose_rows(result.stdout):
        name = str(row.get("Service", ""))
        if name not in services or row.get("State") == "running":
            services[name] = row
    problems = []
    for name in cfg["services"]:
        state = services.get(name)
        if state is None:
            problems.append(f"{name} (no container)")
        elif state.get("State") != "running":
            problems.append(f"{name} ({state.get('Status') or state.get('State')})")
        elif state.get("Health") in ("unhealthy", "starting"):
            problems.append(f"{name} ({state['Health']})")
    lab.measure("services_up", len(cfg["services"]) - len(problems))
    lab.measure("services_expected", len(cfg["services"]))
    lab.note(
        f"compose project {cfg['project']}: {len(services)} services",
        {n: r.get("Status") or r.get("State") for n, r in sorted(services.items())},
    )
    lab.require(
        services,
        f"compose project {cfg['project']} has no containers",
        f"Bring the lab's services up: docker compose -f {cfg['file']} up -d ...",
    )
    lab.require(
        not problems,
        f"compose project {cfg['project']}: {', '.join(problems)}",
        f"Start them with docker compose -f {cfg['file']} up -d SERVICE; "
        "`docker compose logs SERVICE` says why one stopped.",
    )


@check(title="The API answers /health on port 8000", depends=[server_active])
def api_health(lab: Lab) -> None:
    """`GET /health` of the GourmetGram API returns {"status": "healthy", "kafka_enabled": true}:
    api_v2 with its Kafka producer connected (api_v1 reports no kafka_enabled)."""
    url = f"http://{lab.address}:{lab.port('api')}/health"
    doc = get_json(lab, url, "the API's health JSON")
    status = doc.get("status") if isinstance(doc, dict) else None
    lab.require(
        status == "healthy",
        f"GET {url} answered {json.dumps(doc)[:100]}, not status healthy",
        "Check `docker compose logs api_v2`.",
    )
    kafka = doc.get("kafka_enabled")
    lab.measure("kafka_enabled", kafka if isinstance(kafka, bool) else None)
    lab.require(
        "kafka_enabled" in doc,
        f"GET {url} answered {json.dumps(doc)[:100]}: no kafka_enabled, so this is api_v1",
        "Replace api_v1 by api_v2 (4_realtime): docker compose ... stop api_v1, then up -d "
        "api_v2 redpanda ...",
    )
    lab.require(
        kafka is True,
        f"GET {url} says kafka_enabled: {json.dumps(kafka)}: api_v2 could not reach Redpanda",
        "Start redpanda, then restart api_v2 (its producer connects at startup).",
    )


@check(title="Airflow's metadatabase and scheduler are healthy", depends=[server_active])
def airflow_health(lab: Lab) -> None:
    """`GET /health` of the Airflow webserver reports both components healthy."""
    url = f"http://{lab.address}:{lab.port('airflow')}/health"
    doc = as_dict(get_json(lab, url, "Airflow's health JSON"), f"Airflow's health JSON at {url}")
    parts = {p: as_dict(doc.get(p) or {}, f"{p} in {url}") for p in ("metadatabase", "scheduler")}
    bad = {p: e.get("status") for p, e in parts.items() if e.get("status") != "healthy"}
    lab.measure("scheduler_heartbeat", parts["scheduler"].get("latest_scheduler_heartbeat"))
    lab.require(
        not bad,
        f"Airflow at {url}: " + ", ".join(f"{k} is {v}" for k, v in bad.items()),
        "Start the scheduler: docker compose -f ~/data-platform-chi/docker/docker-compose.yaml "
        "up -d airflow-scheduler",
    )


@check(
    title="The web UIs answer (Redpanda Console, Adminer, RedisInsight, MinIO, Nimtable)",
    depends=[server_active],
    timeout=40,
)
def web_uis(lab: Lab) -> None:
    """Each UI's page answers HTTP 200 on its port, and its <title> names the product (any
    page answering 200 is not Redpanda Console)."""
    problems, answered = [], 0
    for key, product in lab.config["web_uis"].items():
        url = f"http://{lab.address}:{lab.port(key)}/"
        try:
            resp = lab.http.get(url)
        except TransportError as exc:
            if not answered:  # nothing on the host answers: unreachable, not failed
                raise
            problems.append(f"{key} ({exc.message})")
            continue
        answered += 1
        if resp.status != 200:
            problems.append(f"{key} (HTTP {resp.status} at {url})")
            continue
        title = title_of(resp.text)
        lab.measure(f"{key}_title", title[:80])
        if product not in "".join(title.lower().split()):
            problems.append(f"{key} (the page at {url} is titled {title[:60]!r})")
    lab.measure("uis_up", len(lab.config["web_uis"]) - len(problems))
    lab.require(
        not problems,
        f"web UI(s) not answering as themselves: {', '.join(problems)}",
        "Bring them up: docker compose -f ~/data-platform-chi/docker/docker-compose.yaml up -d "
        "redpanda-console adminer redisinsight nimtable nimtable-web",
    )


@check(title="Both Airflow DAGs have a successful run", depends=[server_active])
def airflow_dag_runs(lab: Lab) -> None:
    """Airflow's REST API on 8080 (basic auth, the compose file's admin user) has the DAGs
    redpanda_event_aggregation and moderation_training, each with a run in state success
    (5_iceberg triggers both and waits for green; any successful run counts, a later failed
    or scheduled one does not undo it)."""
    cfg = lab.config["airflow"]
    base = f"http://{lab.address}:{lab.port('airflow')}/api/v1/dags"
    auth = (cfg["user"], cfg["password"])
    problems = []
    for dag in cfg["dags"]:
        url = f"{base}/{quote(dag)}/dagRuns?state=success&limit=1&order_by=-execution_date"
        resp = lab.http.get(url, auth=auth)
        if resp.status in (401, 403):
            raise Failure(
                f"Airflow at {base} refused {cfg['user']} (HTTP {resp.status})",
                "The grader logs in as the compose file's admin / gourmetgram_airflow: keep "
                "that user and the basic_auth API backend while grading runs.",
            )
        if resp.status == 404:
            problems.append(f"no DAG {dag}")
            continue
        doc = get_json(lab, url, f"the successful runs of {dag}", auth=auth)
        total = doc.get("total_entries") if isinstance(doc, dict) else None
        lab.require(
            isinstance(total, int) and not isinstance(total, bool),
            f"GET {url} answered {json.dumps(doc)[:100]}, not Airflow's dag_runs list",
        )
        lab.measure(f"{dag}_successful_runs", total)
        if not total:
            problems.append(f"{dag} has no successful run")
    lab.require(
        not problems,
        f"Airflow: {'; '.join(problems)}",
        "In Airflow (8080), trigger redpanda_event_aggregation, wait until its tasks are green, "
        "then trigger moderation_training (5_iceberg); a failed task's log says why.",
    )


@check(title="The uploads reached MinIO (gourmetgram-images)", depends=[ssh_login], vantage="host")
def images_uploaded(lab: Lab) -> None:
    """The bucket gourmetgram-images holds objects: the API stored the generator's uploads
    (read inside the minio container with its `mc`)."""
    bucket = lab.config["data"]["images_bucket"]
    files = _minio_files(lab, f"{bucket}/", recursive=False)
    lab.measure("objects", len(files))  # those read: a listing past 4 MiB is read in part
    lab.require(
        files,
        f"bucket {bucket} holds no objects: nothing was uploaded through the API",
        "Bring up the data generator (docker compose ... up -d data_generator) and let it run.",
    )


@check(title="The Redpanda topics of the event stream exist", depends=[ssh_login], vantage="host")
def event_topics(lab: Lab) -> None:
    """`rpk topic list` in the redpanda container lists gourmetgram.uploads, .views, .comments,
    .flags (api_v2's events) and .moderation_requests (the stream consumer's)."""
    cfg = lab.config["data"]
    container = cfg["redpanda"]["container"]
    out = _in_container(lab, container, "rpk topic list", "Redpanda's topics")
    lines = out.splitlines()
    lab.require(
        lines and lines[0].split()[:1] == ["NAME"],
        f"`rpk topic list` in {container} printed {out[:120]!r}, not its topic table",
    )
    topics = {line.split()[0] for line in lines[1:] if line.strip()}
    missing = [t for t in cfg["topics"] if t not in topics]
    lab.measure("topics", len([t for t in topics if t.startswith("gourmetgram.")]))
    lab.require(
        not missing,
        f"Redpanda has no topic {', '.join(missing)}",
        "Run api_v2, the stream consumer and the data generator (4_realtime), and the viral "
        "burst that makes the stream consumer publish moderation requests.",
    )


@check(title="Risk scoring wrote rows to the moderation table", depends=[ssh_login], vantage="host")
def moderation_rows(lab: Lab) -> None:
    """`SELECT count(*) FROM moderation` in the gourmetgram database (psql inside the postgres
    container) is above 0: the risk scoring service stored its decisions."""
    pg = lab.config["data"]["postgres"]
    sql = f"SELECT count(*) FROM {pg['table']}"
    command = (
        f"psql -U {shlex.quote(pg['user'])} -d {shlex.quote(pg['database'])} -Atc "
        f"{shlex.quote(sql)}"
    )
    out = _in_container(lab, pg["container"], command, f"the {pg['table']} table").strip()
    lab.require(out.isdigit(), f"psql printed {out[:120]!r}, not a row count")
    lab.measure("rows", int(out))
    lab.require(
        int(out) > 0,
        f"table {pg['table']} of {pg['database']} is empty: no risk score was stored",
        "Run risk_scoring_service and stream_consumer, then the viral burst of 4_realtime "
        "(GENERATOR_MODE=simulate_viral) to trigger a moderation request.",
    )


@check(
    title="The Iceberg table moderation.training_data has data and metadata files",
    depends=[ssh_login],
    vantage="host",
)
def lakehouse_tables(lab: Lab) -> None:
    """The MinIO warehouse (gourmetgram-datalake/warehouse) holds moderation.training_data's
    Parquet data files and its metadata JSON, written by moderation_training's load_iceberg;
    the event_aggregations tables of redpanda_event_aggregation are counted."""
    cfg = lab.config["data"]
    files = _minio_files(lab, cfg["warehouse"].rstrip("/") + "/", recursive=True)
    ns, table = re.escape(cfg["training_namespace"]), re.escape(cfg["training_table"])
    layout = rf"(?:^|/){ns}(?:\.db)?/{table}/"
    data = [k for k in files if re.search(layout + r"data/[^/]+\.parquet$", k)]
    meta = [k for k in files if re.search(layout + r"metadata/[^/]+\.metadata\.json$", k)]
    windows = {
        m.group(1)
        for k in files
        if (m := re.search(r"(?:^|/)event_aggregations(?:\.db)?/([^/]+)/data/[^/]+\.parquet$", k))
    }
    lab.measure("warehouse_files", len(files))
    lab.measure("training_data_files", len(data))
    lab.measure("training_metadata_files", len(meta))
    lab.measure("window_tables", len(windows))
    lab.require(
        data and meta,
        f"the warehouse {cfg['warehouse']} has no moderation.training_data "
        f"{'data' if not data else 'metadata'} files ({len(files)} files in all)",
        "Trigger moderation_training in Airflow after redpanda_event_aggregation succeeded "
        "(5_iceberg); its load_iceberg task writes the table.",
    )


# --- helpers ----------------------------------------------------------------------------------
def _in_container(lab: Lab, container: str, command: str, what: str, env: str = "") -> str:
    """stdout of `docker exec [ENV] CONTAINER COMMAND` (complete lines only where it ran past
    4 MiB: a listing read in part); a Failure naming what went wrong."""
    result = lab.run(f"docker exec {env}{shlex.quote(container)} {command}", max_bytes=4 << 20)
    text = (result.stderr or "").strip()
    lab.require(
        result.exited != 127 or "docker" not in text,
        "docker is not installed on the instance",
    )
    lab.require(
        result.exited == 0 or (result.truncated and result.stdout),
        f"reading {what} in container {container} failed: "
        f"{(text or result.stdout).strip()[:200] or f'exit status {result.exited}'}",
        f"Is the {container} container running? docker compose ... up -d",
    )
    out = result.stdout
    return out[: out.rfind("\n") + 1] if result.truncated else out


def _minio_files(lab: Lab, path: str, *, recursive: bool) -> list[str]:
    """The keys of the objects under `path` (bucket/prefix/) as the minio container's own
    `mc ls --json` lists them (the lab's root credentials as an alias)."""
    m = lab.config["data"]["minio"]
    alias = f"MC_HOST_lab=http://{m['user']}:{m['password']}@localhost:9000"
    flags = "--recursive --json" if recursive else "--json"
    command = f"mc ls {flags} {shlex.quote('lab/' + path)}"
    out = _in_container(lab, m["container"], command, f"MinIO's {path}", f"-e {alias} ")
    files = []
    for line in out.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            raise Failure(f"`mc ls --json` printed {line[:120]!r}") from None
        if not isinstance(row, dict):
            raise Failure(f"`mc ls --json` printed {line[:120]!r}")
        if row.get("status") == "error":
            error = row.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            raise Failure(f"MinIO: {str(message or row)[:200]}")
        if row.get("type") == "file":
            files.append(str(row.get("key", "")))
    return files


def _compose_rows(stdout: str) -> list[dict[str, Any]]:
    """Compose v2.21+ prints one JSON object per line; older v2 releases one JSON array."""
    text = stdout.strip()
    try:
        if text.startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        raise Failure(
            f"`docker compose ps --format json` printed something that is not JSON: {text[:120]!r}"
        ) from None
    if not all(isinstance(r, dict) for r in rows):
        raise Failure(f"`docker compose ps --format json` printed {text[:120]!r}")
    return rows


course_key = course_key_check(after=server_active)
