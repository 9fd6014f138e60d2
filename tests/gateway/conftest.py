"""A real FHIR server on loopback for the gateway's upload tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from fhir_api.auth import Role, TokenStore
from fhir_api.settings import Settings

from ..fhir_api.conftest import RunningServer, serve
from ..fhir_api.helpers import ensure_subjects

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


def seed_patients(server: RunningServer) -> None:
    """Create every Patient in PATIENTS on `server`."""
    with server.client() as client:
        ensure_subjects(client, *(f"Patient/{name}" for name in PATIENTS))


@pytest.fixture
def fhir_server(tmp_path) -> Iterator[RunningServer]:
    with ExitStack() as stack:
        settings = Settings(data_dir=tmp_path / "server")
        base, store = stack.enter_context(serve(settings))
        token = TokenStore(store.engine).create("gateway-tests", Role.SYSTEM)
        server = RunningServer("sqlite", base, token, store, settings)
        seed_patients(server)
        yield server
