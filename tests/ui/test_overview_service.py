"""`FhirService.newest_readings` and `reading_days`: many patients at once, within the
caller's reach only, days in the patient's time zone (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from clinician_ui.list_routes import ListQuery, build_page, build_rows, reads_a_page_only
from clinician_ui.summary import CODES
from fhir_api.auth import staff_principal
from fhir_api.errors import Forbidden
from fhir_api.storage import overview

from .world import TOKYO, Clinic, blood_pressure

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest) -> Clinic:
    return request.getfixturevalue("clinic" if request.param == "sqlite" else "clinic_pg")


def _access(site: Clinic, role: str):
    principal = staff_principal(1, role, role, site.practitioners[role])
    return site.app.state.access.load(principal)


def test_newest_readings_leave_out_patients_outside_the_reach(site):
    service = site.app.state.service
    everyone = list(site.patients.values())
    found = service.newest_readings(everyone, ["8480-6"], access=_access(site, "nurse"))
    subjects = {o.content["subject"]["reference"] for o in found}
    assert subjects == {f"Patient/{site.patients[k]}" for k in ("yamada", "sato")}
    found = service.newest_readings(everyone, ["8480-6"], access=_access(site, "doctor"))
    assert len(found) == 3
    end = int(site.now * 1000)
    days = service.reading_days(
        everyone, codes=CODES, days=30, end_ms=end, access=_access(site, "nurse")
    )
    assert set(days) == {site.patients["yamada"], site.patients["sato"]}


def test_newest_reading_is_the_latest_per_patient_and_code(site):
    service = site.app.state.service
    yamada = site.patients["yamada"]
    found = service.newest_readings([yamada], ["8480-6", "8867-4"], access=_access(site, "doctor"))
    values = sorted(
        (o.content["code"]["coding"][0]["code"], o.content["effectiveDateTime"]) for o in found
    )
    newest = datetime.fromtimestamp(site.now - 3 * 3600, TOKYO).isoformat(timespec="seconds")
    assert values == [("85354-9", newest), ("8867-4", newest)]


def test_reading_days_count_days_in_the_patients_zone(site):
    """Two readings 23 h apart around Tokyo's midnight are one Tokyo day and two UTC days."""
    service = site.app.state.service
    suzuki = site.patients["suzuki"]
    today = datetime.fromtimestamp(site.now, TOKYO).date()
    first = datetime(today.year, today.month, today.day, 0, 30, tzinfo=TOKYO).timestamp()
    if first + 23 * 3600 > site.now:  # keep both in the past: the day before
        first -= 86400
    with site.client("home-3") as gateway:
        for when in (first, first + 23 * 3600):
            body = blood_pressure(
                f"Patient/{suzuki}", f"Device/{site.gateways['home-3']}", when, 120, 70
            )
            answer = gateway.post("/Observation", json=body)
            assert answer.status_code == 201, answer.text
    days = service.reading_days(
        [suzuki], codes=CODES, days=30, end_ms=int(site.now * 1000), access=None
    )
    expected = {
        datetime.fromtimestamp(site.now - 2 * 3600, TOKYO).date(),
        datetime.fromtimestamp(first, TOKYO).date(),
    }
    assert days[suzuki] == expected


def test_a_gateway_token_reads_no_overview(site):
    service = site.app.state.service
    principal = site.app.state.tokens.verify(f"Bearer {site.tokens['home-1']}")
    access = site.app.state.access.load(principal)
    with pytest.raises(Forbidden):
        service.newest_readings(list(site.patients.values()), ["8480-6"], access=access)


def test_the_search_index_path_gives_the_same_answers_as_the_series_path(site):
    """Without the SQL series backend (InfluxDB) the index answers; both must agree."""
    service = site.app.state.service
    store = site.app.state.store
    everyone = sorted(site.patients.values())
    by_series = service.newest_readings(everyone, CODES, access=None)
    end = int(site.now * 1000)
    with store.reading() as tx:
        by_index = overview.newest_per_patient(tx, everyone, CODES, since_ms=None, visibility=None)
        recent = overview.newest_per_patient(
            tx, everyone, CODES, since_ms=end - 86_400_000, visibility=None
        )
        zones = overview.patient_zones(tx, everyone, store.zone)
        index_days = overview.reading_days(tx, zones, 30, end)
    assert sorted(o.id for o in by_index) == sorted(o.id for o in by_series)
    assert {o.id for o in recent} <= {o.id for o in by_index} and recent
    assert index_days == service.reading_days(everyone, codes=CODES, days=30, end_ms=end)


def test_read_many_leaves_out_what_is_out_of_reach(site):
    service = site.app.state.service
    gateways = sorted(site.gateways.values())
    found = service.read_many("Device", gateways, access=_access(site, "nurse"))
    assert {d.id for d in found} == {site.gateways["home-1"], site.gateways["home-2"]}
    assert len(service.read_many("Device", gateways, access=_access(site, "doctor"))) == 3


@pytest.mark.parametrize("per_page", [1, 2, 100])
@pytest.mark.parametrize(
    "query",
    [
        ListQuery("", "name", False, False),
        ListQuery("", "name", True, False),
        ListQuery("やまだ", "name", False, False),
        ListQuery("", "bp", True, False),
        ListQuery("", "pulse", False, False),
        ListQuery("", "sleep", False, False),
        ListQuery("", "adherence", False, False),
        ListQuery("", "name", False, True),
        ListQuery("", "name", False, False, stale=True),
        ListQuery("", "reviewed", False, False),
    ],
    ids=[
        "by-name",
        "by-name-desc",
        "search",
        "by-bp",
        "by-pulse",
        "by-sleep",
        "adherence",
        "flagged",
        "stale",
        "by-review",
    ],
)
def test_a_page_of_the_list_is_that_slice_of_the_whole_list(site, query, per_page):
    # By name without a filter, a page reads the readings of its own patients only: the
    # rows, their order and the counts stay those of the whole list cut into pages.
    service, access = site.app.state.service, _access(site, "doctor")
    now_ms = int(site.now * 1000)
    rows, total = build_rows(service, access, query, now_ms, TOKYO)
    pages = -(-len(rows) // per_page) or 1
    for number in range(1, pages + 2):  # one past the last: the last page again
        asked = replace(query, page=number)
        page = build_page(service, access, asked, now_ms, TOKYO, per_page)
        shown = min(number, pages)
        assert (page.page, page.pages_count) == (shown, pages)
        assert (page.matching, page.total) == (len(rows), total)
        assert page.rows == rows[(shown - 1) * per_page : shown * per_page]


def test_only_the_list_by_name_or_value_without_a_filter_reads_a_page_only():
    # Adherence and flags sort by reading days and gateways, and a filter drops rows:
    # those need every row before a page can be cut.
    for column in ("name", "bp", "pulse", "spo2", "sleep"):
        assert reads_a_page_only(ListQuery("", column, False, False))
        assert reads_a_page_only(ListQuery("やまだ", column, True, False, page=4))
        assert not reads_a_page_only(ListQuery("", column, False, True))  # only flagged
        assert not reads_a_page_only(ListQuery("", column, False, False, stale=True))
    for column in ("adherence", "flags", "reviewed"):
        assert not reads_a_page_only(ListQuery("", column, False, False))
