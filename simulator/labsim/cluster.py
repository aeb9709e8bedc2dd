"""What the cloud-chi cluster on node1 holds: Kubernetes objects and Docker containers.

Objects are in the shapes the real servers return (Kubernetes API objects as kube-apiserver
v1.30 from Kubespray release-2.26 serves them, containers as Docker Engine's
`GET /containers/json`), so the kubectl and docker stand-ins can format them the way the real
CLIs do. Ages are relative to `now`, the moment the classroom starts, and sit away from the rounding
boundaries of the CLIs' age texts ("2 hours", "4h12m"), so outputs stay stable for minutes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from .profiles import CloudKnob, K8sKind
from .shared import rfc3339, stable_hex, stable_uid

Json = dict[str, Any]
K8S_VERSION = "v1.30.4"  # Kubespray release-2.26 default
NAMESPACE = "gourmetgram-production"
APP = "gourmetgram-app"
IMAGE = "node1:5000/gourmetgram-app:latest"
NGINX = "nginx"  # `kubectl create deployment gourmetgram-app --image=nginx`


def _cond(kind: str, status: str, reason: str, message: str, when: datetime, **extra: str) -> Json:
    return {
        **extra,
        "lastTransitionTime": rfc3339(when),
        "message": message,
        "reason": reason,
        "status": status,
        "type": kind,
    }


def _applied(manifest: Json) -> Json:
    """kubectl apply's annotation: the manifest as applied, compact JSON plus a newline."""
    return {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
            manifest, sort_keys=True, separators=(",", ":")
        )
        + "\n"
    }


def object_meta(
    netid: str, kind: str, name: str, created: datetime, rv: int, ns: str | None
) -> Json:
    """An object's metadata: its creation time, name, namespace, resourceVersion and UID."""
    meta: Json = {"creationTimestamp": rfc3339(created), "name": name}
    if ns:
        meta["namespace"] = ns
    meta.update(resourceVersion=str(rv), uid=stable_uid(netid, kind, name))
    return meta


def _node_conditions(created: datetime, beat: datetime) -> list[Json]:
    """A healthy node's conditions: Calico up, no pressure, Ready; `beat`: its last heartbeat."""
    up = created + timedelta(minutes=1)
    pressure = [
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]
    return [
        _cond(
            "NetworkUnavailable",
            "False",
            "CalicoIsUp",
            "Calico is running on this node",
            up,
            lastHeartbeatTime=rfc3339(up),
        ),
        *[
            _cond(k, "False", r, m, created, lastHeartbeatTime=rfc3339(beat))
            for k, r, m in pressure
        ],
        _cond(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
            up,
            lastHeartbeatTime=rfc3339(beat),
        ),
    ]


def _node(netid: str, n: int, now: datetime, ip: str) -> Json:
    """Kubespray's node`n` at `ip`: 2 vCPU, 4 GiB, Ubuntu 24.04, docker through cri-dockerd."""
    name, created = f"node{n}", now - timedelta(hours=4, minutes=10)
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
    }
    if n in (1, 2):  # Kubespray's sample inventory: node1 and node2 run the control plane
        labels["node-role.kubernetes.io/control-plane"] = ""
    meta = object_meta(netid, "Node", name, created, 40000 + n, None)
    meta["annotations"] = {
        "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/cri-dockerd.sock",
        "node.alpha.kubernetes.io/ttl": "0",
        "projectcalico.org/IPv4Address": f"{ip}/24",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
    }
    meta["labels"] = labels
    conditions = _node_conditions(created, now - timedelta(seconds=20 + n))
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta,
        "spec": {"podCIDR": f"10.233.{63 + n}.0/24", "podCIDRs": [f"10.233.{63 + n}.0/24"]},
        "status": {
            "addresses": [
                {"address": ip, "type": "InternalIP"},
                {"address": name, "type": "Hostname"},
            ],
            "allocatable": {
                "cpu": "1900m",
                "ephemeral-storage": "37297826550",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": "3488588Ki",
                "pods": "110",
            },
            "capacity": {
                "cpu": "2",
                "ephemeral-storage": "40470732Ki",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": "4010188Ki",
                "pods": "110",
            },
            "conditions": conditions,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": stable_uid(netid, "boot", name),
                "containerRuntimeVersion": "docker://26.1.4",
                "kernelVersion": "6.8.0-51-generic",
                "kubeProxyVersion": K8S_VERSION,
                "kubeletVersion": K8S_VERSION,
                "machineID": stable_hex(netid, "machine", name, n=32),
                "operatingSystem": "linux",
                "osImage": "Ubuntu 24.04.1 LTS",
                "systemUUID": stable_uid(netid, "system", name),
            },
        },
    }


