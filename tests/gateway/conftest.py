"""A real FHIR server on loopback for the gateway's upload tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from fhir_api.auth import Role, TokenStore
from fhir_api.settings import Settings

from ..fhir_api.conftest import RunningServer, serve
from ..fhir_api.helpers import ensure_subjects, gateway_token

# The Patients the gateway tests link readings to: the server holds them before any
# upload, as a clinic registers a patient before handing out a cuff (references must
# resolve on the server).
PATIENTS = (
    "tanaka",
    "suzuki",
    "tanaka-hanako",
    "sato",
    "ito",
    "kato",
    "abe",
    "ono",
    "p-one",
    "p-two",
    "mori",
    "endo",
    "outage",
    "nagai",
    "hayashi",
    "ueda",
    "cli-pair",
    "sakai",
    "kill-test",
    "full",
    "ro",
    "slow",
)

BY_IDENTIFIER = ("urn:oid:1.2.392.100495.20.3.51.1", "00012345")


def seed_patients(server: RunningServer) -> None:
    """Create every Patient in PATIENTS on `server`, then give the gateway its own token.

    The gateway uploads with a gateway token bound to those patients, as in a home;
    `server.admin_token` keeps the system token for set-up and checks.
    """
    if server.admin_token is None:
        server.admin_token = server.token
    with server.admin_client() as client:
        ensure_subjects(client, *(f"Patient/{name}" for name in PATIENTS))
        # The patient the fixture `bp-patient-by-identifier` names by its number.
        system, value = BY_IDENTIFIER
        made = client.post(
            "/Patient",
            json={"resourceType": "Patient", "identifier": [{"system": system, "value": value}]},
            headers={"If-None-Exist": f"identifier={system}|{value}"},
        )
        made.raise_for_status()
        numbered = made.json()["id"]
    server.token = gateway_token(server.store.engine, "gateway-tests", [*PATIENTS, numbered])


@pytest.fixture
def fhir_server(tmp_path) -> Iterator[RunningServer]:
    with ExitStack() as stack:
        settings = Settings(data_dir=tmp_path / "server")
        base, store = stack.enter_context(serve(settings))
        token = TokenStore(store.engine).create("gateway-tests", Role.SYSTEM)
        server = RunningServer("sqlite", base, token, store, settings)
        seed_patients(server)
        yield server
