"""Marking a patient as reviewed (issue 12): the Task it stores, who may, and what the patient
page and the list show, over plain HTTP; the batch read on SQLite and PostgreSQL.

The clinic (tests/ui/world.py): the doctor cares for 山田, 佐藤 and 鈴木, the nurse for
山田 and 佐藤. The doctor's Practitioner is named 医師.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import httpx
import pytest

from clinician_ui.i18n import Catalogs
from clinician_ui.review import (
    STALE_DAYS,
    Review,
    review_of,
    review_task,
    reviewed_within,
)
from fhir_api.accounts.store import AccountStore
from fhir_api.auth import staff_principal
from fhir_api.codes import HOMEVITALS_TASK, VITALS_REVIEW
from fhir_api.errors import Forbidden
from fhir_api.roles import StaffRole

from ..fhir_api.login_helpers import csrf_of, post_login
from .world import TOKYO, Clinic, Staff

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

ROW = re.compile(r'data-patient="([^"]+)"')
DAY_MS = 86_400_000
REVIEW_CODE = f"{HOMEVITALS_TASK}|{VITALS_REVIEW}"


# --- pure --------------------------------------------------------------------------------


def test_a_review_task_reads_back_as_the_review_it_records() -> None:
    now = datetime(2026, 11, 30, 14, 5, tzinfo=TOKYO)
    task = review_task("p1", "dr1", date(2026, 11, 1), date(2026, 11, 30), now, "  BP fine ")
    assert task["for"] == {"reference": "Patient/p1"}
    assert task["owner"] == {"reference": "Practitioner/dr1"}
    assert task["executionPeriod"] == {"start": "2026-11-01", "end": "2026-11-30"}
    assert task["authoredOn"] == "2026-11-30T14:05:00+09:00"
    assert review_of(task, {"Practitioner/dr1": "医師"}) == Review(
        at_ms=int(now.timestamp() * 1000),
        reviewer="医師",
        start=date(2026, 11, 1),
        end=date(2026, 11, 30),
        note="BP fine",
    )
    assert "note" not in review_task("p1", "dr1", date(2026, 11, 1), date(2026, 11, 1), now, " ")
    with pytest.raises(ValueError):
        review_task("p1", "dr1", date(2026, 11, 2), date(2026, 11, 1), now)
    with pytest.raises(ValueError):
        review_task("p1", "dr1", date(2025, 1, 1), date(2026, 11, 30), now)


def test_not_reviewed_for_7_days_counts_a_patient_never_reviewed() -> None:
    now = 100 * DAY_MS

    def at(days_ago: float) -> Review:
        return Review(int(now - days_ago * DAY_MS), "x", None, None)

    assert not reviewed_within(None, now)
    assert reviewed_within(at(6.9), now)
    assert not reviewed_within(at(STALE_DAYS), now)
    assert not reviewed_within(at(30), now)


def _texts() -> list[str]:
    from pathlib import Path

    ui = Path(__file__).parents[2] / "clinician_ui"
    block = (ui / "templates" / "_review.html").read_text(encoding="utf-8")
    found = {a or b for a, b in re.findall(r"""_\((?:"([^"]+)"|'([^']+)')\)""", block)}
    return sorted(
        found
        | {
            "Not reviewed for {n} day",  # a plural entry, named by its singular
            "Last reviewed",
            "Not yet",
            "Your account may not mark patients as reviewed.",
        }
    )


def test_every_review_text_is_translated() -> None:
    catalogs = Catalogs()
    texts = _texts()
    assert len(texts) >= 10
    assert catalogs.missing("ja", texts) == []
    assert catalogs.missing("en", texts) == []


# --- over HTTP ---------------------------------------------------------------------------


def _signed_in(clinic: Clinic, staff: Staff) -> httpx.Client:
    browser = httpx.Client(
        base_url=clinic.root, follow_redirects=False, timeout=30, headers={"Accept-Language": "en"}
    )
    answer = post_login(browser, staff.username, staff.password)
    assert answer.status_code == 303, answer.text
    return browser