def _namespace(netid: str, name: str, created: datetime, rv: int) -> Json:
    meta = object_meta(netid, "Namespace", name, created, rv, None)
    meta["labels"] = {"kubernetes.io/metadata.name": name}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta,
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _container_spec(knobs: frozenset[CloudKnob] = frozenset()) -> Json:
    """The app's container as the lab's deployment.yaml has it; with "wrong_image" as
    `kubectl create deployment --image=nginx` makes it, with "no_probe" without the
    readinessProbe block."""
    if "wrong_image" in knobs:
        return {
            "image": NGINX,
            "imagePullPolicy": "Always",
            "name": NGINX,
            "resources": {},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }
    spec = {
        "image": IMAGE,
        "imagePullPolicy": "Always",
        "name": APP,
        "ports": [{"containerPort": 8000, "protocol": "TCP"}],
        "readinessProbe": {
            "failureThreshold": 3,
            "httpGet": {"path": "/test", "port": 8000, "scheme": "HTTP"},
            "initialDelaySeconds": 5,
            "periodSeconds": 5,
            "successThreshold": 3,
            "timeoutSeconds": 1,
        },
        "resources": {
            "limits": {"cpu": "500m", "memory": "500Mi"},
            "requests": {"cpu": "300m", "memory": "300Mi"},
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if "no_probe" in knobs:
        del spec["readinessProbe"]
    return spec


def kubernetes(
    netid: str,
    node1_ip: str,
    now: datetime,
    missing: frozenset[K8sKind],
    replicas: int = 2,
    knobs: frozenset[CloudKnob] = frozenset(),
    public_ips: tuple[str, str, str] | None = None,
    floating_ip: str = "",
) -> list[Json]:
    """Every object of the cluster; `missing` holds kinds never created ("hpa", ...), `knobs`
    the student's deviations: "public_nodes" builds the cluster on the nodes' sharednet1
    addresses `public_ips`, "service_floating_ip" lists `floating_ip` in the Service's
    externalIPs, "hpa_values" makes the HPA 1 to 10 at 80% CPU."""
    ips = [f"192.168.1.1{n}" for n in (1, 2, 3)]
    if "public_nodes" in knobs and public_ips:
        ips = list(public_ips)
    objects = [_node(netid, n, now, ips[n - 1]) for n in (1, 2, 3)]
    boot = now - timedelta(hours=4, minutes=10)
    for i, ns in enumerate(("default", "kube-node-lease", "kube-public", "kube-system")):
        objects.append(_namespace(netid, ns, boot, 10 + i))
    created = now - timedelta(hours=3, minutes=5)  # when the student applied the manifests
    if "namespace" not in missing:
        objects.append(_namespace(netid, NAMESPACE, created, 31000))
    if "deployment" not in missing:
        rs_hash = stable_hex(netid, "rs", n=10)
        deployment = _deployment(netid, now, created, rs_hash, replicas, knobs)
        objects += [deployment, _replica_set(netid, created, rs_hash, replicas, deployment)]
        objects += [_pod(netid, rs_hash, i, now, ips, knobs) for i in range(replicas)]
    if "service" not in missing:
        external = floating_ip if "service_floating_ip" in knobs else node1_ip
        objects.append(_service(netid, external, created))
    if "hpa" not in missing:
        objects.append(_hpa(netid, now, replicas, (1, 10, 80) if "hpa_values" in knobs else None))
    return objects


def _deployment(
    netid: str,
    now: datetime,
    created: datetime,
    rs_hash: str,
    replicas: int,
    knobs: frozenset[CloudKnob] = frozenset(),
) -> Json:
    """gourmetgram-app as applied with replicas: 1, then scaled to `replicas` by the HPA
    (with "wrong_image": made by `kubectl create deployment`, never applied)."""
    labels = {"app": APP}
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"annotations": {}, "name": APP, "namespace": NAMESPACE},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [_container_spec(knobs)]},
            },
        },
    }
    meta = object_meta(netid, "Deployment", APP, created, 36012, NAMESPACE)
    applied = {} if "wrong_image" in knobs else _applied(manifest)
    meta["annotations"] = {"deployment.kubernetes.io/revision": "1", **applied}
    if "wrong_image" in knobs:
        meta["labels"] = dict(labels)
    meta["generation"] = 4
    template = {
        "metadata": {"creationTimestamp": None, "labels": labels},
        "spec": {
            "containers": [_container_spec(knobs)],
            "dnsPolicy": "ClusterFirst",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30,
        },
    }
    ready = now - timedelta(hours=1, minutes=40)  # as the pods
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "progressDeadlineSeconds": 600,
            "replicas": replicas,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": labels},
            "strategy": {
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                "type": "RollingUpdate",
            },
            "template": template,
        },
        "status": _deployment_status(created, ready, rs_hash, replicas),
    }


