"""Transaction Bundles of conditional creates: upload any number of times, store once.

Every entry is `POST` with `ifNoneExist` on its identifier (PHD IG uploader
notes): Observations on the PHD conditional-create identifier, Devices on their
system id or Bluetooth address, Patients on their business identifier. fullUrls
are deterministic `urn:uuid`s, so the same readings always give the same Bundle,
and the server resolves the references between entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .devices import GatewayIdentity, SensorIdentity, gateway_device, sensor_device
from .identifiers import PatientLink, stable_urn

__all__ = [
    "BundleEntry",
    "device_entry",
    "gateway_entry",
    "observation_entry",
    "patient_entry",
    "supporting_references",
    "token_query",
    "transaction_bundle",
    "upload_entries",
]

Resource = dict[str, Any]


_SAFE = ":/|"


def _escape(text: str) -> str:
    # FHIR search escaping (R4 3.1.1.5.7): \ , $ | are escaped with a backslash.
    for char in ("\\", ",", "$", "|"):
        text = text.replace(char, "\\" + char)
    return text


def token_query(parameter: str, system: str, value: str) -> str:
    """`identifier=<system>|<value>` escaped for FHIR search and percent-encoded."""
    token = f"{_escape(system)}|{_escape(value)}"
    return parameter + "=" + quote(token, safe=_SAFE)


@dataclass(frozen=True, slots=True)
class BundleEntry:
    """One conditional create: a resource, its fullUrl and its `ifNoneExist` query."""

    full_url: str
    resource: Resource
    if_none_exist: str

    def fhir(self) -> Resource:
        """The Bundle.entry element."""
        return {
            "fullUrl": self.full_url,
            "resource": self.resource,
            "request": {
                "method": "POST",
                "url": self.resource["resourceType"],
                "ifNoneExist": self.if_none_exist,
            },
        }


def observation_entry(observation: Resource) -> BundleEntry:
    """The entry for an Observation, keyed by its PHD identifier."""
    identifier = observation["identifier"][0]
    return BundleEntry(
        stable_urn("Observation", identifier["value"]),
        observation,
        token_query("identifier", identifier["system"], identifier["value"]),
    )


def device_entry(sensor: SensorIdentity) -> BundleEntry:
    """The entry for a sensor's PhdDevice."""
    system, value = sensor.search
    return BundleEntry(
        sensor.reference, sensor_device(sensor), token_query("identifier", system, value)
    )


def gateway_entry(gateway: GatewayIdentity) -> BundleEntry:
    """The entry for the gateway's PhgDevice."""
    system, value = gateway.search
    return BundleEntry(
        gateway.reference, gateway_device(gateway), token_query("identifier", system, value)
    )


def patient_entry(patient: PatientLink) -> BundleEntry | None:
    """A conditional Patient entry, or None when the patient is linked by logical id."""
    if patient.identifier_system is None or patient.identifier_value is None:
        return None
    resource = {
        "resourceType": "Patient",
        "identifier": [{"system": patient.identifier_system, "value": patient.identifier_value}],
    }
    return BundleEntry(
        patient.reference,
        resource,
        token_query("identifier", patient.identifier_system, patient.identifier_value),
    )


def upload_entries(
    observations: Iterable[Resource],
    sensor: SensorIdentity,
    gateway: GatewayIdentity,
    patient: PatientLink | None,
) -> list[BundleEntry]:
    """The entries that upload `observations`: the Devices, the Patient if needed, and them."""
    entries = [gateway_entry(gateway), device_entry(sensor)]
    if patient is not None and (entry := patient_entry(patient)) is not None:
        entries.append(entry)
    entries.extend(observation_entry(o) for o in observations)
    return entries


def supporting_references(resource: Resource) -> set[str]:
    """Every `urn:uuid:` the resource refers to (Devices, Patient, coincident time stamp)."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            reference = node.get("reference")
            if isinstance(reference, str) and reference.startswith("urn:uuid:"):
                found.add(reference)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resource)
    return found


def transaction_bundle(entries: Iterable[BundleEntry]) -> Resource:
    """A transaction Bundle; supporting entries first, duplicates (same fullUrl) dropped.

    Raises:
        ValueError: when an entry refers to a `urn:uuid` that no entry provides.
    """
    unique: dict[str, BundleEntry] = {}
    for entry in entries:
        unique.setdefault(entry.full_url, entry)
    ordered: Sequence[BundleEntry] = sorted(
        unique.values(), key=lambda e: (e.resource["resourceType"] == "Observation", e.full_url)
    )
    missing = set().union(*(supporting_references(e.resource) for e in ordered)) - set(unique)
    if missing:
        raise ValueError(f"entries refer to resources not in the Bundle: {sorted(missing)}")
    return {"resourceType": "Bundle", "type": "transaction", "entry": [e.fhir() for e in ordered]}
