"""The patient list's rows from FHIR resources (pure: no I/O, no clock, no language).

A row is one patient's newest blood pressure, pulse, SpO2 and sleep, each with
its age and its flag (`thresholds`), the days with a reading in the last
`ADHERENCE_DAYS` (in the patient's time zone) and the state of the home gateway
that sent the newest reading (from the status the heartbeat puts on the gateway's
own Device: `gateway/heartbeat.py`). The route gathers the resources through
`FhirService` with the session's `Access`; the template only shows the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from enum import StrEnum
from typing import Any

from fhir_api.alerts.model import Severity
from fhir_api.dates import parse_date_range
from fhir_api.fhir import GATEWAY_EXTENSIONS

from .review import Review
from .thresholds import DEFAULT, Level, Thresholds

__all__ = [
    "ADHERENCE_DAYS",
    "CODES",
    "GATEWAY_SILENT_MS",
    "SORT_KEYS",
    "Age",
    "Gateway",
    "GatewayState",
    "PatientRow",
    "Value",
    "age",
    "display_names",
    "first_quantity",
    "gateway_status",
    "patient_row",
    "sort_rows",
    "status_properties",
]

LOINC = "http://loinc.org"
BLOOD_PRESSURE, SYSTOLIC, DIASTOLIC = "85354-9", "8480-6", "8462-4"
PULSE = "8867-4"
SPO2_CODES = ("2708-6", "59408-5")
SLEEP = "93832-4"
# The value codes the list asks `newest_readings` and `reading_days` for (the
# blood-pressure panel is found by its systolic component).
CODES = (SYSTOLIC, PULSE, *SPO2_CODES, SLEEP)
ADHERENCE_DAYS = 30
# The heartbeat replaces the gateway's Device at least every 6 h (its keep-alive); a
# Device older than that and a margin is a gateway that is down or cannot reach us.
GATEWAY_SILENT_MS = int(6.5 * 3600 * 1000)
BATTERY_LOW_PERCENT = 20.0  # under this a sensor's battery is low
BACKLOG_LATE_S = 3600.0  # unsent readings older than an hour: a backlog worth showing
GATEWAY_STATUS_SYSTEM = "http://homevitals.org/fhir/CodeSystem/gateway-status"
KANA = "SYL"  # JP Core: the name's syllabic (kana) representation
REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"


@dataclass(frozen=True, slots=True)
class Age:
    """How long ago, in the largest whole unit: minutes under 1 h, hours under 2 days."""

    amount: int
    unit: str  # "min", "h" or "d"


@dataclass(frozen=True, slots=True)
class Value:
    """One newest value of a row: its text, when, how long ago and its flag."""

    text: str
    at_ms: int
    age: Age
    flag: Level | None = None
    sort: float = 0.0


class GatewayState(StrEnum):
    """What the gateway's last heartbeat says."""

    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # no reading names a gateway, or its Device is out of reach


@dataclass(frozen=True, slots=True)
class Gateway:
    """The home gateway's state, as of its last heartbeat."""

    state: GatewayState
    name: str | None = None
    seen_ms: int | None = None  # the heartbeat's time (the Device's meta.lastUpdated)
    battery_low: tuple[str, ...] = ()  # addresses of devices with a low battery
    backlog: int = 0  # readings waiting to be sent, when the oldest is over an hour old


