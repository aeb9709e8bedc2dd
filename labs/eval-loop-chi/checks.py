"""Closing the feedback loop: the checks follow the lab.

GourmetGram saves every production image to MinIO's bucket `production` (under class_NN/,
tagged with predicted_class, confidence and timestamp); Label Studio (8080) holds the labelling
projects; Airflow (8081) runs the DAGs that sample, label and sort production data.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import graders.probes
from graders.answers import as_dicts
from graders.checks import Lab, check
from graders.errors import Failure
from graders.labkit.apis import form_value, get_json, page_title
from graders.labkit.chameleon import server_check
from graders.labkit.objectstores import lab_s3

# A food photo the grader ships (graders/probes/assets/food.jpg), for the model server.
FOOD_IMAGE = (Path(graders.probes.__file__).with_name("assets") / "food.jpg").read_bytes()

server_active = server_check("Server node-eval-loop-<user> is ACTIVE with a floating IP")


def _production(lab: Lab) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Bucket production's objects, and those under class_NN/ with their tags read (the first
    max_tagged of them): read once, for production_bucket and feedback_tags."""
    cfg = lab.config["s3"]
    s3 = lab_s3(lab)
    objects = s3.objects(cfg["bucket"])
    pattern = re.compile(cfg["key_pattern"])
    in_classes = [o for o in objects if pattern.match(o["key"])]
    for obj in in_classes[: cfg["max_tagged"]]:
        obj["tags"] = s3.tags(cfg["bucket"], obj["key"])
    return objects, in_classes


@check(title="Bucket production holds tagged production images", depends=[server_active])
def production_bucket(lab: Lab) -> None:
    """MinIO's bucket production has images under class_NN/ carrying the tags
    predicted_class, confidence and timestamp (read with GetObjectTagging)."""
    cfg = lab.config["s3"]
    endpoint = f"http://{lab.address}:{lab.port('s3')}"
    objects, in_classes = lab.shared(_production)
    lab.measure("objects", len(objects))
    lab.require(
        objects,
        f"bucket {cfg['bucket']} at {endpoint} is empty",
        "Upload images through GourmetGram on port 5000; each prediction is saved there.",
    )
    # Durable evidence: every key and size, and the tags of every object read, in full.
    lab.note(f"{cfg['bucket']}: {len(objects)} objects, {len(in_classes)} under class_NN/", objects)
    want = set(cfg["tags"])
    tagged = [o for o in in_classes if want <= o.get("tags", {}).keys()]
    lab.measure("tagged_objects", len(tagged))
    lab.measure("classes", len({o["key"].split("/")[0] for o in tagged}))
    lab.require(
        tagged,
        f"none of the {len(in_classes)} objects under class_NN/ in {cfg['bucket']} "
        f"(of {len(objects)}) has the tags {', '.join(cfg['tags'])}",
        "Use the production branch of GourmetGram: it tags each upload (put_object_tagging).",
    )


@check(
    title="GourmetGram's user feedback is tagged in bucket production", depends=[production_bucket]
)
def feedback_tags(lab: Lab) -> None:
    """At least one image tagged flagged=true (the feedback branch's flag button, POST
    /flag/<key>) and one tagged corrected_class=<a Food-11 class> (the userlabel branch's
    menu, POST /correct-label/<key>)."""
    cfg = lab.config["s3"]
    _, in_classes = lab.shared(_production)
    tags = [o.get("tags") or {} for o in in_classes]
    flagged = [t for t in tags if t.get("flagged") == "true"]
    corrected = [t for t in tags if t.get("corrected_class") in cfg["classes"]]
    lab.measure("flagged", len(flagged))
    lab.measure("corrected", len(corrected))
    missing = []
    if not flagged:
        missing.append("no image tagged flagged=true (the feedback branch's flag icon)")
    if not corrected:
        missing.append("no image tagged corrected_class (the userlabel branch's class menu)")
    lab.require(
        not missing,
        f"of {len(tags)} images read in {cfg['bucket']}: " + "; ".join(missing),
        "Switch GourmetGram to the feedback, then the userlabel branch; flag a misclassified "
        "image, then correct another's label.",
    )


