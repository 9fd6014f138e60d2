"""SMART on FHIR v2 scopes (pure): `patient/Observation.cs`, `user/*.rs`, `system/*.cruds`.

A scope is `<context>/<resource type or *>.<interactions>`, the interactions a
subset of `cruds` written in that order (SMART App Launch 2.0, "Scopes for
requesting FHIR resources"). The context says on whose behalf a token acts;
which data that is (the gateway's patients, the care teams' patients, all) is
decided by the token's kind, not by the scope's text, so a scope can only
narrow what a kind may do. Search-parameter constraints (`?category=...`) are
not supported and are refused, rather than silently widened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Interaction", "Scope", "ScopeError", "Scopes", "parse_scopes"]

_SCOPE = re.compile(r"^(patient|user|system)/([A-Z][A-Za-z]{0,63}|\*)\.([a-z]{1,5})$")
_ORDER = "cruds"


class ScopeError(ValueError):
    """A scope string that is not SMART v2 syntax this server understands."""


class Interaction(StrEnum):
    """The five SMART v2 interaction letters."""

    CREATE = "c"
    READ = "r"
    UPDATE = "u"
    DELETE = "d"
    SEARCH = "s"


@dataclass(frozen=True, slots=True)
class Scope:
    """One parsed scope."""

    context: str  # patient, user, system
    resource_type: str  # a FHIR type or "*"
    interactions: frozenset[Interaction]

    def __str__(self) -> str:
        letters = "".join(c for c in _ORDER if Interaction(c) in self.interactions)
        return f"{self.context}/{self.resource_type}.{letters}"


def _parse_one(text: str) -> Scope:
    match = _SCOPE.match(text)
    if match is None:
        raise ScopeError(f"scope {text!r} is not <patient|user|system>/<Type|*>.<cruds> (SMART v2)")
    context, resource_type, letters = match.groups()
    positions = [_ORDER.find(letter) for letter in letters]
    if -1 in positions or positions != sorted(set(positions)):
        raise ScopeError(f"scope {text!r}: interactions are letters of 'cruds', in that order")
    return Scope(context, resource_type, frozenset(Interaction(c) for c in letters))


@dataclass(frozen=True, slots=True)
class Scopes:
    """A token's scopes: what it may do to which resource types."""

    scopes: tuple[Scope, ...]

    def allows(self, resource_type: str, interaction: Interaction) -> bool:
        """True when some scope grants `interaction` on `resource_type`."""
        return any(
            interaction in s.interactions and s.resource_type in (resource_type, "*")
            for s in self.scopes
        )

    def narrowed_to(self, granted: Scopes) -> Scopes:
        """What `self` asks for that `granted` allows, letter by letter (never wider).

        `user/*.rs` narrowed to a role's `user/Patient.rs user/Observation.rs` is
        those two scopes.
        """
        kept: list[Scope] = []
        for scope in self.scopes:
            if scope.resource_type != "*":
                pairs = [(scope.resource_type, scope.interactions)]
            else:
                pairs = [
                    (g.resource_type, scope.interactions & g.interactions) for g in granted.scopes
                ]
            for resource_type, wanted in pairs:
                letters = frozenset(i for i in wanted if granted.allows(resource_type, i))
                if letters:
                    kept.append(Scope(scope.context, resource_type, letters))
        return Scopes(tuple(kept))

    def __str__(self) -> str:
        return " ".join(str(s) for s in self.scopes)


def parse_scopes(text: str, *, context: str | None = None) -> Scopes:
    """Parse space-separated scopes.

    Args:
        text: e.g. "patient/Observation.cs patient/Device.crus".
        context: when given, every scope must have this context (a gateway token's
            scopes are `patient/`, a staff token's `user/`, a system token's `system/`).

    Raises:
        ScopeError: a scope that is not SMART v2 syntax, or of another context.
    """
    scopes = tuple(_parse_one(part) for part in text.split())
    if context is not None:
        for scope in scopes:
            if scope.context != context:
                raise ScopeError(f"scope {scope} must start with {context}/ for this token")
    return Scopes(scopes)
