"""Server-assigned resource ids: UUIDs whose first bits are the time (UUID version 7).

Random (version 4) ids scatter every insert across each id-keyed index, so a
Bundle of 100 new Observations dirties a page per Observation per index and the
write-ahead log grows by megabytes. Time-ordered ids append at the right edge of
the B-trees instead. Layout (RFC 9562, section 5.7): 48 bits of Unix milliseconds,
the version (7), 12 random bits, the variant (10), 62 random bits.
"""

from __future__ import annotations

import os
import time
import uuid

__all__ = ["new_id"]


def new_id() -> str:
    """A new, time-ordered, unguessable resource id."""
    make = getattr(uuid, "uuid7", None)  # the standard library has it from Python 3.14
    if make is not None:
        return str(make())
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | (random >> 68) << 64
    value |= 0b10 << 62 | random & (2**62 - 1)
    return str(uuid.UUID(int=value))