def _deployment_status(created: datetime, ready: datetime, rs_hash: str, replicas: int) -> Json:
    """Rolled out, every replica available since `ready`."""
    return {
        "availableReplicas": replicas,
        "conditions": [
            _cond(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{APP}-{rs_hash}" has successfully progressed.',
                created,
                lastUpdateTime=rfc3339(created + timedelta(seconds=20)),
            ),
            _cond(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                ready,
                lastUpdateTime=rfc3339(ready),
            ),
        ],
        "observedGeneration": 4,
        "readyReplicas": replicas,
        "replicas": replicas,
        "updatedReplicas": replicas,
    }


def _replica_set(
    netid: str, created: datetime, rs_hash: str, replicas: int, deployment: Json
) -> Json:
    """The Deployment's ReplicaSet: its pod template, labelled with the template's hash."""
    rs_labels = {"app": APP, "pod-template-hash": rs_hash}
    rs_meta = object_meta(netid, "ReplicaSet", f"{APP}-{rs_hash}", created, 38790, NAMESPACE)
    rs_meta["annotations"] = {
        "deployment.kubernetes.io/desired-replicas": str(replicas),
        "deployment.kubernetes.io/max-replicas": str(replicas + 1),
        "deployment.kubernetes.io/revision": "1",
    }
    rs_meta["generation"] = 4
    rs_meta["labels"] = rs_labels
    rs_meta["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "blockOwnerDeletion": True,
            "controller": True,
            "kind": "Deployment",
            "name": APP,
            "uid": deployment["metadata"]["uid"],
        }
    ]
    rs_template = json.loads(json.dumps(deployment["spec"]["template"]))  # a deep copy
    rs_template["metadata"]["labels"] = rs_labels
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": rs_meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": rs_labels},
            "template": rs_template,
        },
        "status": {
            "availableReplicas": replicas,
            "fullyLabeledReplicas": replicas,
            "observedGeneration": 4,
            "readyReplicas": replicas,
            "replicas": replicas,
        },
    }


