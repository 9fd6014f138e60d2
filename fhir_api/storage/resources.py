"""The resource store: FHIR JSON of every resource and version, identifiers, search index.

Each version's JSON is stored once, compressed (compression.py): the current one in
`resources`, only the earlier ones in `resource_versions` (by the resource's integer
key). An update copies the replaced version's row, bytes and all, into the history
inside the database before it overwrites it (issue 15).

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
    Subquery,
    and_,
    delete,
    insert,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)

from .bulk import insert_rows
from .compression import compress
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
    search_terms,
    search_tokens,
    series_outbox,
)
from .search_keys import (
    IDENTIFIER_PARAM,
    Term,
    identifier_terms,
    remember_terms,
    resolve_terms,
)
from .series.base import SeriesPoint, SeriesStore, series_points
from .series.statements import resource_keys

__all__ = ["ConcurrentUpdate", "ResourceStore", "Stored", "Tx", "dumps", "versions_query"]

_INDEX_TABLES = (search_tokens, search_references, search_dates, search_strings)


def dumps(document: Any) -> str:
    """Compact JSON, as stored and served."""
    return orjson.dumps(document).decode()


class ConcurrentUpdate(Exception):
    """The version this transaction meant to replace is no longer the current one: another
    writer committed a newer version after it was read. Nothing of this write may stand
    (the caller rolls back and starts over from the newest version, where an If-Match
    on the old one then fails as it should)."""


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
        # Term ids found or created here, remembered once the transaction commits.
        self.terms: dict[Term, int] = {}

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
        versions = versions_query(resource_type, resource_id)
        row = self.connection.execute(
            select(versions).where(versions.c.version_id == version_id)
        ).first()
        return _stored(row, resource_type) if row else None

    def history(self, resource_type: str, resource_id: str) -> list[Stored]:
        """Every version, newest first."""
        versions = versions_query(resource_type, resource_id)
        rows = self.connection.execute(
            select(versions).order_by(versions.c.version_id.desc())
        ).all()
        return [_stored(row, resource_type) for row in rows]

    def referrers(self, target: str, limit: int | None = None) -> list[tuple[str, str]]:
        """(type, id) of live resources referring to `target` (`REFERRING`: an Observation's
        subject, device or gateway, a Device's patient, a CareTeam's subject and members).

        Deleted resources are unindexed, so every row found is a live referrer.
        """
        referring = select(search_terms.c.id).where(
            or_(
                *(
                    and_(
                        search_terms.c.resource_type == kind,
                        search_terms.c.param.in_(params),
                    )
                    for kind, params in REFERRING.items()
                )
            ),
            search_terms.c.system == "",
            search_terms.c.code == target,
        )
        query = (
            select(resources.c.resource_type, resources.c.id)
            .where(
                resources.c.key.in_(
                    select(search_references.c.resource_key).where(
                        search_references.c.term.in_(referring)
                    )
                ),
            )
            .order_by(resources.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        return [(row[0], row[1]) for row in self.connection.execute(query)]

    def _identified(self, resource_type: str, *conditions: Any) -> Select[Any]:
        """(system, value, resource id) of `resource_type`'s identifiers meeting `conditions`."""
        return (
            select(search_terms.c.system, identifiers.c.value, resources.c.id)
            .select_from(
                identifiers.join(search_terms, search_terms.c.id == identifiers.c.term).join(
                    resources, resources.c.key == identifiers.c.resource_key
                )
            )
            .where(identifiers.c.term.in_(identifier_terms(resource_type)), *conditions)
        )

    def match_identifier(self, resource_type: str, system: str | None, value: str) -> list[str]:
        """Ids of live resources with that identifier (any system when `system` is None)."""
        conditions = [identifiers.c.value == value]
        if system is not None:
            conditions.append(search_terms.c.system == system)
        query = self._identified(resource_type, *conditions)
        return sorted({row[2] for row in self.connection.execute(query)})

    def lookup_identifiers(
        self, resource_type: str, values: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        """(system, value, resource id) of live resources having any of these identifier values."""
        found: list[tuple[str, str, str]] = []
        unique = sorted(set(values))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            query = self._identified(resource_type, identifiers.c.value.in_(chunk))
            found += [(row[0], row[1], row[2]) for row in self.connection.execute(query)]
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
                self._identified(
                    resource_type, identifiers.c.value == value, search_terms.c.system == system
                )
            ).first()
            if row is not None and row[2] != resource_id:
                return system, value, str(row[2])
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
        insert_rows(self.connection, resources, batch.rows)
        # The new rows' keys, which their index rows name (and the series writer could).
        keys = self._keys([(t, i) for t, i, _ in items])
        for resource_type, resource_id, content in items:
            key = keys[(resource_type, resource_id)]
            self._collect(batch, resource_type, resource_id, key, content)
        self._flush(batch)
        return stored_all

    def _keys(self, named: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The integer key of each (type, id) in `named` (resources that exist)."""
        by_type: dict[str, list[str]] = {}
        for resource_type, resource_id in named:
            by_type.setdefault(resource_type, []).append(resource_id)
        return {
            (resource_type, rid): key
            for resource_type, ids in by_type.items()
            for rid, key in resource_keys(self.connection, resource_type, ids).items()
        }

    def _key(self, resource_type: str, resource_id: str) -> int:
        """The integer key of a stored resource."""
        return resource_keys(self.connection, resource_type, [resource_id])[resource_id]

    def update(
        self, resource_type: str, resource_id: str, content: dict[str, Any], current: Stored | None
    ) -> Stored:
        """Store a new version over `current` (or create with the client's id when None)."""
        if current is None:
            return self.create_many([(resource_type, resource_id, content)])[0]
        key = self._key(resource_type, resource_id)
        self._unindex(key)
        stored, row = _stamp(
            resource_type, resource_id, content, current.version_id + 1, self._store.now_ms()
        )
        if resource_type == "Observation":
            self.observations_written.append(stored)
        elif resource_type == "Communication":
            self.communications_written.append(stored)
        self._keep_in_history(resource_type, resource_id, current.version_id)
        replaced = self.connection.execute(
            update(resources)
            .where(
                resources.c.resource_type == resource_type,
                resources.c.id == resource_id,
                resources.c.version_id == current.version_id,
            )
            .values(
                version_id=row["version_id"],
                last_updated=row["last_updated"],
                deleted=False,
                content=type_coerce(row["content"], LargeBinary),
            )
        )
        if replaced.rowcount != 1:
            raise ConcurrentUpdate(f"{resource_type}/{resource_id}")
        batch = _Batch()
        self._collect(batch, resource_type, resource_id, key, content, replace=True)
        self._flush(batch)
        return stored

    def delete(self, resource_type: str, current: Stored) -> Stored:
        """Mark deleted as a new version (history keeps every earlier one)."""
        now = self._store.now_ms()
        version = current.version_id + 1
        self._unindex(self._key(resource_type, current.id))
        self._keep_in_history(resource_type, current.id, current.version_id)
        replaced = self.connection.execute(
            update(resources)
            .where(
                resources.c.resource_type == resource_type,
                resources.c.id == current.id,
                resources.c.version_id == current.version_id,
            )
            .values(version_id=version, last_updated=now, deleted=True, content="")
        )
        if replaced.rowcount != 1:
            raise ConcurrentUpdate(f"{resource_type}/{current.id}")
        if resource_type == "Observation":
            series = self._store.series
            if series.in_resource_transaction:
                series.delete_observation(self.connection, current.id)
            else:
                self._queue_series([current.id])
        return Stored(resource_type, current.id, version, now, True, {})

    def _keep_in_history(self, resource_type: str, resource_id: str, version_id: int) -> None:
        """Copy version `version_id` into the history before it is replaced.

        The compressed bytes are copied inside the database, not decoded and re-encoded.
        Nothing is copied if a newer version was committed since `version_id` was read:
        the caller's UPDATE, which names that version too, then finds no row and raises
        ConcurrentUpdate. A writer still in flight over the same version makes this one
        wait (for its index rows, or for the history key it inserted) and then fail, at
        that UPDATE or here (IntegrityError); the service starts either over.
        """
        current = select(
            resources.c.key,
            resources.c.version_id,
            resources.c.last_updated,
            resources.c.deleted,
            type_coerce(resources.c.content, LargeBinary),
        ).where(
            resources.c.resource_type == resource_type,
            resources.c.id == resource_id,
            resources.c.version_id == version_id,
        )
        self.connection.execute(
            insert(resource_versions).from_select(
                ["resource_key", "version_id", "last_updated", "deleted", "content"], current
            )
        )

    # --- index and series ---------------------------------------------------------------

    def _collect(
        self,
        batch: _Batch,
        resource_type: str,
        resource_id: str,
        key: int,
        content: dict[str, Any],
        *,
        replace: bool = False,
    ) -> None:
        entries = index_resource(content, self._store.zone)
        batch.identifiers += [
            ((resource_type, IDENTIFIER_PARAM, system, ""), key, value)
            for system, value in dict.fromkeys(entries.identifiers)
        ]
        # An identifier is searched in `identifiers` (search.py), not kept a second time
        # as a token: with its system URL it was the widest token row (issue 15).
        batch.tokens += [
            ((resource_type, p, s, c), key)
            for p, s, c in dict.fromkeys(entries.tokens)
            if p != IDENTIFIER_PARAM
        ]
        batch.references += [
            ((resource_type, p, "", t), key) for p, t in dict.fromkeys(entries.references)
        ]
        batch.dates += [((resource_type, p, "", ""), key, a, b, f) for p, a, b, f in entries.dates]
        batch.strings += [((resource_type, p, "", ""), key, v, x) for p, v, x in entries.strings]
        if resource_type == "Observation":
            if self._store.series.in_resource_transaction:
                if replace:
                    self._store.series.delete_observation(self.connection, resource_id)
                batch.points += series_points(content, resource_id, self._store.zone, key)
            else:
                batch.queued.append(resource_id)

    def _flush(self, batch: _Batch) -> None:
        ids = resolve_terms(
            self.connection,
            [
                *(t for t, _ in batch.tokens),
                *(t for t, _ in batch.references),
                *(d[0] for d in batch.dates),
                *(s[0] for s in batch.strings),
                *(i[0] for i in batch.identifiers),
            ],
        )
        self.terms.update(ids)
        insert_rows(
            self.connection,
            identifiers,
            [{"value": v, "term": ids[t], "resource_key": k} for t, k, v in batch.identifiers],
        )
        for table, pairs in ((search_tokens, batch.tokens), (search_references, batch.references)):
            insert_rows(
                self.connection, table, [{"term": ids[t], "resource_key": k} for t, k in pairs]
            )
        insert_rows(
            self.connection,
            search_dates,
            [
                {"term": ids[t], "resource_key": k, "start_ms": a, "end_ms": b, "floating": f}
                for t, k, a, b, f in batch.dates
            ],
        )
        insert_rows(
            self.connection,
            search_strings,
            [
                {"term": ids[t], "resource_key": k, "value": v, "value_exact": x}
                for t, k, v, x in batch.strings
            ],
        )
        if batch.points:
            self._store.series.write(self.connection, batch.points)
        if batch.queued:
            self._queue_series(batch.queued)

    def _unindex(self, key: int) -> None:
        """Remove the index rows of the resource with that key."""
        for table in (identifiers, *_INDEX_TABLES):
            self.connection.execute(delete(table).where(table.c.resource_key == key))

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
    identifiers: list[tuple[Term, int, str]] = field(default_factory=list)  # term, key, value
    tokens: list[tuple[Term, int]] = field(default_factory=list)  # term, resource key
    references: list[tuple[Term, int]] = field(default_factory=list)
    dates: list[tuple[Term, int, int, int, bool]] = field(default_factory=list)
    strings: list[tuple[Term, int, str, str]] = field(default_factory=list)
    points: list[SeriesPoint] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)


def versions_query(resource_type: str, resource_id: str) -> Subquery:
    """Every version of one resource: its history rows and its current row, one subquery
    of (id, version_id, last_updated, deleted, content)."""
    history = resource_versions.c
    earlier = (
        select(
            resources.c.id,
            history.version_id,
            history.last_updated,
            history.deleted,
            history.content,
        )
        .select_from(resource_versions.join(resources, resources.c.key == history.resource_key))
        .where(resources.c.resource_type == resource_type, resources.c.id == resource_id)
    )
    current = select(
        resources.c.id,
        resources.c.version_id,
        resources.c.last_updated,
        resources.c.deleted,
        resources.c.content,
    ).where(resources.c.resource_type == resource_type, resources.c.id == resource_id)
    return union_all(current, earlier).subquery("versions")


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
        with self._write_gate or nullcontext():
            with self.engine.begin() as connection:
                tx = Tx(connection, self)
                yield tx
            remember_terms(self.engine, tx.terms)

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """A read-only unit of work (no write lock on SQLite)."""
        with self.engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            yield Tx(connection, self)
