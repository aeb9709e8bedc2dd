"""End to end on mlops-chi: real sshd with the kubectl stand-in (Argo and ArgoCD objects), the
real MLflow server holding GourmetGramFood11Model and its aliases, GourmetGram's `workflow`
branch on 8082/8081/8080, and the GitHub API stand-in for the CI runs."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import labsim
from graders.labkit import argo, pipelines
from tests.conftest import graded_as_expected, lab_classroom

LAB = "mlops-chi"
PROFILES = [
    "healthy",
    "staging_test_failed",
    "mlops_part3_done",
    "promotion_in_flight",
    "real_size_workflows",
    "no_bad_run",
    "canary_stale",
    "argocd_degraded",
    "argo_missing",
    "version_garbage",
    "ci_failed",
    "no_github_repo",
    "gateway_no_canary",
    "host_down",
    "tarpit",
]


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> Iterator[object]:
    with lab_classroom(tmp_path_factory.mktemp(LAB), LAB, PROFILES) as r:
        yield r


def test_every_profile_is_graded_as_expected(room) -> None:
    graded = graded_as_expected(LAB, room.students)
    by = {s.profile: {c.id: c for c in result.items} for s, result in graded}
    # The failures name what was seen.
    assert (
        "runs on 0 2 * * *, not */15 * * * *" in by["staging_test_failed"]["cron_schedule"].feedback
    )
    assert "branch=mlops-bad" in by["no_bad_run"]["bad_model_stopped"].feedback
    assert "canary serves 1.0.2" in by["canary_stale"]["versions_agree"].feedback
    assert (
        "gourmetgram-canary is OutOfSync/Degraded" in by["argocd_degraded"]["argocd_apps"].feedback
    )
    assert 'resource type "workflowtemplates"' in by["argo_missing"]["argo_templates"].feedback
    assert "did not answer JSON" in by["version_garbage"]["env_production"].feedback
    assert "no github_repo" in by["no_github_repo"]["github_actions"].feedback
    assert "answered 0 of 40" in by["gateway_no_canary"]["gateway_split"].feedback
    # a check that does not apply (worth 0 points) does not make `check` exit 1
    results = {s.profile: result for s, result in graded}
    now = datetime.now(UTC)
    assert results["no_github_repo"].all_shown_passed(now)
    assert not results["ci_failed"].all_shown_passed(now)
    assert "failure" in by["ci_failed"]["github_actions"].feedback
    # A healthy student's measurements: what each environment serves, MLflow's aliases, CI.
    healthy = by["healthy"]
    assert healthy["env_canary"].measurements["model_version"] == "1.0.4"
    assert healthy["env_production"].measurements["model_version"] == "1.0.2"
    assert healthy["mlflow_model"].measurements["alias_canary"] == "4"
    # two accuracy failures (one of cron's) and mlops-bad's test-staging; cron's newest run trains
    assert healthy["argo_workflows"].measurements["failed"] == 3
    assert healthy["argo_workflows"].measurements["running"] == 1
    assert healthy["cron_schedule"].measurements["schedule"] == "*/15 * * * *"
    assert healthy["github_actions"].measurements["runner_labels"] == "ubuntu-latest"
    assert healthy["gateway_split"].measurements["canary_share"] == 0.1  # 4 of 40
    # Part 3 as the lab means it: the mlops-bad run's failed staging test is credited, the
    # crashing staging (8082 refuses, ArgoCD Degraded) is its own end state.
    stopped = by["staging_test_failed"]
    assert stopped["argo_workflows"].measurements["latest_test_staging"] == "Failed"
    assert "Part 3's deliberate failure" in notes(stopped["argo_workflows"])
    assert "registered version 3" in notes(stopped["bad_model_stopped"])
    assert stopped["env_staging"].measurements["mlops_bad_version"] == "3"
    assert "gourmetgram-staging is Synced/Degraded" in notes(stopped["argocd_apps"])
    done = by["mlops_part3_done"]
    assert done["cron_schedule"].measurements["cron_trainings"] == 3  # cron keeps 3 runs
    assert done["argo_workflows"].measurements["latest_test_staging"] == "Succeeded"
    # The promotion race: canary's alias moved, its deploy still runs.
    flight = by["promotion_in_flight"]
    assert flight["env_canary"].measurements["model_version"] == "1.0.4"
    assert flight["mlflow_model"].measurements["alias_canary"] == "5"
    assert "promotion in flight" in notes(flight["versions_agree"])
    assert "is rolling it out" in notes(flight["argocd_apps"])
    assert "is rolling it out" not in notes(by["canary_stale"]["versions_agree"])
    assert by["real_size_workflows"]["argo_workflows"].measurements["workflows"] > 80


def notes(item) -> str:
    return "\n".join(e.get("summary", "") for e in item.evidence)


def test_real_size_workflows_are_over_a_mebibyte_as_json(room) -> None:
    """What the grader no longer asks for: `-o json` of the real-size profile's Workflows
    passes the SSH probe's default 1 MiB cap (the grader's jsonpath answer is small)."""
    from graders.probes.ssh import MAX_OUTPUT

    host = next(s for s in room.students if s.profile == "real_size_workflows").hosts[LAB]
    env = {**os.environ, "LABGRADER_SIM_STATE": str(host.state_file)}
    kubectl = [sys.executable, str(host.bin_dir / "kubectl")]
    whole = subprocess.run(
        [*kubectl, "get", "workflows", "-n", "argo", "-o", "json"], env=env, capture_output=True
    )
    assert len(whole.stdout) > MAX_OUTPUT
    items = json.loads(whole.stdout)["items"]
    trains = [
        w for w in items if w["spec"].get("workflowTemplateRef", {}).get("name") == "train-model"
    ]
    for train in trains:  # every one embeds its template; a finished one has its whole tree
        assert train["status"]["storedWorkflowTemplateSpec"]["entrypoint"] == "training-and-build"
    assert max(len(t["status"]["nodes"]) for t in trains) >= 10
    lean = subprocess.run(
        [
            *kubectl,
            "get",
            "workflows",
            "-n",
            "argo",
            "-o",
            "jsonpath=" + shlex.split(argo.WORKFLOW_QUERY)[0],
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    runs = argo.parse_workflows(lean.stdout)
    assert len(runs) == len(items) and len(lean.stdout) < 64 * 1024


def test_cron_runs_create_train_model_workflows(room) -> None:
    """The lab's cron-train runs its inline `scheduled-training`, which creates a separate
    train-model Workflow (workflows/cron-train.yaml): no cron run carries a template itself."""
    host = next(s for s in room.students if s.profile == "mlops_part3_done").hosts[LAB]
    objects = json.loads(host.state_file.read_text())["kubernetes"]
    crons = [
        o
        for o in objects
        if o["kind"] == "Workflow" and o["metadata"]["name"].startswith("cron-train-")
    ]
    assert len(crons) == 3
    for c in crons:
        assert (
            "workflowTemplateRef" not in c["spec"]
            and c["spec"]["entrypoint"] == "scheduled-training"
        )
        assert c["metadata"]["labels"]["workflows.argoproj.io/cron-workflow"] == "cron-train"
    made = argo.cron_trainings(argo.parse_workflows(_lines(objects)), "cron-train")
    assert {r.template for r in made} == {"train-model"} and all(not r.from_ui for r in made)


def _lines(objects: list[dict]) -> str:
    """WORKFLOW_QUERY's answer, as the stand-in prints it, for `objects`."""
    return _jsonpath(objects, shlex.split(argo.WORKFLOW_QUERY)[0], "Workflow")