def _service(netid: str, node1_ip: str, created: datetime) -> Json:
    """gourmetgram-svc: port 80 to the pods' 8000, reached on node1's external IP."""
    labels = {"app": APP}
    ports = [{"port": 80, "protocol": "TCP", "targetPort": 8000}]
    manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"annotations": {}, "name": "gourmetgram-svc", "namespace": NAMESPACE},
        "spec": {"externalIPs": [node1_ip], "ports": ports, "selector": labels},
    }
    meta = object_meta(netid, "Service", "gourmetgram-svc", created, 36020, NAMESPACE)
    meta["annotations"] = _applied(manifest)
    svc_hash = int(stable_hex(netid, "svc", n=4), 16)
    cluster_ip = f"10.233.{svc_hash % 60}.{svc_hash // 60 % 250 + 2}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "externalIPs": [node1_ip],
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": ports,
            "selector": labels,
            "sessionAffinity": "None",
            "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    }


def _hpa(
    netid: str, now: datetime, replicas: int, limits: tuple[int, int, int] | None = None
) -> Json:
    """gourmetgram-kube-hpa: 2 to 6 replicas at 50% CPU (or `limits`: min, max, CPU %), idle
    now (so at its minimum)."""
    low, high, cpu = limits or (2, 6, 50)
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP}
    metrics = [
        {
            "resource": {
                "name": "cpu",
                "target": {"averageUtilization": cpu, "type": "Utilization"},
            },
            "type": "Resource",
        }
    ]
    manifest = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"annotations": {}, "name": "gourmetgram-kube-hpa", "namespace": NAMESPACE},
        "spec": {
            "maxReplicas": high,
            "metrics": metrics,
            "minReplicas": low,
            "scaleTargetRef": target,
        },
    }
    created = now - timedelta(hours=1, minutes=45)
    meta = object_meta(
        netid, "HorizontalPodAutoscaler", "gourmetgram-kube-hpa", created, 38800, NAMESPACE
    )
    meta["annotations"] = _applied(manifest)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "maxReplicas": high,
            "metrics": metrics,
            "minReplicas": low,
            "scaleTargetRef": target,
        },
        "status": _hpa_status(created, now, replicas),
    }


def _hpa_status(created: datetime, now: datetime, replicas: int) -> Json:
    """The HPA idle at its minimum: CPU at 2% of requests, scaled last when the pods came up."""
    return {
        "conditions": [
            _cond(
                "AbleToScale",
                "True",
                "ReadyForNewScale",
                "recommended size matches current size",
                created,
            ),
            _cond(
                "ScalingActive",
                "True",
                "ValidMetricFound",
                "the HPA was able to successfully calculate a replica count from cpu "
                "resource utilization (percentage of request)",
                created,
            ),
            _cond(
                "ScalingLimited",
                "True",
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
                created,
            ),
        ],
        "currentMetrics": [
            {
                "resource": {
                    "current": {"averageUtilization": 2, "averageValue": "6m"},
                    "name": "cpu",
                },
                "type": "Resource",
            }
        ],
        "currentReplicas": replicas,
        "desiredReplicas": replicas,
        "lastScaleTime": rfc3339(now - timedelta(hours=1, minutes=40)),
    }


def pod_name(netid: str, rs_hash: str, i: int) -> str:
    return f"{APP}-{rs_hash}-{stable_hex(netid, 'pod', str(i), n=5)}"


def _pod(
    netid: str,
    rs_hash: str,
    i: int,
    now: datetime,
    node_ips: list[str],
    knobs: frozenset[CloudKnob] = frozenset(),
) -> Json:
    """The app's pod `i`, spread over the nodes (at `node_ips`) in turn, Running and Ready."""
    name, node = pod_name(netid, rs_hash, i), f"node{i % 3 + 1}"
    started = now - timedelta(hours=1, minutes=40)
    meta = object_meta(netid, "Pod", name, started, 38700 + i, NAMESPACE)
    meta["generateName"] = f"{APP}-{rs_hash}-"
    meta["labels"] = {"app": APP, "pod-template-hash": rs_hash}
    meta["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "blockOwnerDeletion": True,
            "controller": True,
            "kind": "ReplicaSet",
            "name": f"{APP}-{rs_hash}",
            "uid": stable_uid(netid, "ReplicaSet"),
        }
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "containers": [_container_spec(knobs)],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": True,
            "nodeName": node,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccount": "default",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
        },
        "status": _pod_status(netid, name, i, started, node_ips[i % 3], "wrong_image" in knobs),
    }


