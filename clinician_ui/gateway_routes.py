"""The gateways page (/gateways): each home gateway in reach, its state, patients and sensors.

Read only through `FhirService` with the session's `Access`: a Device search (an
admin's reach is every Device; clinical staff's the Devices of their patients'
gateways), and, for those who may read readings, the patients in reach and their
newest readings, whose gatewayDevice extension says which gateway serves whom.
The rows are built by the pure `gateways` module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_api.access.principal import Access
from fhir_api.accounts.sessions import CurrentAccount, session_id_from
from fhir_api.errors import FhirError, Forbidden
from fhir_api.fhir import GATEWAY_EXTENSIONS
from fhir_api.service import FhirService
from fhir_api.storage.resources import Stored

from . import summary
from .access import SessionAccess
from .formatting import age_text, moment
from .gateways import KIND_NAMES, GatewayRow, Sensor, gateway_rows, gateway_sensors, is_gateway
from .list_routes import page_clock, search_all
from .rendering import Pages

__all__ = ["build_gateway_rows", "patient_sensors", "router"]

router = APIRouter(include_in_schema=False)


def _gateways_named(readings: Iterable[Stored]) -> dict[str, set[str]]:
    """ "Device/id" of each gateway the readings name, to the ids of their subjects."""
    found: dict[str, set[str]] = {}
    for stored in readings:
        subject = (stored.content.get("subject") or {}).get("reference", "")
        patient = subject.removeprefix("Patient/")
        for extension in stored.content.get("extension", ()):
            if isinstance(extension, dict) and extension.get("url") in GATEWAY_EXTENSIONS:
                reference = (extension.get("valueReference") or {}).get("reference")
                if isinstance(reference, str):
                    found.setdefault(reference, set()).add(patient)
    return found


def _patients_by_gateway(service: FhirService, access: Access) -> dict[str, list[tuple[str, str]]]:
    """ "Device/id" to the (id, name) of the patients in reach whose newest readings name it.

    Empty for those who read no readings (an admin without a clinical role)."""
    patients = {p.id: p.content for p in search_all(service, "Patient", [], access)}
    if not patients:
        return {}
    try:
        readings = service.newest_readings(sorted(patients), summary.CODES, access=access)
    except Forbidden:
        return {}
    found: dict[str, list[tuple[str, str]]] = {}
    for gateway, named in _gateways_named(readings).items():
        served = [(p, summary.display_names(patients[p])[0]) for p in named if p in patients]
        if served:
            found[gateway] = sorted(served)
    return found


def patient_sensors(service: FhirService, access: Access, patient_id: str) -> list[Sensor]:
    """The sensors reported by the gateways serving one patient (whose newest readings
    name them, as on the gateways page), read for that patient alone."""
    try:
        readings = service.newest_readings([patient_id], summary.CODES, access=access)
    except Forbidden:
        return []
    sensors: list[Sensor] = []
    for gateway in sorted(_gateways_named(readings)):
        try:
            device = service.read("Device", gateway.removeprefix("Device/"), access=access)
        except FhirError:  # gone, or out of the caller's reach
            continue
        if is_gateway(device.content):
            sensors += gateway_sensors(device.content)
    return sensors


def build_gateway_rows(service: FhirService, access: Access, now_ms: int) -> list[GatewayRow]:
    """The page's rows: every Device in reach, the gateways among them with their patients."""
    devices = [d.content for d in search_all(service, "Device", [], access)]
    return gateway_rows(devices, _patients_by_gateway(service, access), now_ms)


@router.get("/gateways")
async def gateway_list(
    request: Request, account: CurrentAccount, access: SessionAccess
) -> Response:
    """The home gateways in the signed-in person's reach: online or offline since when."""
    pages: Pages = request.app.state.pages
    service: FhirService = request.app.state.service
    now_ms = int(page_clock(request)() * 1000)
    zone = request.app.state.store.zone
    rows = await run_in_threadpool(build_gateway_rows, service, access, now_ms)
    language, _chosen = pages.language(request)
    gettext = pages.catalogs.gettext(language)

    def when(ms: int | None) -> str:
        return "—" if ms is None else moment(ms, zone, language)

    def ago(ms: int | None) -> str:
        return "" if ms is None else age_text(summary.age(now_ms, ms), gettext)

    context: dict[str, Any] = {
        "csrf_for": session_id_from(request) or "",
        "account": account,
        "rows": rows,
        "when": when,
        "ago": ago,
        "zone_name": getattr(zone, "key", str(zone)),
        "low_percent": int(summary.BATTERY_LOW_PERCENT),
        "kind_names": KIND_NAMES,
        "nav": "gateways",
    }
    return pages.render(request, "gateways.html", **context)
