"""Emfit QS under-mattress sensor, read over its local HTTP page `/dvmstatus.htm`.

The page is `key=value` lines separated by `<br>` and CRLF, for example
`pres=1`, `hr=58`, `rr=14`, `act=120`, `ser=...`, `fw=...`. Keys and their
meaning come from the Home Assistant integration jxlarrea/ha-emfitqs
(`sensor.py`, tested with firmware 120.2.2.1): `pres` bed presence (1 in bed),
`hr` heart rate, `rr` breathing rate, `act` activity level. The QS does not
report sleep stages or stored epochs locally, so `stage` is always UNKNOWN and
`parse_epochs` returns nothing; its cloud API (not used: data stays in the home)
does provide stages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import MalformedPayload
from ..readings import SleepEpoch, SleepLive, SleepStage
from ..units import Quantity, Unit

__all__ = ["EmfitQsAdapter"]

_NAME = "Emfit QS /dvmstatus.htm"


def _fields(payload: bytes) -> dict[str, str]:
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(_NAME, exc.start, payload, "status page is not ASCII") from None
    fields: dict[str, str] = {}
    for line in text.replace("<br>", "\n").replace("<BR>", "\n").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return fields


def _number(fields: dict[str, str], key: str, payload: bytes) -> float | None:
    raw = fields.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        offset = payload.find(f"{key}=".encode())
        raise MalformedPayload(
            _NAME, max(offset, 0), payload, f"{key}={raw!r} is not a number"
        ) from None
    if value < 0 or not math.isfinite(value):
        offset = payload.find(f"{key}=".encode())
        raise MalformedPayload(_NAME, max(offset, 0), payload, f"{key}={raw!r} is out of range")
    return value


class EmfitQsAdapter:
    """Emfit QS local status page -> `SleepLive`."""

    vendor = "emfit-qs"
    transport = "http"

    def parse_live(self, payload: bytes) -> SleepLive:
        """Decode one poll of `/dvmstatus.htm`.

        Raises:
            MalformedPayload: when the page has no `pres` field or a field is not a number.
        """
        fields = _fields(payload)
        if "pres" not in fields:
            raise MalformedPayload(_NAME, 0, payload, "no pres= (bed presence) field")
        presence = _number(fields, "pres", payload)
        in_bed = None if presence is None else presence >= 1
        heart_rate = _number(fields, "hr", payload)
        respiration = _number(fields, "rr", payload)
        activity = _number(fields, "act", payload)
        # The QS reports 0 for heart and breathing rate while nobody is in bed: absent, not 0.
        return SleepLive(
            in_bed,
            SleepStage.OUT_OF_BED if in_bed is False else SleepStage.UNKNOWN,
            Quantity(heart_rate, Unit.PER_MIN) if heart_rate else None,
            Quantity(respiration, Unit.PER_MIN) if respiration else None,
            Quantity(activity, Unit.COUNT) if activity is not None else None,
        )

    def parse_epochs(self, payload: bytes) -> Sequence[SleepEpoch]:
        """The local page keeps no history: always empty."""
        return ()
