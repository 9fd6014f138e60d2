"""Index parameters whose rows live outside the generic search tables."""

from __future__ import annotations

__all__ = ["IDENTIFIER_PARAM"]

# `identifier` is answered from the `identifiers` table (which de-duplication needs
# anyway), not from `search_tokens` rows repeating it (issue 15).
IDENTIFIER_PARAM = "identifier"
