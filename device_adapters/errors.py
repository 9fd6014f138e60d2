"""Errors raised by the device adapters.

Exception tree::

    DeviceAdapterError
    ├── MalformedPayload (also a ValueError): the bytes do not match the layout
    │                     their own flags declare, or a field is out of range
    └── UnsupportedCharacteristic: no parser is registered for the UUID

Nothing else escapes `device_adapters.parse`, whatever the bytes: callers on
the gateway catch these two and quarantine the payload.
"""

from __future__ import annotations

__all__ = ["DeviceAdapterError", "MalformedPayload", "UnsupportedCharacteristic"]


class DeviceAdapterError(Exception):
    """Root of every error raised by `device_adapters`."""


class MalformedPayload(DeviceAdapterError, ValueError):
    """A payload that cannot be decoded under its characteristic's layout.

    Attributes:
        characteristic: name and 16-bit (or 128-bit) UUID of the characteristic.
        offset: byte offset of the field that is missing or invalid.
        payload: the raw bytes, kept so the gateway can quarantine them.
        reason: what is wrong at that offset.
    """

    def __init__(self, characteristic: str, offset: int, payload: bytes, reason: str) -> None:
        self.characteristic = characteristic
        self.offset = offset
        self.payload = bytes(payload)
        self.reason = reason
        super().__init__(
            f"{characteristic}: {reason} at byte offset {offset} (payload {self.payload.hex()!r})"
        )

    def __reduce__(self) -> tuple[type[MalformedPayload], tuple[str, int, bytes, str]]:
        return (type(self), (self.characteristic, self.offset, self.payload, self.reason))


class UnsupportedCharacteristic(DeviceAdapterError):
    """No parser exists for the characteristic UUID that was given."""

    def __init__(self, characteristic: object) -> None:
        self.characteristic = characteristic
        super().__init__(f"no parser for characteristic {characteristic!r}")
