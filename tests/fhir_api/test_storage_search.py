"""`identifier` searches read the `identifiers` table, kept once (issue 15): every form
of the token and its modifiers, on SQLite and PostgreSQL."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fhir_api.app import build_store
from fhir_api.errors import FhirError
from fhir_api.service import FhirService
from fhir_api.storage.schema import identifiers, search_terms, search_tokens

from .conftest import settings_for
from .helpers import patient

HOSPITAL = "urn:oid:1.2.392.100495.20.3.51.1"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_identifier_search_forms_read_the_identifiers_table_issue_15(
    tmp_path: Path, backend: str
) -> None:
    with ExitStack() as stack:
        store = build_store(settings_for(backend, stack, tmp_path))
        service = FhirService(store)
        ids = {}
        for name, identifier in (
            ("a", [{"system": HOSPITAL, "value": "A-1"}]),
            ("b", [{"system": "urn:other", "value": "A-1"}, {"value": "B, 2"}]),
            ("c", [{"system": HOSPITAL, "value": "C-3"}]),
            ("none", None),
        ):
            body = patient(identifier=name)
            if identifier is None:
                body.pop("identifier")
            else:
                body["identifier"] = identifier
            ids[name] = service.create("Patient", body).stored.id

        def found(*params: tuple[str, str]) -> set[str]:
            result, _ = service.search("Patient", list(params))
            names = {v: k for k, v in ids.items()}
            return {names[m.id] for m in result.matches}

        assert found(("identifier", "A-1")) == {"a", "b"}
        assert found(("identifier", f"{HOSPITAL}|A-1")) == {"a"}
        assert found(("identifier", f"{HOSPITAL}|")) == {"a", "c"}
        assert found(("identifier", "|B\\, 2")) == {"b"}  # "|value": the value without a system
        assert found(("identifier", "|A-1")) == set()
        assert found(("identifier", "B\\, 2")) == {"b"}
        assert found(("identifier", "C-3,urn:other|A-1")) == {"b", "c"}
        assert found(("identifier:not", f"{HOSPITAL}|A-1")) == {"b", "c", "none"}
        assert found(("identifier:missing", "true")) == {"none"}
        assert found(("identifier:missing", "false")) == {"a", "b", "c"}
        assert found(("identifier", "A-1"), ("identifier", "urn:other|")) == {"b"}
        with pytest.raises(FhirError):
            service.search("Patient", [("identifier:missing", "maybe")])
        with pytest.raises(FhirError):
            service.search("Patient", [("identifier", "A-1,")])

        service.delete("Patient", ids["c"])
        assert found(("identifier", "C-3")) == set()
        with store.engine.connect() as connection:
            tokens = (
                select(func.count())
                .select_from(
                    search_tokens.join(search_terms, search_terms.c.id == search_tokens.c.term)
                )
                .where(search_terms.c.param == "identifier")
            )
            assert connection.execute(tokens).scalar_one() == 0  # kept once, in identifiers
            assert (
                connection.execute(select(func.count()).select_from(identifiers)).scalar_one() == 3
            )
        store.engine.dispose()
