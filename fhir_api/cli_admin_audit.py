"""`homevitals admin audit verify`: check the audit trail's hash chain.

Exit 0 with "N events, chain intact" (and the head hash, to note down elsewhere:
a later verify that prints another hash for the same N means the trail was
rewritten), or exit 1 naming the first broken link. The handler imports the
database code itself: the parser is built at every `homevitals` start.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def _verify(args: argparse.Namespace) -> int:
    from .audit.store import verify
    from .cli import _settings
    from .storage.database import make_engine, migrate

    settings = _settings(args)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        migrate(engine)
        verdict = verify(engine)
    finally:
        engine.dispose()
    if verdict.broken is not None:
        print(
            f"audit trail broken at {verdict.broken} ({verdict.count} events intact before it)",
            file=sys.stderr,
        )
        return 1
    print(f"{verdict.count} events, chain intact (head {verdict.head_hash})")
    return 0


def register(admin: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `audit verify` to `homevitals admin`."""
    audit = admin.add_parser("audit", help="the audit trail")
    commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = commands.add_parser(
        "verify", help="check the hash chain; exit 1 naming the first broken link"
    )
    verify.add_argument("--data-dir", help="embedded store directory (HOMEVITALS_DATA_DIR)")
    verify.set_defaults(handler=_verify)
