"""Token roles, apart from the token store so the command line can list them cheaply.

`homevitals` builds its whole parser at every start, the gateway's commands
included; importing the token store for its role names pulled in SQLAlchemy and
Alembic (about 1.3 s on the development VM) before `gateway run` could begin.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role"]


class Role(StrEnum):
    """What a token may do."""

    SYSTEM = "system"