def _pod_status(
    netid: str, name: str, i: int, started: datetime, host_ip: str, nginx: bool = False
) -> Json:
    """Running since `started`, Ready 20 s later, on node (i % 3) + 1 at `host_ip`."""
    pod_ip = f"10.233.{64 + i % 3}.{10 + i}"
    ready = started + timedelta(seconds=20)
    image, image_id = (
        ("nginx:latest", "docker-pullable://nginx@sha256:")
        if nginx
        else (IMAGE, "docker-pullable://node1:5000/gourmetgram-app@sha256:")
    )
    return {
        "conditions": [
            {
                "lastProbeTime": None,
                "lastTransitionTime": rfc3339(t),
                "status": "True",
                "type": k,
            }
            for k, t in (
                ("PodReadyToStartContainers", started),
                ("Initialized", started),
                ("Ready", ready),
                ("ContainersReady", ready),
                ("PodScheduled", started),
            )
        ],
        "containerStatuses": [
            {
                "containerID": "docker://" + stable_hex(netid, name),
                "image": image,
                "imageID": image_id + stable_hex(netid, "image"),
                "lastState": {},
                "name": NGINX if nginx else APP,
                "ready": True,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": rfc3339(started + timedelta(seconds=3))}},
            }
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "phase": "Running",
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "qosClass": "Burstable",
        "startTime": rfc3339(started),
    }


def docker(netid: str, pods: list[Json], now: datetime) -> list[Json]:
    """node1's containers as `GET /containers/json` lists them, newest first. `_started` (not
    an Engine field) is the start time the engine would turn into `Status`."""
    containers: list[Json] = []
    for pod in pods:  # the app's pods scheduled on node1
        if pod["spec"]["nodeName"] == "node1":
            meta = pod["metadata"]
            started = datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))
            container = pod["spec"]["containers"][0]["name"]
            containers += _pod_containers(
                netid,
                container,
                meta["name"],
                NAMESPACE,
                meta["uid"],
                "sha256:" + stable_hex(netid, "image"),
                "/docker-entrypoint.sh nginx -g 'daemon off;'"
                if container == NGINX
                else "python app.py",
                started,
                False,
            )
    containers.append(_registry(netid, now))
    boot = now - timedelta(hours=4, minutes=12)
    for i, (container, name, command) in enumerate(SYSTEM_PODS):
        if name.endswith("-"):  # a DaemonSet's pod: its name ends in a random suffix
            name += stable_hex(netid, name, n=5)
        containers += _pod_containers(
            netid,
            container,
            name,
            "kube-system",
            stable_uid(netid, name),
            "sha256:" + stable_hex(container),
            command,
            boot - timedelta(minutes=i * 2),
            True,
        )
    containers.sort(key=lambda c: c["Created"], reverse=True)  # stable: ties keep this order
    return containers


# node1's control-plane and node pods: (container, pod name or prefix, command)
SYSTEM_PODS = [
    ("calico-node", "calico-node-", "start_runit"),
    (
        "kube-proxy",
        "kube-proxy-",
        "/usr/local/bin/kube-proxy --config=/var/lib/kube-proxy/"
        "config.conf --hostname-override=node1",
    ),
    (
        "kube-scheduler",
        "kube-scheduler-node1",
        "kube-scheduler --authentication-kubeconfig="
        "/etc/kubernetes/scheduler.conf --bind-address=0.0.0.0",
    ),
    (
        "kube-controller-manager",
        "kube-controller-manager-node1",
        "kube-controller-manager --allocate-node-cidrs=true --cluster-cidr=10.233.64.0/18",
    ),
    (
        "kube-apiserver",
        "kube-apiserver-node1",
        "kube-apiserver --advertise-address="
        "192.168.1.11 --allow-privileged=true --anonymous-auth=True",
    ),
]


