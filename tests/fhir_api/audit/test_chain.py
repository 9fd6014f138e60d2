"""The hash chain: appends make one line, verify names the first broken link, triggers guard."""

from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa

from fhir_api.audit.chain import GENESIS, ChainCheck, StoredLink, canonical, link_hash
from fhir_api.audit.store import append, prepare, verify

from .conftest import drop_triggers, record


def _append(engine: sa.Engine, count: int, start: int = 0) -> list[int]:
    with engine.begin() as connection:
        return append(connection, [prepare(record(n)) for n in range(start, start + count)])


def test_link_hash_covers_previous_seq_and_content():
    content = canonical({"b": 1, "a": "x"})
    assert content == b'{"a":"x","b":1}'
    base = link_hash(GENESIS, 1, content)
    assert link_hash(GENESIS, 2, content) != base
    assert link_hash("1" * 64, 1, content) != base
    assert link_hash(GENESIS, 1, canonical({"b": 2, "a": "x"})) != base


def test_walk_of_a_gap_names_the_missing_seq():
    check = ChainCheck()
    document = {"x": 1}
    first = link_hash(GENESIS, 1, canonical(document))
    assert check.feed(StoredLink(1, GENESIS, first, document, (), ())) is None
    broken = check.feed(StoredLink(3, first, "f" * 64, document, (), ()))
    assert broken is not None
    assert (broken.seq, broken.reason) == (2, "row missing")


def test_appends_chain_without_gaps_and_verify_holds(engine):
    assert _append(engine, 3) == [1, 2, 3]
    assert _append(engine, 2, start=3) == [4, 5]
    verdict = verify(engine)
    assert verdict.intact, verdict.broken
    assert (verdict.count, verdict.head_seq) == (5, 5)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT seq, prev_hash, hash FROM audit_events ORDER BY seq"
        ).all()
    assert rows[0].prev_hash == GENESIS
    assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, len(rows)))
    assert rows[-1].hash == verdict.head_hash


def test_empty_trail_is_intact(engine):
    verdict = verify(engine)
    assert verdict.intact and verdict.count == 0 and verdict.head_hash == GENESIS


def test_rolled_back_append_leaves_no_trace(engine):
    _append(engine, 2)
    with pytest.raises(RuntimeError), engine.begin() as connection:
        append(connection, [prepare(record(9))])
        raise RuntimeError("the data write failed")
    assert _append(engine, 1, start=2) == [3]
    assert verify(engine).intact


def test_content_altered_in_the_database_is_named_by_seq(engine):
    _append(engine, 5)
    with engine.begin() as connection:
        drop_triggers(connection)
        content = connection.exec_driver_sql(
            "SELECT content FROM audit_events WHERE seq = 3"
        ).scalar_one()
        connection.execute(
            sa.text("UPDATE audit_events SET content = :c WHERE seq = 3"),
            {"c": content.replace("staff:user0", "staff:someone-else")},
        )
    verdict = verify(engine)
    assert verdict.broken is not None
    assert (verdict.broken.seq, verdict.broken.reason) == (3, "content altered")
    assert verdict.count == 2


def test_altered_and_rehashed_row_breaks_the_next_link(engine):
    _append(engine, 4)
    with engine.begin() as connection:
        drop_triggers(connection)
        row = connection.exec_driver_sql(
            "SELECT prev_hash, content FROM audit_events WHERE seq = 2"
        ).one()
        forged = orjson.loads(row.content)
        forged["outcome"] = "4"
        connection.execute(
            sa.text("UPDATE audit_events SET content = :c, hash = :h, outcome = '4' WHERE seq = 2"),
            {
                "c": canonical(forged).decode(),
                "h": link_hash(row.prev_hash, 2, canonical(forged)),
            },
        )
    verdict = verify(engine)
    assert verdict.broken is not None
    assert (verdict.broken.seq, verdict.broken.reason) == (3, "link broken")


def test_deleted_row_is_named_missing(engine):
    _append(engine, 4)
    with engine.begin() as connection:
        drop_triggers(connection)
        connection.exec_driver_sql("DELETE FROM audit_events WHERE seq = 2")
    broken = verify(engine).broken
    assert broken is not None
    assert (broken.seq, broken.reason) == (2, "row missing")


def test_newest_rows_deleted_are_caught_by_the_chain_head(engine):
    _append(engine, 4)
    with engine.begin() as connection:
        drop_triggers(connection)
        connection.exec_driver_sql("DELETE FROM audit_events WHERE seq >= 3")
    broken = verify(engine).broken
    assert broken is not None
    assert (broken.seq, broken.reason) == (3, "row missing")


def test_search_column_altered_is_caught(engine):
    _append(engine, 3)
    with engine.begin() as connection:
        drop_triggers(connection)
        connection.exec_driver_sql("UPDATE audit_events SET agent = 'staff:x' WHERE seq = 2")
    broken = verify(engine).broken
    assert broken is not None
    assert (broken.seq, broken.reason) == (2, "columns altered")


def test_patient_index_row_removed_is_caught(engine):
    _append(engine, 3)
    with engine.begin() as connection:
        drop_triggers(connection)
        connection.exec_driver_sql("DELETE FROM audit_event_patients WHERE seq = 3")
    broken = verify(engine).broken
    assert broken is not None
    assert (broken.seq, broken.reason) == (3, "columns altered")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET agent = 'staff:x' WHERE seq = 1",
        "UPDATE audit_events SET content = '{}'",
        "DELETE FROM audit_events WHERE seq = 1",
        "DELETE FROM audit_events",
        "UPDATE audit_event_patients SET patient_id = 'other'",
        "DELETE FROM audit_event_patients",
    ],
)
def test_triggers_refuse_update_and_delete(engine, statement):
    _append(engine, 2)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as connection:
        connection.exec_driver_sql(statement)
    assert verify(engine).intact
    assert verify(engine).count == 2


def test_truncate_is_refused_on_postgresql(pg_engine):
    engine = pg_engine
    _append(engine, 1)
    for table in ("audit_events", "audit_event_patients"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as c:
            c.exec_driver_sql(f"TRUNCATE {table}")
    assert verify(engine).count == 1


def _downgrade_to_0007(engine: sa.Engine) -> None:
    from alembic import command
    from alembic.config import Config

    from fhir_api.storage.database import _MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")


def test_downgrade_refuses_to_drop_a_trail_with_events(engine):
    _append(engine, 1)
    with pytest.raises(RuntimeError, match="holds 1 events"):
        _downgrade_to_0007(engine)
    assert verify(engine).count == 1


def test_downgrade_and_upgrade_of_an_empty_trail(engine):
    from fhir_api.storage.database import migrate

    _downgrade_to_0007(engine)
    assert "audit_events" not in sa.inspect(engine).get_table_names()
    migrate(engine)
    assert _append(engine, 1) == [1]
    assert verify(engine).intact
