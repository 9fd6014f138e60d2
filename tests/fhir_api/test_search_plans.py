"""Query plans of searches that must stay index seeks however many readings the store holds.

SQLite plans without statistics (the store never runs ANALYZE), so the plan of an empty
store is the plan of a full one: checking it here is quick and holds for 1,000 patients.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event

from fhir_api.app import build_store, create_app
from fhir_api.settings import Settings


def _plans(tmp_path: Path, params: list[tuple[str, str]]) -> list[str]:
    """EXPLAIN QUERY PLAN of each statement an Observation search runs on SQLite."""
    settings = Settings(data_dir=tmp_path)
    store = build_store(settings)
    statements: list[tuple[str, Any]] = []
    try:
        service = create_app(settings, store).state.service

        def grab(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append((statement, parameters))

        event.listen(store.engine, "before_cursor_execute", grab)
        service.search("Observation", params)
    finally:
        store.engine.dispose()
    with sqlite3.connect(tmp_path / "homevitals.db") as connection:
        return [
            "\n".join(row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", args))
            for sql, args in statements
        ]


def test_date_sort_seeks_each_matchs_own_dates_not_every_observations(tmp_path):
    # A patient page's week of readings took 17 s among 1,000 patients: min(start_ms) per
    # row walked the (type, param, start_ms) index over every Observation's dates.
    params = [
        ("patient", "p1"),
        ("code", "http://loinc.org|8867-4"),
        ("date", "ge2026-11-24"),
        ("_sort", "date"),
    ]
    plans = _plans(tmp_path, params)
    assert plans, "no SELECT ran"
    for plan in plans:
        assert "ix_search_dates_lookup" not in plan, plan
    assert any("ix_search_dates_resource" in plan for plan in plans)
