"""Migrations 0010 and 0011 create the alert tables and take them away again."""

from __future__ import annotations

import sqlalchemy as sa

from fhir_api.storage.database import make_engine, migrate

from ..fhir_api.helpers import downgrade

TABLES = {
    "alert_work",
    "alert_state",
    "alerts",
    "alert_leases",
    "alert_recipients",
    "alert_notifications",
    "alert_silences",  # 0011
    "alert_preferences",  # 0012
}


def test_migration_0010_up_and_down(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    assert TABLES <= set(sa.inspect(engine).get_table_names())
    downgrade(engine, "0009")
    assert not TABLES & set(sa.inspect(engine).get_table_names())
    migrate(engine)
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("alert_notifications")}
    assert indexes == {"ix_alert_notifications_due", "ix_alert_notifications_group"}
    engine.dispose()


def test_the_migrated_alert_tables_match_the_schema(shared_store):
    """Migration 0010 and fhir_api/storage/schema.py describe the same tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from fhir_api.storage.schema import metadata

    with shared_store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)

    def table_of(difference) -> str:
        item = difference[0] if isinstance(difference, list) else difference
        for part in item[1:]:
            name = getattr(part, "name", None) if not isinstance(part, str) else None
            table = getattr(part, "table", None)
            if table is not None:
                return table.name
            if name is not None:
                return name
            if isinstance(part, str):
                return part
        return ""

    assert [d for d in differences if table_of(d) in TABLES] == []
