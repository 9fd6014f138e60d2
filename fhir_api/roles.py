"""Token kinds and staff roles, apart from the token store so the command line can list
them cheaply.

`homevitals` builds its whole parser at every start, the gateway's commands
included; importing the token store for its role names pulled in SQLAlchemy and
Alembic (about 1.3 s on the development VM) before `gateway run` could begin.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role", "StaffRole", "TokenKind"]


class TokenKind(StrEnum):
    """Who holds a bearer token.

    - `system`: integrations and operations; the only kind with full access.
    - `gateway`: one home gateway, bound to that home's patients and its own Devices.
    - `staff`: a staff account's API token; it sees what the account's roles and
      care teams allow, exactly as the account's web session does.
    """

    SYSTEM = "system"
    GATEWAY = "gateway"
    STAFF = "staff"


# The name the command line and earlier stops used for a token's kind.
Role = TokenKind


class StaffRole(StrEnum):
    """What a staff account does. An account may hold several (an admin who is also a doctor).

    `admin` manages accounts, patients, gateways and care teams and reads the audit
    trail; it reads no clinical data unless the account also holds a clinical role.
    Doctors, nurses and care managers see the patients of their care teams.
    """

    ADMIN = "admin"
    DOCTOR = "doctor"
    NURSE = "nurse"
    CARE_MANAGER = "care_manager"

    @property
    def clinical(self) -> bool:
        """True for the roles that read patients' data."""
        return self is not StaffRole.ADMIN