def _jsonpath(objects: list[dict], template: str, kind: str) -> str:
    items = sorted((o for o in objects if o["kind"] == kind), key=lambda o: o["metadata"]["name"])
    return _render({"apiVersion": "v1", "items": items, "kind": "List"}, template)


def test_jsonpath_answers_parse_and_hostile_values_stay_in_their_field() -> None:
    """The stand-in's jsonpath (client-go's rules) and the grader's parsing: a parameter
    value with a tab, a newline and a fake line stays inside its JSON field."""
    wf = {
        "kind": "Workflow",
        "metadata": {
            "name": "train-model-x1y2z",
            "creationTimestamp": "2026-02-11T10:00:00Z",
            "labels": {"workflows.argoproj.io/workflow-template": "train-model"},
        },
        "spec": {
            "workflowTemplateRef": {"name": "train-model"},
            "arguments": {
                "parameters": [
                    {"name": "branch", "value": "mlops-bad\tx\nfake\tpromote-model\t\t\tSucceeded"}
                ]
            },
        },
        "status": {"phase": "Running", "startedAt": "2026-02-11T10:00:01Z", "finishedAt": None},
    }
    cron = {
        "kind": "Workflow",
        "metadata": {
            "name": "cron-train-1770800000",
            "creationTimestamp": "2026-02-11T09:00:00Z",
            "labels": {"workflows.argoproj.io/cron-workflow": "cron-train"},
        },
        "spec": {"entrypoint": "scheduled-training"},
        "status": {
            "phase": "Succeeded",
            "startedAt": "2026-02-11T09:00:00Z",
            "finishedAt": "2026-02-11T09:00:09Z",
        },
    }
    text = _lines([wf, cron])
    assert text.count("\n") == 2
    assert "\tnull\t" in text  # a null prints as null, as kubectl 1.32 prints it
    runs = argo.parse_workflows(text)
    assert [r.name for r in runs] == ["train-model-x1y2z", "cron-train-1770800000"]
    newest = runs[0]
    assert (newest.template, newest.from_ui, newest.phase, newest.done) == (
        "train-model",
        True,
        "Running",
        False,
    )
    assert newest.param("branch").startswith("mlops-bad\tx\nfake")
    assert runs[1].cron == "cron-train" and runs[1].template == ""
    # field paths, [*], filters, several results joined by a space, maps as compact JSON
    doc = {"items": [{"a": {"b.c": 1.5, "l": [{"n": "x", "v": "<1>"}, {"n": "y", "v": 2}]}}]}
    assert (
        _render(doc, '{.items[*].a.b\\.c} {.items[0].a.l[?(@.n=="y")].v}|{.items[*].a.l[*].n}')
        == "1.5 2|x y"
    )
    assert _render(doc, "{.items[0].a.l[0]}") == '{"n":"x","v":"\\u003c1\\u003e"}'
    assert _render(doc, '{range .items[*].a.l[*]}{.n}={.v}{"\\n"}{end}') == "x=<1>\ny=2\n"
    assert argo.parse_crons('cron-train\t\t["*/15  * * * *"]\nx\t0 2 * * *\t\n') == {
        "cron-train": ["*/15 * * * *"],
        "x": ["0 2 * * *"],
    }


