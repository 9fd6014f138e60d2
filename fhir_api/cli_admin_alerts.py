"""`homevitals admin alert-channel set|remove|list`: how each staff member hears of alerts.

A channel is named here and defined in the configuration (`HOMEVITALS_NOTIFY_CHANNELS`,
whose apprise URLs carry the passwords and tokens); the database keeps only the name
and, for mail, the person's address. Every change is on the audit trail.
"""

from __future__ import annotations

import argparse
import json

from .cli_admin_gateways import _audit, _engine, _fail

__all__ = ["register"]


def _practitioner_exists(args: argparse.Namespace) -> bool:
    from sqlalchemy import select

    from .storage.schema import resources

    with _engine(args).connect() as connection:
        row = connection.execute(
            select(resources.c.deleted).where(
                resources.c.resource_type == "Practitioner", resources.c.id == args.practitioner
            )
        ).first()
    return row is not None and not row.deleted


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
