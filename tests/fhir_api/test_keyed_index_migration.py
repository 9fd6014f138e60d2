"""Migration 0015 (issue 15): the integer-keyed search index holds what the text-keyed one did.

A populated store is taken back to 0014 and forward again, on SQLite and PostgreSQL:
every version of every resource reads back the same, every index row says the same
(type, id, parameter, value) in either layout, a set of searches answers the same, and
the migrated tables are the ones fhir_api/storage/schema.py describes.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, Table, select

from fhir_api.app import build_store
from fhir_api.service import FhirService
from fhir_api.storage.compression import decompress
from fhir_api.storage.database import migrate
from fhir_api.storage.resources import ResourceStore
from fhir_api.storage.schema import metadata, resource_versions

from .conftest import settings_for
from .helpers import downgrade, patient, spo2
from .test_storage_layout import count, populate, snapshot

WHEN = "2026-11-30T07:00:00+09:00"

IndexRow = tuple[Any, ...]

SEARCHES: list[tuple[str, list[tuple[str, str]]]] = [
    ("Observation", [("component-code", "8480-6")]),
    ("Observation", [("code", "http://loinc.org|85354-9"), ("_sort", "-date")]),
    ("Observation", [("code", "85354-9"), ("date", "ge2026-11-03")]),
    ("Observation", [("status", "final,amended")]),
    ("Observation", [("status:not", "final")]),
    ("Observation", [("category", "vital-signs"), ("date", "lt2026-11-03T00:00:00Z")]),
    ("Observation", [("identifier", "urn:test|bp12")]),
    ("Patient", [("name", "花子1")]),
    ("Patient", [("family:exact", "田中")]),
    ("Patient", [("birthdate", "1941-04-03")]),
    ("Patient", [("identifier", "P-2")]),
]


def index_rows(connection: Connection) -> dict[str, list[IndexRow]]:
    """Every search index row as (type, id, param, values...), in whichever layout the store has."""
    meta = MetaData()
    tables = {
        name: Table(name, meta, autoload_with=connection)
        for name in ("search_tokens", "search_references", "search_dates", "search_strings")
    }
    values = {
        "search_tokens": ("system", "code"),
        "search_references": ("target",),
        "search_dates": ("start_ms", "end_ms", "floating"),
        "search_strings": ("value", "value_exact"),
    }
    found: dict[str, list[IndexRow]] = {}
    for name, table in tables.items():
        if "param" in table.c:  # 0014: every row names its resource and parameter
            columns = [table.c.resource_type, table.c.resource_id, table.c.param]
            columns += [table.c[v] for v in values[name]]
            query = select(*columns)
        else:
            resources = Table("resources", meta, autoload_with=connection)
            terms = Table("search_terms", meta, autoload_with=connection)
            columns = [resources.c.resource_type, resources.c.id, terms.c.param]
            if name == "search_tokens":
                columns += [terms.c.system, terms.c.code]
            elif name == "search_references":
                columns += [terms.c.code]
            else:
                columns += [table.c[v] for v in values[name]]
            query = select(*columns).select_from(
                table.join(resources, resources.c.key == table.c.resource_key).join(
                    terms, terms.c.id == table.c.term
                )
            )
        found[name] = sorted(tuple(row) for row in connection.execute(query))
    found["identifiers"] = _identifier_rows(connection)
    return found


def _identifier_rows(connection: Connection) -> list[IndexRow]:
    """(type, id, system, value) of every identifier, in either layout."""
    meta = MetaData()
    table = Table("identifiers", meta, autoload_with=connection)
    if "system" in table.c:  # 0014
        query = select(table.c.resource_type, table.c.resource_id, table.c.system, table.c.value)
    else:
        resources = Table("resources", meta, autoload_with=connection)
        terms = Table("search_terms", meta, autoload_with=connection)
        query = select(resources.c.resource_type, resources.c.id, terms.c.system, table.c.value)
        query = query.select_from(
            table.join(resources, resources.c.key == table.c.resource_key).join(
                terms, terms.c.id == table.c.term
            )
        )
    return sorted(tuple(row) for row in connection.execute(query))


def snapshot_0014(connection: Connection) -> dict[tuple[str, str, int], tuple[bool, str]]:
    """Every version's (deleted, JSON) read from the 0014 tables themselves."""
    meta = MetaData()
    versions = Table("resource_versions", meta, autoload_with=connection)
    current = Table("resources", meta, autoload_with=connection)
    assert "key" not in current.c
    bodies = {
        (r.resource_type, r.id): decompress(bytes(r.content)) if r.content else ""
        for r in connection.execute(select(current))
    }
    return {
        (r.resource_type, r.id, r.version_id): (
            bool(r.deleted),
            bodies[(r.resource_type, r.id)]
            if r.content is None
            else decompress(bytes(r.content))
            if r.content
            else "",
        )
        for r in connection.execute(select(versions))
    }


