"""Characteristic UUID -> parser: the one table `device_adapters.parse` dispatches on."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from . import uuids
from .blood_pressure import (
    parse_blood_pressure_feature,
    parse_blood_pressure_measurement,
    parse_intermediate_cuff_pressure,
)
from .clock import parse_current_time, parse_date_time
from .device_information import parse_battery_level, parse_device_information, parse_system_id
from .glucose import parse_glucose_measurement
from .heart_rate import parse_heart_rate_measurement
from .pulse_oximeter import (
    parse_plx_continuous_measurement,
    parse_plx_features,
    parse_plx_spot_check_measurement,
)
from .racp import parse_racp
from .readings import DeviceInformationField, Reading
from .sleep import parse_sleep_epoch, parse_sleep_features, parse_sleep_live
from .thermometer import parse_intermediate_temperature, parse_temperature_measurement
from .weight import parse_weight_measurement

__all__ = ["PARSERS", "Parser"]

Parser = Callable[[bytes], Reading]

PARSERS: dict[str, Parser] = {
    uuids.BLOOD_PRESSURE_MEASUREMENT: parse_blood_pressure_measurement,
    uuids.INTERMEDIATE_CUFF_PRESSURE: parse_intermediate_cuff_pressure,
    uuids.BLOOD_PRESSURE_FEATURE: parse_blood_pressure_feature,
    uuids.PLX_SPOT_CHECK_MEASUREMENT: parse_plx_spot_check_measurement,
    uuids.PLX_CONTINUOUS_MEASUREMENT: parse_plx_continuous_measurement,
    uuids.PLX_FEATURES: parse_plx_features,
    uuids.RECORD_ACCESS_CONTROL_POINT: parse_racp,
    uuids.CURRENT_TIME: parse_current_time,
    uuids.DATE_TIME: parse_date_time,
    uuids.HEART_RATE_MEASUREMENT: parse_heart_rate_measurement,
    uuids.TEMPERATURE_MEASUREMENT: parse_temperature_measurement,
    uuids.INTERMEDIATE_TEMPERATURE: parse_intermediate_temperature,
    uuids.WEIGHT_MEASUREMENT: parse_weight_measurement,
    uuids.GLUCOSE_MEASUREMENT: parse_glucose_measurement,
    uuids.BATTERY_LEVEL: parse_battery_level,
    uuids.SYSTEM_ID: parse_system_id,
    uuids.SLEEP_LIVE: parse_sleep_live,
    uuids.SLEEP_EPOCH_RECORD: parse_sleep_epoch,
    uuids.SLEEP_FEATURES: parse_sleep_features,
    **{
        uuids.uuid16(field): partial(parse_device_information, field)
        for field in DeviceInformationField
    },
}
