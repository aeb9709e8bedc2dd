"""Argo Workflows' objects in the mlops-chi cluster, in the shapes and sizes the real lab leaves.

The WorkflowTemplates follow the structure of gourmetgram-iac's `workflows/*.yaml` (2026,
ecafc5f): the same entrypoints, steps, parameters, `when` conditions, retry strategies,
volumes, resource steps that create the next workflow, and container/script templates whose
scripts are about as long as the real ones (their text is the simulator's own). They carry the
`last-applied-configuration` annotation `kubectl apply` (workflow_templates_apply.yml) leaves.

A Workflow made from a template embeds the template's whole spec in
`status.storedWorkflowTemplateSpec` and one entry per step in `status.nodes`: that is why a
finished lab's `kubectl get workflows -o json` runs to megabytes.

How the pipeline's workflows make each other (all by `resource: action: create`, which does not
wait): train-model -> build-container-image -> deploy-container-image (staging) and
test-staging -> promote-model (when the test passed) -> deploy-container-image (canary). The
CronWorkflow cron-train runs `cron-train-<unix time>` with the inline template
`scheduled-training`, which creates a `train-model-xxxxx` Workflow.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .cluster import object_meta
from .shared import rfc3339

Json = dict[str, Any]
NS = "argo"
REGISTRY = "registry.kube-system.svc.cluster.local:5000"
MLFLOW_URI = "http://mlflow.gourmetgram-platform.svc.cluster.local:8000"
MODEL = "GourmetGramFood11Model"
TEMPLATES = (
    "train-model",
    "build-container-image",
    "deploy-container-image",
    "test-staging",
    "promote-model",
)
DAILY = "0 2 * * *"  # cron-train as applied; Part 3 sets "*/15 * * * *"


def suffix(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, ":".join(parts)).hex[:5]


def meta(key: str, kind: str, name: str, created: datetime, rv: int) -> Json:
    """cluster.object_meta with `generation` (custom resources), in the same key order."""
    m = object_meta(key, kind, name, created, rv, NS)
    return {"creationTimestamp": m.pop("creationTimestamp"), "generation": 1, **m}


# ---- the templates' specs ---------------------------------------------------------------------
def _script(topic: str, lines: list[str], size: int) -> str:
    """A shell script: `lines`, then logging lines about `topic` until about `size` bytes
    (the real scripts' length; their text is not the lab's)."""
    out = ["set -eu", *lines]
    n = 0
    while sum(len(x) + 1 for x in out) < size:
        n += 1
        out.append(f'echo "[{topic}] check {n}: $(date -u +%H:%M:%S) waiting on the cluster"')
    return "\n".join(out) + "\n"


def _param(name: str, value: str | None = None) -> Json:
    return {"name": name} if value is None else {"name": name, "value": value}


def _step(name: str, template: str, params: dict[str, str], when: str = "") -> list[Json]:
    step: Json = {"name": name, "template": template}
    if params:
        step["arguments"] = {"parameters": [_param(k, v) for k, v in params.items()]}
    if when:
        step["when"] = when
    return [step]


def _retry(limit: str, duration: str) -> Json:
    return {
        "limit": limit,
        "retryPolicy": "Always",
        "backoff": {"duration": duration, "factor": "2"},
    }


def _mount(name: str, path: str) -> Json:
    return {"name": name, "mountPath": path}


def _creates(template: str, params: list[str], fixed: dict[str, str] | None = None) -> Json:
    """A resource template that creates a Workflow of `template` (action create: no wait)."""
    args = "".join(
        f'\n    - name: {p}\n      value: "{{{{inputs.parameters.{p}}}}}"' for p in params
    )
    args += "".join(f'\n    - name: {k}\n      value: "{v}"' for k, v in (fixed or {}).items())
    manifest = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n"
        f"  generateName: {template}-\nspec:\n  workflowTemplateRef:\n    name: {template}\n"
        + (f"  arguments:\n    parameters:{args}\n" if args else "")
    )
    return {
        "name": f"trigger-{template.split('-')[0]}",
        "inputs": {"parameters": [_param(p) for p in params]},
        "resource": {"action": "create", "manifest": manifest},
    }


def _alias_script(alias: str, size: int = 600) -> Json:
    return {
        "image": "python:3.11-slim",
        "command": ["sh", "-c"],
        "source": _script(
            f"alias {alias}",
            [
                "pip install mlflow-skinny==3.9.0 > /dev/null",
                f"export MLFLOW_TRACKING_URI={MLFLOW_URI}",
                'python -c "import mlflow; mlflow.tracking.MlflowClient()'
                f".set_registered_model_alias('{MODEL}', '{alias}', "
                "'{{inputs.parameters.model-version}}')\"",
            ],
            size,
        ),
    }


def _buildkit(output: str, mounts: list[Json], extra: list[str]) -> Json:
    return {
        "image": "moby/buildkit:rootless",
        "env": [{"name": "BUILDKITD_FLAGS", "value": "--oci-worker-no-process-sandbox"}],
        "command": ["buildctl-daemonless.sh"],
        "args": [
            "build",
            "--frontend",
            "dockerfile.v0",
            "--local",
            "context=/mnt/workspace",
            "--local",
            "dockerfile=/mnt/workspace",
            *extra,
            "--output",
            f"type=image,name={REGISTRY}/{output},push=true,registry.insecure=true",
            "--export-cache",
            f"type=registry,ref={REGISTRY}/{output.split(':')[0]}:buildcache,mode=max,"
            "registry.insecure=true",
            "--import-cache",
            f"type=registry,ref={REGISTRY}/{output.split(':')[0]}:buildcache,"
            "registry.insecure=true",
        ],
        "resources": {
            "requests": {"memory": "2Gi", "cpu": "500m"},
            "limits": {"memory": "3Gi", "cpu": "1"},
        },
        "securityContext": {
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "seccompProfile": {"type": "Unconfined"},
            "appArmorProfile": {"type": "Unconfined"},
        },
        "volumeMounts": mounts,
    }


_POD_META = {
    "annotations": {
        "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
        "container.apparmor.security.beta.kubernetes.io/main": "unconfined",
    }
}


def _workdir(size: str) -> list[Json]:
    return [
        {
            "metadata": {"name": "workdir"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
            },
        }
    ]


def _train_model() -> Json:
    wv = "{{workflow.parameters.branch}}"
    out = "{{steps.run-training.outputs.parameters.modelversion}}"
    check = "{{steps.check-code-changes.outputs.parameters"
    return {
        "entrypoint": "training-and-build",
        "arguments": {"parameters": [_param("branch", "mlops")]},
        "podMetadata": _POD_META,
        "volumeClaimTemplates": _workdir("1Gi"),
        "volumes": [{"name": "buildkitd", "emptyDir": {}}],
        "templates": [
            {
                "name": "training-and-build",
                "steps": [
                    _step("check-code-changes", "check-and-clone", {"branch": wv}),
                    _step(
                        "rebuild-training-image",
                        "buildkit-rootless",
                        {"git-commit": f"{check}.git-commit}}}}"},
                        f"'{check}.needs-rebuild}}}}' == 'true'",
                    ),
                    _step("run-training", "run-training", {}),
                    _step(
                        "tag-model-development",
                        "set-development-alias",
                        {"model-version": out},
                        f"'{out}' != ''",
                    ),
                    _step(
                        "build-container", "trigger-build", {"model-version": out}, f"'{out}' != ''"
                    ),
                ],
            },
            {
                "name": "check-and-clone",
                "inputs": {"parameters": [_param("branch")]},
                "outputs": {
                    "parameters": [
                        {
                            "name": p,
                            "valueFrom": {"path": f"/var/run/argo/outputs/parameters/{p}"},
                        }
                        for p in ("needs-rebuild", "git-commit")
                    ]
                },
                "retryStrategy": _retry("5", "10s"),
                "container": {
                    "image": "alpine:3.19",
                    "workingDir": "/mnt/workspace",
                    "command": ["sh", "-c"],
                    "args": [
                        _script(
                            "clone",
                            [
                                "apk add --no-cache git curl jq > /dev/null 2>&1",
                                'git clone --depth 1 --branch "{{inputs.parameters.branch}}" '
                                "https://github.com/teaching-on-testbeds/gourmetgram-train.git .",
                            ],
                            2600,
                        )
                    ],
                    "volumeMounts": [_mount("workdir", "/mnt/workspace")],
                },
            },
            {
                "name": "buildkit-rootless",
                "inputs": {"parameters": [_param("git-commit")]},
                "retryStrategy": _retry("3", "30s"),
                "container": _buildkit(
                    "gourmetgram-train:latest",
                    [
                        _mount("workdir", "/mnt/workspace"),
                        _mount("buildkitd", "/home/user/.local/share/buildkit"),
                    ],
                    ["--opt", "label:git.commit={{inputs.parameters.git-commit}}"],
                ),
            },
            {
                "name": "run-training",
                "outputs": {
                    "parameters": [
                        {
                            "name": "modelversion",
                            "valueFrom": {"path": "/var/run/argo/outputs/parameters/modelversion"},
                        }
                    ]
                },
                "container": {
                    "image": f"{REGISTRY}/gourmetgram-train:latest",
                    "command": ["sh", "-c"],
                    "args": [_script("train", ["python flow.py"], 500)],
                    "env": [{"name": "MLFLOW_TRACKING_URI", "value": MLFLOW_URI}],
                },
            },
            _creates("build-container-image", ["model-version"]),
            {
                "name": "set-development-alias",
                "inputs": {"parameters": [_param("model-version")]},
                "script": _alias_script("development"),
            },
        ],
    }


def _build_container_image() -> Json:
    v = "{{workflow.parameters.model-version}}"
    return {
        "entrypoint": "buildkit-rootless-build-flow",
        "arguments": {"parameters": [_param("model-version")]},
        "podMetadata": _POD_META,
        "volumeClaimTemplates": _workdir("2Gi"),
        "volumes": [{"name": "buildkitd", "emptyDir": {}}, {"name": "pip-cache", "emptyDir": {}}],
        "templates": [
            {
                "name": "buildkit-rootless-build-flow",
                "steps": [
                    _step("clone-repo", "git-clone", {}),
                    _step("fetch-model", "download-model", {"model-version": v}),
                    _step("buildkit-build", "buildkit-rootless", {"model-version": v}),
                    _step("tag-model-staging", "set-mlflow-alias", {"model-version": v}),
                    _step(
                        "deploy-to-staging",
                        "trigger-deploy",
                        {"model-version": v, "environment": "staging"},
                    ),
                    _step("test-staging", "trigger-test", {"model-version": v}),
                ],
            },
            {
                "name": "git-clone",
                "retryStrategy": _retry("5", "10s"),
                "container": {
                    "image": "alpine/git:v2.26.2",
                    "workingDir": "/mnt/workspace",
                    "env": [{"name": "GIT_TERMINAL_PROMPT", "value": "0"}],
                    "command": ["git"],
                    "args": [
                        "clone",
                        "--depth",
                        "1",
                        "--branch",
                        "workflow",
                        "https://github.com/teaching-on-testbeds/gourmetgram.git",
                        ".",
                    ],
                    "volumeMounts": [_mount("workdir", "/mnt/workspace")],
                },
            },
            {
                "name": "download-model",
                "retryStrategy": _retry("5", "10s"),
                "inputs": {"parameters": [_param("model-version")]},
                "container": {
                    "image": "python:3.11-slim",
                    "env": [
                        {"name": "PIP_DISABLE_PIP_VERSION_CHECK", "value": "1"},
                        {"name": "PIP_CACHE_DIR", "value": "/tmp/pip-cache"},
                    ],
                    "command": ["sh", "-c"],
                    "args": [
                        _script(
                            "model",
                            [
                                "pip install mlflow-skinny==3.9.0 > /dev/null",
                                f"export MLFLOW_TRACKING_URI={MLFLOW_URI}",
                                'echo "1.0.{{inputs.parameters.model-version}}" '
                                "> /mnt/workspace/versions.txt",
                            ],
                            1500,
                        )
                    ],
                    "volumeMounts": [
                        _mount("workdir", "/mnt/workspace"),
                        _mount("pip-cache", "/tmp/pip-cache"),
                    ],
                },
            },
            {
                "name": "buildkit-rootless",
                "retryStrategy": _retry("3", "30s"),
                "inputs": {"parameters": [_param("model-version")]},
                "container": _buildkit(
                    "gourmetgram-app:staging-1.0.{{inputs.parameters.model-version}}",
                    [
                        _mount("workdir", "/mnt/workspace"),
                        _mount("buildkitd", "/home/user/.local/share/buildkit"),
                    ],
                    [],
                ),
            },
            {
                "name": "set-mlflow-alias",
                "retryStrategy": _retry("5", "10s"),
                "inputs": {"parameters": [_param("model-version")]},
                "script": {
                    **_alias_script("staging"),
                    "volumeMounts": [_mount("pip-cache", "/tmp/pip-cache")],
                },
            },
            _creates("deploy-container-image", ["environment", "model-version"]),
            _creates("test-staging", ["model-version"]),
        ],
    }


def _deploy_container_image() -> Json:
    return {
        "entrypoint": "deploy",
        "arguments": {"parameters": [_param("environment"), _param("model-version")]},
        "templates": [
            {
                "name": "deploy",
                "inputs": {"parameters": [_param("environment"), _param("model-version")]},
                "container": {
                    "image": "argoproj/argocd:latest",
                    "command": ["sh", "-c"],
                    "args": [
                        _script(
                            "deploy",
                            [
                                'app="gourmetgram-{{inputs.parameters.environment}}"',
                                'tag="{{inputs.parameters.environment}}-1.0.'
                                '{{inputs.parameters.model-version}}"',
                                "argocd login argocd-server.argocd.svc.cluster.local "
                                '--username admin --password "$ARGOCD_PASSWORD" --insecure',
                                'argocd app set "$app" --helm-set-string image.tag=$tag',
                                'argocd app sync "$app"',
                            ],
                            450,
                        )
                    ],
                    "env": [
                        {
                            "name": "ARGOCD_PASSWORD",
                            "valueFrom": {
                                "secretKeyRef": {
                                    "name": "argocd-initial-admin-secret",
                                    "key": "password",
                                }
                            },
                        }
                    ],
                },
            }
        ],
    }


def _test_staging() -> Json:
    passed = "'{{steps.integration-test.outputs.parameters.result}}' == 'pass'"
    v = "{{workflow.parameters.model-version}}"
    url = (
        "http://{{workflow.parameters.staging-service}}.{{workflow.parameters.staging-namespace}}"
        ".svc.cluster.local:{{workflow.parameters.staging-port}}"
    )
    return {
        "entrypoint": "test-flow",
        "arguments": {
            "parameters": [
                _param("model-version"),
                _param("staging-namespace", "gourmetgram-staging"),
                _param("staging-service", "gourmetgram-app"),
                _param("staging-port", "8082"),
            ]
        },
        "templates": [
            {
                "name": "test-flow",
                "steps": [
                    _step(
                        "integration-test",
                        "check-predict",
                        {"service-url": url, "model-version": v},
                    ),
                    _step(
                        "mark-staging-approved",
                        "set-staging-approved",
                        {"model-version": v},
                        passed,
                    ),
                    _step("promote-on-success", "trigger-promote", {"model-version": v}, passed),
                ],
            },
            {
                "name": "check-predict",
                "inputs": {"parameters": [_param("service-url"), _param("model-version")]},
                "outputs": {
                    "parameters": [{"name": "result", "valueFrom": {"path": "/tmp/result.txt"}}]
                },
                "script": {
                    "image": "curlimages/curl:latest",
                    "command": ["sh"],
                    "source": _script(
                        "integration",
                        [
                            'want="1.0.{{inputs.parameters.model-version}}"',
                            'got=$(curl -s "{{inputs.parameters.service-url}}/version" || true)',
                            'answer=$(curl -s "{{inputs.parameters.service-url}}/test")',
                        ],
                        2700,
                    ),
                },
            },
            {
                "name": "set-staging-approved",
                "inputs": {"parameters": [_param("model-version")]},
                "script": _alias_script("staging-approved", 700),
            },
            _creates(
                "promote-model",
                ["model-version"],
                {"source-environment": "staging", "target-environment": "canary"},
            ),
        ],
    }


def _promote_model() -> Json:
    wp = "{{workflow.parameters."
    return {
        "entrypoint": "promote-flow",
        "arguments": {
            "parameters": [
                _param("source-environment"),
                _param("target-environment"),
                _param("model-version"),
            ]
        },
        "templates": [
            {
                "name": "promote-flow",
                "steps": [
                    _step(
                        "retag-image",
                        "skopeo-retag",
                        {
                            p: f"{wp}{p}}}}}"
                            for p in ("source-environment", "target-environment", "model-version")
                        },
                    ),
                    _step(
                        "deploy",
                        "trigger-deploy",
                        {
                            "environment": f"{wp}target-environment}}}}",
                            "model-version": f"{wp}model-version}}}}",
                        },
                    ),
                    _step(
                        "update-mlflow-alias",
                        "set-mlflow-alias",
                        {
                            "model-version": f"{wp}model-version}}}}",
                            "alias": f"{wp}target-environment}}}}",
                        },
                    ),
                ],
            },
            {
                "name": "skopeo-retag",
                "inputs": {
                    "parameters": [
                        _param("source-environment"),
                        _param("target-environment"),
                        _param("model-version"),
                    ]
                },
                "container": {
                    "image": "quay.io/skopeo/stable",
                    "command": ["sh", "-c"],
                    "args": [
                        _script(
                            "retag",
                            [
                                "skopeo copy --src-tls-verify=false --dest-tls-verify=false "
                                f"docker://{REGISTRY}/gourmetgram-app:"
                                "{{inputs.parameters.source-environment}}-1.0."
                                "{{inputs.parameters.model-version}} "
                                f"docker://{REGISTRY}/gourmetgram-app:"
                                "{{inputs.parameters.target-environment}}-1.0."
                                "{{inputs.parameters.model-version}}"
                            ],
                            400,
                        )
                    ],
                },
            },
            {
                "name": "set-mlflow-alias",
                "inputs": {"parameters": [_param("model-version"), _param("alias")]},
                "script": _alias_script("{{inputs.parameters.alias}}"),
            },
            _creates("deploy-container-image", ["environment", "model-version"]),
        ],
    }


SPECS = {
    "train-model": _train_model,
    "build-container-image": _build_container_image,
    "deploy-container-image": _deploy_container_image,
    "test-staging": _test_staging,
    "promote-model": _promote_model,
}


def _applied(kind: str, name: str, spec: Json) -> Json:
    """kubectl apply's annotation: the manifest as applied, compact JSON plus a newline."""
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": kind,
        "metadata": {"annotations": {}, "name": name, "namespace": NS},
        "spec": spec,
    }
    return {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
            manifest, sort_keys=True, separators=(",", ":")
        )
        + "\n"
    }


