"""Migration 0010 creates the alert tables and takes them away again."""

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