@check(title="The pipelines' buckets hold images", depends=[server_active])
def pipeline_buckets(lab: Lab) -> None:
    """The buckets the Airflow DAGs write are not empty: production-noisy
    (pipeline_1_get_and_label, then pipeline_2) and production-clean (pipeline_2, the images
    labelled in Food11 Continuous X)."""
    s3 = lab_s3(lab)
    counts, problems = {}, []
    for bucket in lab.config["s3"]["pipeline_buckets"]:
        try:
            counts[bucket] = len(s3.objects(bucket))
        except Failure as exc:
            problems.append(f"{bucket}: {exc.message[:160]}")
            continue
        lab.measure(bucket, counts[bucket])
        if not counts[bucket]:
            problems.append(f"{bucket} is empty")
    lab.note("pipeline buckets", counts)
    lab.require(
        not problems,
        "; ".join(problems),
        "Trigger pipeline_1_get_and_label within 30 minutes of uploading images, label some "
        "tasks in Food11 Continuous X, then trigger pipeline_2_process_labeled_data.",
    )


def _ls_projects(lab: Lab) -> dict[str, dict[str, Any]]:
    """Every Label Studio project (title -> the list's entry), following `next` links."""
    cfg = lab.config["labelstudio"]
    url: str | None = f"http://{lab.address}:{lab.port('labelstudio')}/api/projects?" + urlencode(
        {"page_size": cfg["page_size"]}
    )
    headers = {"Authorization": f"Token {cfg['token']}"}
    found: dict[str, dict[str, Any]] = {}
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
        for p in results:
            found.setdefault(str(p.get("title")), p)
        url = doc.get("next") if isinstance(doc.get("next"), str) else None
        if url and urlsplit(url).hostname != lab.address:
            raise Failure(f"Label Studio's next page points elsewhere ({url})")
    return found


def _count(project: dict[str, Any], field: str) -> int:
    value = project.get(field)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@check(title="Label Studio has the lab's projects", depends=[server_active])
def labelstudio_projects(lab: Lab) -> None:
    """Label Studio's API on 8080 (with the lab's token) lists the projects Food11 Production,
    Food11 Random Sample, Food11 Low Confidence and Food11 User Flagged."""
    cfg = lab.config["labelstudio"]
    projects = lab.shared(_ls_projects)
    titles = list(projects)
    lab.note(
        f"Label Studio projects: {len(titles)}",
        {
            t: {f: p.get(f) for f in ("id", "task_number", "num_tasks_with_annotations")}
            for t, p in projects.items()
        },
    )
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


