"""`homevitals admin user ...`: staff accounts from the command line.

There is no default account and no default password: the first admin comes from
`admin user create`, which prints a random initial password once (stdout), to be
changed at the first login. Handlers import SQLAlchemy and the stores lazily: the
parser is built at every start of `homevitals`, the gateway's commands included.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from typing import TYPE_CHECKING

from .roles import StaffRole

if TYPE_CHECKING:
    from .accounts.store import Account, AccountStore
    from .audit.log import AuditLog
    from .audit.record import AuditSink

__all__ = ["register"]


def _store(args: argparse.Namespace) -> tuple[AccountStore, AuditLog]:
    from .accounts.store import AccountStore
    from .audit.log import AuditLog
    from .cli import _settings
    from .storage.database import make_engine, migrate

    engine = make_engine(_settings(args).sqlalchemy_url)
    migrate(engine)
    return AccountStore(engine), AuditLog(engine)


def _audit(sink: AuditSink, subtype: str, account: Account) -> None:
    from .audit.record import AuditRecord

    sink.record(
        AuditRecord(
            action="E",
            subtype=subtype,
            outcome="0",
            agent=f"cli:{getpass.getuser()}",
            recorded_ms=int(time.time() * 1000),
            detail=f"account {account.username}",
        )
    )


def _run(args: argparse.Namespace) -> int:
    """Run the chosen handler; an account error is one line on stderr, exit 1."""
    from .accounts.errors import AccountError

    store, sink = _store(args)
    try:
        return int(args.user_handler(args, store, sink))
    except AccountError as exc:
        print(f"error: {exc.diagnostics}", file=sys.stderr)
        return 1
    finally:
        sink.close()  # the command's AuditEvents are written before it exits
        store.engine.dispose()


def _create(args: argparse.Namespace, store: AccountStore, sink: AuditSink) -> int:
    from .accounts.errors import AccountError

    roles = [StaffRole(role) for role in args.role]
    if any(role.clinical for role in roles) and not args.practitioner:
        raise AccountError("a clinical role needs --practitioner (the account's Practitioner id)")
    password = store.create(args.username, roles, args.practitioner, args.name or "")
    account = store.by_username(args.username)
    assert account is not None  # noqa: S101 - created above
    _audit(sink, "account-create", account)
    print(password)
    print(
        f"(initial password of {args.username}: shown once; it must be changed at the first login)",
        file=sys.stderr,
    )
    return 0


def _reset_password(args: argparse.Namespace, store: AccountStore, sink: AuditSink) -> int:
    password = store.reset_password(args.username)
    account = store.by_username(args.username)
    assert account is not None  # noqa: S101
    _audit(sink, "password-reset", account)
    print(password)
    print(
        f"(new password of {args.username}: shown once; it must be changed at the next "
        "login; the account's sessions have ended)",
        file=sys.stderr,
    )
    return 0


def _reset_totp(args: argparse.Namespace, store: AccountStore, sink: AuditSink) -> int:
    account = store.reset_totp(args.username)
    _audit(sink, "totp-reset", account)
    print(f"TOTP of {args.username} reset: the next login enrols a new authenticator")
    return 0


def _disable(args: argparse.Namespace, store: AccountStore, sink: AuditSink) -> int:
    account = store.disable(args.username)
    _audit(sink, "account-disable", account)
    print(f"{args.username} disabled; its sessions have ended")
    return 0


def _enable(args: argparse.Namespace, store: AccountStore, sink: AuditSink) -> int:
    account = store.enable(args.username)
    _audit(sink, "account-enable", account)
    print(f"{args.username} enabled")
    return 0


def _list(args: argparse.Namespace, store: AccountStore, sink: AuditSink) -> int:
    now = int(time.time() * 1000)
    rows = [("USERNAME", "ROLES", "PRACTITIONER", "TOTP", "STATE", "NAME")]
    for account in store.accounts():
        state = (
            "disabled"
            if account.disabled
            else "locked"
            if account.locked_until_ms and account.locked_until_ms > now
            else "must-change-password"
            if account.must_change_password
            else "active"
        )
        rows.append(
            (
                account.username,
                ",".join(sorted(role.value for role in account.roles)),
                account.practitioner_id or "-",
                "yes" if account.totp_enrolled else "no",
                state,
                account.display_name,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[5]]).rstrip())
    return 0


def register(admin: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `user create|list|disable|enable|reset-password|reset-totp` to `admin`."""
    user = admin.add_parser("user", help="staff accounts")
    commands = user.add_subparsers(dest="user_command", required=True)

    def command(name: str, handler: object, text: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=text)
        parser.add_argument("--data-dir", help="embedded store directory (HOMEVITALS_DATA_DIR)")
        parser.set_defaults(handler=_run, user_handler=handler)
        return parser

    create = command("create", _create, "create an account and print its initial password once")
    create.add_argument("--username", required=True)
    create.add_argument(
        "--role", required=True, action="append", choices=[role.value for role in StaffRole]
    )
    create.add_argument("--practitioner", help="the account's FHIR Practitioner id")
    create.add_argument("--name", help="the name shown on the pages")
    command("list", _list, "list the accounts")
    for name, handler, text in (
        ("disable", _disable, "refuse the account's logins and end its sessions"),
        ("enable", _enable, "allow logins again (and lift a lock)"),
        ("reset-password", _reset_password, "print a new password once; to change at login"),
        ("reset-totp", _reset_totp, "forget the authenticator: the next login enrols anew"),
    ):
        command(name, handler, text).add_argument("--username", required=True)
