"""`FhirService.newest_readings` and `reading_days`: many patients at once, within the
caller's reach only, days in the patient's time zone (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

import pytest

from fhir_api.auth import staff_principal
from fhir_api.errors import Forbidden

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
    found = service.newest_readings(everyone, ["85354-9"], access=_access(site, "nurse"))
    subjects = {o.content["subject"]["reference"] for o in found}
    assert subjects == {f"Patient/{site.patients[k]}" for k in ("yamada", "sato")}
    found = service.newest_readings(everyone, ["85354-9"], access=_access(site, "doctor"))
    assert len(found) == 3
    end = int(site.now * 1000)
    days = service.reading_days(everyone, days=30, end_ms=end, access=_access(site, "nurse"))
    assert set(days) == {site.patients["yamada"], site.patients["sato"]}


def test_newest_reading_is_the_latest_per_patient_and_code(site):
    service = site.app.state.service
    yamada = site.patients["yamada"]
    found = service.newest_readings([yamada], ["85354-9", "8867-4"], access=_access(site, "doctor"))
    values = sorted(
        (o.content["code"]["coding"][0]["code"], o.content["effectiveDateTime"]) for o in found
    )
    newest = datetime.fromtimestamp(site.now - 3 * 3600, TOKYO).isoformat(timespec="seconds")
    assert values == [("85354-9", newest), ("8867-4", newest)]
    # Bounded to a recent window: the same answer when the newest is inside it.
    recent = service.newest_readings(
        [yamada], ["85354-9"], since_ms=int((site.now - 86400) * 1000), access=None
    )
    assert [o.content["effectiveDateTime"] for o in recent] == [newest]


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
    days = service.reading_days([suzuki], days=30, end_ms=int(site.now * 1000), access=None)
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
        service.newest_readings(list(site.patients.values()), ["85354-9"], access=access)