@pytest.fixture(scope="module")
def care_manager(clinic: Clinic) -> Staff:
    """A care manager in 山田's care team (reads reviews, records none)."""
    with clinic.client() as system:
        answer = system.post(
            "/Practitioner", json={"resourceType": "Practitioner", "name": [{"family": "調整"}]}
        )
        practitioner = answer.json()["id"]
        team = {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{clinic.patients['yamada']}"},
            "participant": [{"member": {"reference": f"Practitioner/{practitioner}"}}],
        }
        assert system.post("/CareTeam", json=team).status_code == 201
    accounts = AccountStore(clinic.app.state.store.engine)
    username = f"cm-{secrets.token_hex(3)}"
    accounts.create(username, (StaffRole.CARE_MANAGER,), practitioner, "調整 三")
    password = f"correct horse {secrets.token_hex(6)}"
    accounts.set_password(username, password, by_admin=False)
    return Staff(username, password, "調整 三")


@pytest.fixture
def doctor(clinic: Clinic) -> Iterator[httpx.Client]:
    browser = _signed_in(clinic, clinic.staff["doctor"])
    yield browser
    browser.close()


@pytest.fixture
def nurse(clinic: Clinic) -> Iterator[httpx.Client]:
    browser = _signed_in(clinic, clinic.staff["nurse"])
    yield browser
    browser.close()


def _reviews(clinic: Clinic, patient: str) -> list[dict[str, Any]]:
    with clinic.client() as system:
        bundle = system.get("/Task", params={"patient": patient, "code": REVIEW_CODE}).json()
    return [entry["resource"] for entry in bundle.get("entry", [])]


def _mark(browser: httpx.Client, patient: str, **change: str) -> httpx.Response:
    page = browser.get(f"/patients/{patient}", params={"period": "7"})
    assert page.status_code == 200, page.text
    form = {
        "csrf": csrf_of(page),
        "first": re.search(r'name="first" value="([^"]+)"', page.text).group(1),  # type: ignore[union-attr]
        "last": re.search(r'name="last" value="([^"]+)"', page.text).group(1),  # type: ignore[union-attr]
        "period": "7",
        "note": "Morning BP rising",
        **change,
    }
    return browser.post(f"/patients/{patient}/review", data=form)


def test_a_doctor_marks_a_patient_reviewed_and_the_page_and_list_show_it(clinic, doctor):
    yamada = clinic.patients["yamada"]
    before = doctor.get(f"/patients/{yamada}")
    assert "Not reviewed yet." in before.text and 'id="mark-reviewed"' in before.text
    # The days reviewed end on the page's today: the day the form was read, not the day
    # the module's clinic was loaded (it may be loaded before midnight in Tokyo).
    first_day = datetime.now(TOKYO).date()
    answer = _mark(doctor, yamada)
    last_day = datetime.now(TOKYO).date()
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/patients/{yamada}?period=7#review"
    (task,) = _reviews(clinic, yamada)
    doctor_practitioner = f"Practitioner/{clinic.practitioners['doctor']}"
    assert task["owner"] == {"reference": doctor_practitioner}
    assert task["status"] == "completed" and task["note"][0]["text"] == "Morning BP rising"
    assert task["executionPeriod"]["end"] in {first_day.isoformat(), last_day.isoformat()}
    page = doctor.get(f"/patients/{yamada}", params={"period": "7"})
    assert re.search(r"Last reviewed \w{3} \d+ \w{3} \d{4} \d\d:\d\d by 医師\.", page.text)
    assert "Note: Morning BP rising" in page.text
    listed = doctor.get("/patients")
    row = re.search(rf'data-patient="{yamada}".*?</tr>', listed.text, re.S).group(0)  # type: ignore[union-attr]
    assert "医師" in row and "Not yet" not in row
    # Not reviewed for 7 days: 山田 goes, the others (never reviewed) stay.
    stale = doctor.get("/patients", params={"stale": "1"})
    assert set(ROW.findall(stale.text)) == {clinic.patients["sato"], clinic.patients["suzuki"]}
    # Sorted by last review: never reviewed first, 山田 last.
    ordered = ROW.findall(doctor.get("/patients", params={"sort": "reviewed"}).text)
    assert ordered[-1] == yamada and len(ordered) == 3