def template(key: str, name: str, created: datetime) -> Json:
    spec = SPECS[name]()
    m = meta(key, "WorkflowTemplate", name, created, 2100)
    m["annotations"] = _applied("WorkflowTemplate", name, spec)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": m,
        "spec": spec,
    }


def _cron_workflow_spec() -> Json:
    return {
        "entrypoint": "scheduled-training",
        "templates": [
            {
                "name": "scheduled-training",
                "steps": [_step("trigger-train-workflow", "trigger-train", {})],
            },
            {**_creates("train-model", []), "name": "trigger-train", "inputs": {}},
        ],
    }


def cron(key: str, created: datetime, schedule: str, last: datetime | None, runs: int) -> Json:
    """cron-train as workflows/cron-train.yaml applies it, its schedule as the student left
    it (the Argo UI's Cron tab edits spec.schedule)."""
    applied = {
        "schedule": DAILY,
        "timezone": "UTC",
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "workflowSpec": _cron_workflow_spec(),
    }
    m = meta(key, "CronWorkflow", "cron-train", created, 2200)
    m["annotations"] = _applied("CronWorkflow", "cron-train", applied)
    status: Json = {"conditions": [], "failed": 0, "phase": "Active", "succeeded": runs}
    if last is not None:
        status["lastScheduledTime"] = rfc3339(last)
        status["active"] = None
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": m,
        "spec": {**applied, "schedule": schedule},
        "status": status,
    }


