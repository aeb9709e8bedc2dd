"""Chameleon probe through python-chi, with the standard OpenStack variables.

Only cheap calls: one `servers/detail` listing (through `chi.nova()`), one network and one
floating-IP listing per site, cached for a short while and shared by every student of a batch,
instead of python-chi's `get_server` helpers that make nine requests per server. python-chi is
imported lazily: it costs about half a second, and `labgrader --help` must stay fast.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graders.errors import BadInput, GraderFault
from graders.evidence import Evidence

# keystoneauth lists every auth plugin at python-chi's reset; two of them (SAML, ADFS) need
# lxml and log an ERROR each time. They are not used here: keep the student's terminal clean.
logging.getLogger("stevedore.extension").setLevel(logging.CRITICAL)
# neutronclient warns on every client it builds that its bindings are deprecated: not news
# to a student, and python-chi's chi.neutron() is the course's own interface.
logging.getLogger("neutronclient.v2_0.client").setLevel(logging.ERROR)

CACHE_TTL_S = 30.0
API_TIMEOUT_S = 10

_lock = threading.Lock()  # python-chi's configuration is process-wide
_configured: tuple[str, str] | None = None
_cache: dict[tuple[str, str, str], tuple[float, Any]] = {}


@dataclass(frozen=True)
class Site:
    name: str  # region, e.g. KVM@TACC
    auth_url: str


def credentials_problem(env: Mapping[str, str] | None = None) -> str | None:
    """Why the OpenStack variables cannot work, in one line; None when they look usable.

    Accepted, as Chameleon hands them out: an application credential, a user name and
    password (openrc), a Keystone token, or the OIDC access token that Chameleon's Jupyter
    environment provides.
    """
    env = os.environ if env is None else env
    pairs = (
        ("OS_APPLICATION_CREDENTIAL_ID", "OS_APPLICATION_CREDENTIAL_SECRET"),
        ("OS_USERNAME", "OS_PASSWORD"),
        ("OS_TOKEN",),
        ("OS_ACCESS_TOKEN",),
        ("OS_AUTH_TYPE", "JUPYTERHUB_API_TOKEN"),
    )
    if any(all(env.get(k) for k in pair) for pair in pairs):
        return None
    return (
        "Chameleon credentials are not set: source your openrc or application-credential "
        "file (OS_APPLICATION_CREDENTIAL_ID and OS_APPLICATION_CREDENTIAL_SECRET, or "
        "OS_USERNAME and OS_PASSWORD)"
    )


class Chameleon:
    def __init__(self, site: Site, record: Callable[[Evidence], None] | None = None) -> None:
        self.site = site
        self.record = record or (lambda e: None)

    def bound(self, record: Callable[[Evidence], None]) -> Chameleon:
        return Chameleon(self.site, record)

    # --- what checks ask ------------------------------------------------------------------
    def server(self, name: str) -> dict[str, Any] | None:
        """The server with exactly this name, as Nova reports it (raw JSON), or None."""
        servers = self._list("servers", lambda chi: [s._info for s in chi.nova().servers.list()])
        return self._named(servers, name, "nova servers/detail", "servers")

    def network(self, name: str) -> dict[str, Any] | None:
        nets = self._list("networks", lambda chi: chi.neutron().list_networks()["networks"])
        return self._named(nets, name, "neutron networks", "networks")

    def container(self, name: str) -> dict[str, Any] | None:
        """The Zun container (CHI@Edge) with exactly this name, as Zun reports it, or None."""
        items = self._list("containers", lambda chi: [c._info for c in chi.zun().containers.list()])
        return self._named(items, name, "zun containers", "containers")

    def floating_ip_of_ports(self, ports: set[str]) -> str | None:
        """The floating IP attached to one of these Neutron ports (how Zun containers get one)."""
        for fip in self.floating_ips():
            if fip.get("port_id") in ports:
                return fip.get("floating_ip_address")
        return None

    def floating_ips(self) -> list[dict[str, Any]]:
        return self._list(
            "floatingips", lambda chi: chi.neutron().list_floatingips()["floatingips"]
        )

    def at(self, site: Site) -> Chameleon:
        """The same probe at another site (e.g. the object store of a KVM@TACC lab)."""
        return Chameleon(site, self.record)

    def volume(self, name: str) -> dict[str, Any] | None:
        """The Cinder volume with exactly this name (`chi.clients.cinder()`), or None."""
        vols = self._list("volumes", lambda chi: [v._info for v in chi.cinder().volumes.list()])
        return self._named(vols, name, "cinder volumes/detail", "volumes")

    def objects(self, container: str) -> list[dict[str, Any]] | None:
        """The objects of a Swift container (`name`, `bytes`, `hash`), or None without one.

        Through swiftclient on python-chi's session, as `chi.storage` does, but with the
        site's region and one try (swiftclient retries five times by default)."""

        def swift(chi: Any) -> Any:
            import swiftclient

            return swiftclient.Connection(
                session=chi.session(),
                os_options={"region_name": self.site.name},
                retries=0,
                timeout=API_TIMEOUT_S,
            )

        names = self._list(
            "swift", lambda chi: [c["name"] for c in swift(chi).get_account(full_listing=True)[1]]
        )
        if container not in names:
            self.record(
                Evidence.make(
                    "api",
                    f"swift account at {self.site.name}: {len(names)} containers, "
                    f"none named {container}",
                )
            )
            return None
        return self._list(
            f"swift/{container}",
            lambda chi: swift(chi).get_container(container, full_listing=True)[1],
        )

    # --- plumbing ---------------------------------------------------------------------------
    def _named(
        self, items: list[dict[str, Any]], name: str, listing: str, noun: str
    ) -> dict[str, Any] | None:
        """The item with exactly this name, or None; the lookup is recorded as evidence."""
        found = [i for i in items if i.get("name") == name]
        self.record(
            Evidence.make(
                "api",
                f"{listing} at {self.site.name}: {len(items)} {noun}, {len(found)} named {name}",
                found[0] if found else "",
            )
        )
        return found[0] if found else None

    def _list(
        self, what: str, fetch: Callable[[Any], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        key = (self.site.auth_url, self.site.name, what)
        with _lock:
            hit = _cache.get(key)
            if hit and time.monotonic() - hit[0] < CACHE_TTL_S:
                return hit[1]
            chi = self._configure()
            try:
                items = fetch(chi)
            except Exception as exc:  # noqa: BLE001 - every API failure is the grader's side
                raise GraderFault(_api_problem(exc, self.site)) from None
            _cache[key] = (time.monotonic(), items)
            return items

    def _configure(self) -> Any:
        """Point python-chi at this site (caller holds _lock)."""
        global _configured
        import chi

        auth_url = os.environ.get("OS_AUTH_URL") or self.site.auth_url
        if _configured == (auth_url, self.site.name):
            return chi
        problem = credentials_problem()
        if problem:
            raise BadInput(problem)
        # reset() re-reads every OS_* variable (python-chi reads them only there), and drops
        # any session cached for another site; then the site's own URL and region win.
        chi.reset()
        env = os.environ
        if not env.get("OS_AUTH_TYPE"):
            app = env.get("OS_APPLICATION_CREDENTIAL_ID")
            chi.set("auth_type", "v3applicationcredential" if app else "v3password")
        chi.set("auth_url", auth_url)
        chi.set("region_name", self.site.name)
        chi.set("timeout", API_TIMEOUT_S)
        _configured = (auth_url, self.site.name)
        return chi


def reset_cache() -> None:
    """Forget listings and configuration (tests, and a new batch, start fresh)."""
    global _configured
    with _lock:
        _cache.clear()
        _configured = None


def floating_ip(server: dict[str, Any]) -> str | None:
    for addrs in (server.get("addresses") or {}).values():
        for a in addrs:
            if a.get("OS-EXT-IPS:type") == "floating":
                return a.get("addr")
    return None


def _api_problem(exc: Exception, site: Site) -> str:
    name = type(exc).__name__
    if name == "Unauthorized":
        return f"Chameleon at {site.name} rejected the credentials (HTTP 401); check OS_* variables"
    if name in ("ConnectFailure", "ConnectTimeout", "DiscoveryFailure"):
        return f"cannot reach the Chameleon API for {site.name}: {exc}"
    return f"Chameleon API call failed at {site.name}: {name}: {exc}"
