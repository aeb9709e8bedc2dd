"""Which credentials reach a Chameleon site.

Chameleon's application credentials are per site, and several labs use two sites. So, in
order: the site's entry in clouds.yaml (course.yaml names it per site, `cloud:`), the entry
OS_CLOUD names, or the OS_* variables of an openrc file (the simple, single-site case).
clouds.yaml is found the OpenStack way: OS_CLIENT_CONFIG_FILE, else ./clouds.yaml,
~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml; a secure.yaml beside it may hold
the secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graders.course import Site
from graders.errors import BadInput
from graders.evidence import keep_secret

CLOUD_AUTH_TYPE = "v3applicationcredential"  # what Chameleon's download holds


@dataclass(frozen=True)
class Credentials:
    """How to authenticate at one site: where the values came from, and python-chi's
    options (empty for the OS_* variables, which python-chi reads itself)."""

    source: str  # "clouds.yaml entry chi-tacc (/home/ta/clouds.yaml)" or "the OS_* variables"
    cloud: str = ""
    auth_type: str = ""
    options: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return (self.cloud, self.auth_type, *(f"{k}={v}" for k, v in self.options))


def clouds_file(env: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if env is None else env
    if env.get("OS_CLIENT_CONFIG_FILE"):
        path = Path(env["OS_CLIENT_CONFIG_FILE"]).expanduser()
        try:
            return path if path.is_file() else None
        except OSError as exc:
            problem = f"cannot be read ({exc.strerror})"
            raise BadInput(f"OS_CLIENT_CONFIG_FILE {path}: {problem}") from None
    for path in (
        Path("clouds.yaml"),
        Path("~/.config/openstack/clouds.yaml").expanduser(),
        Path("/etc/openstack/clouds.yaml"),
    ):
        if path.is_file():
            return path
    return None


def clouds(path: Path) -> dict[str, dict[str, Any]]:
    """The `clouds:` entries of clouds.yaml, with secure.yaml's values merged in."""
    import yaml

    def entries(p: Path) -> dict[str, Any]:
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise BadInput(f"{p}: cannot be read as YAML ({exc})") from None
        found = data.get("clouds") if isinstance(data, dict) else None
        if not isinstance(found, dict):
            raise BadInput(f"{p}: has no `clouds:` mapping")
        return found

    result = {k: dict(v) for k, v in entries(path).items() if isinstance(v, dict)}
    secure = path.with_name("secure.yaml")
    if secure.is_file():
        for name, extra in entries(secure).items():
            if isinstance(extra, dict) and name in result:
                auth = {**(result[name].get("auth") or {}), **(extra.get("auth") or {})}
                result[name] = {**result[name], **extra, "auth": auth}
    return result


def credentials_for(site: Site, env: Mapping[str, str] | None = None) -> Credentials:
    """The credentials for `site`, or BadInput saying what to provide."""
    env = os.environ if env is None else env
    path = clouds_file(env)
    entries = clouds(path) if path else {}
    named = env.get("OS_CLOUD", "")
    if named and named not in entries:
        where = f"in {path}" if path else "in any clouds.yaml (none found)"
        raise BadInput(f"OS_CLOUD names cloud {named!r}, which is not {where}")
    for name in (site.cloud, named):  # the site's own entry first: credentials are per site
        if name and name in entries:
            return _from_cloud(name, entries[name], path, site)  # type: ignore[arg-type]
    problem = env_problem(env)
    if problem:
        named = f" or a clouds.yaml entry named {site.cloud!r}" if site.cloud else ""
        raise BadInput(f"{problem}{named}, for {site.name}")
    return Credentials("the OS_* variables")


def _from_cloud(name: str, entry: dict[str, Any], path: Path, site: Site) -> Credentials:
    auth = {k: str(v) for k, v in (entry.get("auth") or {}).items() if v is not None}
    for key, value in auth.items():  # never into evidence, messages or reasons
        if any(word in key.lower() for word in ("secret", "password", "token")):
            keep_secret(value)
    label = f"clouds.yaml entry {name} ({path})"
    if not auth.get("auth_url"):
        raise BadInput(f"{label}: has no auth.auth_url")
    auth_type = str(entry.get("auth_type") or CLOUD_AUTH_TYPE)
    if auth_type.startswith("v3") and not auth["auth_url"].rstrip("/").endswith("/v3"):
        # Chameleon's downloaded clouds.yaml names Keystone's root; v3 plugins want /v3.
        auth["auth_url"] = auth["auth_url"].rstrip("/") + "/v3"
    region = str(entry.get("region_name") or site.name)
    if region != site.name:
        raise BadInput(f"{label}: is for region {region}, not {site.name}")
    return Credentials(label, name, auth_type, tuple(sorted(auth.items())))


def env_problem(env: Mapping[str, str] | None = None) -> str | None:
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
