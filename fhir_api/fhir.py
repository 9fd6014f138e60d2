"""FHIR JSON at the door: the pinned `fhir.resources` models, and request bodies parsed safely.

This is the one module of the server that imports `fhir.resources`: its R4B
models, for FHIR R4. R4B reads and validates R4 (4.0.1) Observation, Device,
Patient and Bundle payloads; the default R5 models reject PHD IG Device
payloads. The release is pinned in pyproject.toml.

`parse_body` turns request bytes into JSON values and refuses, before any
validation or database work, what FHIR JSON forbids (a key twice in one
object) and what would cost the server far more than a reading should
(`InputLimits`, issue 10): nesting deeper than any FHIR resource needs (and
deep enough to break the JSON encoder on every later search that would include
it), arrays, Bundles and strings longer than the limits. It also refuses what the
JSON grammar lets through but no FHIR value can hold, and what broke the server
later (500s): a lone UTF-16 surrogate (`"\\ud800"`: no Unicode character, not
encodable as UTF-8), a control character other than tab, CR and LF (FHIR strings
forbid them; PostgreSQL cannot store NUL), and an integer beyond 64 bits.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir_core.fhirabstractmodel import FHIRAbstractModel

from .errors import BadRequest, PayloadTooLarge

__all__ = [
    "FHIR_VERSION",
    "GATEWAY_EXTENSIONS",
    "CapabilityStatement",
    "FHIRAbstractModel",
    "InputLimits",
    "OperationOutcome",
    "model_class",
    "parse_body",
]

FHIR_VERSION = "4.0.1"
# The PHD IG's gateway extension on Observations, and the R5-style one its examples use too.
GATEWAY_EXTENSIONS = frozenset(
    {
        "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice",
        "http://hl7.org/fhir/StructureDefinition/device-gateway",
    }
)


def model_class(resource_type: str) -> type[FHIRAbstractModel]:
    """The pinned model class for a resource type.

    Raises:
        KeyError: for a type the models do not know.
    """
    try:
        cls: type[FHIRAbstractModel] = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError) as exc:
        raise KeyError(resource_type) from exc
    return cls


# Strings bounded only by the body size: XHTML narrative and base64 attachment data.
_UNBOUNDED_STRINGS = frozenset({"div", "data"})


@dataclass(frozen=True, slots=True)
class InputLimits:
    """What one request body may hold (settings `max_json_depth` and friends).

    Depth counts JSON objects and arrays: an Observation in a transaction Bundle
    with a component's coding is 9 deep, an extension nested in an extension adds 2.
    64 leaves room for any resource this server takes, and keeps every stored
    resource, served inside a searchset Bundle, far below the JSON encoder's 255.
    """

    max_depth: int = 64
    max_array_length: int = 200
    max_bundle_entries: int = 1_000
    max_string_length: int = 10_000
    # Each identifier is an index row, a uniqueness look-up and a model to validate: a
    # Bundle of 1,000 entries with 200 each took seconds of the write lock (issue 10).
    max_identifiers: int = 20


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key that comes twice (FHIR JSON: keys are unique)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _float(text: str) -> float:
    """A JSON number with a fraction or exponent; one beyond float range is no FHIR decimal."""
    value = float(text)
    if math.isinf(value):
        raise _NotFinite(text)
    return value


_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _int(text: str) -> int:
    """A JSON integer; one beyond 64 bits is refused (no store or encoder here holds it)."""
    value = int(text)
    if not _INT_MIN <= value <= _INT_MAX:
        raise _BadInteger(text)
    return value


class _BadInteger(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# Escapes that can put a surrogate or a control character into a decoded string (raw
# ones are refused by the decoder itself); only a body holding one is walked for them.
_SUSPECT_ESCAPE = re.compile(rb"\\(?:u00[01]|u[dD][89a-fA-F]|[bf])", re.IGNORECASE)
_FORBIDDEN_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _check_characters(document: Any) -> None:
    """400 for a lone surrogate or a control character in any key or string."""

    def check(text: str, where: str) -> None:
        found = _FORBIDDEN_CHAR.search(text)
        if found is None:
            return
        char = ord(found.group())
        if 0xD800 <= char <= 0xDFFF:
            raise BadRequest(
                f"a string holds the lone surrogate \\u{char:04x}: not a Unicode character "
                "(FHIR JSON is UTF-8)",
                expression=[where],
            )
        raise BadRequest(
            f"a string holds the control character \\u{char:04x}: FHIR strings take no "
            "control characters but tab, CR and LF",
            expression=[where],
        )

    def walk(node: Any, where: str) -> None:
        if type(node) is dict:
            for key, child in node.items():
                check(key, where)
                if type(child) is str:
                    check(child, key)
                elif type(child) is dict or type(child) is list:
                    walk(child, key)
        else:
            for child in node:
                if type(child) is str:
                    check(child, where)
                elif type(child) is dict or type(child) is list:
                    walk(child, where)

    if type(document) is str:
        check(document, "$")
    elif isinstance(document, (dict, list)):
        walk(document, "$")


def _constant(text: str) -> Any:
    raise _NotFinite(text)  # NaN, Infinity, -Infinity: not JSON


class _NotFinite(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# The standard library's decoder, not orjson's: only it can see duplicate keys. It costs
# about 1.3 ms more on a 280 KB Bundle of 100 Observations (3.4 ms against 2.1 ms,
# measured on the shared 2-core machine), ~3 % of that Bundle's ingest.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_float=_float, parse_int=_int, parse_constant=_constant
)


def parse_body(body: bytes, limits: InputLimits) -> Any:
    """Request bytes as JSON values, checked against FHIR JSON rules and `limits`.

    Raises:
        BadRequest: not UTF-8 JSON, a duplicate key, nesting deeper than allowed, a lone
            surrogate or control character in a string, or an integer beyond 64 bits.
        PayloadTooLarge: an array, a Bundle or a string longer than allowed.
    """
    try:
        value = _DECODER.decode(body.decode("utf-8"))
    except _DuplicateKey as exc:
        raise BadRequest(
            f"the key {exc.key!r} appears twice in one JSON object (FHIR JSON forbids it)"
        ) from None
    except _NotFinite as exc:
        raise BadRequest(f"{exc.text[:40]} is not a finite JSON number") from None
    except _BadInteger as exc:
        raise BadRequest(
            f"the integer {exc.text[:40]} is beyond 64 bits (-2^63 to 2^63-1)"
        ) from None
    except RecursionError:
        raise BadRequest(f"the JSON nests deeper than {limits.max_depth} levels") from None
    except ValueError as exc:  # UnicodeDecodeError and json.JSONDecodeError among them
        raise BadRequest(f"the body is not JSON: {exc}") from None
    _check_limits(value, limits)
    if _SUSPECT_ESCAPE.search(body):
        _check_characters(value)
    return value


def _check_limits(document: Any, limits: InputLimits) -> None:
    """Walk the parsed document once, checking depth, array and string lengths.

    Recursive (1.6 ms on the Bundle of 100 above, twice as fast as an explicit stack),
    and never deeper than `max_depth`: the depth is checked on the way down.
    """
    entries: Any = None
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        entries = document.get("entry")
        if isinstance(entries, list) and len(entries) > limits.max_bundle_entries:
            raise PayloadTooLarge(
                f"the Bundle has {len(entries)} entries; at most "
                f"{limits.max_bundle_entries} are taken",
                expression=["Bundle.entry"],
            )
    max_depth = limits.max_depth
    max_array = limits.max_array_length
    max_string = limits.max_string_length
    max_identifiers = limits.max_identifiers

    def too_long(text: str, key: str) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"a string of {len(text)} characters; at most {max_string} are taken",
            expression=[key],
        )

    def walk(node: Any, depth: int, key: str) -> None:
        if depth > max_depth:
            raise BadRequest(
                f"the JSON nests deeper than {max_depth} levels (objects and arrays)",
                expression=[key],
            )
        if type(node) is dict:
            for name, child in node.items():
                kind = type(child)
                if kind is str:
                    if len(child) > max_string and name not in _UNBOUNDED_STRINGS:
                        raise too_long(child, name)
                elif kind is dict or kind is list:
                    walk(child, depth + 1, name)
            return
        if len(node) > max_array and node is not entries:
            raise PayloadTooLarge(
                f"an array holds {len(node)} items; at most {max_array} are taken",
                expression=[key],
            )
        if key == "identifier" and len(node) > max_identifiers:
            raise PayloadTooLarge(
                f"{len(node)} identifiers; at most {max_identifiers} per element are taken",
                expression=[key],
            )
        for child in node:
            kind = type(child)
            if kind is str:
                if len(child) > max_string and key not in _UNBOUNDED_STRINGS:
                    raise too_long(child, key)
            elif kind is dict or kind is list:
                walk(child, depth + 1, key)

    if isinstance(document, (dict, list)):
        walk(document, 1, "$")
