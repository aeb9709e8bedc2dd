"""Renderers of a Result: text for people, json for tools, gradescope for Gradescope."""

from __future__ import annotations

from collections.abc import Callable

from graders.results import Result

FORMATS = ("text", "json", "gradescope")


def render(result: Result, fmt: str, **kwargs: object) -> str:
    renderer: Callable[..., str]
    if fmt == "json":
        from graders.report.json import render as renderer
    elif fmt == "gradescope":
        from graders.report.gradescope import render as renderer
    else:
        from graders.report.text import render as renderer
    return renderer(result, **kwargs)