@dataclass(frozen=True, slots=True)
class PatientRow:
    """One line of the patient list."""

    id: str
    name: str
    kana: str | None
    zone: tzinfo
    blood_pressure: Value | None
    pulse: Value | None
    spo2: Value | None
    sleep: Value | None
    adherence: int  # days with a reading among the last ADHERENCE_DAYS
    gateway: Gateway
    flags: tuple[str, ...] = field(default=())  # which values are flagged: "bp", "pulse", …
    reviewed: Review | None = None  # the newest review of the patient's vitals (issue 12)
    call_asked_ms: int | None = None  # the newest "please call me" from home (issue 14)
    # Unresolved alerts by severity ("urgent": 1, …), from `inbox.open_counts` (issue 13).
    alerts: Mapping[str, int] = field(default_factory=dict)

    @property
    def open_alerts(self) -> int:
        """How many alerts of this patient are open or acknowledged."""
        return sum(self.alerts.values())

    @property
    def worst_alert(self) -> str | None:
        """The most severe level among them ("urgent", "warning", "info"), if any."""
        present = [s for s in Severity if self.alerts.get(s.value)]
        return max(present, key=lambda s: s.rank).value if present else None

    @property
    def seen(self) -> int | None:
        """When the newest of the shown readings was taken."""
        values = [v.at_ms for v in (self.blood_pressure, self.pulse, self.spo2, self.sleep) if v]
        return max(values) if values else None

    @property
    def flagged(self) -> bool:
        """Any value out of range, or the gateway offline or a battery low."""
        return bool(self.flags)


