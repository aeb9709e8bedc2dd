"""Serving on edge devices: a Zun container on a Raspberry Pi 5, with Jupyter.

Create the container node-serve-edge-<user> (underscores become dashes) from
quay.io/jupyter/minimal-notebook, expose 8888, attach a floating IP; then, with `c.execute()`,
clone the lab's repository, move its `workspace/models` and `measure_pi.ipynb` into `work/` and
`pip install onnxruntime`; then run measure_pi.ipynb in Jupyter. The grader checks the
container and that Jupyter answers, and looks inside the container the way the lab does, with
Zun's exec (`chi.container.execute`): the models, onnxruntime, and the executed notebook; Zun's
logs (`chi.container.get_logs`) tell a notebook never saved from one saved without outputs.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from graders.checks import Host, Lab, check
from graders.labkit.apis import get_json
from graders.labkit.chameleon import lease_check

LATENCY = re.compile(r"Inference Latency \(single sample, median\): ([0-9.]+) ms")


lease = lease_check(title="Lease serve_edge_<netid> is ACTIVE")


@check(title="Container node-serve-edge-<user> is Running with an address")
def container_running(lab: Lab) -> Host:
    """The Zun container exists at CHI@Edge, is Running, and has a floating IP."""
    container = _container(lab)
    name = container["name"]
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


@check(title="The lab's models are in the container's work/models", depends=[container_running])
def models_in_container(lab: Lab) -> None:
    """The ONNX models the lab moves into `work/models` (food11.onnx and its dynamic and
    aggressive quantizations) are there, each at a real model's size (Zun exec, `stat`)."""
    cfg = lab.config["models"]
    files = list(cfg["files"])
    paths = " ".join(shlex.quote(f"{cfg['dir']}/{f}") for f in files)
    output, code = _exec(lab, f"stat -c '%n %s' {paths}")
    sizes = {}
    for line in output.splitlines():
        path, _, size = line.rpartition(" ")
        if size.isdigit():
            sizes[path.rpartition("/")[2]] = int(size)
    missing = [f for f in files if f not in sizes]
    lab.measure("models_found", len(files) - len(missing))
    lab.require(
        not missing,
        f"missing in the container's {cfg['dir']}: {', '.join(missing)}"
        + (f" (stat exited {code})" if code else ""),
        "Run the notebook's c.execute() cells: git clone the lab, then "
        "mv serve-edge-chi/workspace/models work/.",
    )
    tiny = [f for f in files if sizes[f] < cfg["min_bytes"]]
    lab.require(not tiny, f"too small to be the lab's models: {', '.join(tiny)}")


@check(title="onnxruntime is installed in the container", depends=[container_running])
def onnxruntime_installed(lab: Lab) -> None:
    """`python3 -c 'import onnxruntime'` works in the container (the lab's
    `python3 -m pip install onnxruntime`), as Zun exec runs it."""
    output, code = _exec(lab, "python3 -c 'import onnxruntime; print(onnxruntime.__version__)'")
    last = output.strip().splitlines()[-1] if output.strip() else ""
    lab.require(
        code == 0,
        f"python3 cannot import onnxruntime in the container (exit {code}): {last[:200]}",
        'Run the notebook\'s c.execute("python3 -m pip install onnxruntime") cell.',
    )
    lab.measure("onnxruntime_version", last[:40])


@check(title="measure_pi.ipynb ran on the Pi", depends=[container_running])
def measure_pi_run(lab: Lab) -> None:
    """`work/measure_pi.ipynb`, as Jupyter saved it in the container, holds the latency the
    lab's benchmark printed for each of its three models (its outputs; Zun exec, `head`)."""
    cfg = lab.config["notebook"]
    path = cfg["path"]
    output, code = _exec(lab, f"head -c {int(cfg['max_bytes'])} {shlex.quote(path)}")
    if code != 0:
        lab.require(
            False,
            f"no {path} in the container (exit {code}: {output.strip()[:200]})",
            "Move it there with the notebook's c.execute() cells, then open and run it in Jupyter.",
        )
    medians = _medians(output, list(lab.config["models"]["files"]))
    for model, ms in medians.items():
        lab.measure(f"{model.removesuffix('.onnx')}_median_ms", ms)
    lab.note(f"{path}: median latency per model (ms): {medians}")
    missing = [m for m, ms in medians.items() if ms is None]
    if missing:
        saved = f"Saving file at /{path}" in _logs(lab)
        lab.require(
            False,
            f"{path} holds no benchmark output for {', '.join(missing)}"
            + (
                " (Jupyter saved it, without those outputs)"
                if saved
                else " (Jupyter's log shows it was never saved)"
            ),
            "Run every cell of measure_pi.ipynb in the container's Jupyter, and save it.",
        )


# --- helpers ----------------------------------------------------------------------------------
def _container(lab: Lab) -> dict[str, Any]:
    name = lab.name("container", edge_user=lab.student.chameleon_user.replace("_", "-"))
    return lab.require(
        lab.chameleon.container(name),
        f"no container named {name} at CHI@Edge",
        "Create it from the lab's notebook; the name must match exactly.",
    )


def _exec(lab: Lab, command: str) -> tuple[str, int | None]:
    """Zun exec in the student's container, run from its working directory (/home/jovyan),
    as the lab's own `c.execute()` steps are."""
    container = _container(lab)
    output, code = lab.chameleon.container_exec(container["uuid"], command)
    lab.note(f"zun exec {command!r} in {container['name']}: exit {code}", output[-2000:])
    return output, code


def _logs(lab: Lab) -> str:
    container = _container(lab)
    logs = lab.chameleon.container_logs(container["uuid"])
    saves = [line for line in logs.splitlines() if "Saving file at" in line]
    lab.note(f"zun logs of {container['name']}: {len(saves)} saves", "\n".join(saves[-20:]))
    return logs


def _medians(text: str, models: list[str]) -> dict[str, float | None]:
    """Each model's median latency, from the output of the code cell that loads it; None
    where no cell that loads it printed one. A file that is not a notebook has none."""
    found: dict[str, float | None] = dict.fromkeys(models)
    try:
        doc = json.loads(text)
    except ValueError:
        return found
    cells = doc.get("cells") if isinstance(doc, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _text(cell.get("source"))
        printed = "".join(
            _text(o.get("text")) + _text((o.get("data") or {}).get("text/plain"))
            for o in cell.get("outputs") or []
            if isinstance(o, dict)
        )
        match = LATENCY.search(printed)
        for model in models:
            if match and f"models/{model}" in source:
                found[model] = float(match.group(1))
    return found


def _text(value: Any) -> str:
    """A notebook string field: a string or a list of lines."""
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""
