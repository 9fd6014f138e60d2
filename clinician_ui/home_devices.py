"""The "Devices" block of the home settings page (pure): which of the home's devices read
for this patient, and from which user slot of a shared cuff (issue 14).

Rows: each device the home's gateway reports in its heartbeat (kind, address, last
contact), and each device bound to the patient that the heartbeat does not report
(yet). A row's choice is "" (not bound to this patient by the clinic: what was paired
at home applies), "all" (every reading of the device is this patient's) or a user
slot number. The binding lives on this Patient (fhir_api/home_settings.py), so the
page binds only the patient it shows; another patient's slots are bound on theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from fhir_api.home_settings import DeviceBinding, HomeSettings, normal_address

from .gateways import KIND_NAMES, Sensor

__all__ = ["SLOTS", "DeviceRow", "device_rows", "read_devices", "submitted_rows"]

SLOTS = ("1", "2", "3", "4")  # the user slots home cuffs offer (most have 2)
CHOICE_ERROR = "Please choose from the list."


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """One device on the page: what the gateway reports and how it is bound here."""

    address: str
    kind: str  # a KIND_NAMES key
    contact_ms: int | None
    choice: str  # "", "all" or a slot


def device_rows(sensors: Iterable[Sensor], settings: HomeSettings | None) -> list[DeviceRow]:
    """The block's rows, by kind then address."""
    bound = {b.address: b for b in (settings.devices if settings else ())}
    rows: dict[str, DeviceRow] = {}
    for sensor in sensors:
        address = normal_address(sensor.address)
        kind = sensor.reported_kind or (bound[address].kind if address in bound else None)
        if kind not in KIND_NAMES:
            continue
        rows[address] = DeviceRow(address, kind, sensor.contact_ms, _choice(bound.get(address)))
    for address, binding in bound.items():
        if address not in rows:
            rows[address] = DeviceRow(address, binding.kind, None, _choice(binding))
    return sorted(rows.values(), key=lambda r: (list(KIND_NAMES).index(r.kind), r.address))


def _choice(binding: DeviceBinding | None) -> str:
    if binding is None:
        return ""
    return "all" if binding.slot is None else str(binding.slot)


def submitted_rows(form: Mapping[str, str]) -> Iterator[tuple[str, str, str, str]]:
    """The block's rows as submitted: (field name, address, kind, choice), in page order."""
    index = 0
    while f"device_{index}_address" in form:
        key = f"device_{index}"
        yield key, form[f"{key}_address"], form.get(f"{key}_kind", ""), form.get(key, "")
        index += 1


def read_devices(
    form: Mapping[str, str],
) -> tuple[tuple[DeviceBinding, ...] | None, dict[str, str]]:
    """The submitted block: (bindings, errors); bindings None when the block was not shown."""
    if form.get("devices_shown") != "1":
        return None, {}
    found: list[DeviceBinding] = []
    errors: dict[str, str] = {}
    for key, address, kind, choice in submitted_rows(form):
        if kind not in KIND_NAMES or choice not in ("", "all", *SLOTS):
            errors[key] = CHOICE_ERROR
        elif choice:
            slot = None if choice == "all" else int(choice)
            found.append(DeviceBinding(normal_address(address), kind, slot))
    return tuple(found), errors
