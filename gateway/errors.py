"""The gateway's errors: one root, so a caller can catch everything the gateway raises.

Errors from other libraries (bleak, httpx, sqlite3) are translated once, where they
enter (`raise StorageError(...) from exc`); code above that boundary catches only
these (compare `httpx/_exceptions.py` and `bleak/exc.py`)::

    GatewayError
    ├── DeviceError            a device did not do what its profile says
    │   └── RacpFailed         ... a Record Access Control Point procedure
    ├── PairingError           no device could be paired
    ├── NotAMeasurement        a reading that is not a measurement (also a ValueError)
    ├── UploadError            the server could not be reached or answered uselessly
    └── StorageError           the outbox cannot commit: disk full, read-only, I/O error
        └── OutboxCorrupt      the outbox database failed its integrity check
"""

from __future__ import annotations

__all__ = [
    "DeviceError",
    "GatewayError",
    "NotAMeasurement",
    "OutboxCorrupt",
    "PairingError",
    "RacpFailed",
    "StorageError",
    "UploadError",
]


class GatewayError(Exception):
    """Root of everything the gateway raises on purpose."""


class DeviceError(GatewayError):
    """A device did not do what its profile says it does."""


class RacpFailed(DeviceError):
    """The device did not complete a RACP procedure."""


class PairingError(GatewayError):
    """No device could be paired."""


class NotAMeasurement(GatewayError, ValueError):
    """The reading describes a device or a procedure, not a measurement of the patient.

    Features, Device Information and System ID go into the sensor's Device resource,
    clock reads into a `ClockSample`, RACP responses steer the session.
    """


class UploadError(GatewayError):
    """The server could not be reached or did not answer usefully."""


class StorageError(GatewayError):
    """The outbox could not commit or read (disk full, read-only file system, I/O error).

    Nothing that was being committed is stored; the caller keeps it and tries again.
    """


class OutboxCorrupt(StorageError):
    """The outbox database failed its integrity check (or is not a database at all)."""
