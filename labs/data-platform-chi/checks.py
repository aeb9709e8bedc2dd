"""Data platforms: the checks follow the lab.

Bring up the services of docker/docker-compose.yaml stage by stage (PostgreSQL and Adminer,
MinIO, the API, Redpanda, Redis and the streaming services, Airflow and Nimtable), ending with
api_v2 in place of api_v1; the API's /health, Airflow's /health and the web UIs answer on the
instance's floating IP.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from graders.answers import as_dict
from graders.checks import Lab, check
from graders.errors import Failure, TransportError
from graders.labkit.apis import get_json
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
    """`GET /health` of the GourmetGram API returns {"status": "healthy", ...}."""
    url = f"http://{lab.address}:{lab.port('api')}/health"
    doc = get_json(lab, url, "the API's health JSON")
    status = doc.get("status") if isinstance(doc, dict) else None
    lab.require(
        status == "healthy",
        f"GET {url} answered {json.dumps(doc)[:100]}, not status healthy",
        "Check `docker compose logs api_v2`.",
    )
    lab.measure("kafka_enabled", bool(doc.get("kafka_enabled")))  # api_v2 reports it


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
    """Each UI's page answers HTTP 200 on its port."""
    problems, answered = [], 0
    for key in lab.config["web_uis"]:
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
    lab.measure("uis_up", len(lab.config["web_uis"]) - len(problems))
    lab.require(
        not problems,
        f"web UI(s) not answering: {', '.join(problems)}",
        "Bring them up: docker compose -f ~/data-platform-chi/docker/docker-compose.yaml up -d "
        "redpanda-console adminer redisinsight nimtable nimtable-web",
    )


# --- helpers ----------------------------------------------------------------------------------
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
