"""`homevitals server ...` and `homevitals token ...`: the server side of the command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from sqlalchemy import select

from .auth import Role, TokenStore
from .settings import Settings
from .storage.schema import resources
from .storage.series.base import SeriesPoint

__all__ = ["add_commands"]


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    return Settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import build_store
    from .launch import port_problem

    settings = _settings(args)
    problem = port_problem(settings.host, settings.port)
    if problem is not None:  # one line, and no address printed that is not served
        print(problem, file=sys.stderr)
        return 1
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    build_store(settings).engine.dispose()  # migrate once, before any worker starts
    # Workers are separate processes that read their settings anew: hand the command
    # line's choices on through the environment.
    for name in ("data_dir", "host", "port"):
        if getattr(args, name, None):
            os.environ[f"HOMEVITALS_{name.upper()}"] = str(getattr(args, name))
    print(
        f"HomeVitals FHIR server on http://{settings.host}:{settings.port}/fhir, "
        f"{settings.workers} worker(s)",
        flush=True,
    )
    uvicorn.run(
        "fhir_api.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="info",
        access_log=False,
    )
    return 0


def _reindex(args: argparse.Namespace) -> int:
    from .app import build_store
    from .storage.series.base import series_points

    settings = _settings(args)
    store = build_store(settings)
    store.series.clear()
    total = 0
    with store.reading() as tx:
        rows = tx.connection.execute(
            select(resources.c.id, resources.c.content).where(
                resources.c.resource_type == "Observation", resources.c.deleted.is_(False)
            )
        ).all()
    batch: list[SeriesPoint] = []
    for observation_id, content in rows:
        batch.extend(series_points(json.loads(content), observation_id, store.zone))
        if len(batch) >= 5000:
            _write(store, batch)
            total += len(batch)
            batch = []
    if batch:
        _write(store, batch)
        total += len(batch)
    print(
        f"rebuilt {total} series points from {len(rows)} Observations ({settings.series_backend})"
    )
    return 0


def _write(store: object, points: Sequence[SeriesPoint]) -> None:
    from .storage.resources import ResourceStore
    from .storage.series.sync import flush_series_outbox

    assert isinstance(store, ResourceStore)  # noqa: S101 - narrowing for mypy
    if store.series.in_resource_transaction:
        with store.transaction() as tx:
            store.series.write(tx.connection, points)
    else:
        store.series.write(None, points)
        flush_series_outbox(store)


def _token_create(args: argparse.Namespace) -> int:
    from .storage.database import make_engine, migrate

    settings = _settings(args)
    engine = make_engine(settings.sqlalchemy_url)
    migrate(engine)
    token = TokenStore(engine).create(args.name, Role(args.role))
    print(token)
    print(
        f"(role {args.role}, name {args.name}: shown once, stored only as a hash)", file=sys.stderr
    )
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    from .storage.database import make_engine, migrate

    settings = _settings(args)
    engine = make_engine(settings.sqlalchemy_url)
    migrate(engine)
    count = TokenStore(engine).revoke(args.name)
    print(f"revoked {count} token(s) named {args.name}")
    return 0 if count else 1


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `server` and `token`."""
    server = commands.add_parser("server", help="run the FHIR server (or: server reindex)")
    server.add_argument("--data-dir", help="embedded store directory (HOMEVITALS_DATA_DIR)")
    server.add_argument("--host")
    server.add_argument("--port", type=int)
    server.set_defaults(handler=_serve)
    server_commands = server.add_subparsers(dest="server_command")
    reindex = server_commands.add_parser(
        "reindex", help="rebuild the series store from the resources"
    )
    reindex.add_argument("--data-dir")
    reindex.set_defaults(handler=_reindex)
    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", required=True)
    create.add_argument("--data-dir")
    create.set_defaults(handler=_token_create)
    revoke = token_commands.add_parser("revoke", help="revoke the tokens of a name")
    revoke.add_argument("--name", required=True)
    revoke.add_argument("--data-dir")
    revoke.set_defaults(handler=_token_revoke)
