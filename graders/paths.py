"""Where the labs and rubrics are: a wheel's bundled copies, else the repository's folders;
LABGRADER_LABS and LABGRADER_RUBRICS point elsewhere (an instructor's own rubrics)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = Path(__file__).resolve().parent / "bundled"  # where a wheel puts labs/ and rubrics/


def _shipped(folder: str) -> Path:
    bundled = BUNDLED / folder
    return bundled if bundled.is_dir() else ROOT / folder


def labs_dir() -> Path:
    return Path(os.environ.get("LABGRADER_LABS") or _shipped("labs"))


def rubrics_dir() -> Path:
    return Path(os.environ.get("LABGRADER_RUBRICS") or _shipped("rubrics"))
