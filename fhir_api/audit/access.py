"""Who may read the audit trail.

For now only `system` tokens (operations); the access-control work extends this
to staff accounts with the `admin` role. Nobody may change the trail: there is
no write access to grant.
"""

from __future__ import annotations

from ..auth import Principal
from ..roles import TokenKind

__all__ = ["may_read_audit"]


def may_read_audit(principal: Principal) -> bool:
    """True when `principal` may search and read AuditEvents."""
    return principal.role == TokenKind.SYSTEM
