"""Decodes per second for every characteristic, on one core.

Run: `.venv/bin/python bench/parse.py` (also on a Raspberry Pi: it needs only
the standard library and the repository). The yardstick, measured in the same
run, is a bare `struct.unpack` of the same payload: the ratio says how much the
full decode (flags, optional fields, SFLOATs, time stamp, typed reading) costs
over the cheapest possible read of the bytes.

Target (issue 2): at least 100,000 Blood Pressure Measurement decodes per second.
"""

from __future__ import annotations

import argparse
import os
import platform
import struct
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import device_adapters
from device_adapters.uuids import SLEEP_EPOCH_RECORD, SLEEP_LIVE

# Representative payloads: the fullest form each device commonly sends.
PAYLOADS: dict[str, tuple[str | int, bytes]] = {
    "Blood Pressure Measurement (all fields)": (
        0x2A35,
        bytes.fromhex("1e7a0050006000e8070b1b0a1e004800010000"),
    ),
    "Blood Pressure Measurement (minimal)": (0x2A35, bytes.fromhex("007a0050006000")),
    "Intermediate Cuff Pressure": (0x2A36, bytes.fromhex("005f0000000000")),
    "PLX Spot-check (all fields)": (
        0x2A5E,
        bytes.fromhex("0f61004000e8070b1b070509000220000019f0"),
    ),
    "PLX Continuous": (0x2A5F, bytes.fromhex("13600042005f004300600041001ff0")),
    "Heart Rate (RR intervals)": (0x2A37, bytes.fromhex("1e480b0220033403")),
    "Temperature Measurement": (0x2A1C, bytes.fromhex("06b00e00fedc070c050b321b04")),
    "Weight Measurement": (0x2A9D, bytes.fromhex("0eb630e8070b1b07000002ea006006")),
    "Glucose Measurement": (0x2A18, bytes.fromhex("1b0100e307021b0b0a1efbff1e00120501")),
    "RACP response": (0x2A52, bytes.fromhex("06000101")),
    "Current Time": (0x2A2B, bytes.fromhex("e8070305071e0f020001")),
    "Battery Level": (0x2A19, b"\x5a"),
    "Sleep Epoch Record": (
        SLEEP_EPOCH_RECORD,
        bytes.fromhex("070102e8070b1b021e002c0103360087f00200"),
    ),
    "Sleep Live": (SLEEP_LIVE, bytes.fromhex("0101023a00")),
}
TARGET_BPM_PER_SECOND = 100_000


def rate(func: object, number: int, repeat: int) -> float:
    """Best-of-`repeat` calls per second (the minimum time is the least disturbed)."""
    best = min(timeit.repeat(func, number=number, repeat=repeat))  # type: ignore[arg-type]
    return number / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=50_000, help="calls per timing")
    parser.add_argument("--repeat", type=int, default=5, help="timings per payload")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):  # one core, as on a busy gateway
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    print(f"python {platform.python_version()} on {platform.machine()}, one core")
    print(f"{'characteristic':42} {'decodes/s':>12} {'struct/s':>12} {'ratio':>7}")
    bpm_rate = 0.0
    for name, (uuid, payload) in PAYLOADS.items():
        unpack = struct.Struct(f"<{len(payload)}B").unpack

        def decode(uuid: str | int = uuid, payload: bytes = payload) -> object:
            return device_adapters.parse(uuid, payload)

        def baseline(
            payload: bytes = payload, unpack: Callable[[bytes], tuple[Any, ...]] = unpack
        ) -> object:
            return unpack(payload)

        decoded = rate(decode, args.number, args.repeat)
        bare = rate(baseline, args.number, args.repeat)
        print(f"{name:42} {decoded:12,.0f} {bare:12,.0f} {decoded / bare:7.3f}")
        if name == "Blood Pressure Measurement (all fields)":
            bpm_rate = decoded
    met = bpm_rate >= TARGET_BPM_PER_SECOND
    verdict = "met" if met else "NOT met"
    print(f"target: >= {TARGET_BPM_PER_SECOND:,} BPM decodes/s: {bpm_rate:,.0f} ({verdict})")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
