"""The SQL side of access: whose patients a caller sees, the clause every search gets, and
which gateway owns what.

A staff member's patients are the subjects of the active CareTeams that name their
Practitioner (read from the search index, so a CareTeam change counts at the next
request that reloads access). A gateway's patients are those it was bound to by
`homevitals admin gateway-token create --patient …`; the resources a gateway token
created are recorded as its own (`resource_owners`), and those are all it sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    exists,
    false,
    insert,
    literal,
    not_,
    or_,
    select,
)

from ..roles import TokenKind
from ..storage.indexing import GATEWAY_PARAM
from ..storage.schema import (
    gateway_patients,
    resource_owners,
    resources,
    search_references,
    search_terms,
    search_tokens,
)
from ..storage.search_keys import terms
from ..storage.value_lists import in_values
from .principal import Access, Principal

__all__ = ["claim", "load_access", "owners", "visibility_clause", "visible_ids"]

# Types whose rows a gateway creating them records as its own (FhirService._claim).
_CLAIMED = ("Device", "Communication")
# CareTeam.status values that give no access (FHIR R4 care-team-status).
_INACTIVE = ("inactive", "entered-in-error", "suspended")


def _care_team_patients(connection: Connection, practitioner_id: str) -> frozenset[str]:
    refs = search_references
    me = f"Practitioner/{practitioner_id}"
    teams = select(refs.c.resource_key).where(
        refs.c.term.in_(terms("CareTeam", "participant", search_terms.c.code == me))
    )
    inactive = select(search_tokens.c.resource_key).where(
        search_tokens.c.term.in_(terms("CareTeam", "status", search_terms.c.code.in_(_INACTIVE)))
    )
    live = select(resources.c.key).where(
        resources.c.resource_type == "CareTeam", resources.c.deleted.is_(False)
    )
    rows = connection.execute(
        select(search_terms.c.code)
        .select_from(search_terms.join(refs, refs.c.term == search_terms.c.id))
        .where(
            search_terms.c.resource_type == "CareTeam",
            search_terms.c.param == "subject",
            search_terms.c.code.like("Patient/%"),
            refs.c.resource_key.in_(teams),
            refs.c.resource_key.not_in(inactive),
            refs.c.resource_key.in_(live),
        )
    ).scalars()
    return frozenset(target.split("/", 1)[1] for target in rows)


def _gateways_of(connection: Connection, patients: Iterable[str]) -> frozenset[str]:
    wanted = sorted(patients)
    if not wanted:
        return frozenset()
    rows = connection.execute(
        select(gateway_patients.c.gateway)
        .where(gateway_patients.c.patient_id.in_(wanted))
        .distinct()
    ).scalars()
    return frozenset(rows)


def _patients_of_gateway(connection: Connection, gateway: str) -> frozenset[str]:
    rows = connection.execute(
        select(gateway_patients.c.patient_id).where(gateway_patients.c.gateway == gateway)
    ).scalars()
    return frozenset(rows)


def load_access(connection: Connection, principal: Principal) -> Access:
    """The patients and gateways `principal` may see, read now."""
    if principal.kind is TokenKind.SYSTEM:
        return Access(principal, None, None)
    if principal.kind is TokenKind.GATEWAY:
        gateway = principal.gateway or ""
        return Access(principal, _patients_of_gateway(connection, gateway), frozenset({gateway}))
    clinical = any(role.clinical for role in principal.roles)
    if not clinical or principal.practitioner_id is None:
        return Access(principal, frozenset(), frozenset())
    patients = _care_team_patients(connection, principal.practitioner_id)
    return Access(principal, patients, _gateways_of(connection, patients))


def _patient_refs(access: Access) -> list[str]:
    return [f"Patient/{p}" for p in sorted(access.patients or ())]


def _owned(resource_type: str, gateway_is: ColumnElement[bool]) -> ColumnElement[bool]:
    """Rows a gateway made: its Devices and call-button presses (Communications, issue 14),
    and the Observations that name one of its Devices as their gateway (the
    observation-gatewayDevice extension)."""
    owned_by = resource_owners
    if resource_type in _CLAIMED:
        return exists().where(
            owned_by.c.resource_type == resource_type,
            owned_by.c.resource_id == resources.c.id,
            gateway_is,
        )
    if resource_type == "Observation":
        refs = search_references.alias("access_gateway")
        devices = select(literal("Device/") + owned_by.c.resource_id).where(
            owned_by.c.resource_type == "Device", gateway_is
        )
        return exists().where(
            refs.c.resource_key == resources.c.key,
            refs.c.term.in_(terms("Observation", GATEWAY_PARAM, search_terms.c.code.in_(devices))),
        )
    return false()


def visibility_clause(access: Access, resource_type: str) -> ColumnElement[bool] | None:
    """A condition on `resources` rows of `resource_type` that keeps only visible ones.

    None when the caller sees every resource of that type. Correlated EXISTS, so a
    narrow search stays narrow: each candidate row costs an index look-up, and no
    list of every visible resource is ever built. This one definition serves
    searches, reads, `_include`, `$lastn` and the matches of conditional creates.
    """
    if access.sees_all(resource_type):
        return None
    if access.principal.kind is TokenKind.GATEWAY:
        if resource_type == "Patient":
            # Its bound patients: what its conditional creates of a Patient (a patient
            # named by identifier) may match. Its scopes let it read no Patient.
            return in_values(resources.c.id, access.patients or ())
        return _owned(resource_type, resource_owners.c.gateway == (access.principal.gateway or ""))
    if resource_type == "Practitioner":
        return None  # the staff directory: names, not health data
    if resource_type == "Patient":
        return in_values(resources.c.id, access.patients or ())
    allowed = _patient_refs(access)
    # The terms (references of this type) naming an allowed Patient, and those naming
    # any other Patient: a few rows of `search_terms`, read once per statement.
    refs = search_references.alias("access_refs")
    names_allowed = exists().where(
        refs.c.resource_key == resources.c.key,
        refs.c.term.in_(
            select(search_terms.c.id).where(
                search_terms.c.resource_type == resource_type,
                search_terms.c.system == "",
                in_values(search_terms.c.code, allowed),
            )
        ),
    )
    outside = search_references.alias("access_outside")
    names_other = exists().where(
        outside.c.resource_key == resources.c.key,
        outside.c.term.in_(
            select(search_terms.c.id).where(
                search_terms.c.resource_type == resource_type,
                search_terms.c.system == "",
                search_terms.c.code.like("Patient/%"),
                not_(in_values(search_terms.c.code, allowed)),
            )
        ),
    )
    # Unassigned readings and Devices of no patient: for the staff of the patients
    # their gateway serves.
    reach = [
        names_allowed,
        _owned(resource_type, in_values(resource_owners.c.gateway, access.gateways or ())),
    ]
    if resource_type == "CareTeam" and access.principal.practitioner_id:
        member = search_references.alias("access_member")
        me = f"Practitioner/{access.principal.practitioner_id}"
        reach.append(
            exists().where(
                member.c.resource_key == resources.c.key,
                member.c.term.in_(terms("CareTeam", "participant", search_terms.c.code == me)),
            )
        )
    return and_(or_(*reach), ~names_other)


def visible_ids(
    connection: Connection, access: Access, resource_type: str, ids: Sequence[str]
) -> set[str]:
    """Which of `ids` (live resources of `resource_type`) the caller may see."""
    if not ids:
        return set()
    clause = visibility_clause(access, resource_type)
    if clause is None:
        return set(ids)
    rows = connection.execute(
        select(resources.c.id).where(
            resources.c.resource_type == resource_type,
            resources.c.id.in_(sorted(set(ids))),
            clause,
        )
    ).scalars()
    return set(rows)


def owners(connection: Connection, resource_type: str, ids: Sequence[str]) -> dict[str, str]:
    """The gateway that created each of `ids` (those created by none are left out)."""
    if not ids:
        return {}
    rows = connection.execute(
        select(resource_owners.c.resource_id, resource_owners.c.gateway).where(
            resource_owners.c.resource_type == resource_type,
            resource_owners.c.resource_id.in_(sorted(set(ids))),
        )
    ).all()
    return {row.resource_id: row.gateway for row in rows}


def claim(connection: Connection, items: Sequence[tuple[str, str]], gateway: str) -> None:
    """Record `gateway` as the creator of new resources (type, id)."""
    if items:
        connection.execute(
            insert(resource_owners),
            [{"resource_type": t, "resource_id": i, "gateway": gateway} for t, i in items],
        )
