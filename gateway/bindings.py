"""Which patient a device, or a cuff's user slot, belongs to.

A reading from a device or user slot bound to no patient is uploaded as
unassigned (subject: the device, as the PHD IG does) for staff to assign; it is
never guessed onto a patient.

Two sources: `homevitals gateway pair` (and the local file) bind at home; the clinic
binds from the server (`Device/$gateway-settings`, clinic_settings.py). For a user slot
(or whole device) the clinic binds, the clinic's binding wins, as its reminder times
do: staff can move a slot without visiting the home. What is only paired at home
stays as paired.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from device_adapters import uuids

from .mapping import PatientLink
from .mapping.devices import DeviceKind

__all__ = ["Binding", "Bindings"]


def _normal(address: str) -> str:
    return address.upper().replace("-", ":")


@dataclass(frozen=True)
class Binding:
    """One device of the home: its address, kind and patients (per user slot, or for all)."""

    address: str
    kind: DeviceKind
    patients: dict[int | None, PatientLink] = field(default_factory=dict)

    def patient_for(self, user_id: int | None) -> PatientLink | None:
        """The slot's patient, else the whole device's, else nobody."""
        if user_id is not None and user_id in self.patients:
            return self.patients[user_id]
        return self.patients.get(None)


class Bindings:
    """The devices this gateway reads."""

    def __init__(self, bindings: list[Binding]) -> None:
        self._by_address = {_normal(b.address): b for b in bindings}

    def get(self, address: str) -> Binding | None:
        """The binding of an address, if the device belongs to this home."""
        return self._by_address.get(_normal(address))

    def all(self) -> list[Binding]:
        """Every binding."""
        return list(self._by_address.values())

    def addresses(self) -> list[str]:
        """Every bound address."""
        return list(self._by_address)

    def overlaid(self, clinic: list[Binding]) -> Bindings:
        """These bindings with the clinic's over them, user slot by user slot (pure).

        A slot the clinic binds goes to its patient; a slot only paired at home stays
        with the patient it was paired to (staff binding slot 2 do not unbind slot 1).
        """
        merged = dict(self._by_address)
        for binding in clinic:
            key = _normal(binding.address)
            local = merged.get(key)
            patients = {**(local.patients if local else {}), **binding.patients}
            merged[key] = Binding(local.address if local else key, binding.kind, patients)
        return Bindings(list(merged.values()))

    def service_uuids(self) -> list[str]:
        """What to scan for: the services the bound kinds advertise."""
        return sorted({SERVICE_OF_KIND[b.kind] for b in self._by_address.values()})


SERVICE_OF_KIND: dict[DeviceKind, str] = {
    DeviceKind.BLOOD_PRESSURE: uuids.BLOOD_PRESSURE_SERVICE,
    DeviceKind.PULSE_OXIMETER: uuids.PULSE_OXIMETER_SERVICE,
    DeviceKind.THERMOMETER: uuids.HEALTH_THERMOMETER_SERVICE,
    DeviceKind.WEIGHT_SCALE: uuids.WEIGHT_SCALE_SERVICE,
    DeviceKind.GLUCOSE_METER: uuids.GLUCOSE_SERVICE,
    DeviceKind.HEART_RATE: uuids.HEART_RATE_SERVICE,
    DeviceKind.SLEEP: uuids.SLEEP_SERVICE,
}
