"""The mapper still produces exactly the shared FHIR fixtures (the gateway-server contract)."""

import json

import pytest

from . import fixture_cases as fc


@pytest.mark.parametrize("name", sorted(fc.CASES))
def test_mapper_output_matches_the_fixture(name):
    path = fc.path_for(name)
    assert path.exists(), f"missing {path}: run python -m tests.gateway.fixture_cases"
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert fc.CASES[name].bundle() == stored, (
        f"{path.name} differs from what the mapper produces: a contract change must be "
        "deliberate (python -m tests.gateway.fixture_cases, then review the diff)"
    )


def test_no_stale_fixture_files():
    on_disk = {p.name for p in fc.FIXTURES.glob("bundle-*.json")}
    assert on_disk == {fc.path_for(n).name for n in fc.CASES}
