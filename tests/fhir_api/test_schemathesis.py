"""schemathesis against the published /openapi.json: whatever it sends, never a 5xx.

Bounded: a few examples per operation (plus schemathesis' coverage phase), on the
SQLite store, derandomized so a CI run is reproducible. The document is checked
against the answers too (documented statuses and types). Authenticated as each kind
of caller (issue 11): a system token with more examples, then a gateway, a doctor
and an admin with fewer, whose refusals (403, 404) must be documented answers too.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance
from sqlalchemy import insert

from fhir_api.app import TITLE
from fhir_api.auth import Role, TokenStore
from fhir_api.openapi import openapi_document
from fhir_api.settings import Settings
from fhir_api.storage.schema import staff_accounts

from .conftest import serve
from .helpers import gateway_token

EXAMPLES = 10


ROLES = ("gateway", "doctor", "admin")


@pytest.fixture(scope="module")
def callers(tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    """(root URL, a token per kind of caller) of a server on a small SQLite store: one
    patient in a doctor's care team, served by one gateway."""
    with serve(Settings(data_dir=tmp_path_factory.mktemp("schemathesis"))) as (base, store):
        tokens = TokenStore(store.engine)
        system = tokens.create("schemathesis", Role.SYSTEM)
        headers = {"Authorization": f"Bearer {system}"}
        with httpx.Client(base_url=base, headers=headers) as client:
            patient = client.post("/Patient", json={"resourceType": "Patient"}).json()["id"]
            doctor = client.post("/Practitioner", json={"resourceType": "Practitioner"})
            practitioner = doctor.json()["id"]
            team = {
                "resourceType": "CareTeam",
                "subject": {"reference": f"Patient/{patient}"},
                "participant": [{"member": {"reference": f"Practitioner/{practitioner}"}}],
            }
            assert client.post("/CareTeam", json=team).status_code == 201
        with store.engine.begin() as connection:
            for username, roles, who in (("doc", "doctor", practitioner), ("adm", "admin", None)):
                connection.execute(
                    insert(staff_accounts).values(
                        username=username, roles=roles, practitioner_id=who, created_ms=0
                    )
                )
        yield (
            base.removesuffix("/fhir"),
            {
                "system": system,
                "gateway": gateway_token(store.engine, "home", [patient]),
                "doctor": tokens.create("doc", Role.STAFF, account_id=1),
                "admin": tokens.create("adm", Role.STAFF, account_id=2),
            },
        )


@pytest.fixture(scope="module")
def running(callers) -> tuple[str, str]:
    """(root URL, system token)."""
    root, tokens = callers
    return root, tokens["system"]


# Loaded at import (schemathesis' lazy fixture loader does not run under pytest 9); the
# first test makes sure it is exactly what the server publishes.
DOCUMENT = openapi_document(title=TITLE)
schema = schemathesis.openapi.from_dict(DOCUMENT)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


def test_the_server_publishes_this_document(running):
    root, _ = running
    published = httpx.get(f"{root}/openapi.json")  # no token needed
    assert published.status_code == 200
    assert published.json() == DOCUMENT


def _call(case, running) -> None:
    root, token = running
    case.call_and_validate(
        base_url=root,
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance],
    )


@schema.parametrize()
@SETTINGS
def test_no_server_errors_and_documented_answers(case, running):
    _call(case, running)


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@settings(SETTINGS, max_examples=3)
def test_no_server_errors_for_each_kind_of_caller(case, callers, role):
    root, tokens = callers
    _call(case, (root, tokens[role]))
