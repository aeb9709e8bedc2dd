"""Docker on the instance: the containers running, and what `docker inspect` says of one."""

from __future__ import annotations

import re
import shlex
from typing import Any

from graders.answers import as_dict, parse_json
from graders.checks import Lab
from graders.errors import Failure


def containers(lab: Lab) -> dict[str, dict[str, Any]]:
    """Running containers by name, from `docker ps --format '{{json .}}'`."""
    result = lab.run("docker ps --format '{{json .}}'")
    lab.require(
        result.ok,
        f"`docker ps` failed: {result.stderr.strip()[:200]}",
        "Is Docker installed, and is cc in the docker group?",
    )
    found = {}
    for line in result.stdout.splitlines():
        row = as_dict(parse_json(line, "a line of `docker ps --format json`"), "a container")
        for name in str(row.get("Names", "")).split(","):
            found[name] = row
    return found


def require_containers(lab: Lab, names: list[str]) -> dict[str, dict[str, Any]]:
    running = containers(lab)
    missing = [n for n in names if n not in running]
    lab.measure("containers_running", len(names) - len(missing))
    lab.require(
        not missing,
        f"container(s) not running: {', '.join(missing)} "
        f"(running: {', '.join(sorted(running)) or 'none'})",
        "Start them with the lab's docker compose file; check `docker ps -a` for ones that exited.",
    )
    return running


def inspect_container(lab: Lab, name: str) -> dict[str, Any]:
    result = lab.run(f"docker inspect {shlex.quote(name)}")
    lab.require(result.ok, f"`docker inspect {name}` failed: {result.stderr.strip()[:200]}")
    found = parse_json(result.stdout, f"`docker inspect {name}`")
    container = found[0] if isinstance(found, list) and found else None
    if not isinstance(container, dict):
        raise Failure(f"`docker inspect {name}` did not print a container")
    return container


def published_ports(ports: str) -> set[int]:
    """Host ports in `docker ps`'s PORTS column, e.g. "0.0.0.0:8000-8002->8000-8002/tcp,
    :::8000-8002->8000-8002/tcp" (docker joins consecutive ports into a range)."""
    found: set[int] = set()
    for lo, hi in re.findall(r":(\d{1,5})(?:-(\d{1,5}))?->[\d-]+/tcp", ports):
        first = int(lo)
        last = int(hi) if hi else first
        if last - first <= 65535:
            found.update(range(first, last + 1))
    return found


def container_brief(container: dict[str, Any]) -> dict[str, Any]:
    """An inspected container in brief, for a note: its image, command and compose labels."""
    config = container.get("Config") or {}
    return {
        "Image": config.get("Image"),
        "Cmd": config.get("Cmd"),
        "Entrypoint": config.get("Entrypoint"),
        "Labels": {k: v for k, v in (config.get("Labels") or {}).items() if "compose" in k},
    }
