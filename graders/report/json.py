"""The result document of DESIGN.md, valid against graders/schemas/result.schema.json."""

from __future__ import annotations

import json

from graders.results import Result


def render(result: Result, **_: object) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
