"""De-duplication rests on the database's unique constraint, not on search-before-insert.

The race every FHIR server has had: two conditional creates both search, both
find nothing, both insert. Here the second insert must fail on the identifiers
primary key, and the service must retry and answer with the stored resource.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from sqlalchemy.exc import IntegrityError

from fhir_api.app import build_store
from fhir_api.service import FhirService
from fhir_api.storage.resources import Tx

from .conftest import settings_for
from .helpers import spo2

CONDITION = "identifier=urn:test|race-1"


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request, tmp_path):
    with ExitStack() as stack:
        store = build_store(settings_for(request.param, stack, tmp_path))
        service = FhirService(store)
        service.update("Patient", "p1", {"resourceType": "Patient", "id": "p1"})
        yield service
        store.engine.dispose()


def reading():
    resource = spo2("Patient/p1", "2024-11-27T07:00:00+09:00", 96)
    resource["identifier"] = [{"system": "urn:test", "value": "race-1"}]
    return resource


def test_the_identifier_is_unique_in_the_database(service):
    service.create("Observation", reading(), CONDITION)
    with pytest.raises(IntegrityError), service.store.transaction() as tx:
        tx.create("Observation", reading())


def test_a_lost_race_is_retried_and_answers_with_the_winner(service, monkeypatch):
    winner = service.create("Observation", reading(), CONDITION)
    assert winner.created
    real_match = FhirService._match
    calls = []

    def stale_first_search(self, tx, resource_type, condition):
        calls.append(condition)
        if len(calls) == 1:
            return None  # this request searched before the winner committed
        return real_match(self, tx, resource_type, condition)

    real_owner = Tx.identifier_owner

    def stale_first_check(self, resource_type, content, resource_id=None):
        if len(calls) == 1:
            return None  # ... and checked its identifiers before then too
        return real_owner(self, resource_type, content, resource_id)

    monkeypatch.setattr(FhirService, "_match", stale_first_search)
    monkeypatch.setattr(Tx, "identifier_owner", stale_first_check)
    loser = service.create("Observation", reading(), CONDITION)
    assert len(calls) == 2
    assert not loser.created
    assert loser.stored.id == winner.stored.id
    result, _ = service.search("Observation", [("identifier", "urn:test|race-1")])
    assert result.total == 1
