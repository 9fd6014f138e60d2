"""schemathesis against the published /openapi.json: whatever it sends, never a 5xx.

Bounded: a few examples per operation (plus schemathesis' coverage phase), on the
SQLite store, with a system token, derandomized so a CI run is reproducible. The
document is checked against the answers too (documented statuses and types).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from fhir_api.app import TITLE
from fhir_api.auth import Role, TokenStore
from fhir_api.openapi import openapi_document
from fhir_api.settings import Settings

from .conftest import serve

EXAMPLES = 10


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(root URL, system token) of a server on an empty SQLite store."""
    with serve(Settings(data_dir=tmp_path_factory.mktemp("schemathesis"))) as (base, store):
        token = TokenStore(store.engine).create("schemathesis", Role.SYSTEM)
        yield base.removesuffix("/fhir"), token


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
