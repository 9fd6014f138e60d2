"""`homevitals server ...` and `homevitals token ...`: the server side of the command line."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .roles import Role

if TYPE_CHECKING:  # the commands import what they use: building the parser stays cheap
    from .settings import Settings
    from .storage.series.base import SeriesPoint

__all__ = ["add_commands"]


def _settings(args: argparse.Namespace) -> Settings:
    from .settings import UnknownSetting

    try:
        return _read_settings(args)
    except UnknownSetting as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _read_settings(args: argparse.Namespace) -> Settings:
    from .settings import Settings

    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    return Settings(**overrides)


_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def _metrics_directory(data_dir: Path) -> Iterator[Path]:
    """An owner-only directory for the workers' metric files, empty at start.

    prometheus-client's multiprocess mode needs it set before it is imported, in
    the parent and in every worker, and cleared between runs. An operator's own
    `PROMETHEUS_MULTIPROC_DIR` is used (and emptied); else `metrics/` in the data
    directory, emptied at start and removed at the end. Not a temporary folder: a
    server that is killed would leave one behind in /tmp at every kill (issue 9),
    where the data directory's copy is emptied by the next start.
    """
    given = os.environ.get(_METRICS_DIR)
    path = Path(given) if given else data_dir / "metrics"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[_METRICS_DIR] = str(path)
    try:
        yield path
    finally:
        if not given:
            shutil.rmtree(path, ignore_errors=True)
            os.environ.pop(_METRICS_DIR, None)


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn runs the server: the settings' limits, our logging, no access log of its own.

    `limit_concurrency` answers 503 beyond that many connections and tasks per worker;
    `timeout_keep_alive` closes idle keep-alive connections. Neither times out a
    client that stalls mid-request: docs/reverse-proxy.md says what does.
    """
    return {
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "limit_concurrency": settings.limit_concurrency,
        "timeout_keep_alive": settings.keep_alive_timeout,
        "log_level": settings.log_level.lower(),
        "log_config": None,  # uvicorn's records go through configure_logging's handler
        "access_log": False,  # RequestLog writes one line per request instead
        "proxy_headers": True,
        "forwarded_allow_ips": "127.0.0.1",
    }


def _serve(args: argparse.Namespace) -> int:
    from .launch import port_problem
    from .settings import InsecureSettings

    settings = _settings(args)
    try:
        settings.check_secrets()
    except InsecureSettings as exc:  # one line, before anything is created
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problem = port_problem(settings.host, settings.port)
    if problem is not None:  # one line, no address printed and nothing created
        print(problem, file=sys.stderr)
        return 1
    with _metrics_directory(settings.data_dir):
        return _serve_with_metrics(args)


def _serve_with_metrics(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import build_store
    from .request_log import configure_logging

    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
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
    uvicorn.run("fhir_api.app:app_from_environment", factory=True, **_uvicorn_options(settings))
    return 0


def _reindex(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from .app import build_store
    from .storage.schema import resources
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


def _backup(args: argparse.Namespace) -> int:
    from .backup import BackupError, backup_store, sqlite_path

    settings = _settings(args)
    try:
        summary = backup_store(sqlite_path(settings.sqlalchemy_url), Path(args.path))
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {summary.resources} resources to {summary.path} (mode 0600)")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from .backup import BackupError, restore_store, sqlite_path

    settings = _settings(args)
    try:
        summary = restore_store(Path(args.path), sqlite_path(settings.sqlalchemy_url))
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"restored {summary.resources} resources into {summary.path}")
    if settings.series_backend == "influxdb":
        print("the series live in InfluxDB: run 'homevitals server reindex' to rebuild them")
    return 0


def _add_backup_commands(
    server_commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    backup = server_commands.add_parser(
        "backup", help="copy the embedded store to a new file while the server runs"
    )
    backup.add_argument("path", help="the new backup file (created 0600; must not exist)")
    backup.add_argument("--data-dir")
    backup.set_defaults(handler=_backup)
    restore = server_commands.add_parser(
        "restore", help="put a backup back in place of the embedded store (server stopped)"
    )
    restore.add_argument("path", help="a file made by 'homevitals server backup'")
    restore.add_argument("--data-dir")
    restore.set_defaults(handler=_restore)


def _token_create(args: argparse.Namespace) -> int:
    from .auth import TokenStore
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
    from .auth import TokenStore
    from .storage.database import make_engine, migrate

    settings = _settings(args)
    engine = make_engine(settings.sqlalchemy_url)
    migrate(engine)
    count = TokenStore(engine).revoke(args.name)
    print(f"revoked {count} token(s) named {args.name}")
    return 0 if count else 1


def _add_admin_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .cli_admin_alerts import register as register_alerts
    from .cli_admin_audit import register as register_audit
    from .cli_admin_gateways import register as register_gateways
    from .cli_admin_storage import register as register_storage
    from .cli_admin_users import register as register_users

    admin = commands.add_parser("admin", help="accounts, patients, care teams, gateways, audit")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    register_users(admin_commands)
    register_gateways(admin_commands)
    register_audit(admin_commands)
    register_alerts(admin_commands)
    register_storage(admin_commands)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `server`, `token` and `admin`."""
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
    _add_backup_commands(server_commands)
    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token and print it once")
    # Gateway and staff tokens are bound to a gateway or an account: `homevitals admin`.
    create.add_argument("--role", required=True, choices=[Role.SYSTEM.value])
    create.add_argument("--name", required=True)
    create.add_argument("--data-dir")
    create.set_defaults(handler=_token_create)
    revoke = token_commands.add_parser("revoke", help="revoke the tokens of a name")
    revoke.add_argument("--name", required=True)
    revoke.add_argument("--data-dir")
    revoke.set_defaults(handler=_token_revoke)
    _add_admin_commands(commands)