def test_a_review_for_a_patient_out_of_reach_is_a_404_and_stores_nothing(clinic, nurse):
    suzuki = clinic.patients["suzuki"]
    page = nurse.get("/patients", params={"lang": "en"})
    answer = nurse.post(
        f"/patients/{suzuki}/review",
        data={"csrf": csrf_of(page), "first": "2026-11-01", "last": "2026-11-07"},
    )
    assert answer.status_code == 404
    assert "No patient of that id is in your care." in answer.text
    assert _reviews(clinic, suzuki) == []


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"csrf": "forged"}, 403),
        ({"first": "2026-13-01"}, 400),
        ({"first": "yesterday"}, 400),
        ({"last": "2020-01-01"}, 400),
        ({"note": "x" * 501}, 400),
    ],
)
def test_a_bad_review_form_is_refused_and_stores_nothing(clinic, nurse, change, status):
    sato = clinic.patients["sato"]
    answer = _mark(nurse, sato, **change)
    assert answer.status_code == status, answer.text
    assert _reviews(clinic, sato) == []


def test_a_care_manager_sees_reviews_but_has_no_button_and_may_not_post(clinic, care_manager):
    yamada = clinic.patients["yamada"]
    manager = _signed_in(clinic, care_manager)
    try:
        page = manager.get(f"/patients/{yamada}")
        assert page.status_code == 200
        assert 'id="mark-reviewed"' not in page.text
        before = len(_reviews(clinic, yamada))
        answer = manager.post(
            f"/patients/{yamada}/review",
            data={"csrf": csrf_of(page), "first": "2026-11-01", "last": "2026-11-07"},
        )
        assert answer.status_code == 403
        assert "Your account may not mark patients as reviewed." in answer.text
        assert len(_reviews(clinic, yamada)) == before
    finally:
        manager.close()


# --- the batch read, SQLite and PostgreSQL -----------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest) -> Clinic:
    return request.getfixturevalue("clinic" if request.param == "sqlite" else "clinic_pg")


def _task(clinic: Clinic, patient: str, authored: str, **change: Any) -> dict[str, Any]:
    task = review_task(
        clinic.patients[patient],
        clinic.practitioners["doctor"],
        date(2026, 11, 1),
        date(2026, 11, 7),
        datetime.fromisoformat(authored),
    )
    task.update(change)
    with clinic.client() as system:
        answer = system.post("/Task", json=task)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_newest_reviews_are_the_newest_completed_review_of_each_patient_in_reach(site):
    sato, suzuki = site.patients["sato"], site.patients["suzuki"]
    _task(site, "sato", "2026-11-20T09:00:00+09:00")
    newest = _task(site, "sato", "2026-11-25T09:00:00+09:00")
    _task(site, "sato", "2026-11-10T09:00:00+09:00")  # written later, older review
    other = {"coding": [{"system": HOMEVITALS_TASK, "code": "call-back"}]}
    _task(site, "sato", "2026-11-29T09:00:00+09:00", status="in-progress", code=other)
    _task(site, "sato", "2026-11-29T10:00:00+09:00", code=other)
    on_suzuki = _task(site, "suzuki", "2026-11-21T09:00:00+09:00")
    service = site.app.state.service

    def newest_for(role: str) -> dict[str, str]:
        principal = staff_principal(1, role, role, site.practitioners[role])
        found = service.newest_reviews([sato, suzuki], access=site.app.state.access.load(principal))
        return {t.content["for"]["reference"]: t.id for t in found}

    assert newest_for("doctor") == {
        f"Patient/{sato}": newest["id"],
        f"Patient/{suzuki}": on_suzuki["id"],
    }
    assert newest_for("nurse") == {f"Patient/{sato}": newest["id"]}
    admin = staff_principal(1, "x", "admin", None)  # manages accounts, reads no review
    with pytest.raises(Forbidden):
        service.newest_reviews([sato], access=site.app.state.access.load(admin))
