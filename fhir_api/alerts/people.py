"""Who hears about a patient's alerts: the care team chain, read in the caller's transaction.

The chain is the members of the patient's active CareTeams (the same teams that give
staff access, `access/compartment.py`), ordered by what their staff accounts do: care
manager first, then nurse, then doctor (issue 13's escalation order), each as
`Practitioner/<id>`. A member with no staff account comes last (they can be reached
through a channel but cannot acknowledge); a member whose only account is disabled, or
holds no clinical role, is left out. Within one role, the order of the CareTeam's
participants is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select

from ..roles import StaffRole
from ..storage.schema import resources, search_references, search_terms, staff_accounts
from ..storage.search_keys import terms

__all__ = ["CHAIN_ORDER", "care_chain", "chain_order"]

CHAIN_ORDER: tuple[StaffRole, ...] = (StaffRole.CARE_MANAGER, StaffRole.NURSE, StaffRole.DOCTOR)
_NO_ACCOUNT = len(CHAIN_ORDER)
_INACTIVE = frozenset({"inactive", "entered-in-error", "suspended"})


def _members(team: dict[str, Any]) -> list[str]:
    found = []
    for participant in team.get("participant") or ():
        member = participant.get("member") if isinstance(participant, dict) else None
        reference = member.get("reference") if isinstance(member, dict) else None
        if isinstance(reference, str) and reference.startswith("Practitioner/"):
            found.append(reference)
    return found


def chain_order(members: Sequence[str], roles: dict[str, Iterable[StaffRole] | None]) -> list[str]:
    """`members` ordered care manager -> nurse -> doctor -> no account (pure).

    `roles` maps a member to the clinical roles of their live accounts, None for a
    member with no account at all; a member mapped to no clinical role is left out.
    """
    ranked: list[tuple[int, int, str]] = []
    for index, member in enumerate(dict.fromkeys(members)):
        held = roles.get(member)
        if held is None:
            ranked.append((_NO_ACCOUNT, index, member))
            continue
        ranks = [CHAIN_ORDER.index(role) for role in held if role in CHAIN_ORDER]
        if ranks:
            ranked.append((min(ranks), index, member))
    return [member for *_, member in sorted(ranked)]


def care_chain(connection: Connection, patient_id: str) -> list[str]:
    """The patient's chain, as `Practitioner/<id>` references (may be empty)."""
    teams = select(search_references.c.resource_key).where(
        search_references.c.term.in_(
            terms("CareTeam", "subject", search_terms.c.code == f"Patient/{patient_id}")
        )
    )
    rows = connection.execute(
        select(resources.c.content)
        .where(
            resources.c.resource_type == "CareTeam",
            resources.c.deleted.is_(False),
            resources.c.key.in_(teams),
        )
        .order_by(resources.c.id)
    ).scalars()
    members: list[str] = []
    for content in rows:
        team = json.loads(content)
        if team.get("status") not in _INACTIVE:
            members.extend(_members(team))
    if not members:
        return []
    ids = sorted({m.split("/", 1)[1] for m in members})
    accounts = connection.execute(
        select(
            staff_accounts.c.practitioner_id, staff_accounts.c.roles, staff_accounts.c.disabled_ms
        ).where(staff_accounts.c.practitioner_id.in_(ids))
    )
    roles: dict[str, Iterable[StaffRole] | None] = {}
    for practitioner, text, disabled in accounts:
        reference = f"Practitioner/{practitioner}"
        held = set(roles.get(reference) or ())
        if disabled is None:
            held |= {
                StaffRole(r) for r in str(text).split(",") if r in StaffRole._value2member_map_
            }
        roles[reference] = held
    return chain_order(members, roles)
