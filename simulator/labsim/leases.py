"""Each lab's Blazar leases, as the lab's manual names them (written from the manuals, not
read from the grader's lab.yaml), made beside the lab's instances.

A lease lives at the site of the instances built with it (so a profile that builds a lab at
another site the manual allows has its lease there too); a lab whose profile built nothing has
it at the lab's usual site. `expired` profiles have every lease TERMINATED.
"""

from __future__ import annotations

from .family import BuildContext

# lab -> (lease name templates, the usual site)
LEASES: dict[str, tuple[tuple[str, ...], str]] = {
    "hello-chameleon": (("hello_chameleon-{user}",), "KVM@TACC"),
    "cloud-chi": (("lease1_cloud_{netid}", "lease2_cloud_{netid}"), "KVM@TACC"),
    "mlops-chi": (("lease_mlops_{netid}",), "KVM@TACC"),
    "serve-system-chi": (("serve_system_{netid}",), "CHI@TACC"),
    "serve-model-chi": (("serve_model_{netid}",), "CHI@TACC"),
    "serve-edge-chi": (("serve_edge_{netid}",), "CHI@Edge"),
    "llm-chi": (("llm_single_{netid}", "llm_multi_{netid}"), "CHI@UC"),
    "mlflow-chi": (("mlflow_{netid}",), "CHI@TACC"),
    "mltrain-chi": (("mltrain_{netid}",), "CHI@TACC"),
    "data-platform-chi": (("lease-data-{user}",), "KVM@TACC"),
    "eval-online-chi": (("lease-eval-online-{user}",), "KVM@TACC"),
}


def add_leases(ctx: BuildContext, lab: str, servers_before: int, containers_before: int) -> None:
    """The lab's leases, at the site of the first instance its builder just made."""
    if lab not in LEASES:
        return
    templates, usual = LEASES[lab]
    cloud = ctx.cloud
    built = cloud.servers[servers_before:] or cloud.containers[containers_before:]
    region = cloud.region_of(built[0]) if built else usual
    status = "TERMINATED" if ctx.profile.lease == "expired" else "ACTIVE"
    for template in templates:
        name = template.format(netid=ctx.student.netid, user=ctx.student.chameleon_user)
        cloud.add_lease(name, region, status)
