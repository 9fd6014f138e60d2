"""What a kept sleep epoch's mapping needs from the session that delivered it.

Issue 15 keeps sleep epochs and sends them later, in windows. The gateway reads and
then sets the device clock at every session, so the drift between the device clock
and ours differs from one session to the next: an epoch stamped by a clock an hour
slow in one session and sent in the next (drift ~0) must still be shifted by its
own session's hour, and be filed under the patient the sensor was bound to when the
epoch arrived, not when its window goes. `EpochOrigin` is that, kept beside the
epoch in the outbox (`sleep_epochs.origin`, JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .mapping import ClockSample, PatientLink

__all__ = ["DRIFT_TOLERANCE", "EpochOrigin"]

# Two sessions' drifts this close are one clock: the gateway reads the device clock to
# the second, with the BLE read's latency in between, so a clock set at every session
# measures 0 s or 1 s from one session to the next. Cutting a window there would make
# one window per session; shifting an epoch by a second is within the reading's error.
DRIFT_TOLERANCE = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class EpochOrigin:
    """The session an epoch arrived in, as far as its mapping is concerned.

    Attributes:
        received_at: when the gateway received the epoch (zone-aware).
        clock: that session's coincident time stamp (None: the device clock was not read).
        patient: who the sensor was bound to then (None: unassigned).
    """

    received_at: datetime
    clock: ClockSample | None
    patient: PatientLink | None

    def drift(self, zone: ZoneInfo) -> timedelta | None:
        """Gateway wall clock minus device wall clock in that session (None: unknown)."""
        return self.clock.drift(zone) if self.clock is not None else None

    def same_mapping(self, other: EpochOrigin, zone: ZoneInfo) -> bool:
        """True when epochs of both origins may share a window: same patient, same clock
        (drifts within `DRIFT_TOLERANCE`, or both unknown)."""
        if self.patient != other.patient:
            return False
        mine, theirs = self.drift(zone), other.drift(zone)
        if mine is None or theirs is None:
            return mine is None and theirs is None
        return abs(mine - theirs) <= DRIFT_TOLERANCE

    def to_json(self) -> str:
        """The outbox's `sleep_epochs.origin` text."""
        item: dict[str, Any] = {"received_at": self.received_at.isoformat()}
        if self.clock is not None:
            device = self.clock.device_time
            item["clock"] = {
                "device_time": device.isoformat() if device is not None else None,
                "gateway_time": self.clock.gateway_time.isoformat(),
            }
        if self.patient is not None:
            item["patient"] = {
                "logical_id": self.patient.logical_id,
                "identifier_system": self.patient.identifier_system,
                "identifier_value": self.patient.identifier_value,
            }
        return json.dumps(item)

    @classmethod
    def from_json(cls, text: str) -> EpochOrigin:
        """Read back what `to_json` wrote."""
        item = json.loads(text)
        clock = None
        if (kept := item.get("clock")) is not None:
            device = kept["device_time"]
            clock = ClockSample(
                datetime.fromisoformat(device) if device is not None else None,
                datetime.fromisoformat(kept["gateway_time"]),
            )
        patient = PatientLink(**item["patient"]) if item.get("patient") is not None else None
        return cls(datetime.fromisoformat(item["received_at"]), clock, patient)
