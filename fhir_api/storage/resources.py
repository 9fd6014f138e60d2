"""The resource store: FHIR JSON of every resource and version, identifiers, search index.

Each version's JSON is stored once, compressed (compression.py): the current one in
`resources`, the earlier ones in `resource_versions` (whose row for the current
version holds NULL and reads through to `resources`). An update moves the
replaced version's bytes into its history row inside the database (issue 15).

Routes never see SQL: they call `ResourceStore.transaction()` and the `Tx`
methods. Each write re-indexes the resource and, for Observations, writes its
series points in the same transaction (SQL series) or queues them in
`series_outbox` (InfluxDB), so nothing is written half.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    Select,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    type_coerce,
    update,
)

from .bulk import insert_rows
from .compression import CompressedJSON, compress
from .database import READ_ONLY
from .ids import new_id
from .indexing import REFERRING, index_resource
from .schema import (
    identifiers,
    resource_versions,
    resources,
    search_dates,
    search_references,
    search_strings,
    search_tokens,
    series_outbox,
)
from .search_keys import IDENTIFIER_PARAM
from .series.base import SeriesPoint, SeriesStore, series_points

__all__ = ["ResourceStore", "Stored", "Tx", "dumps", "versions_query"]

_INDEX_TABLES = (search_tokens, search_references, search_dates, search_strings)


def dumps(document: Any) -> str:
    """Compact JSON, as stored and served."""
    return orjson.dumps(document).decode()


@dataclass(frozen=True, slots=True)
class Stored:
    """One version of a resource."""

    resource_type: str
    id: str
    version_id: int
    last_updated_ms: int
    deleted: bool
    content: dict[str, Any]

    @property
    def etag(self) -> str:
        """The weak ETag FHIR uses for versions: `W/"3"`."""
        return f'W/"{self.version_id}"'

    @property
    def last_updated(self) -> str:
        """`meta.lastUpdated` as a FHIR instant."""
        moment = datetime.fromtimestamp(self.last_updated_ms / 1000, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stored(row: Any, resource_type: str) -> Stored:
    return Stored(
        resource_type,
        row.id,
        row.version_id,
        row.last_updated,
        bool(row.deleted),
        json.loads(row.content) if row.content else {},
    )


class Tx:
    """Operations inside one database transaction."""

    def __init__(self, connection: Connection, store: ResourceStore) -> None:
        self.connection = connection
        self._store = store
        self.series_pending = False
        # Observations created or updated in this transaction, for the alerts' work queue
        # (FhirService._write records them before the transaction commits).
        self.observations_written: list[Stored] = []
        # Communications likewise: a patient's "please call me" raises an alert (issue 14).
        self.communications_written: list[Stored] = []

    # --- reads ----------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> Stored | None:
        """The current version (deleted ones too: the caller answers 410)."""
        row = self.connection.execute(
            select(resources).where(
                resources.c.resource_type == resource_type, resources.c.id == resource_id
            )
        ).first()
        return _stored(row, resource_type) if row else None

    def current_versions(
        self, resource_type: str, resource_ids: Sequence[str]
    ) -> dict[str, Stored]:
        """The current version of each live resource, without its body (`content` is empty).

        For answers that name versions only, such as a transaction's response entries.
        """
        found: dict[str, Stored] = {}
        unique = sorted(set(resource_ids))
        for start in range(0, len(unique), 500):
            rows = self.connection.execute(
                select(resources.c.id, resources.c.version_id, resources.c.last_updated).where(
                    resources.c.resource_type == resource_type,
                    resources.c.id.in_(unique[start : start + 500]),
                    resources.c.deleted.is_(False),
                )
            )
            for rid, version_id, last_updated in rows:
                found[rid] = Stored(resource_type, rid, version_id, last_updated, False, {})
        return found

    def vread(self, resource_type: str, resource_id: str, version_id: int) -> Stored | None:
        """One version."""
        row = self.connection.execute(
            versions_query().where(
                resource_versions.c.resource_type == resource_type,
                resource_versions.c.id == resource_id,
                resource_versions.c.version_id == version_id,
            )
        ).first()
        return _stored(row, resource_type) if row else None

    def history(self, resource_type: str, resource_id: str) -> list[Stored]:
        """Every version, newest first."""
        rows = self.connection.execute(
            versions_query()
            .where(
                resource_versions.c.resource_type == resource_type,
                resource_versions.c.id == resource_id,
            )
            .order_by(resource_versions.c.version_id.desc())
        ).all()
        return [_stored(row, resource_type) for row in rows]

    def referrers(self, target: str, limit: int | None = None) -> list[tuple[str, str]]:
        """(type, id) of live resources referring to `target` (`REFERRING`: an Observation's
        subject, device or gateway, a Device's patient, a CareTeam's subject and members).

        Deleted resources are unindexed, so every row found is a live referrer.
        """
        query = (
            select(search_references.c.resource_type, search_references.c.resource_id)
            .where(
                or_(
                    *(
                        and_(
                            search_references.c.resource_type == kind,
                            search_references.c.param.in_(params),
                        )
                        for kind, params in REFERRING.items()
                    )
                ),
                search_references.c.target == target,
            )
            .distinct()
            .order_by(search_references.c.resource_id)
        )
        if limit is not None:
            query = query.limit(limit)
        return [(row[0], row[1]) for row in self.connection.execute(query)]

    def match_identifier(self, resource_type: str, system: str | None, value: str) -> list[str]:
        """Ids of live resources with that identifier (any system when `system` is None)."""
        query = select(identifiers.c.resource_id).where(
            identifiers.c.resource_type == resource_type, identifiers.c.value == value
        )
        if system is not None:
            query = query.where(identifiers.c.system == system)
        return sorted({row[0] for row in self.connection.execute(query)})

    def lookup_identifiers(
        self, resource_type: str, values: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        """(system, value, resource id) of live resources having any of these identifier values."""
        found: list[tuple[str, str, str]] = []
        unique = sorted(set(values))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            found += [
                (row[0], row[1], row[2])
                for row in self.connection.execute(
                    select(
                        identifiers.c.system, identifiers.c.value, identifiers.c.resource_id
                    ).where(
                        identifiers.c.resource_type == resource_type, identifiers.c.value.in_(chunk)
                    )
                )
            ]
        return found

    def identifier_owner(
        self, resource_type: str, content: dict[str, Any], resource_id: str | None = None
    ) -> tuple[str, str, str] | None:
        """(system, value, owner id) of an identifier in `content` that another resource holds."""
        for identifier in content.get("identifier", ()):
            value = identifier.get("value") if isinstance(identifier, dict) else None
            if not value:
                continue
            system = identifier.get("system", "")
            row = self.connection.execute(
                select(identifiers.c.resource_id).where(
                    identifiers.c.resource_type == resource_type,
                    identifiers.c.system == system,
                    identifiers.c.value == value,
                )
            ).first()
            if row is not None and row[0] != resource_id:
                return system, value, str(row[0])
        return None

    # --- writes ---------------------------------------------------------------------------

    def create(
        self, resource_type: str, content: dict[str, Any], resource_id: str | None = None
    ) -> Stored:
        """Store a new resource (version 1).

        Raises:
            sqlalchemy.exc.IntegrityError: an identifier or id is taken (the caller retries).
        """
        return self.create_many([(resource_type, resource_id or new_id(), content)])[0]

    def create_many(self, items: Sequence[tuple[str, str, dict[str, Any]]]) -> list[Stored]:
        """Store new resources (version 1) with one statement per table, not per resource.

        `content` dicts are stamped in place (id, meta.versionId, meta.lastUpdated).

        Raises:
            sqlalchemy.exc.IntegrityError: an identifier or id is taken (the caller retries).
        """
        if not items:
            return []
        now = self._store.now_ms()
        batch = _Batch()
        stored_all = []
        for resource_type, resource_id, content in items:
            stored, row = _stamp(resource_type, resource_id, content, 1, now)
            stored_all.append(stored)
            if resource_type == "Observation":
                self.observations_written.append(stored)
            elif resource_type == "Communication":
                self.communications_written.append(stored)
            batch.rows.append(row)
            self._collect(batch, resource_type, resource_id, content)
        insert_rows(self.connection, resources, batch.rows)
        insert_rows(self.connection, resource_versions, [_version_row(r) for r in batch.rows])
        self._flush(batch)
        return stored_all

    def update(
        self, resource_type: str, resource_id: str, content: dict[str, Any], current: Stored | None
    ) -> Stored:
        """Store a new version over `current` (or create with the client's id when None)."""
        if current is None:
            return self.create_many([(resource_type, resource_id, content)])[0]
        self._unindex(resource_type, resource_id)
        stored, row = _stamp(
            resource_type, resource_id, content, current.version_id + 1, self._store.now_ms()
        )
        if resource_type == "Observation":
            self.observations_written.append(stored)
        elif resource_type == "Communication":
            self.communications_written.append(stored)
        self._keep_in_history(resource_type, resource_id, current.version_id)
        self.connection.execute(
            update(resources)
            .where(resources.c.resource_type == resource_type, resources.c.id == resource_id)
            .values(
                version_id=row["version_id"],
                last_updated=row["last_updated"],
                deleted=False,
                content=type_coerce(row["content"], LargeBinary),
            )
        )
        insert_rows(self.connection, resource_versions, [_version_row(row)])
        batch = _Batch()
        self._collect(batch, resource_type, resource_id, content, replace=True)
        self._flush(batch)
        return stored

    def delete(self, resource_type: str, current: Stored) -> Stored:
        """Mark deleted as a new version (history keeps every earlier one)."""
        now = self._store.now_ms()
        version = current.version_id + 1
        self._unindex(resource_type, current.id)
        self._keep_in_history(resource_type, current.id, current.version_id)
        self.connection.execute(
            update(resources)
            .where(resources.c.resource_type == resource_type, resources.c.id == current.id)
            .values(version_id=version, last_updated=now, deleted=True, content="")
        )
        self.connection.execute(
            insert(resource_versions).values(
                resource_type=resource_type,
                id=current.id,
                version_id=version,
                last_updated=now,
                deleted=True,
                content=None,
            )
        )
        if resource_type == "Observation":
            series = self._store.series
            if series.in_resource_transaction:
                series.delete_observation(self.connection, current.id)
            else:
                self._queue_series([current.id])
        return Stored(resource_type, current.id, version, now, True, {})

    def _keep_in_history(self, resource_type: str, resource_id: str, version_id: int) -> None:
        """Move the current version's JSON into its history row before it is replaced.

        The compressed bytes are copied inside the database, not decoded and re-encoded.
        """
        current = (
            select(resources.c.content)
            .where(resources.c.resource_type == resource_type, resources.c.id == resource_id)
            .scalar_subquery()
        )
        self.connection.execute(
            update(resource_versions)
            .where(
                resource_versions.c.resource_type == resource_type,
                resource_versions.c.id == resource_id,
                resource_versions.c.version_id == version_id,
            )
            .values(content=current)
        )

    # --- index and series ---------------------------------------------------------------

    def _collect(
        self,
        batch: _Batch,
        resource_type: str,
        resource_id: str,
        content: dict[str, Any],
        *,
        replace: bool = False,
    ) -> None:
        entries = index_resource(content, self._store.zone)
        key = {"resource_type": resource_type, "resource_id": resource_id}
        batch.identifiers += [
            {**key, "system": system, "value": value}
            for system, value in dict.fromkeys(entries.identifiers)
        ]
        # An identifier is searched in `identifiers` (search.py), not kept a second time
        # as a token: with its system URL it was the widest token row (issue 15).
        batch.tokens += [
            {**key, "param": p, "system": s, "code": c}
            for p, s, c in entries.tokens
            if p != IDENTIFIER_PARAM
        ]
        batch.references += [{**key, "param": p, "target": t} for p, t in entries.references]
        batch.dates += [
            {**key, "param": p, "start_ms": a, "end_ms": b, "floating": f}
            for p, a, b, f in entries.dates
        ]
        batch.strings += [
            {**key, "param": p, "value": v, "value_exact": x} for p, v, x in entries.strings
        ]
        if resource_type == "Observation":
            if self._store.series.in_resource_transaction:
                if replace:
                    self._store.series.delete_observation(self.connection, resource_id)
                batch.points += series_points(content, resource_id, self._store.zone)
            else:
                batch.queued.append(resource_id)

    def _flush(self, batch: _Batch) -> None:
        for table, rows in (
            (identifiers, batch.identifiers),
            (search_tokens, batch.tokens),
            (search_references, batch.references),
            (search_dates, batch.dates),
            (search_strings, batch.strings),
        ):
            insert_rows(self.connection, table, rows)
        if batch.points:
            self._store.series.write(self.connection, batch.points)
        if batch.queued:
            self._queue_series(batch.queued)

    def _unindex(self, resource_type: str, resource_id: str) -> None:
        self.connection.execute(
            delete(identifiers).where(
                identifiers.c.resource_type == resource_type,
                identifiers.c.resource_id == resource_id,
            )
        )
        for table in _INDEX_TABLES:
            self.connection.execute(
                delete(table).where(
                    and_(table.c.resource_type == resource_type, table.c.resource_id == resource_id)
                )
            )

    def _queue_series(self, resource_ids: Sequence[str]) -> None:
        now = self._store.now_ms()
        self.connection.execute(
            insert(series_outbox),
            [{"observation_id": rid, "created_ms": now, "attempts": 0} for rid in resource_ids],
        )
        self.series_pending = True


@dataclass
class _Batch:
    """Rows gathered for one multi-row INSERT per table."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    identifiers: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    references: list[dict[str, Any]] = field(default_factory=list)
    dates: list[dict[str, Any]] = field(default_factory=list)
    strings: list[dict[str, Any]] = field(default_factory=list)
    points: list[SeriesPoint] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)


def versions_query() -> Select[Any]:
    """History rows with their JSON; the current version's comes from `resources`."""
    return select(
        resource_versions.c.id,
        resource_versions.c.version_id,
        resource_versions.c.last_updated,
        resource_versions.c.deleted,
        type_coerce(
            func.coalesce(resource_versions.c.content, resources.c.content), CompressedJSON
        ).label("content"),
    ).join_from(
        resource_versions,
        resources,
        and_(
            resources.c.resource_type == resource_versions.c.resource_type,
            resources.c.id == resource_versions.c.id,
        ),
    )


def _version_row(row: dict[str, Any]) -> dict[str, Any]:
    """The history row of a current version: its JSON is kept once, in `resources`."""
    return {**row, "content": None}


def _stamp(
    resource_type: str, resource_id: str, content: dict[str, Any], version_id: int, now: int
) -> tuple[Stored, dict[str, Any]]:
    """Set id and meta on `content`; the Stored value and the table row."""
    stored = Stored(resource_type, resource_id, version_id, now, False, content)
    content["id"] = resource_id
    meta = dict(content.get("meta") or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = stored.last_updated
    content["meta"] = meta
    row = {
        "resource_type": resource_type,
        "id": resource_id,
        "version_id": version_id,
        "last_updated": now,
        "deleted": False,
        # Compressed here: insert_rows binds plain values, past the column's type.
        "content": compress(dumps(content)),
    }
    return stored, row


class ResourceStore:
    """Transactions over the resource tables and the series store."""

    def __init__(
        self,
        engine: Engine,
        series: SeriesStore,
        zone: tzinfo,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.series = series
        self.zone = zone
        self._clock = clock
        self._last_ms = 0
        # SQLite has one writer at a time. Writers of this process queue on this lock
        # rather than in SQLite's busy handler, which polls with sleeps of up to 100 ms
        # and lets a late arrival overtake one that has waited for seconds (issue 10).
        self._write_gate = threading.Lock() if engine.dialect.name == "sqlite" else None

    def now_ms(self) -> int:
        """Epoch milliseconds, strictly increasing within this process."""
        now = int(self._clock() * 1000)
        self._last_ms = max(now, self._last_ms + 1)
        return self._last_ms

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One database transaction; commits on success, rolls back on any error."""
        with self._write_gate or nullcontext(), self.engine.begin() as connection:
            yield Tx(connection, self)

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """A read-only unit of work (no write lock on SQLite)."""
        with self.engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            yield Tx(connection, self)