def answers(store: ResourceStore) -> list[list[str]]:
    service = FhirService(store)
    found = []
    for resource_type, params in SEARCHES:
        result, _ = service.search(resource_type, [*params, ("_count", "100")])
        found.append([m.id for m in result.matches])
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0015_keeps_every_version_index_row_and_answer_issue_15(
    tmp_path: Path, backend: str
) -> None:
    with ExitStack() as stack:
        settings = settings_for(backend, stack, tmp_path)
        store = build_store(settings)
        populate(store)
        with store.engine.connect() as connection:
            before = snapshot(connection)
            rows = index_rows(connection)
        searched = answers(store)
        assert all(searched)  # every search finds something
        assert sum(len(r) for r in rows.values()) > 150
        assert len(rows["identifiers"]) == 3 + 15 - 1  # the deleted reading's is gone

        downgrade(store.engine, "0014")
        with store.engine.connect() as connection:
            assert snapshot_0014(connection) == before
            assert index_rows(connection) == rows
        migrate(store.engine)  # the populated 0014 store, moved to the keyed index
        store.engine.dispose()

        store = build_store(settings)
        with store.engine.connect() as connection:
            assert snapshot(connection) == before
            assert index_rows(connection) == rows
            # Every table, 0016's series tables too, as schema.py describes it.
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        assert answers(store) == searched
        # And the moved store keeps indexing: a new reading is found like the old ones.
        service = FhirService(store)
        subject = next(k[1] for k in before if k[0] == "Patient")
        reading = service.search("Observation", [("subject", f"Patient/{subject}")])[0]
        assert reading.matches
        store.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_only_replaced_versions_have_a_history_row_issue_15(tmp_path: Path, backend: str) -> None:
    """The current version is in `resources` only: a reading never corrected costs no
    history row; a correction moves the replaced version there, and history reads
    give every version."""
    with ExitStack() as stack:
        store = build_store(settings_for(backend, stack, tmp_path))
        service = FhirService(store)
        person = service.create("Patient", patient()).stored.id
        first = service.create("Observation", spo2(f"Patient/{person}", WHEN, 97)).stored
        with store.engine.connect() as connection:
            assert count(connection, resource_versions) == 0
        again = spo2(f"Patient/{person}", WHEN, 96)
        again["id"] = first.id
        service.update("Observation", first.id, again)
        service.delete("Observation", first.id)
        with store.engine.connect() as connection:
            kept = connection.execute(select(resource_versions.c.version_id)).scalars().all()
        assert sorted(kept) == [1, 2]
        versions, total, _, _ = service.history("Observation", first.id)
        assert [v.version_id for v in versions] == [3, 2, 1] and total == 3
        assert [v.deleted for v in versions] == [True, False, False]
        assert versions[2].content["valueQuantity"]["value"] == 97
        assert versions[1].content["valueQuantity"]["value"] == 96
        store.engine.dispose()


def test_a_migration_forgets_the_term_ids_a_store_remembered(tmp_path: Path) -> None:
    """Term ids are remembered per engine; a migration may renumber them (0015 numbers them
    anew), so `migrate` forgets them: a reading written after it is indexed under the
    new numbers, and found."""
    with ExitStack() as stack:
        store = build_store(settings_for("sqlite", stack, tmp_path))
        service = FhirService(store)
        person = service.create("Patient", patient()).stored.id
        service.create("Observation", spo2(f"Patient/{person}", WHEN, 97))  # terms remembered
        downgrade(store.engine, "0014")
        with store.engine.begin() as connection:  # a term sorting first: every id shifts
            connection.exec_driver_sql(
                "INSERT INTO search_tokens (resource_type, resource_id, param, system, code)"
                " VALUES ('AAA', 'x', 'a', '', 'a')"
            )
        migrate(store.engine)
        later = service.create("Observation", spo2(f"Patient/{person}", WHEN, 95)).stored.id
        for params in (
            [("code", "59408-5")],
            [("subject", f"Patient/{person}")],
            [("date", "2026-11-30")],
        ):
            found = [m.id for m in service.search("Observation", params)[0].matches]
            assert later in found, params
        store.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_rolled_back_write_leaves_no_term_id_remembered(tmp_path: Path, backend: str) -> None:
    """Term ids are remembered once their transaction commits, not when they are made: the
    ids a rolled-back write created are given again to other terms (SQLite) or never exist
    (PostgreSQL), and a reading indexed under them would not be found."""
    with ExitStack() as stack:
        store = build_store(settings_for(backend, stack, tmp_path))
        service = FhirService(store)
        first = service.create("Patient", patient(identifier="P-1")).stored.id
        second = service.create("Patient", patient(identifier="P-2")).stored.id
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.create("Observation", spo2(f"Patient/{first}", WHEN, 97))  # its terms are new
            raise RuntimeError("rolled back")
        service.create("Observation", spo2(f"Patient/{second}", WHEN, 96))
        later = service.create("Observation", spo2(f"Patient/{first}", WHEN, 95)).stored.id
        for params in ([("subject", f"Patient/{first}")], [("code", "59408-5")]):
            found = [m.id for m in service.search("Observation", params)[0].matches]
            assert later in found, params
        store.engine.dispose()
