"""Student profiles: how a simulated student's systems look, and what the grader must find.

Each profile is data: a description, the knobs the simulator builds the student's hosts from,
and, per lab, the status every check must end with. Tests and `labgrader demo` hold the grader
to these expectations, so they are written out by hand, never derived from the grader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PASSED, FAILED, SKIPPED, UNREACHABLE = "passed", "failed", "skipped", "unreachable"

# Check ids of each lab (a fixed contract with labs/*/checks.py) and the checks each depends on.
LAB_CHECKS: dict[str, dict[str, tuple[str, ...]]] = {
    "hello-chameleon": {
        "server_active": (),
        "ssh_login": ("server_active",),
        "hostname": ("ssh_login",),
        "hello_file": ("ssh_login",),
        "hello_file_edited": ("hello_file",),
    },
    "cloud-chi": {
        "nodes_active": (),
        "private_network": (),
        "floating_ip": (),
        "web_page": ("floating_ip",),
        "web_test": ("floating_ip",),
        "ssh_login": ("floating_ip",),
        "k8s_nodes": ("ssh_login",),
        "k8s_namespace": ("ssh_login",),
        "k8s_deployment": ("k8s_namespace",),
        "k8s_service": ("k8s_namespace",),
        "k8s_hpa": ("k8s_namespace",),
        "registry_container": ("ssh_login",),
    },
}
LABS = tuple(LAB_CHECKS)

Network = Literal["up", "down", "tarpit"]
HelloFile = Literal["edited", "unedited", "missing"]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    # Deviations from "every check passed", per lab; missing checks are expected to pass.
    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)
    # What the simulator builds.
    network: Network = "up"  # down: nothing listens; tarpit: accepts, never answers
    hello_file: HelloFile = "edited"
    hello_server_error: bool = False  # hello server in ERROR, with a fault, no floating IP
    cloud_error_nodes: frozenset[str] = frozenset()  # e.g. {"node3"}: in ERROR
    failing_paths: frozenset[str] = frozenset()  # GourmetGram paths answering 500
    missing_k8s: frozenset[str] = frozenset()  # kinds absent from the cluster, e.g. {"hpa"}

    def expected(self, lab: str) -> dict[str, str]:
        """Status of every check of `lab`, in the lab's check order."""
        if lab not in LAB_CHECKS:
            raise KeyError(f"unknown lab {lab!r}; known: {', '.join(LABS)}")
        overrides = self.outcomes.get(lab, {})
        unknown = set(overrides) - set(LAB_CHECKS[lab])
        if unknown:
            raise ValueError(f"profile {self.name}: unknown {lab} checks {sorted(unknown)}")
        return {check: overrides.get(check, PASSED) for check in LAB_CHECKS[lab]}


_CLOUD_UNREACHABLE = {
    "web_page": UNREACHABLE,
    "web_test": UNREACHABLE,
    "ssh_login": UNREACHABLE,
    "k8s_nodes": SKIPPED,
    "k8s_namespace": SKIPPED,
    "k8s_deployment": SKIPPED,
    "k8s_service": SKIPPED,
    "k8s_hpa": SKIPPED,
    "registry_container": SKIPPED,
}
_HELLO_UNREACHABLE = {
    "ssh_login": UNREACHABLE,
    "hostname": SKIPPED,
    "hello_file": SKIPPED,
    "hello_file_edited": SKIPPED,
}

_ALL = [
    Profile(
        "healthy",
        "Everything done as the labs ask: hello.txt written and then edited; cloud-chi "
        "cluster, app, registry all up.",
    ),
    Profile(
        "missing_file",
        "Never wrote ~/hello.txt (cat: No such file or directory); cloud-chi complete.",
        {"hello-chameleon": {"hello_file": FAILED, "hello_file_edited": SKIPPED}},
        hello_file="missing",
    ),
    Profile(
        "unedited_file",
        "~/hello.txt holds exactly the one line 'Hello from <hostname>': never edited.",
        {"hello-chameleon": {"hello_file_edited": FAILED}},
        hello_file="unedited",
    ),
    Profile(
        "server_error",
        "hello_chameleon server in ERROR (No valid host was found), no floating IP; "
        "cloud-chi node3 in ERROR, the rest working.",
        {
            "hello-chameleon": {
                "server_active": FAILED,
                "ssh_login": SKIPPED,
                "hostname": SKIPPED,
                "hello_file": SKIPPED,
                "hello_file_edited": SKIPPED,
            },
            "cloud-chi": {"nodes_active": FAILED},
        },
        hello_server_error=True,
        cloud_error_nodes=frozenset({"node3"}),
    ),
    Profile(
        "endpoint_500",
        "GourmetGram on node1 answers /test with Werkzeug's 500 page; all else works.",
        {"cloud-chi": {"web_test": FAILED}},
        failing_paths=frozenset({"/test"}),
    ),
    Profile(
        "missing_k8s_object",
        "Never created the HorizontalPodAutoscaler gourmetgram-kube-hpa; all else works.",
        {"cloud-chi": {"k8s_hpa": FAILED}},
        missing_k8s=frozenset({"hpa"}),
    ),
    Profile(
        "host_down",
        "API says ACTIVE with a floating IP, but nothing listens on the address "
        "(connection refused on 22 and 80).",
        {"hello-chameleon": _HELLO_UNREACHABLE, "cloud-chi": _CLOUD_UNREACHABLE},
        network="down",
    ),
    Profile(
        "tarpit",
        "API says ACTIVE; ports 22 and 80 accept connections and never send a byte.",
        {"hello-chameleon": _HELLO_UNREACHABLE, "cloud-chi": _CLOUD_UNREACHABLE},
        network="tarpit",
    ),
]

PROFILES: dict[str, Profile] = {p.name: p for p in _ALL}
