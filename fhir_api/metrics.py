"""Prometheus metrics, safe with several uvicorn workers.

Series (all prefixed `homevitals_`)::

    http_requests_total{interaction, status}        counter
    http_request_duration_seconds{interaction}       histogram
    observations_ingested_total                      counter (new Observations stored)
    validation_refusals_total{interaction, status}   counter (400/413/422 on writes)
    series_queue_depth                               gauge (Observations waiting for InfluxDB)
    rollup_rebuilds_total                            counter (daily rollups rebuilt from points)

`interaction` is the FHIR interaction (`read`, `search-type`, `create`, ...), taken
from the route template, never from the path, so its values are a fixed set.

Several workers: `homevitals server` sets `PROMETHEUS_MULTIPROC_DIR` to a fresh
owner-only directory before any worker starts (prometheus-client's multiprocess
mode: each process writes its own files, `/metrics` adds them up). Without the
variable (tests, one process embedded elsewhere) the process's own registry is
served.

Who may read it: `/metrics` is off (404) unless `metrics_token` is set, and then
needs `Authorization: Bearer <metrics_token>`. Request counts per interaction are
not health data, but they tell when a home is active; and behind a reverse proxy
every client looks like loopback, so "loopback only" would protect nothing.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from .access.principal import Access
from .service import FhirService, WriteResult

__all__ = [
    "INGESTED",
    "METRICS_CONTENT_TYPE",
    "QUEUE_DEPTH",
    "REFUSED",
    "ROLLUP_REBUILDS",
    "InstrumentedService",
    "interaction",
    "metrics_allowed",
    "observe_request",
    "process_exiting",
    "render",
]

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
_MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("homevitals_http_requests", "HTTP requests answered", ["interaction", "status"])
LATENCY = Histogram(
    "homevitals_http_request_duration_seconds",
    "Time to answer a request",
    ["interaction"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
INGESTED = Counter("homevitals_observations_ingested", "New Observations stored")
REFUSED = Counter(
    "homevitals_validation_refusals",
    "Writes refused as invalid (400), too large (413) or against a profile (422)",
    ["interaction", "status"],
)
QUEUE_DEPTH = Gauge(
    "homevitals_series_queue_depth",
    "Observations stored but not yet written to the external series store",
    multiprocess_mode="livemax",
)
ROLLUP_REBUILDS = Counter(
    "homevitals_rollup_rebuilds", "Daily rollups rebuilt from every point (start-up, zone change)"
)

# (method, route template) -> FHIR interaction; anything else is "other".
_INTERACTIONS: dict[tuple[str, str], str] = {
    ("GET", "/fhir/metadata"): "capabilities",
    ("POST", "/fhir"): "batch-transaction",
    ("POST", "/fhir/"): "batch-transaction",
    ("GET", "/fhir/Observation/$lastn"): "operation-lastn",
    ("GET", "/fhir/Observation/$stats"): "operation-stats",
    ("POST", "/fhir/{resource_type}"): "create",
    ("GET", "/fhir/{resource_type}"): "search-type",
    ("GET", "/fhir/{resource_type}/{resource_id}"): "read",
    ("PUT", "/fhir/{resource_type}/{resource_id}"): "update",
    ("DELETE", "/fhir/{resource_type}/{resource_id}"): "delete",
    ("GET", "/fhir/{resource_type}/{resource_id}/_history"): "history-instance",
    ("GET", "/fhir/{resource_type}/{resource_id}/_history/{version_id}"): "vread",
    ("GET", "/healthz"): "healthz",
    ("GET", "/readyz"): "readyz",
    ("GET", "/metrics"): "metrics",
    ("GET", "/openapi.json"): "openapi",
}
_WRITES = {"create", "update", "batch-transaction"}
_REFUSALS = {400, 413, 422}


def interaction(method: str, route: str) -> str:
    """The FHIR interaction a request was, from its method and route template."""
    return _INTERACTIONS.get((method, route), "other")


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count and time one answered request (`RequestLog`'s observer)."""
    kind = interaction(method, route)
    REQUESTS.labels(kind, str(status)).inc()
    LATENCY.labels(kind).observe(seconds)
    if kind in _WRITES and status in _REFUSALS:
        REFUSED.labels(kind, str(status)).inc()


def _created_observations(response: dict[str, Any]) -> tuple[int, int]:
    """(new Observations, refused entries) in a batch or transaction response Bundle."""
    created = refused = 0
    for entry in response.get("entry", []):
        answer = entry.get("response", {}) if isinstance(entry, dict) else {}
        status = str(answer.get("status", ""))
        if status.startswith("201") and str(answer.get("location", "")).startswith("Observation/"):
            created += 1
        elif status[:3] in ("400", "413", "422"):
            refused += 1
    return created, refused


class InstrumentedService(FhirService):
    """`FhirService` that counts the Observations it stores and the entries it refuses."""

    def create(
        self,
        resource_type: str,
        raw: Any,
        if_none_exist: str | None = None,
        *,
        access: Access | None = None,
    ) -> WriteResult:
        """Create, counting a new Observation."""
        result = super().create(resource_type, raw, if_none_exist, access=access)
        if result.created and resource_type == "Observation":
            INGESTED.inc()
        return result

    def update(
        self,
        resource_type: str,
        resource_id: str,
        raw: Any,
        if_match: str | None = None,
        *,
        access: Access | None = None,
    ) -> WriteResult:
        """Update, counting an Observation created with the client's id."""
        result = super().update(resource_type, resource_id, raw, if_match, access=access)
        if result.created and resource_type == "Observation":
            INGESTED.inc()
        return result

    def bundle(self, raw: Any, *, access: Access | None = None) -> dict[str, Any]:
        """Batch or transaction, counting new Observations and refused batch entries."""
        response = super().bundle(raw, access=access)
        created, refused = _created_observations(response)
        if created:
            INGESTED.inc(created)
        if refused:
            REFUSED.labels("batch-entry", "4xx").inc(refused)
        return response


def metrics_allowed(authorization: str | None, token: str | None) -> bool:
    """Whether a request may read `/metrics` (only with the configured bearer token)."""
    if token is None or not authorization:
        return False
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        presented.strip().encode(), token.encode()
    )


def render() -> bytes:
    """The exposition text: every worker's metrics in multiprocess mode, else this process's."""
    if os.environ.get(_MULTIPROCESS):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def process_exiting() -> None:
    """Drop this worker's live gauges from the shared directory (multiprocess mode)."""
    if os.environ.get(_MULTIPROCESS):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
