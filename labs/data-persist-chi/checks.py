"""Persistent storage: the checks follow the lab.

Create the object store container object-persist-<netid> at CHI@TACC and load Food-11 into it
(training/, validation/, evaluation/); create the 2 GiB volume block-persist-<netid> at
KVM@TACC, attach it to node-persist-<user>, mount its partition at /mnt/block, and bring up
MLflow with docker-compose-block.yaml so that Postgres and MinIO keep their data there; log the
demo's run to MLflow, then delete the instance, create a new one, re-attach and mount the volume
and bring MLflow up again: the runs logged before are still there.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from datetime import datetime, timezone
from typing import Any

from graders.checks import Lab, check
from graders.course import site_named
from graders.errors import Failure, Skip
from graders.labkit.apis import mlflow_api
from graders.labkit.chameleon import server_check
from graders.labkit.instances import course_key_check, login_check

VOLUME_DEVICE = re.compile(r"/dev/(vd|sd)[b-z]\d*")  # the root disk is vda


server_active = server_check("Server node-persist-<user> is ACTIVE with a floating IP")


# Read while the instance exists: once the lab's resources are deleted (its last step), this
# check is skipped and a regrade carries the earlier reading forward (`durable` in lab.yaml).
@check(title="Container object-persist-<netid> holds Food-11", depends=[server_active])
def object_container(lab: Lab) -> None:
    """The CHI@TACC object store has the container, holding Food-11 as the ETL loads it: each
    of training/, validation/ and evaluation/ with all 11 class_NN/ folders and about as many
    images as the real split (lab.yaml `food11`)."""
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
    food11 = lab.config["food11"]
    classes = [f"class_{c:02d}/" for c in range(food11["classes"])]
    problems = []
    for prefix in lab.config["object_prefixes"]:
        here = _under(objects, prefix)
        absent = [c.rstrip("/") for c in classes if not _under(here, prefix + c)]
        floor = food11["min_objects"][prefix.strip("/")]
        if absent:
            problems.append(f"{prefix} lacks {', '.join(absent)}")
        elif len(here) < floor:
            problems.append(f"{prefix} holds {len(here)} objects (Food-11 has over {floor})")
    lab.require(
        not problems,
        f"container {name} is not the transformed Food-11: {'; '.join(problems)}",
        "Run the ETL's three stages (extract-data, transform-data, load-data) to the end; the "
        "load stage copies every class_NN folder of each split.",
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
    lab.measure("attached_at", ours[0].get("attached_at"))


@check(
    title="The server was re-created after the volume was made (the volume re-attached)",
    depends=[volume_attached],
)
def server_recreated(lab: Lab) -> str:
    """block.md deletes the first instance once MLflow's data is on the volume and launches a
    new node-persist-<user>, to which the volume is re-attached: the server Nova has now was
    created after the volume (the first one was created before it). Returns the server's
    creation time, which the runs logged before the re-creation predate."""
    server = lab.require(lab.chameleon.server(lab.host.name), f"no server {lab.host.name}")
    volume = lab.require(lab.chameleon.volume(lab.name("volume")), "the volume is gone")
    created, made = _when(server.get("created")), _when(volume.get("created_at"))
    lab.measure("server_created", server.get("created"))
    lab.measure("volume_created", volume.get("created_at"))
    lab.require(
        created is not None and made is not None,
        f"Nova or Cinder gave no creation time ({server.get('created')!r}, "
        f"{volume.get('created_at')!r})",
    )
    assert created is not None and made is not None
    lab.require(
        created > made,
        f"server {lab.host.name} was created at {server.get('created')}, before the volume "
        f"({volume.get('created_at')}): it is the first instance, never replaced",
        "The lab's point is that the data outlives the instance: delete the server, launch a new "
        "one, re-attach the volume, mount it and bring MLflow up again (block.md).",
    )
    return created.isoformat()


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
    title="The object store is mounted at /mnt/object (rclone)", depends=[ssh_login], vantage="host"
)
def object_mounted(lab: Lab) -> None:
    """`findmnt` shows the container mounted by `rclone mount` (fuse.rclone) at /mnt/object.
    object.md mounts it on the first instance; the re-created one of block.md never does, so
    there its absence is not charged (skipped)."""
    point, container = lab.config["object_mount"], lab.name("container")
    result = lab.run(f"findmnt -J -T {shlex.quote(point)}")
    lab.require(result.exited != 127, "findmnt is not installed on the instance")
    fs = _filesystem(result.stdout) if result.ok and result.stdout.strip() else {}
    target, source = fs.get("target"), str(fs.get("source") or "")
    lab.measure("fstype", fs.get("fstype"))
    lab.measure("source", source or None)
    if target == point and fs.get("fstype") == "fuse.rclone":
        lab.require(
            source.rstrip("/").split(":", 1)[-1].split("/")[0] == container,
            f"{point} is an rclone mount of {source}, not of the container {container}",
            f"rclone mount chi_tacc:{container} {point} --read-only --allow-other --daemon",
        )
        return
    if _recreated(lab):
        raise Skip(
            f"{point} is not mounted; the re-created instance of the lab's last part does not "
            "mount the object store again"
        )
    found = f"a directory on {target}" if target else "absent"
    raise Failure(
        f"{point} is not an rclone mount ({found})",
        f"rclone mount chi_tacc:{container} {point} --read-only --allow-other --daemon",
    )


@check(
    title="MLflow's Postgres and MinIO data live on /mnt/block",
    depends=[block_mounted],
    vantage="host",
)
def mlflow_on_volume(lab: Lab) -> None:
    """minio, postgres and mlflow are running, and minio and postgres keep their data in bind
    mounts under /mnt/block (docker-compose-block.yaml): the mount holding the data folder
    (for Postgres, its PGDATA: /var/lib/postgresql/data up to 17, /var/lib/postgresql/18/docker
    in 18, under either of the layouts a working container can have) comes from the volume."""
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
    for name, where in lab.config["volume_data"].items():
        path = _data_dir(found[name], where)
        mount = _mount_of(found[name].get("Mounts") or [], path)
        source = str(mount.get("Source") or "") if mount else ""
        kind = mount.get("Type") if mount else None
        lab.measure(f"{name}_data", source or None)
        lab.measure(f"{name}_data_dir", path)
        lab.require(
            kind == "bind" and source.startswith(point.rstrip("/") + "/"),
            f"{name} keeps {path} in {source or 'its container layer'} ({kind or 'no mount'}), "
            f"not under {point}",
            "Use docker-compose-block.yaml: it binds /mnt/block/minio_data and "
            "/mnt/block/postgres_data (with postgres:18, at /var/lib/postgresql).",
        )


@check(
    title="MLflow still has the runs logged before the instance was re-created",
    depends=[server_recreated],
)
def mlflow_runs_survived(lab: Lab, server_recreated: str) -> None:
    """MLflow's REST API on 8000 has the experiment food11-classifier with a run that logged
    eval_accuracy and started before this server was created: the demo's run from the first
    instance, kept in Postgres on the volume. (The logged model, MinIO's part, is measured.)"""
    cfg = lab.config["mlflow"]
    experiment = cfg["experiment"]
    help = (
        "On the new instance, mount the volume before `docker compose ... up -d`, so that "
        "Postgres and MinIO find the data the first instance left on it."
    )
    found = mlflow_api(
        lab,
        "GET",
        f"experiments/get-by-name?experiment_name={experiment}",
        f"experiment {experiment}",
        help=help,
    )
    exp = lab.require(
        found.get("experiment") if isinstance(found.get("experiment"), dict) else None,
        f"MLflow's answer has no experiment: {json.dumps(found)[:120]}",
    )
    query = {"experiment_ids": [exp.get("experiment_id")], "max_results": 1000}
    runs = mlflow_api(lab, "POST", "runs/search", f"runs in {experiment}", query).get("runs")
    runs = [r for r in runs or [] if isinstance(r, dict)]
    since = datetime.fromisoformat(server_recreated)
    metric = cfg["metric"]
    earlier, scored = [], []
    for run in runs:
        info = run.get("info") if isinstance(run.get("info"), dict) else {}
        data = run.get("data") if isinstance(run.get("data"), dict) else {}
        keys = {m.get("key") for m in data.get("metrics") or [] if isinstance(m, dict)}
        start = info.get("start_time")
        if metric in keys:
            scored.append(run)
            if isinstance(start, int) and _ms(start) and _at(start) < since:
                earlier.append(run)
    lab.measure("runs", len(runs))
    lab.measure("runs_with_metric", len(scored))
    lab.measure("runs_before_recreation", len(earlier))
    lab.measure("logged_model", any(_logged_model(r, cfg["model_path"]) for r in earlier))
    lab.require(
        scored,
        f"experiment {experiment} has {len(runs)} run(s), none with the metric {metric}",
        "Add the MLflow cell to demo.ipynb (log eval_accuracy and the model) and run it.",
    )
    lab.require(
        earlier,
        f"every run of {experiment} with {metric} started after this server was created "
        f"({server_recreated}): the runs of the first instance did not survive",
        help,
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


def _when(stamp: Any) -> datetime | None:
    """An OpenStack timestamp (Nova's `...Z`, Cinder's naive UTC with microseconds)."""
    try:
        when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


def _ms(value: Any) -> bool:
    """An MLflow time: milliseconds since the epoch (an int; bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**53


def _recreated(lab: Lab) -> bool:
    """Whether the server is newer than the volume (cached listings; False when unknown)."""
    server = lab.chameleon.server(lab.host.name) or {}
    volume = lab.chameleon.volume(lab.name("volume")) or {}
    created, made = _when(server.get("created")), _when(volume.get("created_at"))
    return created is not None and made is not None and created > made


def _data_dir(container: dict[str, Any], where: dict[str, str]) -> str:
    """The folder a container keeps its data in: the environment variable `where` names (the
    image's or compose's, as `docker inspect` lists Config.Env), else `where['path']`."""
    env = (container.get("Config") or {}).get("Env") or []
    if where.get("env"):
        for item in env:
            key, _, value = str(item).partition("=")
            if key == where["env"] and value.startswith("/"):
                return value.rstrip("/") or "/"
    return where["path"]


def _mount_of(mounts: list[dict[str, Any]], path: str) -> dict[str, Any] | None:
    """The mount that holds `path` inside the container: the longest Destination above it."""
    best: dict[str, Any] | None = None
    for m in mounts:
        dest = str(m.get("Destination") or "").rstrip("/") or "/"
        if path == dest or path.startswith(dest.rstrip("/") + "/"):
            if best is None or len(dest) > len(str(best.get("Destination") or "")):
                best = m
    return best


def _logged_model(run: dict[str, Any], path: str) -> bool:
    """MLflow 2's record of `log_model(..., "food11")`: the run's mlflow.log-model.history tag."""
    tags = (run.get("data") or {}).get("tags") or []
    for tag in tags:
        if isinstance(tag, dict) and tag.get("key") == "mlflow.log-model.history":
            try:
                history = json.loads(str(tag.get("value")))
            except ValueError:
                return False
            return any(isinstance(h, dict) and h.get("artifact_path") == path for h in history)
    return False


def _server_id(lab: Lab) -> str:
    """Nova's id of the server this check observes (from the cached server listing)."""
    server = lab.require(lab.chameleon.server(lab.host.name), f"no server {lab.host.name}")
    return str(server["id"])


course_key = course_key_check(after=server_active)
