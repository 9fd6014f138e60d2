"""Any bytes either decode or raise MalformedPayload: nothing else escapes.

The random sweep uses a fresh seed each run and prints it; pin a failing one
with `FUZZ_SEED=<seed>` (as bluetooth-data-tools' gap fuzzer does).
"""

import os
import random
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import device_adapters as da
from device_adapters.registry import PARSERS

from . import captures

READING_TYPES = typing.get_args(da.Reading)
CHARACTERISTICS = sorted(PARSERS)
SEED = int(os.environ.get("FUZZ_SEED", random.randrange(2**32)))


def _decode_or_malformed(characteristic: str, payload: bytes) -> None:
    try:
        reading = da.parse(characteristic, payload)
    except da.MalformedPayload as error:
        assert error.payload == payload
        assert 0 <= error.offset <= len(payload)
    else:
        assert isinstance(reading, READING_TYPES)


@pytest.mark.parametrize("characteristic", CHARACTERISTICS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.binary(max_size=40))
def test_any_bytes_decode_or_raise_malformed_payload(characteristic, payload):
    _decode_or_malformed(characteristic, payload)


def test_seeded_random_sweep_over_every_characteristic(capsys):
    with capsys.disabled():
        print(f"\nfuzz seed: FUZZ_SEED={SEED}")  # noqa: T201 - to reproduce a failure
    rng = random.Random(SEED)
    for characteristic in CHARACTERISTICS:
        for _ in range(3000):
            payload = rng.randbytes(rng.randrange(0, 32))
            try:
                _decode_or_malformed(characteristic, payload)
            except Exception as exc:
                raise AssertionError(
                    f"FUZZ_SEED={SEED}: {characteristic} {payload.hex()} raised {exc!r}"
                ) from exc


CAPTURED = [
    value for name, value in vars(captures).items() if name.isupper() and isinstance(value, bytes)
]


@settings(max_examples=500, deadline=None)
@given(
    base=st.sampled_from(CAPTURED),
    characteristic=st.sampled_from(CHARACTERISTICS),
    flips=st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, 64),
)
def test_mutated_captures_decode_or_raise_malformed_payload(base, characteristic, flips, cut):
    payload = bytearray(base[:cut])
    for index, value in flips:
        if index < len(payload):
            payload[index] = value
    _decode_or_malformed(characteristic, bytes(payload))
