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
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Literal

from graders.course import Site
from graders.errors import Failure, GraderFault
from graders.evidence import Evidence
from graders.probes.credentials import credentials_for

# keystoneauth lists every auth plugin at python-chi's reset; two of them (SAML, ADFS) need
# lxml and log an ERROR each time. They are not used here: keep the student's terminal clean.
logging.getLogger("stevedore.extension").setLevel(logging.CRITICAL)
# neutronclient warns on every client it builds that its bindings are deprecated: not news
# to a student, and python-chi's chi.neutron() is the course's own interface.
logging.getLogger("neutronclient.v2_0.client").setLevel(logging.ERROR)

CACHE_TTL_S = 30.0
FAILURE_TTL_S = 10.0  # a failed listing is remembered this long: a down API costs one timeout
API_TIMEOUT_S = 10
WAIT_S = 45.0  # how long a check waits for a listing another check is fetching
DOWN_AFTER = 5  # consecutive failed API calls after which the API counts as down

_lock = threading.Lock()  # python-chi's configuration is process-wide: one call at a time
_state = threading.Lock()  # the cache and the calls in flight
_configured: tuple[str, ...] | None = None  # the site and credentials python-chi is set for
_cache: dict[tuple[str, str, str], tuple[float, Any]] = {}  # listing, or the fault it met
_inflight: dict[tuple[str, str, str], Future[Any]] = {}
_failures = 0  # consecutive failed API calls, process-wide


Listing = Literal["servers", "leases"]
_LISTINGS: dict[str, tuple[str, str]] = {
    "servers": ("nova servers/detail", "servers"),
    "leases": ("blazar leases", "leases"),
}


class CredentialsRefused(GraderFault):
    """Keystone refused the credentials for a site (HTTP 401)."""


class ApiUnreachable(GraderFault):
    """A site's API did not answer."""


