"""Finding a lab: labs/<lab-id>/lab.yaml (names, ports, site) and checks.py (the checks)."""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graders.checks import Check, collect
from graders.errors import BadInput
from graders.files import load_yaml
from graders.probes.chameleon import Site

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = Path(__file__).resolve().parent / "bundled"  # where a wheel puts labs/ and rubrics/


def _shipped(folder: str) -> Path:
    """A wheel's copy of labs/ or rubrics/; in a checkout, the repository's own folder."""
    bundled = BUNDLED / folder
    return bundled if bundled.is_dir() else ROOT / folder


def labs_dir() -> Path:
    return Path(os.environ.get("LABGRADER_LABS") or _shipped("labs"))


def rubrics_dir() -> Path:
    return Path(os.environ.get("LABGRADER_RUBRICS") or _shipped("rubrics"))


@dataclass
class LabSpec:
    id: str
    config: dict[str, Any]
    checks: list[Check]

    @property
    def title(self) -> str:
        return self.config["title"]


def course() -> dict[str, Any]:
    """rubrics/course.yaml, validated; read again only when the file changes."""
    path = rubrics_dir() / "course.yaml"
    return _course(str(path), path.stat().st_mtime_ns if path.is_file() else 0)


@functools.lru_cache(maxsize=4)
def _course(path: str, mtime_ns: int) -> dict[str, Any]:
    return load_yaml(path, "course", "course file")


def _course_if_any() -> dict[str, Any]:
    return course() if (rubrics_dir() / "course.yaml").is_file() else {}


def course_year() -> int | None:
    """The course's year (rubrics/course.yaml `year`), which picks each lab's variant."""
    return _course_if_any().get("year")


def canvas_assignment_id(lab_id: str) -> str | None:
    """The lab's Canvas assignment id (course.yaml `lms.canvas_assignment_ids`), if given."""
    found = _course_if_any().get("lms", {}).get("canvas_assignment_ids", {}).get(lab_id)
    return None if found is None else str(found)


def site_for(lab: LabSpec) -> Site:
    return site_named(lab.config["site"], f"lab {lab.id}")


def site_named(name: str, who: str = "a lab") -> Site:
    """A Chameleon site by name, with its auth URL from rubrics/course.yaml."""
    sites = course()["sites"]
    if name not in sites:
        raise BadInput(f"{who} uses site {name!r}, which rubrics/course.yaml does not list")
    return Site(name, sites[name]["auth_url"])


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
    config = for_year(load_yaml(folder / "lab.yaml", "lab", "lab file"), course_year())
    spec = importlib.util.spec_from_file_location(
        f"labs.{lab_id.replace('-', '_')}.checks", folder / "checks.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as exc:  # noqa: BLE001 - a broken lab file is reported in one line
        raise BadInput(
            f"lab {lab_id}: checks.py does not load ({type(exc).__name__}: {exc})"
        ) from None
    checks = collect(vars(module))
    unknown = sorted(set(config.get("durable", [])) - {c.id for c in checks})
    if unknown:
        raise BadInput(f"lab {lab_id}: durable names unknown checks {', '.join(unknown)}")
    return LabSpec(lab_id, config, checks)
