"""The package's public names: each exported once, each importable (compare httpx)."""

from __future__ import annotations

import fhir_api.alerts as alerts


def test_every_exported_name_exists_and_is_listed_once():
    assert len(alerts.__all__) == len(set(alerts.__all__))
    for name in alerts.__all__:
        assert getattr(alerts, name) is not None, name
