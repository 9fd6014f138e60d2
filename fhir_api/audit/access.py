"""Who may read the audit trail: callers whose scopes grant AuditEvent (system tokens and
staff accounts with the admin role). Nobody may change the trail: there is no write
access to grant.
"""

from __future__ import annotations

from ..access.principal import Principal
from ..access.scopes import Interaction

__all__ = ["may_read_audit"]


def may_read_audit(principal: Principal) -> bool:
    """True when `principal` may search and read AuditEvents."""
    scopes = principal.scopes
    return scopes.allows("AuditEvent", Interaction.READ) and scopes.allows(
        "AuditEvent", Interaction.SEARCH
    )