# ---- workflows ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Wf:
    """One Workflow to build: its template (None: cron-train's own run), how it came to be
    ("ui": submitted from the template in the Argo UI; "step": created by another workflow's
    resource step; "cron": cron-train's run), its start, minutes it ran (None: still
    Running), phase and parameters."""

    template: str | None
    by: str
    start: datetime
    minutes: float | None
    phase: str
    params: tuple[tuple[str, str], ...] = ()


def _node(
    wf: str, path: str, kind: str, tmpl: str, phase: str, t0: datetime, t1: datetime | None
) -> tuple[str, Json]:
    node_id = wf if not path else f"{wf}-{int(suffix(wf, path), 16) * 7919 % 10**10}"
    node: Json = {
        "id": node_id,
        "name": wf + path,
        "displayName": path.rsplit(".", 1)[-1] if path else wf,
        "type": kind,
        "templateScope": f"local/{wf}",
        "phase": phase,
        "startedAt": rfc3339(t0),
        "finishedAt": rfc3339(t1) if t1 else None,
    }
    if tmpl:
        node["templateName"] = tmpl
    if path:
        node["boundaryID"] = wf
    if kind == "Pod" and phase in ("Succeeded", "Failed"):
        node["hostNodeName"] = f"node{int(suffix(node_id), 16) % 3 + 1}"
        node["progress"] = "1/1" if phase == "Succeeded" else "0/1"
        node["resourcesDuration"] = {"cpu": 4 + len(path), "memory": 120 + 7 * len(path)}
        node["outputs"] = {"exitCode": "0" if phase == "Succeeded" else "1"}
    return node_id, node


