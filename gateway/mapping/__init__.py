"""Readings to FHIR R4: the contract between the home gateway and any FHIR server.

The gateway acts as a Personal Health Gateway (HL7 PHD IG): each measurement
becomes one Observation that is at once conformant to the FHIR vital-signs
profiles, the PHD IG and JP Core where they apply, except a sleep sensor's epochs,
which go as `valueSampledData` windows (2 h or the night) per signal
(`sleep_samples.py`, issue 15); sensors and the gateway
become PHD and PHG Device resources; uploads are transaction Bundles whose
entries are conditional creates, so any number of uploads stores a reading
once. Everything here is pure: no clock, no network, no disk.
"""

from .bundle import BundleEntry, supporting_references, transaction_bundle, upload_entries
from .devices import GatewayIdentity, SensorIdentity, gateway_device, sensor_device
from .identifiers import PatientLink
from .observations import MappingContext, NotAMeasurement, map_reading
from .sleep_nights import SleepNight, map_sleep_night, nights_from_epochs
from .timing import ClockSample, EffectiveTime, TimeSource, effective_time

__all__ = [
    "BundleEntry",
    "ClockSample",
    "EffectiveTime",
    "GatewayIdentity",
    "MappingContext",
    "NotAMeasurement",
    "PatientLink",
    "SensorIdentity",
    "SleepNight",
    "TimeSource",
    "effective_time",
    "gateway_device",
    "map_reading",
    "map_sleep_night",
    "nights_from_epochs",
    "sensor_device",
    "supporting_references",
    "transaction_bundle",
    "upload_entries",
]
