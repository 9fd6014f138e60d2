"""The HomeVitals open sleep profile (docs/open-sleep-profile.md).

Sleep Live (Notify):

    offset  size  field
    0       1     flags: bit0 heart rate, bit1 respiration rate, bit2 movement; 3-7 reserved
    1       1     presence: 0 out of bed, 1 in bed, 0xFF unknown (others reserved: unknown)
    2       1     stage (SleepStage; reserved values decode as UNKNOWN)
    3       2     heart rate SFLOAT /min          if bit0
    +       2     respiration rate SFLOAT /min    if bit1
    +       2     movement uint16 {count}         if bit2 (movements in the last minute)

Sleep Epoch Record (Indicate; also what RACP reports from storage):

    0       1     flags: bit0 heart rate, bit1 respiration rate, bit2 movement,
                  bit3 device clock is not set; 4-7 reserved
    1       2     sequence number uint16
    3       7     epoch start DateTime
    10      2     duration uint16 seconds (1-65535; 0 is malformed)
    12      1     stage
    13      2     mean heart rate SFLOAT /min     if bit0
    +       2     mean respiration rate SFLOAT    if bit1
    +       2     movement uint16 {count}         if bit2 (movements during the epoch)

Sleep Features (Read): uint16 `SleepFeature` bits.
"""

from __future__ import annotations

import struct

from ._fields import UINT16, date_time_at, need, need_head
from ._ieee11073 import sfloat_quantity
from .errors import MalformedPayload
from .readings import SleepEpoch, SleepFeature, SleepFeatures, SleepLive, SleepStage
from .units import Quantity, Unit
from .uuids import SLEEP_EPOCH_RECORD, SLEEP_FEATURES, SLEEP_LIVE
from .uuids import label as _label

__all__ = ["parse_sleep_epoch", "parse_sleep_features", "parse_sleep_live"]

_LIVE = _label(SLEEP_LIVE)
_EPOCH = _label(SLEEP_EPOCH_RECORD)
_FEATURES = _label(SLEEP_FEATURES)
_STAGES = {int(stage): stage for stage in SleepStage}
_PRESENCE = {0: False, 1: True}
_EPOCH_HEAD = struct.Struct("<BH")  # flags, sequence number
_EPOCH_TAIL = struct.Struct("<HB")  # duration, stage
_FEATURE_MASK = 0x003F


Vitals = tuple[Quantity | None, Quantity | None, Quantity | None]


def _vitals(data: bytes, offset: int, flags: int, name: str) -> Vitals:
    heart_rate = respiration = movement = None
    if flags & 0x01:
        need(data, offset, 2, name, "heart rate")
        heart_rate = sfloat_quantity(UINT16.unpack_from(data, offset)[0], Unit.PER_MIN)
        offset += 2
    if flags & 0x02:
        need(data, offset, 2, name, "respiration rate")
        respiration = sfloat_quantity(UINT16.unpack_from(data, offset)[0], Unit.PER_MIN)
        offset += 2
    if flags & 0x04:
        need(data, offset, 2, name, "movement")
        movement = Quantity(float(UINT16.unpack_from(data, offset)[0]), Unit.COUNT)
    return heart_rate, respiration, movement


def parse_sleep_live(data: bytes) -> SleepLive:
    """Decode a Sleep Live notification.

    Raises:
        MalformedPayload: when shorter than its flags declare.
    """
    need_head(data, 3, _LIVE, "presence and stage")
    flags = data[0]
    heart_rate, respiration, movement = _vitals(data, 3, flags, _LIVE)
    return SleepLive(
        _PRESENCE.get(data[1]),
        _STAGES.get(data[2], SleepStage.UNKNOWN),
        heart_rate,
        respiration,
        movement,
    )


def parse_sleep_epoch(data: bytes) -> SleepEpoch:
    """Decode a Sleep Epoch Record.

    Raises:
        MalformedPayload: when shorter than its flags declare, or the duration is 0.
    """
    need_head(data, 13, _EPOCH, "sequence number, start, duration and stage")
    flags, sequence = _EPOCH_HEAD.unpack_from(data)
    device_time = date_time_at(data, 3)
    duration, stage = _EPOCH_TAIL.unpack_from(data, 10)
    if duration == 0:
        raise MalformedPayload(_EPOCH, 10, data, "epoch duration is 0 seconds")
    heart_rate, respiration, movement = _vitals(data, 13, flags, _EPOCH)
    return SleepEpoch(
        sequence,
        device_time,
        Quantity(float(duration), Unit.SECOND),
        _STAGES.get(stage, SleepStage.UNKNOWN),
        heart_rate,
        respiration,
        movement,
        device_time is None or bool(flags & 0x08),
    )


def parse_sleep_features(data: bytes) -> SleepFeatures:
    """Decode Sleep Features.

    Raises:
        MalformedPayload: when fewer than 2 bytes arrive.
    """
    need(data, 0, 2, _FEATURES, "supported features")
    return SleepFeatures(SleepFeature(UINT16.unpack_from(data)[0] & _FEATURE_MASK))
