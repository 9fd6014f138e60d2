"""Access control: SMART v2 scopes, who is calling, and what each request may see."""

from .principal import SYSTEM, Access, Principal, system_access
from .scopes import Interaction, Scope, ScopeError, Scopes, parse_scopes

__all__ = [
    "SYSTEM",
    "Access",
    "Interaction",
    "Principal",
    "Scope",
    "ScopeError",
    "Scopes",
    "parse_scopes",
    "system_access",
]
