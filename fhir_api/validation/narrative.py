"""Narrative XHTML rules txt-1 and txt-2 (FHIR R4 narrative.html), pure.

A stored narrative is shown to clinicians by any FHIR client, so it must not carry
active content: txt-1 limits `Narrative.div` to an XHTML `<div>` holding the basic
HTML formatting elements and attributes (no script, no event attributes, no
`javascript:` URLs), txt-2 asks for some non-whitespace content.

The div is parsed with the standard library's expat, defusedxml-style: a DTD, an
entity declaration or a processing instruction ends the parse (no entity
expansion, no external loads), and so does any entity XML does not predefine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from xml.parsers import expat

__all__ = ["narrative_problem"]

XHTML = "http://www.w3.org/1999/xhtml"
_XML = "http://www.w3.org/XML/1998/namespace"

# HTML 4.0 chapters 7-11 (but 9.4) and 15, <a>, <img> (FHIR R4 narrative.html#xhtml).
_ELEMENTS = frozenset(
    {
        "a", "abbr", "acronym", "address", "b", "big", "blockquote", "br", "caption",
        "cite", "code", "col", "colgroup", "dd", "dfn", "div", "dl", "dt", "em", "h1",
        "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "q",
        "samp", "small", "span", "strong", "sub", "sup", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "tt", "ul", "var",
    }
)  # fmt: skip
_COMMON_ATTRIBUTES = frozenset({"id", "class", "style", "title", "lang", "dir"})
_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "name", "rel", "rev", "hreflang", "type", "charset"}),
    "img": frozenset({"src", "alt", "height", "width", "longdesc", "border"}),
    "table": frozenset(
        {"summary", "width", "border", "frame", "rules", "cellspacing", "cellpadding"}
    ),
    "col": frozenset({"span", "width", "align", "valign", "char", "charoff"}),
    "colgroup": frozenset({"span", "width", "align", "valign", "char", "charoff"}),
    "ol": frozenset({"start", "type"}),
    "ul": frozenset({"type"}),
    "li": frozenset({"value", "type"}),
    "q": frozenset({"cite"}),
    "blockquote": frozenset({"cite"}),
}
for _cell in ("td", "th"):
    _ATTRIBUTES[_cell] = frozenset(
        {"abbr", "axis", "headers", "scope", "rowspan", "colspan", "align", "valign"}
        | {"char", "charoff", "nowrap", "width", "height"}
    )
for _row in ("tr", "tbody", "thead", "tfoot"):
    _ATTRIBUTES[_row] = frozenset({"align", "valign", "char", "charoff"})
# Schemes that run code when followed or rendered.
_ACTIVE_URL = re.compile(r"^\s*(?:javascript|vbscript|data\s*:\s*text/html)", re.IGNORECASE)
_ACTIVE_STYLE = re.compile(r"expression\s*\(|javascript:|url\s*\(", re.IGNORECASE)


class _Refused(Exception):
    """What makes the div break txt-1 (raised from inside the expat callbacks)."""


def _local(name: str) -> tuple[str, str]:
    """(namespace, local name) of an expat name with namespace processing on."""
    namespace, _, local = name.rpartition(" ")
    return namespace, local


def narrative_problem(div: str) -> str | None:
    """What in `div` breaks txt-1 or txt-2, or None when it is a clean XHTML narrative."""
    parser = expat.ParserCreate(namespace_separator=" ")
    depth = 0
    text: list[bool] = []

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        namespace, element = _local(name)
        if depth == 0 and (namespace, element) != (XHTML, "div"):
            raise _Refused(f'the narrative must be one <div xmlns="{XHTML}">')
        if namespace != XHTML or element not in _ELEMENTS:
            raise _Refused(f"<{element}> is not an element a FHIR narrative may hold")
        depth += 1
        allowed = _ATTRIBUTES.get(element, frozenset())
        for qualified, value in attributes.items():
            attribute_namespace, attribute = _local(qualified)
            if attribute_namespace == _XML and attribute == "lang":
                continue
            if attribute_namespace or (
                attribute not in _COMMON_ATTRIBUTES and attribute not in allowed
            ):
                raise _Refused(f"<{element} {attribute}> is not an attribute a narrative may hold")
            if attribute in ("href", "src", "cite", "longdesc") and _ACTIVE_URL.match(value):
                raise _Refused(f"<{element} {attribute}> holds an active URL")
            if attribute == "style" and _ACTIVE_STYLE.search(value):
                raise _Refused(f"<{element} style> holds active content")
        if element == "img":
            text.append(True)

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    def characters(data: str) -> None:
        if data.strip():
            text.append(True)

    def refuse(what: str) -> Callable[..., None]:
        def handler(*_: object) -> None:
            raise _Refused(f"a narrative takes no {what}")

        return handler

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.StartDoctypeDeclHandler = refuse("DTD")
    parser.EntityDeclHandler = refuse("entity declarations")
    parser.ProcessingInstructionHandler = refuse("processing instructions")
    try:
        parser.Parse(div, True)
    except _Refused as exc:
        return f"txt-1: {exc}"
    except expat.ExpatError as exc:
        return f"txt-1: the narrative is not well-formed XHTML ({expat.errors.messages[exc.code]})"
    if not text:
        return "txt-2: the narrative must have some non-whitespace content"
    return None
