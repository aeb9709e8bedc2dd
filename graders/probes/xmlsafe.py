"""XML from a student's system (a JUnit report, an S3 answer), parsed with care: expat with no
DTD at all. A DOCTYPE is refused before any entity could be declared, let alone expanded (no
"billion laughs", no external entities), as defusedxml would do; the caller caps the size."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from xml.parsers import expat


class XmlError(ValueError):
    """Not well-formed XML, or XML that declares a DTD or entities."""


def _refuse(*_: Any) -> None:
    raise XmlError("declares a DTD or entities")


def parse(data: bytes) -> ET.Element:
    """The document as an Element tree, built by expat with every DTD feature refused;
    XmlError says why it is not one."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]  # raises, never returns
    parser.StartElementHandler = lambda tag, attrs: builder.start(tag, attrs)
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise XmlError(f"is not well-formed XML ({exc})") from None
    return builder.close()


def local(tag: str) -> str:
    """An element's name without its namespace: `{http://s3.amazonaws.com/...}Key` -> `Key`."""
    return tag.rpartition("}")[2]


def children(el: ET.Element, name: str) -> list[ET.Element]:
    """The direct children named `name` (in any namespace)."""
    return [c for c in el if local(c.tag) == name]


def text_of(el: ET.Element, name: str) -> str | None:
    """The text of the first direct child named `name`; None without one."""
    found = children(el, name)
    return (found[0].text or "") if found else None
