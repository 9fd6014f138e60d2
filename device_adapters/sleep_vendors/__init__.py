"""Adapters for proprietary sleep sensors, each yielding the open profile's readings.

There is no Bluetooth SIG sleep profile, and bedside sensors (under-mattress
sheets, bands, radar) each speak their own protocol. A vendor adapter is one
module here that turns what such a sensor sends into `SleepLive` and
`SleepEpoch` readings, so everything downstream (FHIR mapping, charts, alerts)
treats it exactly like a sensor on the open profile. Adapters stay pure: the
gateway owns the transport (BLE, local HTTP) and hands them the bytes.

To add a sensor: write `sleep_vendors/<vendor>.py` with a class satisfying
`SleepVendorAdapter`, and add it to `ADAPTERS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..readings import SleepEpoch, SleepLive
from .emfit_qs import EmfitQsAdapter

__all__ = ["ADAPTERS", "EmfitQsAdapter", "SleepVendorAdapter", "get_adapter"]


@runtime_checkable
class SleepVendorAdapter(Protocol):
    """What a vendor module provides.

    Attributes:
        vendor: a stable key, e.g. `"emfit-qs"`, used in gateway configuration.
        transport: how the gateway reaches the sensor: `"ble"` or `"http"`.
    """

    vendor: str
    transport: str

    def parse_live(self, payload: bytes) -> SleepLive:
        """Decode one live sample.

        Raises:
            MalformedPayload: when the payload cannot be read.
        """
        ...

    def parse_epochs(self, payload: bytes) -> Sequence[SleepEpoch]:
        """Decode stored history (may be empty for sensors that keep none).

        Raises:
            MalformedPayload: when the payload cannot be read.
        """
        ...


ADAPTERS: dict[str, SleepVendorAdapter] = {
    adapter.vendor: adapter for adapter in (EmfitQsAdapter(),)
}


def get_adapter(vendor: str) -> SleepVendorAdapter:
    """The adapter registered for `vendor`.

    Raises:
        KeyError: when no adapter has that key.
    """
    return ADAPTERS[vendor]