class Chameleon:
    """Chameleon's APIs at one site, for one student: `owner` is the student's Keystone user
    id, when known; then only resources that user created are the student's (the course's
    project is shared, and a classmate could plant a same-named decoy)."""

    def __init__(
        self,
        site: Site,
        record: Callable[[Evidence], None] | None = None,
        owner: str = "",
        also: tuple[Site, ...] = (),
    ) -> None:
        self.site = site
        self.record = record or (lambda e: None)
        self.owner = owner
        self.also = also  # the other sites the lab's manual allows its servers at

    def bound(self, record: Callable[[Evidence], None]) -> Chameleon:
        return Chameleon(self.site, record, self.owner, self.also)

    def user_id(self) -> str:
        """The Keystone user id the credentials at this site belong to (a self-check's)."""
        found = self._list("user", lambda chi: [{"id": chi.session().get_user_id()}])
        return str(found[0]["id"] or "")

    # --- what checks ask ------------------------------------------------------------------
    def server(self, name: str) -> dict[str, Any] | None:
        """The server with exactly this name, as Nova reports it (raw JSON), or None, at any
        site the lab allows (`find` also says which)."""
        found = self.find("servers", name)
        return found[0] if found else None

    def find(self, kind: Listing, name: str) -> tuple[dict[str, Any], Site] | None:
        """The student's server or lease with exactly this name, and its site: looked up at
        every site the lab allows. Where several sites hold one, a working one wins, the
        usual site's first; a site whose API fails is a grader fault only when the name is
        found nowhere else."""
        listing, noun = _LISTINGS[kind]
        found: list[tuple[dict[str, Any], Site]] = []
        faults: list[GraderFault] = []
        for site in (self.site, *self.also):
            probe = self.at(site)
            try:
                item = probe._named(getattr(probe, kind)(), name, listing, noun)
            except GraderFault as exc:
                if not self.also:
                    raise
                faults.append(exc)
                self.record(Evidence.make("api", f"could not look at {site.name}: {exc}"))
                continue
            if item is not None:
                found.append((item, site))
        if not found:
            if faults:
                raise type(faults[0])(str(faults[0]))
            return None
        item, site = min(found, key=lambda pair: _preference(pair[0]))  # stable: usual first
        if len(found) > 1:
            others = ", ".join(f"{s.name} ({i.get('status')})" for i, s in found if s != site)
            self.record(Evidence.make("api", f"{name} also at {others}; graded at {site.name}"))
        return item, site

    def sites_searched(self) -> str:
        """The sites a name is looked for at, as a message names them."""
        return " or ".join(s.name for s in (self.site, *self.also))

    def servers(self) -> list[dict[str, Any]]:
        """Every server of the project at this site (one listing, cached and shared)."""
        return self._list("servers", lambda chi: [s._info for s in chi.nova().servers.list()])

    def leases(self) -> list[dict[str, Any]]:
        """Every Blazar lease of the project at this site (`chi.blazar().lease.list()`)."""
        return self._list("leases", lambda chi: chi.blazar().lease.list())

    def network(self, name: str) -> dict[str, Any] | None:
        nets = self._list("networks", lambda chi: chi.neutron().list_networks()["networks"])
        return self._named(nets, name, "neutron networks", "networks")

    def port(self, name: str) -> dict[str, Any] | None:
        """The Neutron port with exactly this name (`chi.neutron().list_ports()`), or None."""
        ports = self._list("ports", lambda chi: chi.neutron().list_ports()["ports"])
        return self._named(ports, name, "neutron ports", "ports")

    def container(self, name: str) -> dict[str, Any] | None:
        """The Zun container (CHI@Edge) with exactly this name, as Zun reports it, or None."""
        return self._named(self.containers(), name, "zun containers", "containers")

    def containers(self) -> list[dict[str, Any]]:
        return self._list("containers", lambda chi: [c._info for c in chi.zun().containers.list()])

    def container_exec(self, container_id: str, command: str) -> tuple[str, int | None]:
        """Zun's exec in a container (python-chi's `chi.container.execute`, as the lab runs
        its own steps): the command is split into words, not run by a shell; its output
        (stdout and stderr together) and exit code. Not cached: each call runs it."""
        doc = self._call(
            f"zun execute {command}",
            lambda chi: _zun_module().execute(container_id, command),
        )
        if not isinstance(doc, dict):
            raise GraderFault(f"Zun's execute answered {type(doc).__name__}, not an object")
        output, code = doc.get("output"), doc.get("exit_code")
        text = output if isinstance(output, str) else str(output or "")
        return text, code if isinstance(code, int) else None

    def container_logs(self, container_id: str) -> str:
        """What the container printed, stdout and stderr (`chi.container.get_logs`)."""
        logs = self._call(
            "zun logs",
            lambda chi: _zun_module().get_logs(container_id, stdout=True, stderr=True),
        )
        return logs if isinstance(logs, str) else str(logs or "")

    def token(self) -> None:
        """Authenticate at this site (once per configuration): refused or unreachable
        credentials show here, before anything else."""
        self._list("token", lambda chi: [{"token": bool(chi.session().get_token())}])

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
        return Chameleon(site, self.record, self.owner)

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
        """The student's item with exactly this name, or None; the lookup is recorded.

        Among several of that name: only the owner's count when the owner is known (for
        items that name their user: servers, volumes, containers); then an
        ACTIVE one with a floating IP is preferred to the rest (a leftover ERROR server beside
        a working one). Same-named items of different users, with no owner known, are no
        grade: the grader cannot tell whose is whose, and says so."""
        found = [i for i in items if i.get("name") == name]
        # Neutron's networks carry no user_id (only the project's): those stay attributable
        # by name alone.
        ours = (
            [i for i in found if i.get("user_id", self.owner) == self.owner]
            if self.owner
            else found
        )
        pick = min(ours, key=_preference) if ours else None
        owners = sorted({str(i.get("user_id")) for i in ours})
        others = len(found) - len(ours)
        self.record(
            Evidence.make(
                "api",
                f"{listing} at {self.site.name}: {len(items)} {noun}, {len(found)} named {name}"
                + (f", {others} of another user" if others else "")
                + (f"; picked {pick.get('id')} of user {pick.get('user_id')}" if pick else ""),
                ours,
            )
        )
        if len(owners) > 1:
            raise Failure(
                f"{len(ours)} {noun} named {name} belong to different users ({', '.join(owners)}): "
                "the grader cannot tell which is yours",
                "Delete the ones that are not yours, or ask staff to put your chameleon_user_id "
                "in the roster.",
            )
        return pick

    def _call(self, what: str, call: Callable[[Any], Any]) -> Any:
        """One uncached API call (python-chi is configured for this site first); an API
        failure is the grader's (GraderFault), as a listing's is, with Zun's own message."""
        future: Future[Any] = Future()
        self._fetch(("", self.site.name, what), call, future, cache=False)
        result = future.result()
        self.record(Evidence.make("api", f"{what} at {self.site.name}", result))
        return result

    def _list(
        self, what: str, fetch: Callable[[Any], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """One listing, fetched once for every check that asks (single flight): the others
        wait for it with a deadline, never in a queue of their own calls; a failure is
        remembered for FAILURE_TTL_S, so a down API costs one timeout, not one per student."""
        key = (self.site.auth_url, self.site.name, what)
        with _state:
            hit = _cache.get(key)
            if hit and time.monotonic() - hit[0] < _ttl(hit[1]):
                return _answer(hit[1])
            leader = key not in _inflight
            future = _inflight.setdefault(key, Future())
        if leader:
            self._fetch(key, fetch, future)
        try:
            return future.result(timeout=WAIT_S)
        except FutureTimeout:
            raise ApiUnreachable(
                f"the Chameleon API for {self.site.name} did not answer within {WAIT_S:g} s"
            ) from None

    def _fetch(
        self,
        key: tuple[str, str, str],
        fetch: Callable[[Any], Any],
        future: Future[Any],
        cache: bool = True,
    ) -> None:
        global _failures
        try:
            with _lock:
                items = fetch(self._configure())
            outcome: Any = items
        except GraderFault as exc:
            outcome = exc
        except Exception as exc:  # noqa: BLE001 - every API failure is the grader's side
            outcome = _api_fault(exc, self.site)
        with _state:
            if cache:
                _cache[key] = (time.monotonic(), outcome)
                del _inflight[key]
            _failures = _failures + 1 if isinstance(outcome, Exception) else 0
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def _configure(self) -> Any:
        """Point python-chi at this site, with this site's credentials (caller holds _lock)."""
        global _configured
        import chi

        creds = credentials_for(self.site)
        auth_url = env_auth_url(self.site)
        wanted = (self.site.name, auth_url, *creds.key)
        if _configured == wanted:
            return chi
        # reset() re-reads every OS_* variable (python-chi reads them only there), and drops
        # any session cached for another site; then the site's own URL, region and (from
        # clouds.yaml) credentials win.
        chi.reset()
        if creds.cloud:
            chi.set("auth_type", creds.auth_type)
            for key, value in creds.options:
                chi.set(key, value)
        else:
            if not os.environ.get("OS_AUTH_TYPE"):
                app = os.environ.get("OS_APPLICATION_CREDENTIAL_ID")
                chi.set("auth_type", "v3applicationcredential" if app else "v3password")
            chi.set("auth_url", auth_url)
        chi.set("region_name", self.site.name)
        chi.set("timeout", API_TIMEOUT_S)
        _configured = wanted
        return chi


def _zun_module() -> Any:
    """python-chi's `chi.container` (not imported by `import chi`), loaded on first use."""
    import chi.container

    return chi.container


def env_auth_url(site: Site) -> str:
    """The Keystone an openrc's OS_* credentials use at `site`: its OS_AUTH_URL where the
    openrc is for that site (OS_REGION_NAME; any site when it names none), else the site's
    own from course.yaml (Chameleon's Jupyter token works at every site's Keystone)."""
    region = os.environ.get("OS_REGION_NAME")
    if os.environ.get("OS_AUTH_URL") and region in (None, "", site.name):
        return os.environ["OS_AUTH_URL"]
    return site.auth_url


def reset_cache() -> None:
    """Forget listings, failures and configuration (tests, and a new batch, start fresh)."""
    global _configured, _failures
    with _lock, _state:
        _cache.clear()
        _configured = None
        _failures = 0


def api_down() -> bool:
    """Whether the last DOWN_AFTER calls to Chameleon's APIs all failed: a batch stops
    grading rather than record a class of incomplete results."""
    return _failures >= DOWN_AFTER


def _ttl(outcome: Any) -> float:
    return FAILURE_TTL_S if isinstance(outcome, Exception) else CACHE_TTL_S


def _answer(outcome: Any) -> Any:
    if isinstance(outcome, Exception):
        raise type(outcome)(str(outcome))  # a fresh one: the cached one is shared by threads
    return outcome


def _preference(item: dict[str, Any]) -> tuple[bool, bool]:
    """ACTIVE (or Running) first, then one with a floating IP."""
    return (
        str(item.get("status")) not in ("ACTIVE", "Running", "available", "in-use"),
        floating_ip(item) is None,
    )


def floating_ip(server: dict[str, Any]) -> str | None:
    for addrs in (server.get("addresses") or {}).values():
        for a in addrs:
            if a.get("OS-EXT-IPS:type") == "floating":
                return a.get("addr")
    return None


def _api_fault(exc: Exception, site: Site) -> GraderFault:
    name = type(exc).__name__
    if name == "Unauthorized":
        return CredentialsRefused(f"Chameleon at {site.name} refused the credentials (HTTP 401)")
    if name in ("ConnectFailure", "ConnectTimeout", "DiscoveryFailure"):
        return ApiUnreachable(f"cannot reach the Chameleon API for {site.name}: {exc}")
    return GraderFault(f"Chameleon API call failed at {site.name}: {name}: {exc}")
