"""The result document of DESIGN.md, valid against graders/schemas/result.schema.json, signed
with `key` (a batch's staff key) or marked unsigned (`"signature": null`)."""

from __future__ import annotations

import json

from graders.results import Result
from graders.signing import SigningKey, seal_result


def render(result: Result, *, key: SigningKey | None = None, **_: object) -> str:
    doc = seal_result(result.to_dict(), key)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
