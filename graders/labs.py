"""Finding a lab: labs/<lab-id>/lab.yaml (names, ports, site) and checks.py (the checks)."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from typing import Any

from graders.checks import Check, collect
from graders.course import Site, course_year, site_named
from graders.errors import BadInput
from graders.files import load_yaml
from graders.paths import labs_dir, rubrics_dir  # noqa: F401 - re-exported
from graders.runner import order


@dataclass
class LabSpec:
    id: str
    config: dict[str, Any]
    checks: list[Check]

    @property
    def title(self) -> str:
        return self.config["title"]

    @property
    def sites(self) -> list[str]:
        """Every site the lab uses: each its manual allows for its resources, and any other
        it names (an object store's)."""
        extra = [v for k, v in self.config.items() if k.endswith("_site") and isinstance(v, str)]
        return list(dict.fromkeys([*self.config["sites"], *extra]))


def site_for(lab: LabSpec) -> Site:
    return site_named(lab.config["site"], f"lab {lab.id}")


def with_sites(config: dict[str, Any]) -> dict[str, Any]:
    """`site` as lab.yaml may give it (one region, or the list the manual allows) made into
    `sites`, the list, and `site`, the usual one (its first): every check reads them so."""
    given = config["site"]
    sites = [given] if isinstance(given, str) else list(given)
    return {**config, "site": sites[0], "sites": sites}


def for_year(config: dict[str, Any], year: int | None) -> dict[str, Any]:
    """The lab's settings for `year`: its `years` entry replaces the defaults, key by key
    one level down (`ports: {staging: 8081}` changes that port only)."""
    variant = {str(k): v for k, v in (config.get("years") or {}).items()}.get(str(year))
    if not variant:
        return config
    merged = dict(config)
    for key, value in variant.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def lab_ids() -> list[str]:
    d = labs_dir()
    return sorted(p.name for p in d.iterdir() if (p / "lab.yaml").is_file()) if d.is_dir() else []


def load_lab(lab_id: str) -> LabSpec:
    folder = labs_dir() / lab_id
    if "/" in lab_id or not (folder / "lab.yaml").is_file():
        known = ", ".join(lab_ids()) or "none"
        raise BadInput(f"unknown lab {lab_id!r} (known labs: {known})")
    config = with_sites(for_year(load_yaml(folder / "lab.yaml", "lab", "lab file"), course_year()))
    spec = importlib.util.spec_from_file_location(
        f"labs.{lab_id.replace('-', '_')}.checks", folder / "checks.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[module.__name__] = module  # as an import would: dataclasses look it up there
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as exc:  # noqa: BLE001 - a broken lab file is reported in one line
        raise BadInput(
            f"lab {lab_id}: checks.py does not load ({type(exc).__name__}: {exc})"
        ) from None
    checks = collect(vars(module))
    try:
        order(checks)
    except ValueError as exc:  # an unknown parent or a cycle: the lab itself is broken
        raise BadInput(f"lab {lab_id}: {exc}") from None
    named = [*config.get("durable", [])]
    for phase in config.get("phases") or ():
        named += [phase["server"], *phase.get("checks", [])]
    unknown = sorted(set(named) - {c.id for c in checks})
    if unknown:
        raise BadInput(f"lab {lab_id}: durable or phases name unknown checks {', '.join(unknown)}")
    return LabSpec(lab_id, config, checks)


def describe_labs() -> str:
    """A line per lab: id, title, site, number of checks."""
    lines = []
    for lab_id in lab_ids():
        lab = load_lab(lab_id)
        sites = " or ".join(lab.config["sites"])
        lines.append(f"{lab_id:20} {lab.title} ({sites}, {len(lab.checks)} checks)")
    return "".join(f"{line}\n" for line in lines)
