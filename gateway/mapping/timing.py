"""Device clocks against the gateway's clock: the PHD IG's coincident time stamp.

Bluetooth SIG devices stamp readings with local wall-clock time and no zone,
and their clocks drift, reset on battery changes, or were never set. At each
connection the gateway reads the device clock and its own NTP-synchronised UTC
clock at the same moment (a `ClockSample`); a reading's effective time is its
device time shifted by the difference, in the home's time zone. A reading
without a usable device time gets the gateway's reception time and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

__all__ = [
    "FUTURE_TOLERANCE",
    "MAX_AGE",
    "ClockSample",
    "EffectiveTime",
    "TimeSource",
    "effective_time",
]

# A corrected time later than this past reception is impossible: the clock is wrong.
FUTURE_TOLERANCE = timedelta(minutes=5)
# Older than this before reception, a time stamp is a reset clock (cuffs restart at
# 2000-01-01 after a battery change), not a reading kept in memory for over a year.
MAX_AGE = timedelta(days=400)
_PHD_EPOCH = datetime(2000, 1, 1)  # noqa: DTZ001 - the PHD IG counts device time from here


class TimeSource(StrEnum):
    """Where an Observation's effective time came from."""

    DEVICE = "device"  # the device clock agreed with the gateway (or could not be compared)
    DEVICE_CORRECTED = "device-corrected"  # device time shifted by the measured drift
    GATEWAY_RECEPTION = "gateway-reception"  # no usable device time: when the gateway got it


@dataclass(frozen=True, slots=True)
class ClockSample:
    """The device clock and the gateway clock read at the same moment.

    Attributes:
        device_time: the device's wall clock as read (None when unset).
        gateway_time: the gateway's UTC time (zone-aware) at that moment.
    """

    device_time: datetime | None
    gateway_time: datetime

    def __post_init__(self) -> None:
        if self.gateway_time.tzinfo is None:
            raise ValueError("gateway_time must be zone-aware")

    def drift(self, zone: ZoneInfo) -> timedelta | None:
        """Gateway wall clock minus device wall clock, to the whole second."""
        if self.device_time is None:
            return None
        local = self.gateway_time.astimezone(zone).replace(tzinfo=None, microsecond=0)
        return local - self.device_time.replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class EffectiveTime:
    """A zone-aware effective time and how it was obtained."""

    at: datetime
    source: TimeSource
    correction: timedelta = timedelta(0)

    def fhir(self) -> str:
        """FHIR dateTime with its UTC offset, e.g. `2024-11-27T10:30:00+09:00`."""
        offset = self.at.utcoffset()
        if offset is None or offset.total_seconds() % 60:  # FHIR offsets are whole minutes
            return self.at.astimezone(UTC).isoformat(timespec="seconds")
        return self.at.isoformat(timespec="seconds")


def effective_time(
    device_time: datetime | None,
    device_clock_unreliable: bool,
    received_at: datetime,
    clock: ClockSample | None,
    zone: ZoneInfo,
) -> EffectiveTime:
    """Decide a reading's effective time (pure: the caller supplies every clock).

    Args:
        device_time: the reading's time stamp as the device sent it.
        device_clock_unreliable: the device said its clock is not set, or sent no real date.
        received_at: when the gateway received the reading (zone-aware).
        clock: the coincident time stamp of this connection, if the device clock was read.
        zone: the home's time zone, in which device clocks run.
    """
    if received_at.tzinfo is None:
        raise ValueError("received_at must be zone-aware")
    reception = EffectiveTime(received_at.astimezone(zone), TimeSource.GATEWAY_RECEPTION)
    if device_time is None or device_clock_unreliable:
        return reception
    drift = clock.drift(zone) if clock is not None else None
    corrected = device_time + (drift or timedelta(0))
    try:
        at = corrected.replace(tzinfo=zone)
    except (OverflowError, ValueError):
        return reception
    if not received_at - MAX_AGE <= at <= received_at + FUTURE_TOLERANCE:
        return reception
    source = TimeSource.DEVICE_CORRECTED if drift else TimeSource.DEVICE
    return EffectiveTime(at, source, drift or timedelta(0))


def phd_time_stamp(device_time: datetime) -> str:
    """The PHD IG identifier's time part: seconds since 2000-01-01 at 1 s resolution."""
    return str(int((device_time.replace(microsecond=0) - _PHD_EPOCH).total_seconds()))


def utc(moment: datetime) -> datetime:
    """`moment` in UTC (it must be zone-aware)."""
    return moment.astimezone(UTC)
