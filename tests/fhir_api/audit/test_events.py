"""AuditRecord -> FHIR R4 AuditEvent: valid for the pinned R4B models, and searchable back."""

from __future__ import annotations

import base64

import pytest

from fhir_api.audit.events import MAX_ENTITIES, indexed, instant, render, render_with_fields
from fhir_api.audit.record import AuditRecord
from fhir_api.fhir import model_class
from fhir_api.validation.elements import ElementValidator

from .conftest import T0, record

AuditEvent = model_class("AuditEvent")

RECORDS = {
    "read": record(1, agent_reference="Practitioner/pr1"),
    "search": record(
        2, action="E", subtype="search", patients=("p1", "p2"), entities=(), query="code=8480-6"
    ),
    "transaction": record(
        3,
        action="C",
        subtype="transaction",
        agent="gateway:home-12",
        agent_reference="Device/gw",
        entities=tuple(f"Observation/o{i}" for i in range(100)),
    ),
    "stats": record(4, action="E", subtype="$stats", query="code=8480-6&start=2025-01-01"),
    "lastn": record(5, action="E", subtype="$lastn", query="max=3"),
    "login": record(6, action="E", subtype="login", patients=(), entities=()),
    "logout": record(7, action="E", subtype="logout", patients=(), entities=()),
    "login-failed": record(
        8,
        action="E",
        subtype="login-failed",
        outcome="4",
        agent="anonymous",
        patients=(),
        entities=(),
        address="2001:db8::1",
        detail="wrong password",
        extra={"username": "alice"},
    ),
    "refused": record(9, action="R", subtype="read", outcome="4", detail="outside care team"),
    "server failure": record(10, subtype="create", action="C", outcome="8", address="gw.local"),
    "export": record(11, action="R", subtype="export", patients=("p1",)),
}


@pytest.mark.parametrize("name", RECORDS)
def test_rendered_event_is_a_valid_r4_audit_event(name):
    document = render(RECORDS[name])
    model = AuditEvent.model_validate(document)
    # The server's own element walk is stricter (unknown elements, empty values, JSON types).
    assert ElementValidator().check(document, AuditEvent, "AuditEvent") == []
    assert model.model_dump(mode="json", exclude_none=True)["action"] == document["action"]


@pytest.mark.parametrize("name", RECORDS)
def test_indexed_fields_are_what_the_record_said(name):
    given = RECORDS[name]
    fields = indexed(render(given))
    assert fields is not None
    assert fields.agent == given.agent
    assert fields.action == given.action
    assert fields.subtype == given.subtype
    assert fields.outcome == given.outcome
    assert fields.recorded_ms == given.recorded_ms
    assert fields.patients == tuple(sorted(set(given.patients)))
    assert render_with_fields(given) == (render(given), fields)


def test_read_names_who_where_and_whose_data():
    document = render(RECORDS["read"])
    assert document["type"]["code"] == "rest"
    assert document["subtype"] == [
        {"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}
    ]
    assert document["recorded"] == "2025-11-30T00:00:01.000Z"
    agent = document["agent"][0]
    assert agent["requestor"] is True
    assert agent["who"]["identifier"]["value"] == "staff:user1"
    assert agent["who"]["reference"] == "Practitioner/pr1"
    assert agent["network"] == {"address": "192.0.2.7", "type": "2"}
    assert document["source"]["observer"]["display"] == "HomeVitals FHIR server"
    patient, observation = document["entity"]
    assert patient["what"] == {"reference": "Patient/p1"}
    assert (patient["type"]["code"], patient["role"]["code"]) == ("1", "1")
    assert observation["what"] == {"reference": "Observation/o1"}


def test_search_query_is_base64_in_an_entity():
    document = render(RECORDS["stats"])
    (query,) = [e for e in document["entity"] if "query" in e]
    assert base64.b64decode(query["query"]).decode() == "code=8480-6&start=2025-01-01"
    codes = {(c["system"].rsplit("/", 1)[-1], c["code"]) for c in document["subtype"]}
    assert ("restful-interaction", "operation") in codes
    assert ("urn:homevitals:audit-subtype", "$stats") in codes


def test_failed_login_says_why_and_from_where():
    document = render(RECORDS["login-failed"])
    assert document["type"]["code"] == "110114"
    assert document["outcome"] == "4"
    assert document["outcomeDesc"] == "wrong password"
    assert document["agent"][0]["network"] == {"address": "2001:db8::1", "type": "2"}
    (context,) = document["entity"]
    assert context["detail"] == [{"type": "username", "valueString": "alice"}]


def test_many_entities_are_capped_and_counted():
    many = record(1, entities=tuple(f"Observation/o{i}" for i in range(MAX_ENTITIES + 20)))
    document = render(many)
    AuditEvent.model_validate(document)
    resources = [e for e in document["entity"] if e.get("role", {}).get("code") == "4"]
    assert len(resources) == MAX_ENTITIES
    assert {"type": "entities-omitted", "valueString": "20"} in document["entity"][-1]["detail"]


def test_odd_input_is_recorded_not_refused():
    odd = AuditRecord(
        action="X",
        subtype="read\x00",
        outcome="99",
        agent="staff:\ud800" + "a" * 400,
        recorded_ms=T0,
        query="q=\ud800",
    )
    document = render(odd)
    AuditEvent.model_validate(document)
    assert document["action"] == "E"
    assert document["outcome"] == "8"
    assert "unknown action" in document["outcomeDesc"]
    fields = indexed(document)
    assert fields is not None
    assert render_with_fields(odd)[1] == fields
    assert len(fields.agent) == 256
    assert "\ud800" not in fields.agent and "\x00" not in fields.subtype


def test_instant_has_milliseconds_in_utc():
    assert instant(0) == "1970-01-01T00:00:00.000Z"
    assert instant(T0 + 123) == "2025-11-30T00:00:00.123Z"


def test_indexed_refuses_what_is_not_an_audit_event():
    assert indexed({"resourceType": "AuditEvent"}) is None
    assert indexed([1, 2]) is None
