"""The access clause stays one statement shape, whatever the size of a caller's reach.

A doctor with 1,000 patients had 1,000 patient references and 1,000 gateways bound into
every search (issue 12: a patient page spent most of its 300 ms compiling them). The
lists now travel as one JSON value each: the statement is compiled once and cached.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from fhir_api.access.compartment import visibility_clause
from fhir_api.access.principal import Access
from fhir_api.auth import staff_principal
from fhir_api.storage.schema import resources


def _query(patients: int) -> object:
    principal = staff_principal(1, "dr", "doctor", "practitioner-1")
    access = Access(
        principal,
        frozenset(f"p{i}" for i in range(patients)),
        frozenset(f"g{i}" for i in range(patients)),
    )
    clause = visibility_clause(access, "Observation")
    assert clause is not None
    return select(resources.c.id).where(resources.c.resource_type == "Observation", clause)


def test_a_thousand_patients_are_a_few_bound_values_not_thousands() -> None:
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        compiled = _query(1000).compile(  # type: ignore[attr-defined]
            dialect=dialect, compile_kwargs={"render_postcompile": True}
        )
        assert len(compiled.params) < 20, len(compiled.params)  # was over 2,000
        assert len(str(compiled)) < 3000


def test_the_statement_is_cached_across_reaches_of_any_size() -> None:
    small, large = _query(3), _query(1000)
    assert small._generate_cache_key().key == large._generate_cache_key().key  # type: ignore[attr-defined]