def _nodes(name: str, spec: Json, phase: str, t0: datetime, t1: datetime | None) -> Json:
    """status.nodes: the entrypoint's Steps node, a StepGroup per step, each step's node (a
    Retry around a Pod where the template retries, Skipped where its `when` did not hold);
    each group leads to the next. A failed workflow failed at its first step after which the
    rest is conditional (training, the integration test), else at its last."""
    templates = {t["name"]: t for t in spec["templates"]}
    entry = templates[spec["entrypoint"]]
    steps = entry.get("steps") or []
    nodes: dict[str, Json] = {}
    root_id, root = _node(name, "", "Steps" if steps else "Pod", entry["name"], phase, t0, t1)
    nodes[root_id] = root
    span = ((t1 or t0 + timedelta(minutes=5)) - t0) / max(len(steps), 1)
    fails_at = len(steps) - 1
    for i in range(len(steps) - 1):
        if "when" in steps[i + 1][0]:
            fails_at = i
            break
    last: Json = root
    for i, group in enumerate(steps):
        step = group[0]
        g0 = t0 + span * i
        g1: datetime | None = t0 + span * (i + 1)
        if phase in ("Failed", "Error"):
            sphase = "Failed" if i == fails_at else "Skipped" if i > fails_at else "Succeeded"
        elif phase == "Running" and i == len(steps) - 1:
            sphase, g1 = "Running", None
        else:
            sphase = "Succeeded"
        if sphase == "Skipped" and "when" not in step:
            break  # a failed step group ends the workflow
        gid, gnode = _node(name, f"[{i}]", "StepGroup", "", sphase, g0, g1)
        kind = "Skipped" if sphase == "Skipped" else "Pod"
        sid, snode = _node(name, f"[{i}].{step['name']}", kind, step["template"], sphase, g0, g1)
        if step.get("arguments"):
            snode["inputs"] = step["arguments"]
        if sphase == "Skipped":
            snode["message"] = f"when '{step.get('when', '')}' evaluated false"
        tail = snode
        if "retryStrategy" in templates.get(step["template"], {}) and kind == "Pod":
            pid, pnode = _node(
                name, f"[{i}].{step['name']}(0)", "Pod", step["template"], sphase, g0, g1
            )
            snode["type"], snode["children"] = "Retry", [pid]
            nodes[pid] = tail = pnode
        gnode["children"] = [sid]
        last["children"] = [*last.get("children", []), gid] if last is root else [gid]
        nodes[gid], nodes[sid] = gnode, snode
        last = tail
    root["outboundNodes"] = [last["id"]]
    return nodes


