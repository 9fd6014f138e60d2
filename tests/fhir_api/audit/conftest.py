"""A migrated database per backend (SQLite file, PostgreSQL), and audit records to put in it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
import sqlalchemy as sa

from fhir_api.audit.record import AuditRecord
from fhir_api.storage.database import make_engine, migrate

from ...services import PG_ADMIN_URL, postgres_database

BACKENDS = ["sqlite", "postgresql"]
T0 = 1_764_460_800_000  # 2025-11-30T00:00:00Z


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database to copy: a copy takes ~0.1 s, migrating one ~1.5 s."""
    with postgres_database() as url:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url


@contextmanager
def _copy_of(template_url: str) -> Iterator[str]:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    template = template_url.rsplit("/", 1)[1]
    name = f"hv_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield template_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[sa.Engine]:
    """A migrated, empty store: a SQLite file, or a fresh PostgreSQL database."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'store.db'}"
        else:
            url = stack.enter_context(_copy_of(request.getfixturevalue("postgres_template")))
        engine = make_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


def record(n: int = 0, **changes: object) -> AuditRecord:
    """A read of patient p{n % 3}'s Observation n by one of three staff, n seconds after T0."""
    values: dict[str, object] = {
        "action": "R",
        "subtype": "read",
        "outcome": "0",
        "agent": f"staff:user{n % 2}",
        "recorded_ms": T0 + n * 1000,
        "address": "192.0.2.7",
        "patients": (f"p{n % 3}",),
        "entities": (f"Observation/o{n}",),
    }
    values.update(changes)
    return AuditRecord(**values)  # type: ignore[arg-type]


def drop_triggers(connection: sa.Connection) -> None:
    """What someone with the database's owner rights can do: take the guard off."""
    if connection.dialect.name == "postgresql":
        for table in ("audit_events", "audit_event_patients"):
            connection.exec_driver_sql(f"DROP TRIGGER {table}_append_only ON {table}")
    else:
        for table in ("audit_events", "audit_event_patients"):
            for verb in ("update", "delete"):
                connection.exec_driver_sql(f"DROP TRIGGER {table}_no_{verb}")


@pytest.fixture
def pg_engine(postgres_template: str) -> Iterator[sa.Engine]:
    """A migrated, empty PostgreSQL store (for what only PostgreSQL has or needs)."""
    with _copy_of(postgres_template) as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()
