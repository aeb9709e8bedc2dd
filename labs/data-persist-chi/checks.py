"""Persistent storage: the checks follow the lab.

Create the object store container object-persist-<netid> at CHI@TACC and load Food-11 into it
(training/, validation/, evaluation/); create the 2 GiB volume block-persist-<netid> at
KVM@TACC, attach it to node-persist-<user>, mount its partition at /mnt/block, and bring up
MLflow with docker-compose-block.yaml so that Postgres and MinIO keep their data there.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from typing import Any

from graders.checks import Lab, check
from graders.course import site_named
from graders.errors import Failure
from graders.labkit.chameleon import server_check
from graders.labkit.instances import course_key_check, login_check

VOLUME_DEVICE = re.compile(r"/dev/(vd|sd)[b-z]\d*")  # the root disk is vda


server_active = server_check("Server node-persist-<user> is ACTIVE with a floating IP")


# Read while the instance exists: once the lab's resources are deleted (its last step), this
# check is skipped and a regrade carries the earlier reading forward (`durable` in lab.yaml).
@check(title="Container object-persist-<netid> holds Food-11", depends=[server_active])
def object_container(lab: Lab) -> None:
    """The CHI@TACC object store has the container, with objects under training/,
    validation/ and evaluation/."""
    name, where = lab.name("container"), lab.config["object_store_site"]
    objects = lab.chameleon.at(site_named(where)).objects(name)
    if objects is None:
        raise Failure(
            f"no container named {name} in the object store at {where}",
            "Create it in Horizon (Object Store > Containers) at CHI@TACC, with exactly this name.",
        )
    _record_listing(lab, name, objects)
    lab.require(
        objects,
        f"container {name} at {where} is empty",
        "Run the ETL pipeline's load-data stage (rclone copy into chi_tacc:$RCLONE_CONTAINER).",
    )
    missing = [p for p in lab.config["object_prefixes"] if not _under(objects, p)]
    lab.require(
        not missing,
        f"container {name} holds {len(objects)} objects, none under {', '.join(missing)}",
        "Load the whole transformed Food-11 folder (training, validation and evaluation).",
    )


@check(
    title="Volume block-persist-<netid> (2 GiB) is attached to the server",
    depends=[server_active],
)
def volume_attached(lab: Lab) -> None:
    """The KVM@TACC volume exists, is 2 GiB, and is in-use by node-persist-<user>."""
    name, server = lab.name("volume"), lab.name("server")
    volume = lab.require(
        lab.chameleon.volume(name),
        f"no volume named {name} at {lab.config['site']}",
        "Create it in Horizon (Volumes > Create Volume) with exactly this name and 2 GiB.",
    )
    size, status = volume.get("size"), volume.get("status")
    attachments = volume.get("attachments") or []
    lab.measure("size_gib", size)
    lab.measure("status", status)
    lab.note(
        f"volume {name}: {size} GiB, {status}, {len(attachments)} attachment(s)",
        {k: volume.get(k) for k in ("id", "name", "size", "status", "attachments", "created_at")},
    )
    want = lab.config["volume"]["size_gib"]
    lab.require(size == want, f"volume {name} is {size} GiB, not {want} GiB")
    ours = [a for a in attachments if a.get("server_id") == _server_id(lab)]
    others = ", ".join(str(a.get("server_id")) for a in attachments) or "nothing"
    lab.require(
        status == "in-use" and ours,
        f"volume {name} is {status}, attached to {others}, not to {server}",
        "Attach it to the new instance: chi.nova().volumes.create_server_volume(server_id=..., "
        "volume_id=...).",
    )
    lab.measure("device", ours[0].get("device"))


ssh_login = login_check(after=server_active)


@check(
    title="/mnt/block is mounted from the volume",
    depends=[ssh_login, volume_attached],
    vantage="host",
)
def block_mounted(lab: Lab) -> None:
    """`findmnt` shows /mnt/block as the mount point of a filesystem on the attached disk."""
    point = lab.config["volume"]["mountpoint"]
    result = lab.run(f"findmnt -J -T {shlex.quote(point)}")
    help = f"Mount it: sudo mkdir -p {point} && sudo mount /dev/vdb1 {point}"
    lab.require(result.exited != 127, "findmnt is not installed on the instance")
    lab.require(
        result.ok and result.stdout.strip(), f"{point} does not exist on the instance", help
    )
    fs = _filesystem(result.stdout)
    target, source = fs.get("target"), str(fs.get("source"))
    lab.measure("source", source)
    lab.measure("fstype", fs.get("fstype"))
    lab.require(
        target == point,
        f"{point} is a plain directory on {target} ({source}), not a mounted volume",
        help,
    )
    lab.require(
        VOLUME_DEVICE.fullmatch(source),
        f"{point} is mounted from {source}, not from the attached volume (/dev/vdb...)",
        help,
    )


@check(
    title="MLflow's Postgres and MinIO data live on /mnt/block",
    depends=[block_mounted],
    vantage="host",
)
def mlflow_on_volume(lab: Lab) -> None:
    """minio, postgres and mlflow are running, and minio and postgres keep their data in bind
    mounts under /mnt/block (docker-compose-block.yaml)."""
    point, names = lab.config["volume"]["mountpoint"], lab.config["containers"]
    result = lab.run("docker inspect " + " ".join(shlex.quote(n) for n in names))
    try:
        found = {c["Name"].lstrip("/"): c for c in json.loads(result.stdout or "[]")}
    except (ValueError, TypeError, KeyError, AttributeError):
        raise Failure(f"`docker inspect` printed no containers: {result.stdout[:120]!r}") from None
    down = [n for n in names if not (found.get(n, {}).get("State") or {}).get("Running")]
    lab.require(
        not down,
        f"container(s) not running: {', '.join(down)}",
        "Bring the services up: docker compose -f ~/data-persist-chi/docker/"
        "docker-compose-block.yaml up -d",
    )
    for name, path in lab.config["volume_data"].items():
        mounts = [m for m in found[name].get("Mounts") or [] if m.get("Destination") == path]
        source = mounts[0].get("Source", "") if mounts else ""
        kind = mounts[0].get("Type") if mounts else None
        lab.measure(f"{name}_data", source or None)
        lab.require(
            kind == "bind" and source.startswith(point.rstrip("/") + "/"),
            f"{name} keeps {path} in {source or 'its container layer'} ({kind or 'no mount'}), "
            f"not under {point}",
            "Use docker-compose-block.yaml: it binds /mnt/block/minio_data and "
            "/mnt/block/postgres_data.",
        )


# --- helpers ----------------------------------------------------------------------------------
def _under(objects: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [o for o in objects if str(o.get("name", "")).startswith(prefix)]


def _record_listing(lab: Lab, name: str, objects: list[dict[str, Any]]) -> None:
    """The durable record: counts, bytes, and a digest of every object's name, size and MD5."""
    lines = [f"{o.get('name')}\t{o.get('bytes')}\t{o.get('hash')}" for o in objects]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    total = sum(int(o.get("bytes") or 0) for o in objects)
    lab.measure("objects", len(objects))
    lab.measure("bytes", total)
    lab.measure("listing_sha256", digest)
    for prefix in lab.config["object_prefixes"]:
        lab.measure(f"objects_{prefix.strip('/')}", len(_under(objects, prefix)))
    lab.note(
        f"container {name}: {len(objects)} objects, {total} bytes, listing sha256 {digest[:16]}",
        "name\tbytes\tmd5\n" + "\n".join(lines),
    )


def _filesystem(stdout: str) -> dict[str, Any]:
    try:
        fs = json.loads(stdout)["filesystems"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        raise Failure(f"`findmnt -J` printed something else: {stdout[:120]!r}") from None
    if not isinstance(fs, dict):
        raise Failure(f"`findmnt -J` printed something else: {stdout[:120]!r}")
    return fs


def _server_id(lab: Lab) -> str:
    """Nova's id of the server this check observes (from the cached server listing)."""
    server = lab.require(lab.chameleon.server(lab.host.name), f"no server {lab.host.name}")
    return str(server["id"])


course_key = course_key_check(after=server_active)
