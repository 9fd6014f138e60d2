"""/fhir/AuditEvent over real HTTP: search, read, paging, who may read, and nothing writable."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest

from fhir_api.access.gateways import GatewayRegistry
from fhir_api.audit.log import AuditLog
from fhir_api.auth import Role, TokenStore
from fhir_api.storage.resources import ResourceStore
from fhir_api.validation import SUPPORTED

from ..conftest import serve, settings_for
from .conftest import T0, record

HOUR = 3_600_000


@dataclass
class AuditServer:
    base: str
    store: ResourceStore
    system: str
    gateway: str

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base,
            headers={"Authorization": f"Bearer {token or self.system}"},
            timeout=30,
        )


# 12 events, one an hour from T0 (2025-11-30T00:00Z): reads of p0/p1/p2 by staff:user0 and
# staff:user1 in turn, then a refused read, a failed login and a search of two patients.
EVENTS = [
    *(record(n, recorded_ms=T0 + n * HOUR) for n in range(9)),
    record(9, recorded_ms=T0 + 9 * HOUR, outcome="4", detail="outside care team"),
    record(
        10,
        recorded_ms=T0 + 10 * HOUR,
        action="E",
        subtype="login-failed",
        outcome="4",
        agent="anonymous",
        patients=(),
        entities=(),
    ),
    record(
        11,
        recorded_ms=T0 + 11 * HOUR,
        action="E",
        subtype="search",
        agent="gateway:home-1",
        patients=("p0", "p1"),
        entities=(),
        query="code=8480-6",
    ),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def audit_server(request, tmp_path_factory) -> Iterator[AuditServer]:
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp(f"audit-{request.param}")
        settings = settings_for(request.param, stack, tmp, timezone="UTC")
        base, store = stack.enter_context(serve(settings))
        tokens = TokenStore(store.engine)
        system = tokens.create("ops", Role.SYSTEM)
        GatewayRegistry(store.engine).bind("home-1", [])
        gateway = tokens.create("home-1", Role.GATEWAY, gateway="home-1")
        log = AuditLog(store.engine)
        for event in EVENTS:
            log.record(event)
        log.close()
        yield AuditServer(base, store, system, gateway)


def _ids(bundle: dict) -> list[int]:
    """The ids of the events recorded above (each request since adds its own event)."""
    ids = [int(entry["resource"]["id"]) for entry in bundle.get("entry", [])]
    return [i for i in ids if i <= len(EVENTS)]


def _search(server: AuditServer, **params: str) -> list[int]:
    with server.client() as client:
        answer = client.get("/AuditEvent", params={**params, "_count": "100"})
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert bundle["type"] == "searchset"
    return _ids(bundle)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, list(range(12, 0, -1))),
        ({"patient": "p0"}, [12, 10, 7, 4, 1]),
        ({"patient": "p1"}, [12, 8, 5, 2]),
        ({"patient": "Patient/p2"}, [9, 6, 3]),
        ({"patient": "p2,p1"}, [12, 9, 8, 6, 5, 3, 2]),
        ({"agent": "staff:user0"}, [9, 7, 5, 3, 1]),
        ({"agent": "gateway:home-1,anonymous"}, [12, 11]),
        ({"action": "E"}, [12, 11]),
        ({"subtype": "login-failed"}, [11]),
        ({"outcome": "4"}, [11, 10]),
        ({"date": "2025-11-30T03:00:00Z"}, [4]),
        ({"date": "ge2025-11-30T09:00:00Z"}, [12, 11, 10]),
        ({"date": "gt2025-11-30T09:00:00Z"}, [12, 11]),
        ({"date": "lt2025-11-30T02:00:00Z"}, [2, 1]),
        ({"date": "le2025-11-30T02:00:00Z"}, [3, 2, 1]),
        ({"date": "eq2025-11-30"}, list(range(12, 0, -1))),
        ({"date": "2025-12-01"}, []),
        ({"patient": "p0", "agent": "staff:user1"}, [10, 4]),
    ],
)
def test_search_parameters(audit_server, params, expected):
    assert _search(audit_server, **params) == expected


def test_repeated_parameters_all_hold(audit_server):
    with audit_server.client() as client:
        answer = client.get("/AuditEvent?patient=p0&patient=p1")
    assert _ids(answer.json()) == [12]  # the only event with both patients
    with audit_server.client() as client:
        answer = client.get("/AuditEvent?date=ge2025-11-30T02:00:00Z&date=lt2025-11-30T05:00:00Z")
    assert _ids(answer.json()) == [5, 4, 3]


def test_pages_follow_next_links_to_the_end(audit_server):
    seen: list[int] = []
    with audit_server.client() as client:
        url: str | None = "/AuditEvent?_count=5&agent=staff:user0,staff:user1"
        while url is not None:
            bundle = client.get(url).json()
            seen += _ids(bundle)
            links = {link["relation"]: link["url"] for link in bundle["link"]}
            url = links.get("next")
            if url is not None:
                assert "_cursor=" in url and "agent=" in url
    assert seen == list(range(10, 0, -1))


def test_read_one_event(audit_server):
    with audit_server.client() as client:
        answer = client.get("/AuditEvent/12")
    assert answer.status_code == 200
    event = answer.json()
    assert event["resourceType"] == "AuditEvent" and event["id"] == "12"
    (query,) = [e for e in event["entity"] if "query" in e]
    assert base64.b64decode(query["query"]) == b"code=8480-6"


@pytest.mark.parametrize("path", ["/AuditEvent/999", "/AuditEvent/abc", "/AuditEvent/1/_history"])
def test_unknown_events_are_404(audit_server, path):
    with audit_server.client() as client:
        answer = client.get(path)
    assert answer.status_code == 404
    assert answer.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "query",
    [
        "foo=1",
        "patient:missing=true",
        "date=ne2025-11-30",
        "date=2025-13-01",
        "action=X",
        "outcome=3",
        "_count=0",
        "_count=abc",
        "_cursor=-1",
        "patient=Patient/",
        "agent=",
    ],
)
def test_bad_search_values_are_400(audit_server, query):
    with audit_server.client() as client:
        answer = client.get(f"/AuditEvent?{query}")
    assert answer.status_code == 400, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("path", ["/AuditEvent", "/AuditEvent/1"])
def test_only_readers_of_the_trail_get_in(audit_server, path):
    with audit_server.client(audit_server.gateway) as client:
        answer = client.get(path)
    assert answer.status_code == 403
    assert answer.json()["issue"][0]["code"] == "forbidden"
    anonymous = httpx.get(audit_server.base + path)
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/AuditEvent"),
        ("PUT", "/AuditEvent"),
        ("DELETE", "/AuditEvent"),
        ("PATCH", "/AuditEvent"),
        ("PUT", "/AuditEvent/1"),
        ("DELETE", "/AuditEvent/1"),
        ("PATCH", "/AuditEvent/1"),
        ("POST", "/AuditEvent/1"),
        ("POST", "/AuditEvent/_search"),
    ],
)
def test_no_method_changes_an_event(audit_server, method, path):
    body = {"resourceType": "AuditEvent", "id": "1", "action": "R"}
    with audit_server.client() as client:
        answer = client.request(method, path, json=body)
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == "GET"
    assert answer.json()["issue"][0]["code"] == "not-supported"
    assert _search(audit_server) == list(range(12, 0, -1))


def test_audit_event_is_not_a_writable_type():
    assert "AuditEvent" not in SUPPORTED


@pytest.mark.parametrize(
    "entry",
    [
        {
            "resource": {"resourceType": "AuditEvent", "action": "R"},
            "request": {"method": "POST", "url": "AuditEvent"},
        },
        {
            "resource": {"resourceType": "AuditEvent", "id": "1", "action": "R"},
            "request": {"method": "PUT", "url": "AuditEvent/1"},
        },
        {"request": {"method": "DELETE", "url": "AuditEvent/1"}},
    ],
)
@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_bundles_cannot_carry_audit_events(audit_server, entry, kind):
    bundle = {"resourceType": "Bundle", "type": kind, "entry": [entry]}
    with audit_server.client() as client:
        answer = client.post("", json=bundle)
    if kind == "transaction":
        assert answer.status_code == 400, answer.text
    else:
        assert answer.status_code == 200, answer.text
        # Each batch entry stands alone: refused as any unsupported type is (400 or 404).
        status = answer.json()["entry"][0]["response"]["status"]
        assert status[:3] in ("400", "404"), status
    assert _search(audit_server) == list(range(12, 0, -1))


def test_capability_statement_offers_read_and_search_only(audit_server):
    statement = httpx.get(audit_server.base + "/metadata").json()
    (audit,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "AuditEvent"]
    assert [i["code"] for i in audit["interaction"]] == ["read", "search-type"]
    names = {p["name"] for p in audit["searchParam"]}
    assert {"patient", "agent", "date", "action", "subtype", "outcome"} <= names


def test_openapi_documents_get_only(audit_server):
    document = httpx.get(audit_server.base.removesuffix("/fhir") + "/openapi.json").json()
    assert set(document["paths"]["/fhir/AuditEvent"]) == {"get"}
    assert set(document["paths"]["/fhir/AuditEvent/{id}"]) == {"get"}