def _render(doc: dict, template: str) -> str:
    import importlib.machinery
    import importlib.util

    path = str(Path(labsim.__file__).parent / "standins" / "kubectl")
    loader = importlib.machinery.SourceFileLoader("kubectl_standin", path)
    spec = importlib.util.spec_from_loader("kubectl_standin", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.jsonpath_text(template, doc)


def test_jsonpath_queries_print_what_the_real_kubectl_prints(room, tmp_path: Path) -> None:
    """The grader's structured queries, and a few more jsonpath and custom-columns forms,
    answered by the stand-in and by a real kubectl (against the same objects)."""
    from tests.test_sim import FakeKubeAPI, assert_kubectl_as_real

    host = next(s for s in room.students if s.profile == "promotion_in_flight").hosts[LAB]
    objects = json.loads(host.state_file.read_text())["kubernetes"]
    argo_resources = {
        r: ("argoproj.io", "v1alpha1", k, True, sn)
        for r, k, sn in (
            ("workflows", "Workflow", "wf"),
            ("workflowtemplates", "WorkflowTemplate", "wftmpl"),
            ("cronworkflows", "CronWorkflow", "cwf"),
            ("applications", "Application", "app"),
        )
    }

    class ArgoAPI(FakeKubeAPI):
        RESOURCES = {**FakeKubeAPI.RESOURCES, **argo_resources}

        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/apis":
                return super().do_GET()
            groups = [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}]}
                for g, v in (("apps", "v1"), ("autoscaling", "v2"), ("argoproj.io", "v1alpha1"))
            ]
            self.send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    ArgoAPI.objects = sorted(
        objects, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
    )
    commands = [
        f"get workflows -n argo -o jsonpath={argo.WORKFLOW_QUERY}",
        f"get workflowtemplates -n argo -o jsonpath={argo.TEMPLATE_QUERY}",
        f"get cronworkflows -n argo -o jsonpath={argo.CRON_QUERY}",
        f"get applications.argoproj.io -n argocd -o jsonpath={argo.APP_QUERY}",
        f"get workflows -n elsewhere -o jsonpath={argo.WORKFLOW_QUERY}",
        "get workflowtemplates -n argo -o jsonpath='{.items[*].metadata.name}'",
        "get workflowtemplates train-model -n argo -o jsonpath="
        "'{.spec.templates[?(@.name==\"run-training\")].container.image} {.metadata.generation}'",
        "get cronworkflows cron-train -n argo -o jsonpath='{.status.active}|{.spec.workflowSpec}'",
        "get applications -n argocd -o custom-columns="
        "NAME:.metadata.name,SYNC:.status.sync.status,TAG:.spec.source.helm.parameters[*].value",
        "get workflows -n elsewhere -o custom-columns=NAME:.metadata.name",
    ]
    assert_kubectl_as_real(host, ArgoAPI, tmp_path, commands)


