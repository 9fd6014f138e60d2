"""A real FHIR server on loopback for the gateway's upload tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from fhir_api.auth import Role, TokenStore
from fhir_api.settings import Settings

from ..fhir_api.conftest import RunningServer, serve


@pytest.fixture
def fhir_server(tmp_path) -> Iterator[RunningServer]:
    with ExitStack() as stack:
        settings = Settings(data_dir=tmp_path / "server")
        base, store = stack.enter_context(serve(settings))
        token = TokenStore(store.engine).create("gateway-tests", Role.SYSTEM)
        yield RunningServer("sqlite", base, token, store, settings)
