"""Renderers of a Result, in one table that `check --format` and a batch's per-student files
both read: text for people, json for tools, gradescope for Gradescope.

A new format is one entry here and one module `graders/report/<module>.py` with a
`render(result, **kwargs) -> str`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # --help lists the formats without importing any renderer
    from graders.results import Result


@dataclass(frozen=True)
class Format:
    name: str
    module: str  # graders.report.<module>, imported when the format is used
    batch_file: str  # the file a batch writes per student in this format ("": none)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("text", "text", ""),
        Format("json", "json", "result.json"),
        Format("gradescope", "gradescope", "results.json"),
    )
}


def render(result: Result, fmt: str, **kwargs: object) -> str:
    """`result` in format `fmt`; an unknown format is refused, never taken for text."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    module = importlib.import_module(f"graders.report.{FORMATS[fmt].module}")
    return module.render(result, **kwargs)