def test_the_2025_variant_has_no_staging_test_and_no_cron(monkeypatch, tmp_path: Path) -> None:
    """gourmetgram-iac at 63bfe01 (2025) applies train-model, build-container-image,
    deploy-container-image and promote-model only: a 2025 pipeline without test-staging
    passes, and the Part 3 checks skip themselves."""
    from graders.files import load_yaml
    from graders.labs import for_year
    from graders.paths import labs_dir

    raw = load_yaml(labs_dir() / LAB / "lab.yaml", "lab", "lab file")
    config = for_year(raw, 2025)
    assert "test-staging" not in config["argo"]["templates"]
    assert config["argo"]["cron"] is None and config["argo"]["namespace"] == "argo"
    rows = [
        ("train-model-a1b2c", "train-model", "train-model", "", "Succeeded", "10:00", "10:09"),
        ("build-container-image-d", "build-container-image", "", "", "Succeeded", "10:09", "10:13"),
        (
            "deploy-container-image-e",
            "deploy-container-image",
            "",
            "",
            "Succeeded",
            "10:13",
            "10:14",
        ),  # noqa: E501
        ("promote-model-f", "promote-model", "promote-model", "", "Succeeded", "10:30", "10:31"),
    ]
    text = "".join(
        f"{n}\t{t}\t{label}\t{cron}\t{phase}\t2025-04-20T{a}:00Z\t2025-04-20T{a}:00Z\t"
        f"2025-04-20T{b}:00Z\t\n"
        for n, t, label, cron, phase, a, b in rows
    )
    runs = argo.parse_workflows(text)
    assert pipelines.judge_workflows(runs, config) == pipelines.Verdict()
    assert "test-staging" in pipelines.judge_workflows(runs, raw).problem  # 2026 wants it


def test_a_real_size_kubectl_answer_is_read_whole(room) -> None:
    """Over the real sshd: the real-size Workflows (past 1 MiB as JSON) are read whole within
    the bound; only an answer past a bound says so, never "did not print JSON"."""
    from graders.checks import Host, Lab, Session, check
    from graders.errors import Failure
    from graders.labkit.kubernetes import kubectl
    from graders.probes.ssh import SshPool
    from graders.student import load_student

    student = next(s for s in room.students if s.profile == "real_size_workflows")

    @check(title="probe", vantage="host")
    def probe(lab: Lab) -> None:
        """Reads the Workflows as JSON."""

    pool = SshPool()
    lab = Lab(
        Session(load_student(student.student_file), {}, None, pool),
        probe.__check__,  # type: ignore[attr-defined]
        Host("node1", student.address(LAB)),
    )
    try:
        with pytest.raises(Failure, match="more than 1 MiB"):
            kubectl(lab, "get workflows -n argo -o json", max_bytes=1 << 20)
        assert len(kubectl(lab, "get workflows -n argo -o json")) > 1 << 20
    finally:
        pool.close()