def _engine_container(
    netid: str,
    name: str,
    image: str,
    command: str,
    created: datetime,
    network: str,
    labels: Json | None = None,
    ports: list[Json] | None = None,
    mounts: list[Json] | None = None,
    image_id: str | None = None,
) -> Json:
    """A running container as the Engine lists it; one in another's network namespace
    (`container:<id>`, a pod's) lists no networks of its own."""
    networks = (
        {}
        if network.startswith("container:")
        else {
            network: {
                "NetworkID": stable_hex(netid, "net", network),
                "EndpointID": "",
                "Gateway": "",
                "IPAddress": "172.17.0.2" if network == "bridge" else "",
                "IPPrefixLen": 16 if network == "bridge" else 0,
                "MacAddress": "02:42:ac:11:00:02" if network == "bridge" else "",
            }
        }
    )
    return {
        "Id": stable_hex(netid, "container", name),
        "Names": ["/" + name],
        "Image": image,
        "ImageID": image_id or "sha256:" + stable_hex(netid, "image", image),
        "Command": command,
        "Created": int(created.timestamp()),
        "Ports": ports or [],
        "Labels": labels or {},
        "State": "running",
        "HostConfig": {"NetworkMode": network},
        "NetworkSettings": {"Networks": networks},
        "Mounts": mounts or [],
        "_started": int(created.timestamp()) + 1,
    }


def _pod_containers(
    netid: str,
    container: str,
    pod: str,
    ns: str,
    uid: str,
    image: str,
    command: str,
    created: datetime,
    host_network: bool,
) -> list[Json]:
    """What cri-dockerd runs for a one-container pod: its pause sandbox, then the container
    in the sandbox's network (or both in the host's)."""
    pod_labels = {
        "io.kubernetes.pod.name": pod,
        "io.kubernetes.pod.namespace": ns,
        "io.kubernetes.pod.uid": uid,
    }
    sandbox = _engine_container(
        netid,
        f"k8s_POD_{pod}_{ns}_{uid}_0",
        "registry.k8s.io/pause:3.9",
        "/pause",
        created,
        "host" if host_network else "none",
        {
            "io.kubernetes.container.name": "POD",
            "io.kubernetes.docker.type": "podsandbox",
            **pod_labels,
        },
    )
    app = _engine_container(
        netid,
        f"k8s_{container}_{pod}_{ns}_{uid}_0",
        image,
        command,
        created + timedelta(seconds=2),
        "host" if host_network else "container:" + sandbox["Id"],
        {
            "io.kubernetes.container.name": container,
            "io.kubernetes.docker.type": "container",
            **pod_labels,
            "io.kubernetes.sandbox.id": sandbox["Id"],
        },
        image_id=image if image.startswith("sha256:") else None,
    )
    return [sandbox, app]


def _registry(netid: str, now: datetime) -> Json:
    """The lab's private registry (`docker run -d -p 5000:5000 registry:2`) on node1."""
    volume = stable_hex(netid, "registry-volume")
    return _engine_container(
        netid,
        "registry",
        "registry:2",
        "/entrypoint.sh /etc/docker/registry/config.yml",
        now - timedelta(hours=3, minutes=20),
        "bridge",
        ports=[
            {"IP": "0.0.0.0", "PrivatePort": 5000, "PublicPort": 5000, "Type": "tcp"},
            {"IP": "::", "PrivatePort": 5000, "PublicPort": 5000, "Type": "tcp"},
        ],
        mounts=[
            {
                "Type": "volume",
                "Name": volume,
                "Source": f"/var/lib/docker/volumes/{volume}/_data",
                "Destination": "/var/lib/registry",
                "Driver": "local",
                "Mode": "",
                "RW": True,
                "Propagation": "",
            }
        ],
    )
