"""Train the compression dictionary resource JSON is stored with (issue 15).

Run: `.venv/bin/python bench/dictionary.py` writes `fhir_api/storage/dictionaries/<id>.zdict`.

The samples are what a server stores: the gateway mapper's readings of every device
kind in `bench/_homes.py` (homes, seed and times other than bench/storage.py's, so
that bench measures on resources the dictionary has not seen), the contract
fixtures' resources (tests/fixtures/fhir, sleep and glucose included), each stamped
with an id and meta as the store stamps it. A new dictionary gets a new id: old
rows keep naming theirs, so both stay readable (fhir_api/storage/compression.py).
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zstandard
from _homes import _reading, make_homes

from fhir_api.storage.ids import new_id
from fhir_api.storage.resources import dumps
from gateway.mapping import MappingContext, map_reading

SIZE = 16_384  # 32 KB saved ~2 bytes a resource on the bench, for twice the memory
FIXTURES = ROOT / "tests" / "fixtures" / "fhir"


def _stamped(resource: dict[str, object], rng: random.Random) -> bytes:
    resource = dict(resource)
    resource["id"] = new_id()
    meta = dict(resource.get("meta") or {})  # type: ignore[call-overload]
    meta["versionId"] = str(rng.randint(1, 3))
    meta["lastUpdated"] = (
        f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T0{rng.randint(0, 9)}:12:34.567Z"
    )
    resource["meta"] = meta
    return dumps(resource).encode()


def samples() -> list[bytes]:
    """Stored-shaped JSON of readings of every kind and of the contract fixtures."""
    rng = random.Random(2026)  # noqa: S311 - training data
    found = []
    for home in make_homes(40, prefix="train"):
        found.append(_stamped({"resourceType": "Patient", "name": [{"family": "T"}]}, rng))
        for sensor in home.sensors:
            for _ in range(8):
                when = datetime(2026, 1, 1) + timedelta(minutes=rng.randint(0, 500_000))
                ctx = MappingContext(sensor, home.gateway, home.patient, when.replace(tzinfo=UTC))
                for resource in map_reading(_reading(sensor.kind, rng, when), ctx):  # type: ignore[arg-type]
                    found.append(_stamped(resource, rng))
    for path in sorted(FIXTURES.glob("*.json")):
        document = json.loads(path.read_text())
        for entry in document.get("entry", ()):
            if "resource" in entry:
                found.append(_stamped(entry["resource"], rng))
    return found


def main() -> int:
    data = samples()
    dictionary = zstandard.train_dictionary(SIZE, data, level=19)
    out = ROOT / "fhir_api" / "storage" / "dictionaries" / f"{dictionary.dict_id()}.zdict"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(dictionary.as_bytes())
    print(f"{len(data)} samples -> {out.relative_to(ROOT)} ({len(dictionary.as_bytes())} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