def age(now_ms: int, at_ms: int) -> Age:
    """The age of a value at `at_ms` seen at `now_ms` (a future time counts as now)."""
    minutes = max(0, now_ms - at_ms) // 60_000
    if minutes < 60:
        return Age(minutes, "min")
    hours = minutes // 60
    if hours < 48:
        return Age(hours, "h")
    return Age(hours // 24, "d")


def _loinc(resource: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(_loinc_codes(resource.get("code")))


def _loinc_codes(concept: Any) -> Iterator[str]:
    """The LOINC codes of a CodeableConcept (as `codings`, without its pairs: the list
    reads thousands of these per request)."""
    if isinstance(concept, dict):
        for coding in concept.get("coding", ()):
            if isinstance(coding, dict) and (code := coding.get("code")):
                if str(coding.get("system", "")) == LOINC:
                    yield str(code)


def _instant_ms(text: str, zone: tzinfo) -> int | None:
    """Epoch ms of a FHIR dateTime; the common full form with offset takes the fast path."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is not None and moment.tzinfo is not None and len(text) > 10:
        return int(moment.timestamp() * 1000)
    try:
        return parse_date_range(text, zone).start_ms
    except ValueError:
        return None


def _when_ms(observation: Mapping[str, Any], zone: tzinfo, *, end: bool = False) -> int | None:
    """The instant a reading is shown at: its effective time (a night: when it ended)."""
    text = observation.get("effectiveDateTime") or observation.get("effectiveInstant")
    period = observation.get("effectivePeriod")
    if text is None and isinstance(period, dict):
        text = period.get("end" if end and period.get("end") else "start")
    if not isinstance(text, str):
        return None
    return _instant_ms(text, zone)


def _quantity(node: Mapping[str, Any]) -> float | None:
    value = (node.get("valueQuantity") or {}).get("value")
    return float(value) if isinstance(value, int | float) else None


def _component(observation: Mapping[str, Any], code: str) -> float | None:
    for component in observation.get("component", ()):
        if isinstance(component, dict) and code in _loinc_codes(component.get("code")):
            return _quantity(component)
    return None


def _newest(
    readings: Sequence[tuple[Mapping[str, Any], frozenset[str]]],
    codes: Iterable[str],
    zone: tzinfo,
    *,
    end: bool = False,
) -> tuple[Mapping[str, Any], int] | None:
    wanted = frozenset(codes)
    best: tuple[Mapping[str, Any], int] | None = None
    for reading, loinc in readings:
        if loinc & wanted and (when := _when_ms(reading, zone, end=end)) is not None:
            if best is None or when > best[1]:
                best = (reading, when)
    return best


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _values(
    readings: Sequence[Mapping[str, Any]], zone: tzinfo, now_ms: int, limits: Thresholds
) -> dict[str, Value]:
    found: dict[str, Value] = {}
    coded = [(reading, _loinc(reading)) for reading in readings]
    if (bp := _newest(coded, (BLOOD_PRESSURE,), zone)) is not None:
        systolic, diastolic = _component(bp[0], SYSTOLIC), _component(bp[0], DIASTOLIC)
        if systolic is not None or diastolic is not None:
            text = "/".join("-" if v is None else _number(v) for v in (systolic, diastolic))
            flag = limits.blood_pressure(systolic, diastolic)
            found["bp"] = Value(text, bp[1], age(now_ms, bp[1]), flag, systolic or 0.0)
    if (pulse := _newest(coded, (PULSE,), zone)) is not None:
        if (rate := _quantity(pulse[0])) is not None:
            found["pulse"] = Value(
                _number(rate), pulse[1], age(now_ms, pulse[1]), limits.pulse(rate), rate
            )
    if (spo2 := _newest(coded, SPO2_CODES, zone)) is not None:
        if (percent := _quantity(spo2[0])) is not None:
            found["spo2"] = Value(
                _number(percent), spo2[1], age(now_ms, spo2[1]), limits.spo2(percent), percent
            )
    if (night := _newest(coded, (SLEEP,), zone, end=True)) is not None:
        if (minutes := _quantity(night[0])) is not None:
            text = f"{int(minutes) // 60}:{int(minutes) % 60:02d}"
            found["sleep"] = Value(text, night[1], age(now_ms, night[1]), None, minutes)
    return found


def _gateway_reference(readings: Sequence[Mapping[str, Any]], zone: tzinfo) -> str | None:
    """The gateway Device named by the newest reading that names one."""
    newest: tuple[int, str] | None = None
    for reading in readings:
        for extension in reading.get("extension", ()):
            if isinstance(extension, dict) and extension.get("url") in GATEWAY_EXTENSIONS:
                reference = (extension.get("valueReference") or {}).get("reference")
                when = _when_ms(reading, zone, end=True)
                if isinstance(reference, str) and when is not None:
                    if newest is None or when > newest[0]:
                        newest = (when, reference)
    return newest[1] if newest else None


def status_properties(device: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The heartbeat's properties by code."""
    found: dict[str, list[dict[str, Any]]] = {}
    for prop in device.get("property", ()):
        if not isinstance(prop, dict) or not isinstance(kind := prop.get("type"), dict):
            continue
        # `codings` inlined: a list of 1,000 patients reads 1,000 gateways' properties.
        for coding in kind.get("coding", ()):
            if isinstance(coding, dict) and (code := coding.get("code")):
                if str(coding.get("system", "")) == GATEWAY_STATUS_SYSTEM:
                    found.setdefault(str(code), []).append(prop)
    return found


def first_quantity(prop: Mapping[str, Any]) -> float | None:
    quantities = prop.get("valueQuantity") or []
    value = quantities[0].get("value") if quantities and isinstance(quantities[0], dict) else None
    return float(value) if isinstance(value, int | float) else None


def gateway_status(device: Mapping[str, Any] | None, now_ms: int) -> Gateway:
    """The state of a gateway from its Device (None: not known)."""
    if device is None:
        return Gateway(GatewayState.UNKNOWN)
    names = device.get("deviceName") or []
    name = names[0].get("name") if names and isinstance(names[0], dict) else None
    updated = (device.get("meta") or {}).get("lastUpdated")
    try:
        seen = _instant_ms(updated, UTC) if isinstance(updated, str) else None
    except ValueError:
        seen = None
    status = status_properties(device)
    low = []
    for prop in status.get("device-battery", ()):
        level = first_quantity(prop)
        address = ((prop.get("valueCode") or [{}])[0] or {}).get("text", "?")
        if level is not None and level < BATTERY_LOW_PERCENT:
            low.append(str(address))
    depth = next((first_quantity(p) for p in status.get("queue-depth", ())), None)
    oldest = next((first_quantity(p) for p in status.get("oldest-unsent", ())), None)
    backlog = int(depth or 0) if oldest is not None and oldest > BACKLOG_LATE_S else 0
    if seen is None:
        state = GatewayState.UNKNOWN
    elif now_ms - seen > GATEWAY_SILENT_MS:
        state = GatewayState.OFFLINE
    else:
        state = GatewayState.ONLINE
    return Gateway(state, name, seen, tuple(sorted(low)), backlog)


def display_names(patient: Mapping[str, Any]) -> tuple[str, str | None]:
    """The name to show (kanji, or the first name) and the kana reading, if any (JP Core)."""
    shown: str | None = None
    kana: str | None = None
    for name in patient.get("name", ()):
        if not isinstance(name, dict):
            continue
        text = name.get("text") or " ".join(
            part for part in (name.get("family"), *name.get("given", ())) if part
        )
        syllabic = any(
            isinstance(e, dict) and e.get("url") == REPRESENTATION and e.get("valueCode") == KANA
            for e in name.get("extension", ())
        )
        if syllabic:
            kana = kana or text or None
        else:
            shown = shown or text or None
    return shown or kana or str(patient.get("id", "?")), kana if shown else None


def patient_row(
    patient: Mapping[str, Any],
    readings: Sequence[Mapping[str, Any]],
    days: Iterable[date],
    gateways: Mapping[str, Mapping[str, Any]],
    zone: tzinfo,
    now_ms: int,
    limits: Thresholds = DEFAULT,
) -> PatientRow:
    """The row of `patient` from its newest readings, its reading days and the gateways.

    `gateways` maps "Device/id" to the gateway Devices the caller may see.
    """
    values = _values(readings, zone, now_ms, limits)
    reference = _gateway_reference(readings, zone)
    gateway = gateway_status(gateways.get(reference) if reference else None, now_ms)
    flags = [what for what, value in values.items() if value.flag is not None]
    if gateway.state is GatewayState.OFFLINE:
        flags.append("gateway")
    if gateway.battery_low:
        flags.append("battery")
    name, kana = display_names(patient)
    return PatientRow(
        id=str(patient["id"]),
        name=name,
        kana=kana,
        zone=zone,
        blood_pressure=values.get("bp"),
        pulse=values.get("pulse"),
        spo2=values.get("spo2"),
        sleep=values.get("sleep"),
        adherence=len(set(days)),
        gateway=gateway,
        flags=tuple(flags),
    )


def _name_key(row: PatientRow) -> tuple[str, str]:
    return (row.kana or row.name, row.id)


def _value_key(attribute: str) -> Any:
    def key(row: PatientRow) -> tuple[bool, float]:
        value: Value | None = getattr(row, attribute)
        return (value is None, value.sort if value else 0.0)

    return key


def _seen_key(row: PatientRow) -> tuple[bool, int]:
    return (row.seen is None, row.seen or 0)


SORT_KEYS: dict[str, Any] = {
    "name": _name_key,
    "bp": _value_key("blood_pressure"),
    "pulse": _value_key("pulse"),
    "spo2": _value_key("spo2"),
    "sleep": _value_key("sleep"),
    "adherence": lambda row: (row.adherence, _name_key(row)),
    "flags": lambda row: (-len(row.flags), _name_key(row)),
    # Most severe first, then the most alerts (as "flags": the rows to look at first).
    "alerts": lambda row: (
        -(Severity(row.worst_alert).rank + 1 if row.worst_alert else 0),
        -row.open_alerts,
        _name_key(row),
    ),
    "seen": _seen_key,
    # Never reviewed first, then the longest ago: who needs a look next.
    "reviewed": lambda row: (row.reviewed.at_ms if row.reviewed else -1, _name_key(row)),
}


def sort_rows(rows: Iterable[PatientRow], key: str, descending: bool) -> list[PatientRow]:
    """Rows sorted by a column of `SORT_KEYS` (unknown: by name); rows without the value last."""
    chosen = SORT_KEYS.get(key, _name_key)
    ordered = sorted(rows, key=_name_key)
    if key in ("bp", "pulse", "spo2", "sleep"):
        present = [r for r in ordered if getattr(r, _ATTRIBUTE[key]) is not None]
        absent = [r for r in ordered if getattr(r, _ATTRIBUTE[key]) is None]
        return sorted(present, key=chosen, reverse=descending) + absent
    return sorted(ordered, key=chosen, reverse=descending)


_ATTRIBUTE = {"bp": "blood_pressure", "pulse": "pulse", "spo2": "spo2", "sleep": "sleep"}
