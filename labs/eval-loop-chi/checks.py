"""Closing the feedback loop: the checks follow the lab.

GourmetGram saves every production image to MinIO's bucket `production` (under class_NN/,
tagged with predicted_class, confidence and timestamp); Label Studio (8080) holds the labelling
projects; Airflow (8081) runs the DAGs that sample, label and sort production data.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from graders.answers import as_dicts
from graders.checks import Lab, check
from graders.errors import Failure
from graders.labkit.apis import form_value, get_json
from graders.labkit.chameleon import server_check
from graders.labkit.objectstores import lab_s3

server_active = server_check("Server node-eval-loop-<user> is ACTIVE with a floating IP")


@check(title="Bucket production holds tagged production images", depends=[server_active])
def production_bucket(lab: Lab) -> None:
    """MinIO's bucket production has images under class_NN/ carrying the tags
    predicted_class, confidence and timestamp (read with GetObjectTagging)."""
    cfg = lab.config["s3"]
    endpoint = f"http://{lab.address}:{lab.port('s3')}"
    s3 = lab_s3(lab)
    objects = s3.objects(cfg["bucket"])
    lab.measure("objects", len(objects))
    lab.require(
        objects,
        f"bucket {cfg['bucket']} at {endpoint} is empty",
        "Upload images through GourmetGram on port 5000; each prediction is saved there.",
    )
    pattern = re.compile(cfg["key_pattern"])
    in_classes = [o for o in objects if pattern.match(o["key"])]
    for obj in in_classes[: cfg["max_tagged"]]:
        obj["tags"] = s3.tags(cfg["bucket"], obj["key"])
    # Durable evidence: every key and size, and the tags of every object read, in full.
    lab.note(f"{cfg['bucket']}: {len(objects)} objects, {len(in_classes)} under class_NN/", objects)
    want = set(cfg["tags"])
    tagged = [o for o in in_classes if want <= o.get("tags", {}).keys()]
    lab.measure("tagged_objects", len(tagged))
    lab.measure("classes", len({o["key"].split("/")[0] for o in tagged}))
    lab.measure("flagged", sum(o["tags"].get("flagged") == "true" for o in tagged))
    lab.measure("corrected", sum("corrected_class" in o["tags"] for o in tagged))
    lab.require(
        tagged,
        f"none of the {len(in_classes)} objects under class_NN/ in {cfg['bucket']} "
        f"(of {len(objects)}) has the tags {', '.join(cfg['tags'])}",
        "Use the production branch of GourmetGram: it tags each upload (put_object_tagging).",
    )


@check(title="Label Studio has the lab's projects", depends=[server_active])
def labelstudio_projects(lab: Lab) -> None:
    """Label Studio's API on 8080 (with the lab's token) lists the projects Food11 Production,
    Food11 Random Sample, Food11 Low Confidence and Food11 User Flagged."""
    cfg = lab.config["labelstudio"]
    url: str | None = f"http://{lab.address}:{lab.port('labelstudio')}/api/projects?" + urlencode(
        {"page_size": cfg["page_size"]}
    )
    headers = {"Authorization": f"Token {cfg['token']}"}
    titles: list[str] = []
    for _ in range(cfg["max_pages"]):
        if not url:
            break
        doc = _json(lab, url, "Label Studio's project list", headers)
        if isinstance(doc, list):  # releases before pagination answer a bare list
            doc = {"results": doc, "next": None}
        results = as_dicts(
            doc.get("results") if isinstance(doc, dict) else None,
            f"a list of projects under 'results' from GET {url}",
        )
        titles += [str(p.get("title")) for p in results]
        url = doc.get("next") if isinstance(doc.get("next"), str) else None
        if url and urlsplit(url).hostname != lab.address:
            raise Failure(f"Label Studio's next page points elsewhere ({url})")
    lab.note(f"Label Studio projects: {len(titles)}", titles)
    missing = [t for t in cfg["projects"] if t not in titles]
    lab.measure("projects", len(titles))
    lab.measure("lab_projects", len(cfg["projects"]) - len(missing))
    lab.measure("airflow_project", cfg["airflow_project"] in titles)
    lab.require(
        not missing,
        f"Label Studio has no project {', '.join(repr(t) for t in missing)} "
        f"(it has: {', '.join(titles) or 'none'})",
        "Create each project with exactly the lab's title.",
    )


@check(title="Airflow has the lab's DAGs", depends=[server_active])
def airflow_dags(lab: Lab) -> dict[str, str]:
    """Airflow's REST API on 8081 (as admin) lists test_dag_hello_world,
    pipeline_1_get_and_label and pipeline_2_process_labeled_data."""
    headers = _airflow_login(lab)
    doc = _json(lab, f"{_airflow(lab)}/api/v1/dags?limit=100", "Airflow's DAG list", headers)
    dags = as_dicts(
        doc.get("dags") if isinstance(doc, dict) else None,
        f"a 'dags' list from GET {_airflow(lab)}/api/v1/dags",
    )
    found = {str(d.get("dag_id")): d for d in dags}
    lab.note(
        f"Airflow DAGs: {len(found)}",
        {k: {"is_paused": d.get("is_paused")} for k, d in found.items()},
    )
    missing = [d for d in lab.config["airflow"]["dags"] if d not in found]
    lab.measure("dags", len(found))
    lab.measure("unpaused", sum(d.get("is_paused") is False for d in found.values()))
    lab.require(
        not missing,
        f"Airflow has no DAG {', '.join(missing)} (it has: {', '.join(found) or 'none'})",
        "Put the lab's dags/*.py in ~/eval-loop-chi/dags, mounted at /opt/airflow/dags.",
    )
    return headers  # the logged-in session: dag_runs reads with it


@check(title="The pipeline DAGs' last runs succeeded", depends=[airflow_dags])
def dag_runs(lab: Lab, airflow_dags: dict[str, str]) -> None:
    """The most recent run of pipeline_1_get_and_label and of pipeline_2_process_labeled_data
    ended in state success."""
    problems, ok = [], 0
    for dag in lab.config["airflow"]["pipelines"]:
        url = f"{_airflow(lab)}/api/v1/dags/{quote(dag)}/dagRuns?order_by=-execution_date&limit=1"
        doc = _json(lab, url, f"the runs of {dag}", airflow_dags)
        runs = doc.get("dag_runs") if isinstance(doc, dict) else None
        lab.require(isinstance(runs, list), f"GET {url} answered JSON without 'dag_runs'")
        if not runs or not isinstance(runs[0], dict):
            problems.append(f"{dag} never ran")
            continue
        last = runs[0]
        lab.note(f"{dag}: last run {last.get('dag_run_id')} is {last.get('state')}", last)
        if last.get("state") == "success":
            ok += 1
        else:
            problems.append(f"{dag}'s last run {last.get('dag_run_id')} is {last.get('state')}")
    lab.measure("pipelines_succeeded", ok)
    lab.require(
        not problems,
        "; ".join(problems),
        "Open the DAG in Airflow's grid view, read the failed task's log, fix it, trigger again.",
    )


# --- helpers ----------------------------------------------------------------------------------
def _airflow(lab: Lab) -> str:
    return f"http://{lab.address}:{lab.port('airflow')}"


def _json(lab: Lab, url: str, what: str, headers: dict[str, str]) -> Any:
    return get_json(lab, url, what, login="the lab's credentials", headers=headers)


def _airflow_login(lab: Lab) -> dict[str, str]:
    """Headers that authenticate to Airflow's API: Basic auth where the API accepts it, else
    the session cookie of a login through the web form (the lab leaves auth_backends at
    Airflow 2's default, `session`)."""
    cfg, base = lab.config["airflow"], _airflow(lab)
    basic = base64.b64encode(f"{cfg['user']}:{cfg['password']}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}"}
    if lab.http.get(f"{base}/api/v1/dags?limit=1", headers=headers).status != 401:
        return headers
    page = lab.http.send("GET", f"{base}/login/")
    token = form_value(page.text, "csrf_token")
    cookie = _session_cookie(page.headers.get("Set-Cookie", ""))
    if not (page.status == 200 and token and cookie):
        raise Failure(f"GET {base}/login/ answered HTTP {page.status} without Airflow's login form")
    form = {"username": cfg["user"], "password": cfg["password"], "csrf_token": token}
    resp = lab.http.send("POST", f"{base}/login/", data=form, headers={"Cookie": cookie})
    session = _session_cookie(resp.headers.get("Set-Cookie", ""))
    lab.require(
        resp.status == 302 and session and "/login" not in resp.headers.get("Location", ""),
        f"Airflow refused the login of {cfg['user']} (HTTP {resp.status})",
        "Keep the admin user that airflow-setup creates (admin / airflow).",
    )
    return {"Cookie": session}


def _session_cookie(header: str) -> str:
    found = re.search(r"(?:^|[,;]\s*)session=([^;,\s]+)", header)
    return f"session={found.group(1)}" if found else ""
