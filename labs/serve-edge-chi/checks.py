"""Serving on edge devices: a Zun container on a Raspberry Pi 5, with Jupyter.

Create the container node-serve-edge-<user> (underscores become dashes) from
quay.io/jupyter/minimal-notebook, expose 8888, attach a floating IP, then benchmark the ONNX
models in its Jupyter. The grader checks the container and that Jupyter answers.
"""

from __future__ import annotations

from graders.checks import Host, Lab, check
from graders.labkit.apis import get_json


@check(title="Container node-serve-edge-<user> is Running with an address")
def container_running(lab: Lab) -> Host:
    """The Zun container exists at CHI@Edge, is Running, and has a floating IP."""
    name = lab.name("container", edge_user=lab.student.chameleon_user.replace("_", "-"))
    container = lab.require(
        lab.chameleon.container(name),
        f"no container named {name} at CHI@Edge",
        "Create it from the lab's notebook; the name must match exactly.",
    )
    status = container.get("status")
    lab.require(
        status == "Running",
        f"container {name} is {status}"
        + (f" ({container['status_reason']})" if container.get("status_reason") else ""),
    )
    ports = {
        a.get("port")
        for addrs in (container.get("addresses") or {}).values()
        for a in addrs
        if a.get("port")
    }
    address = lab.require(
        lab.chameleon.floating_ip_of_ports(ports),
        f"container {name} has no floating IP",
        "Associate one: chi.container.associate_floating_ip(...) in the notebook.",
    )
    return Host(name, address)


@check(title="Jupyter answers on port 8888", depends=[container_running])
def jupyter_up(lab: Lab) -> None:
    """`http://<floating IP>:8888/api` is Jupyter Server's version document."""
    url = f"http://{lab.address}:{lab.port('jupyter')}/api"
    doc = get_json(lab, url, 'Jupyter Server\'s {"version": ...}')
    lab.require(isinstance(doc, dict) and "version" in doc, f"GET {url} is not Jupyter: {doc!r}")
    lab.measure("jupyter_version", str(doc["version"]))
