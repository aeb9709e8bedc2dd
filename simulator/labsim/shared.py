"""What several lab families build alike, in one place they all import from.

* stable ids and times: the same parts always give the same id, so a classroom built twice
  looks the same (and the stand-ins' outputs stay comparable with the real tools');
* Docker containers as the Engine API lists and inspects them (`GET /containers/json`, with
  `_`-prefixed fields for the docker stand-in and engine.py), their mounts, and the labs'
  `jupyter` container;
* a real JPEG, what the labs' notebooks send to a model server.
"""

from __future__ import annotations

import functools
import hashlib
import io
import secrets
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

Json = dict[str, Any]


# ---- ids and times ---------------------------------------------------------------------------
def stable_uid(*parts: str) -> str:
    """A Kubernetes-style UID (UUID 5) from `parts`."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "labgrader-sim:" + ":".join(parts)))


def stable_hex(*parts: str, n: int = 64) -> str:
    """The first `n` hex digits of the SHA-256 of `parts` joined by ":"."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:n]


def rfc3339(when: datetime) -> str:
    """`when` as Kubernetes and GitHub write times: 2025-01-31T12:00:00Z."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- Docker containers -----------------------------------------------------------------------
def container(
    key: str,
    name: str,
    image: str,
    command: list[str],
    created: datetime,
    ports: tuple[tuple[int, int], ...] = (),
    mounts: list[Json] | None = None,
    gpus: bool = False,
    env: list[str] | None = None,
    workdir: str = "",
    labels: dict[str, str] | None = None,
    network: str = "bridge",
    entrypoint: list[str] | None = None,
    user: str = "",
    extra_config: Json | None = None,
) -> Json:
    """A running container, listed and inspected (`_inspect`: what `docker inspect` adds);
    `ports` are (host, container) pairs, published on IPv4 and IPv6."""
    cid = stable_hex(key, "container", name)
    # Copy what the caller gave: the lists and dicts stored here must not be shared with
    # module constants (JUPYTER_ENV) or with another container's record.
    mounts = [dict(m) for m in mounts or []]
    bridge = network == "bridge"
    item: Json = {
        "Id": cid,
        "Names": ["/" + name],
        "Image": image,
        "ImageID": "sha256:" + stable_hex(key, "image", image),
        "Command": " ".join((entrypoint or []) + command),
        "Created": int(created.timestamp()),
        "Ports": [
            {"IP": ip, "PrivatePort": inside, "PublicPort": outside, "Type": "tcp"}
            for outside, inside in ports
            for ip in ("0.0.0.0", "::")
        ],
        "Labels": dict(labels or {}),
        "State": "running",
        "HostConfig": {"NetworkMode": network},
        "NetworkSettings": {
            "Networks": {
                network: {
                    "NetworkID": stable_hex(key, "net", network),
                    "EndpointID": stable_hex(key, "endpoint", name),
                    "Gateway": "172.17.0.1" if bridge else "172.18.0.1",
                    "IPAddress": "172.17.0.2" if bridge else "172.18.0.2",
                    "IPPrefixLen": 16,
                    "MacAddress": "02:42:ac:11:00:02",
                }
            }
        },
        "Mounts": mounts,
        "_started": int(created.timestamp()) + 2,
    }
    config = {
        "Hostname": cid[:12],
        "User": user,
        "ExposedPorts": {f"{c}/tcp": {} for _, c in ports} or None,
        "Env": list(env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
        "Cmd": list(command),
        "Image": image,
        "WorkingDir": workdir,
        "Entrypoint": list(entrypoint) if entrypoint is not None else None,
        "Labels": dict(labels or {}),
        **(extra_config or {}),
    }
    item["_inspect"] = {
        "Config": config,
        "HostConfig": _host_config(mounts, network, gpus),
        "Pid": 3000 + int(cid[:4], 16) % 60000,
        "_token": secrets.token_hex(24),
    }
    return item


def _host_config(mounts: list[Json], network: str, gpus: bool) -> Json:
    """`docker inspect`'s HostConfig: bind mounts, network, and `--gpus all`."""
    host_config: Json = {
        "Binds": [f"{m['Source']}:{m['Destination']}" for m in mounts if m["Type"] == "bind"]
        or None,
        "NetworkMode": network,
    }
    if gpus:
        host_config["DeviceRequests"] = [
            {
                "Driver": "",
                "Count": -1,
                "DeviceIDs": None,
                "Capabilities": [["gpu"]],
                "Options": {},
            }
        ]
    return host_config


def bind_mount(source: Path, destination: str) -> Json:
    return {
        "Type": "bind",
        "Source": str(source),
        "Destination": destination,
        "Mode": "",
        "RW": True,
        "Propagation": "rprivate",
    }


def volume_mount(name: str, destination: str) -> Json:
    return {
        "Type": "volume",
        "Name": name,
        "Source": f"/var/lib/docker/volumes/{name}/_data",
        "Destination": destination,
        "Driver": "local",
        "Mode": "z",
        "RW": True,
        "Propagation": "",
    }


JUPYTER_ENV = (
    "PATH=/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND=noninteractive",
    "CONDA_DIR=/opt/conda",
    "SHELL=/bin/bash",
    "NB_USER=jovyan",
    "NB_UID=1000",
    "NB_GID=100",
    "LC_ALL=C.UTF-8",
    "LANG=C.UTF-8",
    "HOME=/home/jovyan",
    "JUPYTER_PORT=8888",
)


def jupyter_container(
    key: str,
    image: str,
    created: datetime,
    mounts: list[Json],
    gpus: bool,
    env: tuple[str, ...] = (),
) -> Json:
    """The labs' `jupyter` container (a Jupyter Docker Stacks image on 8888); `env` adds to
    the image's environment."""
    return container(
        key,
        "jupyter",
        image,
        ["start-notebook.py"],
        created,
        ports=((8888, 8888),),
        mounts=mounts,
        gpus=gpus,
        env=[*JUPYTER_ENV, *env],
        workdir="/home/jovyan",
        entrypoint=["tini", "-g", "--"],
        user="1000",
    )


# ---- a test image ----------------------------------------------------------------------------
@functools.cache
def sample_jpeg(size: int = 224, seed: int = 0) -> bytes:
    """A real JPEG (Pillow), like the lab's test_image.jpeg: a plate of something orange."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), (236, 231, 222))
    draw = ImageDraw.Draw(img)
    r = size // 2 - 12
    draw.ellipse((12, 12, 12 + 2 * r, 12 + 2 * r), fill=(250, 250, 246), outline=(200, 196, 190))
    for i in range(7):
        x = 40 + (i * 37 + seed * 13) % (size - 80)
        y = 50 + (i * 53 + seed * 7) % (size - 100)
        draw.ellipse((x, y, x + 34, y + 26), fill=(214 - 9 * i, 110 + 6 * i, 40))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=88)
    return out.getvalue()
