"""Compact storage (issue 15): each version stored once, compressed, read back byte for byte;
migration 0014 moves a populated store there and back without changing any resource."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import zstandard
from sqlalchemy import Connection, MetaData, Table, and_, func, select

from fhir_api.app import build_store
from fhir_api.service import FhirService
from fhir_api.storage import compression
from fhir_api.storage.compression import DEFAULT_DICTIONARY, compress, decompress
from fhir_api.storage.database import migrate
from fhir_api.storage.resources import ResourceStore, dumps, versions_query
from fhir_api.storage.schema import (
    compression_dictionaries,
    identifiers,
    resource_versions,
    resources,
    search_terms,
)

from .conftest import settings_for
from .helpers import blood_pressure, downgrade, patient, spo2

Snapshot = dict[tuple[str, str, int], tuple[bool, str]]


def populate(store: ResourceStore) -> dict[tuple[str, str, int], str]:
    """Patients and readings, some updated twice, one deleted; the JSON each write stored."""
    service = FhirService(store)
    written: dict[tuple[str, str, int], str] = {}

    def keep(result: Any) -> str:
        stored = result.stored
        written[(stored.resource_type, stored.id, stored.version_id)] = dumps(stored.content)
        return str(stored.id)

    for n in range(3):
        pid = keep(service.create("Patient", patient(identifier=f"P-{n}", given=f"花子{n}")))
        for day in range(1, 6):
            when = f"2026-11-{day:02d}T07:0{n}:00+09:00"
            oid = keep(
                service.create(
                    "Observation",
                    blood_pressure(f"Patient/{pid}", when, 120 + day, 80, f"bp{n}{day}"),
                )
            )
            keep(service.create("Observation", spo2(f"Patient/{pid}", when, 95.5 + n)))
        when = "2026-11-05T07:00:00+09:00"
        corrected = blood_pressure(f"Patient/{pid}", when, 150, 91, f"bp{n}5")
        corrected["id"] = oid
        corrected["note"] = [{"text": "再測定 (remeasured) \u2014 \U0001f600"}]
        keep(service.update("Observation", oid, corrected))
        corrected["status"] = "amended"
        keep(service.update("Observation", oid, corrected))
    service.delete("Observation", oid)
    return written


def snapshot(connection: Connection) -> Snapshot:
    """Every version of every resource as the store reads it: (deleted, JSON text)."""
    found: Snapshot = {
        (row.resource_type, row.id, row.version_id): (bool(row.deleted), row.content)
        for row in connection.execute(select(resources))
    }
    earlier = select(
        resources.c.resource_type,
        resources.c.id,
        resource_versions.c.version_id,
        resource_versions.c.deleted,
        resource_versions.c.content,
    ).join_from(resource_versions, resources, resources.c.key == resource_versions.c.resource_key)
    for row in connection.execute(earlier):
        assert (row.resource_type, row.id, row.version_id) not in found
        found[(row.resource_type, row.id, row.version_id)] = (bool(row.deleted), row.content)
    # What history reads give (versions_query) is the same, version for version.
    for kind, rid in {(k[0], k[1]) for k in found}:
        versions = versions_query(kind, rid)
        for row in connection.execute(select(versions)):
            assert found[(kind, rid, row.version_id)] == (bool(row.deleted), row.content)
    return found


def plain_snapshot(connection: Connection) -> Snapshot:
    """The same, read from the layout before issue 15 (every version's text, uncompressed)."""
    meta = MetaData()
    versions = Table("resource_versions", meta, autoload_with=connection)
    current = Table("resources", meta, autoload_with=connection)
    found: Snapshot = {
        (r.resource_type, r.id, r.version_id): (bool(r.deleted), r.content)
        for r in connection.execute(select(versions))
    }
    for row in connection.execute(select(current)):
        assert found[(row.resource_type, row.id, row.version_id)] == (
            bool(row.deleted),
            row.content,
        )
    return found


def identifier_tokens(connection: Connection) -> int:
    """`identifier` rows of search_tokens, in the layout the store has now."""
    tokens = Table("search_tokens", MetaData(), autoload_with=connection)
    if "param" in tokens.c:  # before migration 0015: the parameter on every row
        query = select(func.count()).where(tokens.c.param == "identifier")
    else:
        query = (
            select(func.count())
            .select_from(tokens.join(search_terms, search_terms.c.id == tokens.c.term))
            .where(search_terms.c.param == "identifier")
        )
    return int(connection.execute(query).scalar_one())


def count(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def copies_of_current_versions(connection: Connection) -> int:
    """History rows of a current version, which `resources` already has (issue 15: none)."""
    same = and_(
        resources.c.key == resource_versions.c.resource_key,
        resources.c.version_id <= resource_versions.c.version_id,
    )
    return int(
        connection.execute(
            select(func.count()).select_from(resource_versions.join(resources, same))
        ).scalar_one()
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0014_keeps_every_version_byte_for_byte_issue_15(
    tmp_path: Path, backend: str
) -> None:
    with ExitStack() as stack:
        store = build_store(settings_for(backend, stack, tmp_path))
        written = populate(store)
        with store.engine.connect() as connection:
            before = snapshot(connection)
            assert copies_of_current_versions(connection) == 0
        # What every write stored is what reading gives back, to the byte.
        assert {k: text for k, (_, text) in before.items() if text} == written
        assert sum(deleted for deleted, _ in before.values()) == 1
        assert len(before) == 3 + 30 + 6 + 1

        downgrade(store.engine, "0013")
        with store.engine.connect() as connection:
            assert plain_snapshot(connection) == before
            # The old layout's identifier token rows are back, one per identifier.
            assert identifier_tokens(connection) == 17 == count(connection, identifiers)
        migrate(store.engine)  # the populated old layout, moved to the new one
        with store.engine.connect() as connection:
            assert snapshot(connection) == before
            assert copies_of_current_versions(connection) == 0
            assert identifier_tokens(connection) == 0  # searched in identifiers instead
            assert count(connection, identifiers) == 17
            assert connection.execute(select(compression_dictionaries.c.id)).scalars().all() == [
                DEFAULT_DICTIONARY
            ]
        service = FhirService(store)
        deleted = next(k[1] for k in before if k[2] == 4)
        versions, total, _, _ = service.history("Observation", deleted)
        assert [entry.version_id for entry in versions] == [4, 3, 2, 1]
        assert total == 4
        assert dumps(versions[1].content) == written[("Observation", deleted, 3)]
        store.engine.dispose()


def test_stored_json_is_a_zstd_frame_naming_its_dictionary(tmp_path: Path) -> None:
    with ExitStack() as stack:
        store = build_store(settings_for("sqlite", stack, tmp_path))
        service = FhirService(store)
        person = service.create("Patient", patient()).stored.id
        stored = service.create(
            "Observation", spo2(f"Patient/{person}", "2026-11-30T07:00:00+09:00", 97)
        )
        text = dumps(stored.stored.content)
        raw = resources.c.content.type.impl  # the bytes, past the column's decoding
        with store.engine.connect() as connection:
            blob = connection.execute(
                select(resources.c.content.cast(raw)).where(resources.c.id == stored.stored.id)
            ).scalar_one()
        assert zstandard.get_frame_parameters(blob).dict_id == DEFAULT_DICTIONARY
        assert decompress(blob) == text
        # A reading costs a few hundred bytes, not its 1-2 KB of JSON.
        assert len(blob) < 300 < len(text)
        store.engine.dispose()


def test_a_newer_dictionary_leaves_old_rows_readable() -> None:
    text = dumps({"resourceType": "Observation", "status": "final", "note": [{"text": "é"}]})
    old = compress(text)
    newer = zstandard.train_dictionary(
        1024,
        [
            dumps({"resourceType": "Observation", "n": n, "x": "abc" * n}).encode()
            for n in range(400)
        ],
    )
    newer_id = compression.register(newer.as_bytes())
    assert newer_id != DEFAULT_DICTIONARY
    again = compress(text, newer_id)
    assert zstandard.get_frame_parameters(again).dict_id == newer_id
    assert decompress(old) == decompress(again) == text


def test_a_value_naming_an_unloaded_dictionary_is_refused_not_misread() -> None:
    stranger = zstandard.train_dictionary(
        1024, [f'{{"k":{n},"v":"{"z" * (n % 50)}"}}'.encode() for n in range(400)]
    )
    blob = zstandard.ZstdCompressor(dict_data=stranger).compress(b'{"k":1}')
    with pytest.raises(compression.UnknownDictionary):
        decompress(blob)
