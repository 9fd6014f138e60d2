"""Server-assigned resource ids: UUIDs whose first bits are the time (UUID version 7).

Random (version 4) ids scatter every insert across each id-keyed index, so a
Bundle of 100 new Observations dirties a page per Observation per index and the
write-ahead log grows by megabytes. Time-ordered ids append at the right edge of
the B-trees instead. Layout (RFC 9562, section 5.7): 48 bits of Unix milliseconds,
the version (7), 12 random bits, the variant (10), 62 random bits.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["new_id"]

# os.urandom releases the interpreter lock for its system call, and getting the lock
# back behind busy threads can take a whole switch interval (5 ms), per id: up to a
# quarter of a second for a 50-reading Bundle under load (bench/load.py).
# The random bytes come from the operating system 4 KiB at a time instead, each
# used once; a forked child starts with an empty pool, so it never repeats its parent's.
_POOL_BYTES = 4096
_pool = bytearray()
_pool_lock = threading.Lock()
os.register_at_fork(after_in_child=_pool.clear)


def _random_bytes(count: int) -> bytes:
    with _pool_lock:
        if len(_pool) < count:
            _pool.extend(os.urandom(_POOL_BYTES))
        taken = bytes(_pool[:count])
        del _pool[:count]
    return taken


def new_id() -> str:
    """A new, time-ordered, unguessable resource id."""
    make = getattr(uuid, "uuid7", None)  # the standard library has it from Python 3.14
    if make is not None:
        return str(make())
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(_random_bytes(10), "big")
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | (random >> 68) << 64
    value |= 0b10 << 62 | random & (2**62 - 1)
    return str(uuid.UUID(int=value))