def workflow(key: str, w: Wf, name: str) -> Json:
    """The Workflow object, with its stored template spec and nodes."""
    running = w.minutes is None
    end = None if running else w.start + timedelta(minutes=w.minutes or 0)
    labels = {
        "workflows.argoproj.io/completed": "false" if running else "true",
        "workflows.argoproj.io/phase": w.phase,
    }
    if w.by == "ui":
        labels["workflows.argoproj.io/creator"] = "system-serviceaccount-argo-argo-server"
        labels["submit-from-ui"] = "true"
        labels["workflows.argoproj.io/workflow-template"] = str(w.template)
    if w.by == "cron":
        labels["workflows.argoproj.io/cron-workflow"] = "cron-train"
    m = meta(key, "Workflow", name, w.start, 5000 + int(w.start.timestamp()) % 90000)
    if w.by == "cron":
        m["annotations"] = {
            "workflows.argoproj.io/scheduled-time": w.start.strftime("%Y-%m-%dT%H:%M:%SZ")
        }
    m["generateName"] = "cron-train-" if w.by == "cron" else f"{w.template}-"
    m["labels"] = labels
    params = [{"name": k, "value": v} for k, v in w.params]
    if w.template is None:  # cron-train's run: the CronWorkflow's inline workflowSpec
        spec: Json = {**_cron_workflow_spec(), "arguments": {}}
        stored = spec
    else:
        spec = {
            "arguments": {"parameters": params} if params else {},
            "workflowTemplateRef": {"name": w.template},
        }
        stored = SPECS[w.template]()
        given = dict(w.params)
        stored["arguments"] = (
            {
                "parameters": [
                    {**p, "value": given[p["name"]]} if p["name"] in given else p
                    for p in stored["arguments"]["parameters"]
                ]
            }
            if stored.get("arguments")
            else stored.get("arguments", {})
        )
        stored["workflowTemplateRef"] = {"name": w.template}
    status: Json = {
        "phase": w.phase,
        "startedAt": rfc3339(w.start),
        "finishedAt": rfc3339(end) if end else None,
        "progress": "1/1" if w.phase == "Succeeded" else "0/1",
        "nodes": _nodes(name, stored, w.phase, w.start, end),
        "artifactRepositoryRef": {"default": True, "artifactRepository": {}},
        "artifactGCStatus": {"notSpecified": True},
        "taskResultsCompletionStatus": {},
        "conditions": [
            {"status": "False", "type": "PodRunning"},
            *([{"status": "True", "type": "Completed"}] if end else []),
        ],
    }
    if end:
        status["estimatedDuration"] = int((w.minutes or 0) * 60)
        status["resourcesDuration"] = {"cpu": 40, "memory": 1900}
    if w.template is not None:
        status["storedWorkflowTemplateSpec"] = stored
    if w.phase == "Failed":
        status["message"] = "child failed"
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": m,
        "spec": spec,
        "status": status,
    }
