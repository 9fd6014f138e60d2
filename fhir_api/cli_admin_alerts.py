"""`homevitals admin alert-channel|alert-silence`: how staff hear of alerts, and pauses.

`alert-silence add|end|list` mirrors the patient's alert settings page (a hospital
stay, travel, a broken cuff): the same `silence_store` service, with full access and
the AuditEvent (agent `cli:<operating-system user>`) in the change's transaction.

A channel is named here and defined in the configuration (`HOMEVITALS_NOTIFY_CHANNELS`,
whose apprise URLs carry the passwords and tokens); the database keeps only the name
and, for mail, the person's address. Every change is on the audit trail.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from .access.principal import Access

from .cli_admin_gateways import _audit, _engine, _fail, _service

__all__ = ["register"]


def _exists(args: argparse.Namespace, resource_type: str, resource_id: str) -> bool:
    from sqlalchemy import select

    from .storage.schema import resources

    with _engine(args).connect() as connection:
        row = connection.execute(
            select(resources.c.deleted).where(
                resources.c.resource_type == resource_type, resources.c.id == resource_id
            )
        ).first()
    return row is not None and not row.deleted


def _practitioner_exists(args: argparse.Namespace) -> bool:
    return _exists(args, "Practitioner", args.practitioner)


def _alert_channel(args: argparse.Namespace) -> int:
    from .alerts import store
    from .cli import _settings

    engine = _engine(args)
    recipient = f"Practitioner/{args.practitioner}"
    command = args.alert_channel_command
    if command == "set":
        configured = sorted(_settings(args).notify_channels)
        if args.channel not in configured:
            known = ", ".join(configured) or "none: set HOMEVITALS_NOTIFY_CHANNELS"
            return _fail(f"no channel {args.channel!r} is configured ({known})")
        if not _practitioner_exists(args):
            return _fail(f"{recipient} is not known")
        with engine.begin() as connection:
            store.set_recipient_channel(connection, recipient, args.channel, args.address)
    elif command == "remove":
        with engine.begin() as connection:
            if not store.remove_recipient_channel(connection, recipient, args.channel):
                return _fail(f"{recipient} has no channel {args.channel!r}")
    if command != "list":
        _audit(
            engine,
            "E",
            f"alert-channel-{command}",
            entities=(recipient,),
            detail=f"channel {args.channel}",
        )
    with engine.connect() as connection:
        channels = store.recipient_channels(connection, recipient)
    print(json.dumps({"recipient": recipient, "channels": [list(c) for c in channels]}))
    return 0


def _silence_audit(subtype: str, detail: str) -> Callable[[Connection, Access], None]:
    """Write the administrator's AuditEvent in the silence's own transaction."""

    def write(connection: Connection, access: Access) -> None:
        import getpass
        import time

        from .audit.log import AuditLog
        from .audit.record import AuditRecord

        record = AuditRecord(
            action="C" if subtype == "alert-silence-add" else "U",
            subtype=subtype,
            outcome="0",
            agent=f"cli:{getpass.getuser()}",
            recorded_ms=int(time.time() * 1000),
            patients=tuple(sorted(access.touched)),
            detail=detail[:500],
        )
        AuditLog(connection.engine).record_in(connection, [record])

    return write


def _alert_silence(args: argparse.Namespace) -> int:
    import getpass
    import time
    from datetime import UTC, datetime

    from .access.principal import system_access
    from .alerts import settings_api as api
    from .alerts.silence_store import SilenceRefused, add_silence, end_silence, list_silences
    from .errors import NotFound

    service = _service(args)
    store = service.store
    command = args.alert_silence_command
    try:
        if command == "add":
            try:
                # The patient's own zone (its tz-code), as on the patient's pages.
                zone = service._lookup_zone(f"Patient/{args.patient}", None)
            except NotFound:
                return _fail(f"Patient/{args.patient} is not known")
            starts = (
                api.parse_moment(args.starts, zone)
                if args.starts
                else datetime.fromtimestamp(time.time(), UTC)
            )
            access = api.cli_access(
                getpass.getuser(), _silence_audit("alert-silence-add", args.reason)
            )
            silence = add_silence(
                store,
                access,
                reason=args.reason,
                starts=starts,
                ends=api.parse_moment(args.ends, zone),
                patient=args.patient,
                rule=api.parse_rule(args.rule),
            )
            print(json.dumps(api.silence_json(silence), ensure_ascii=False))
        elif command == "end":
            access = api.cli_access(getpass.getuser(), _silence_audit("alert-silence-end", args.id))
            print(
                json.dumps(
                    api.silence_json(end_silence(store, access, args.id)), ensure_ascii=False
                )
            )
        else:
            now_ms = None if args.all else store.now_ms()
            found = list_silences(store.engine, system_access(), [args.patient], now_ms=now_ms)
            print(json.dumps([api.silence_json(s) for s in found], ensure_ascii=False))
    except SilenceRefused as exc:
        return _fail(str(exc))
    return 0


def register(admin: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `alert-channel` to `homevitals admin`."""
    group = admin.add_parser("alert-channel", help="how a staff member is sent alerts")
    commands = group.add_subparsers(dest="alert_channel_command", required=True)
    for verb, text in (
        ("set", "send this Practitioner's alerts through a configured channel"),
        ("remove", "stop sending through that channel"),
        ("list", "show the Practitioner's channels"),
    ):
        command = commands.add_parser(verb, help=text)
        command.add_argument("--practitioner", required=True, help="a Practitioner id")
        if verb != "list":
            command.add_argument(
                "--channel", required=True, help="a HOMEVITALS_NOTIFY_CHANNELS name"
            )
        if verb == "set":
            command.add_argument("--address", help="the person's mail address (mail channels)")
        command.add_argument("--data-dir")
        command.set_defaults(handler=_alert_channel)
    _register_silence(admin)


def _register_silence(admin: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = admin.add_parser("alert-silence", help="pause a patient's alert messages")
    commands = group.add_subparsers(dest="alert_silence_command", required=True)
    add = commands.add_parser("add", help="pause the messages of a patient (or one rule)")
    add.add_argument("--patient", required=True, help="a Patient id")
    add.add_argument("--rule", help="one condition (e.g. bp-high); default: all")
    add.add_argument("--from", dest="starts", help="ISO 8601, patient's zone; default: now")
    add.add_argument("--until", dest="ends", required=True, help="ISO 8601, patient's zone")
    add.add_argument("--reason", required=True, help="why (hospital stay, travel, …)")
    end = commands.add_parser("end", help="end a silence now")
    end.add_argument("--id", required=True, help="the silence's id (from add or list)")
    listing = commands.add_parser("list", help="a patient's silences not yet ended")
    listing.add_argument("--patient", required=True, help="a Patient id")
    listing.add_argument("--all", action="store_true", help="ended ones too")
    for command in (add, end, listing):
        command.add_argument("--data-dir")
        command.set_defaults(handler=_alert_silence)