@check(title="The lab's Label Studio projects hold annotated tasks", depends=[labelstudio_projects])
def labelstudio_annotated(lab: Lab) -> None:
    """Each of the four projects has tasks with annotations (the project list's
    num_tasks_with_annotations): the images were labelled, not only the projects made."""
    cfg = lab.config["labelstudio"]
    projects = lab.shared(_ls_projects)
    counts = {t: _count(projects[t], "num_tasks_with_annotations") for t in cfg["projects"]}
    for title, n in counts.items():
        lab.measure(title.lower().replace(" ", "_"), n)
    extra = projects.get(cfg["airflow_project"])
    if extra is not None:
        lab.measure("continuous_x_annotated", _count(extra, "num_tasks_with_annotations"))
    empty = [
        f"{t!r} ({_count(projects[t], 'task_number')} tasks)" for t, n in counts.items() if n < 1
    ]
    lab.require(
        not empty,
        f"no annotated task in {', '.join(empty)}",
        "Label the images of each project in Label Studio's UI (the manual's screenshots show "
        "your initials in the Annotated by column).",
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


@check(title="Each pipeline DAG has a successful run", depends=[airflow_dags])
def dag_runs(lab: Lab, airflow_dags: dict[str, str]) -> None:
    """pipeline_1_get_and_label and pipeline_2_process_labeled_data each have a run in state
    success (the student's triggered run; a later scheduled run may fail on its own)."""
    problems, ok = [], 0
    for dag in lab.config["airflow"]["pipelines"]:
        url = (
            f"{_airflow(lab)}/api/v1/dags/{quote(dag)}/dagRuns?state=success"
            "&order_by=-execution_date&limit=1"
        )
        doc = _json(lab, url, f"the runs of {dag}", airflow_dags)
        runs = doc.get("dag_runs") if isinstance(doc, dict) else None
        lab.require(isinstance(runs, list), f"GET {url} answered JSON without 'dag_runs'")
        assert isinstance(runs, list)
        good = [r for r in runs if isinstance(r, dict) and r.get("state") == "success"]
        if good:
            ok += 1
            lab.note(f"{dag}: run {good[0].get('dag_run_id')} succeeded", good[0])
            continue
        last = _json(
            lab,
            f"{_airflow(lab)}/api/v1/dags/{quote(dag)}/dagRuns?order_by=-execution_date&limit=1",
            f"the runs of {dag}",
            airflow_dags,
        )
        newest = (last.get("dag_runs") or [None])[0] if isinstance(last, dict) else None
        problems.append(
            f"{dag} never ran"
            if not isinstance(newest, dict)
            else f"{dag} has no successful run (its last, {newest.get('dag_run_id')}, is "
            f"{newest.get('state')})"
        )
    lab.measure("pipelines_succeeded", ok)
    lab.require(
        not problems,
        "; ".join(problems),
        "Open the DAG in Airflow's grid view, read the failed task's log, fix it, trigger again.",
    )


# --- GourmetGram (Flask, 5000) and its model server (FastAPI, 8000) ---------------------------
@check(title="GourmetGram's Flask app answers on port 5000", depends=[server_active])
def flask_app(lab: Lab) -> None:
    """`GET /` on 5000 is GourmetGram's upload page, and `GET /test` (the app asks FastAPI to
    classify its own test image; nothing is uploaded to the bucket) answers a Food-11 class."""
    base = f"http://{lab.address}:{lab.port('flask')}"
    title = page_title(lab, f"{base}/")
    lab.measure("title", title[:80])
    lab.require(
        lab.config["flask"]["title"] in title,
        f"GET {base}/ is not GourmetGram's page (title {title!r})",
        "Bring up docker-compose-production.yaml: its flask service serves port 5000.",
    )
    resp = lab.http.get(f"{base}/test")
    answer = resp.text.strip()[:80] if resp.status == 200 else ""
    lab.measure("test_answer", answer)
    lab.require(
        answer in lab.config["s3"]["classes"],
        f"GET {base}/test answered HTTP {resp.status} {answer or resp.text[:80]!r}, not a "
        "Food-11 class: Flask got no prediction from fastapi_server",
        "Check `docker logs flask`: it reaches the model at http://fastapi_server:8000.",
    )


@check(title="The FastAPI model server answers on port 8000", depends=[server_active])
def fastapi_server(lab: Lab) -> None:
    """Port 8000 is the lab's fastapi_pt app (its OpenAPI document: Food Classification API
    with POST /predict), and it classifies an image: a Food-11 class with a probability."""
    base = f"http://{lab.address}:{lab.port('fastapi')}"
    doc = get_json(lab, f"{base}/openapi.json", "FastAPI's OpenAPI document")
    info = doc.get("info") if isinstance(doc, dict) else None
    title = str(info.get("title", "")) if isinstance(info, dict) else ""
    paths = doc.get("paths") if isinstance(doc, dict) else None
    lab.measure("title", title[:80])
    lab.require(
        title == lab.config["fastapi"]["title"] and isinstance(paths, dict) and "/predict" in paths,
        f"the API on port 8000 ({title or 'untitled'}) is not the lab's fastapi_pt app",
        "Bring up docker-compose-production.yaml: fastapi_server serves port 8000.",
    )
    body = json.dumps({"image": base64.b64encode(FOOD_IMAGE).decode()})
    resp = lab.http.send(
        "POST", f"{base}/predict", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        answer = json.loads(resp.text) if resp.status == 200 else None
    except ValueError:
        answer = None
    label = answer.get("prediction") if isinstance(answer, dict) else None
    prob = answer.get("probability") if isinstance(answer, dict) else None
    lab.measure("prediction", str(label)[:64])
    lab.require(
        label in lab.config["s3"]["classes"]
        and isinstance(prob, int | float)
        and not isinstance(prob, bool)
        and 0 <= prob <= 1,
        f"POST {base}/predict answered HTTP {resp.status} {resp.text[:120]!r}, not a Food-11 "
        "class with a probability",
        "Check `docker logs fastapi_server`.",
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
