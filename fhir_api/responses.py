"""FHIR JSON responses: resources, searchset and history Bundles, OperationOutcomes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.responses import Response

from .storage.resources import Stored
from .storage.search import SearchResult
from .storage.series.base import DayStatistics

__all__ = [
    "FHIR_JSON",
    "fhir_response",
    "history_bundle",
    "searchset",
    "stats_parameters",
]

FHIR_JSON = "application/fhir+json"


def fhir_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A FHIR JSON response."""
    try:
        body = orjson.dumps(content)
    except orjson.JSONEncodeError:
        # orjson stops at 255 levels. The parser refuses bodies nested deeper than the
        # configured limit, but a store written before that limit (issue 10) may hold one:
        # the standard encoder (about 1,000 levels) still serves it instead of a 500.
        body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def version_headers(stored: Stored, base: str) -> dict[str, str]:
    """ETag, Last-Modified and Location of a stored version."""
    return {
        "ETag": stored.etag,
        "Last-Modified": stored.last_updated,
        "Location": f"{base}/{stored.resource_type}/{stored.id}/_history/{stored.version_id}",
    }


def searchset(
    base: str,
    resource_type: str,
    params: Sequence[tuple[str, str]],
    result: SearchResult,
    count: int,
    offset: int,
) -> dict[str, Any]:
    """A searchset Bundle with total and self/next/previous links (offset paging)."""
    kept = [(k, v) for k, v in params if k not in ("_offset", "_count")]

    def link(relation: str, at: int) -> dict[str, str]:
        query = urlencode([*kept, ("_count", str(count)), ("_offset", str(at))])
        return {"relation": relation, "url": f"{base}/{resource_type}?{query}"}

    links = [link("self", offset)]
    if count and offset + count < result.total:
        links.append(link("next", offset + count))
    if count and offset > 0:
        links.append(link("previous", max(0, offset - count)))
    entries = [
        {
            "fullUrl": f"{base}/{s.resource_type}/{s.id}",
            "resource": s.content,
            "search": {"mode": "match"},
        }
        for s in result.matches
    ] + [
        {
            "fullUrl": f"{base}/{s.resource_type}/{s.id}",
            "resource": s.content,
            "search": {"mode": "include"},
        }
        for s in result.included
    ]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": result.total,
        "link": links,
    }
    if entries:
        bundle["entry"] = entries
    return bundle


def history_bundle(base: str, versions: Sequence[Stored]) -> dict[str, Any]:
    """A history Bundle, newest version first."""
    entries = []
    for stored in versions:
        entry: dict[str, Any] = {
            "fullUrl": f"{base}/{stored.resource_type}/{stored.id}",
            "request": {
                "method": "DELETE"
                if stored.deleted
                else ("POST" if stored.version_id == 1 else "PUT"),
                "url": stored.resource_type
                if stored.version_id == 1
                else f"{stored.resource_type}/{stored.id}",
            },
            "response": {
                "status": "200 OK",
                "etag": stored.etag,
                "lastModified": stored.last_updated,
            },
        }
        if not stored.deleted:
            entry["resource"] = stored.content
        entries.append(entry)
    return {"resourceType": "Bundle", "type": "history", "total": len(entries), "entry": entries}


def stats_parameters(subject: str, zone: str, days: Sequence[DayStatistics]) -> dict[str, Any]:
    """The `$stats` answer: per code its unit, then one `day` part per calendar day.

    Shape::

        parameter: subject, timezone, then per code
          {name: "series", part: [{name: "code", valueCoding}, {name: "unit", valueCode},
                                  {name: "day", part: [date, min, max, mean, count]}, ...]}
    """
    parameters: list[dict[str, Any]] = [
        {"name": "subject", "valueReference": {"reference": subject}},
        {"name": "timezone", "valueCode": zone},
    ]
    series: dict[str, list[dict[str, Any]]] = {}
    for day in days:
        parts = series.get(day.code)
        if parts is None:
            parts = series[day.code] = [
                {"name": "code", "valueCoding": {"system": "http://loinc.org", "code": day.code}},
                {"name": "unit", "valueCode": day.unit or "1"},
            ]
        parts.append(
            {
                "name": "day",
                "part": [
                    {"name": "date", "valueDate": day.day.isoformat()},
                    {"name": "min", "valueDecimal": round(day.minimum, 3)},
                    {"name": "max", "valueDecimal": round(day.maximum, 3)},
                    {"name": "mean", "valueDecimal": round(day.mean, 3)},
                    {"name": "count", "valueInteger": day.readings},
                ],
            }
        )
    parameters += [{"name": "series", "part": parts} for parts in series.values()]
    return {"resourceType": "Parameters", "parameter": parameters}
