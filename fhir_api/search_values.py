"""FHIR search value escapes, in one place (pure).

In a search value `,` separates alternatives, `|` separates a token's system from
its code and `$` the parts of a composite; a backslash escapes each of them and
itself (`\\,` `\\|` `\\$` `\\\\`), FHIR R4 3.1.1.5.7. Splitting keeps the escapes, so
that a value split at `,` can be split again at `|`; `unescape` removes them at
the end. A backslash before anything else, or at the very end, is not a FHIR
escape and is refused: read literally, a lone `\\` searched for the empty string
and matched everything.
"""

from __future__ import annotations

__all__ = ["EscapeError", "split_alternatives", "split_token", "unescape"]

_ESCAPABLE = frozenset(",|$\\")


class EscapeError(ValueError):
    """A backslash that escapes nothing FHIR lets it escape."""


def _split(value: str, separator: str, maxsplit: int) -> list[str]:
    if "\\" not in value:
        # Nothing escaped (nearly every value): the string's own split, in C. Character
        # by character, the conditional references of a Bundle of 64 readings cost more
        # than a tenth of its ingest (bench/ingest.py, the mix).
        return value.split(separator, maxsplit) if separator else [value]
    parts: list[str] = []
    start, index = 0, 0
    while index < len(value):
        char = value[index]
        if char == "\\":
            if index + 1 >= len(value) or value[index + 1] not in _ESCAPABLE:
                raise EscapeError(
                    f"{value!r}: a backslash must escape one of , | $ \\ (write \\\\ for itself)"
                )
            index += 2
            continue
        if char == separator and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append(value[start:index])
            start = index + 1
        index += 1
    parts.append(value[start:])
    return parts


def unescape(value: str) -> str:
    """The value with FHIR's escapes undone.

    Raises:
        EscapeError: a backslash that escapes nothing.
    """
    if "\\" not in value:
        return value
    _split(value, "", 0)  # validates
    out, index = [], 0
    while index < len(value):
        if value[index] == "\\":
            index += 1
        out.append(value[index])
        index += 1
    return "".join(out)


def split_alternatives(value: str) -> list[str]:
    """The comma-separated alternatives of a search value, escapes kept (`unescape` each).

    Raises:
        EscapeError: a backslash that escapes nothing.
    """
    return _split(value, ",", -1)


def split_token(value: str) -> tuple[str | None, str]:
    """`[system|]code` of one token alternative, unescaped; system None when no `|`.

    Raises:
        EscapeError: a backslash that escapes nothing.
    """
    parts = _split(value, "|", 1)
    if len(parts) == 1:
        return None, unescape(parts[0])
    return unescape(parts[0]), unescape(parts[1])
