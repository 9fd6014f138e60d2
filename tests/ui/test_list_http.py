"""The patient list over plain HTTP (no browser): who sees which rows, on SQLite and PostgreSQL.

A nurse sees only the patients of the care teams the nurse is in: the list, a name
search for another patient, and the FHIR data of that patient (404, as if unknown).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from ..fhir_api.login_helpers import post_login
from .world import Clinic

ROW = re.compile(r'data-patient="([^"]+)"')


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest) -> Clinic:
    return request.getfixturevalue("clinic" if request.param == "sqlite" else "clinic_pg")


def _signed_in(clinic: Clinic, who: str) -> httpx.Client:
    browser = httpx.Client(
        base_url=clinic.root, follow_redirects=False, timeout=30, headers={"Accept-Language": "en"}
    )
    staff = clinic.staff[who]
    answer = post_login(browser, staff.username, staff.password)
    assert (answer.status_code, answer.headers["location"]) == (303, "/"), answer.text
    return browser


@pytest.fixture
def nurse(site: Clinic) -> Iterator[httpx.Client]:
    browser = _signed_in(site, "nurse")
    yield browser
    browser.close()


@pytest.fixture
def doctor(site: Clinic) -> Iterator[httpx.Client]:
    browser = _signed_in(site, "doctor")
    yield browser
    browser.close()


def _rows(page: httpx.Response) -> set[str]:
    assert page.status_code == 200, page.text
    return set(ROW.findall(page.text))


def test_home_is_the_patient_list_for_clinical_staff(nurse):
    answer = nurse.get("/")
    assert (answer.status_code, answer.headers["location"]) == (303, "/patients")


def test_the_list_needs_a_session(site):
    with httpx.Client(base_url=site.root, follow_redirects=False) as anonymous:
        answer = anonymous.get("/patients")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")


def test_doctor_sees_the_patients_of_all_their_care_teams(site, doctor):
    assert _rows(doctor.get("/patients")) == set(site.patients.values())


def test_nurse_sees_only_the_patients_of_the_nurses_care_teams(site, nurse):
    assert _rows(nurse.get("/patients")) == {site.patients["yamada"], site.patients["sato"]}


def test_nurse_finds_no_other_patient_by_name_or_kana(site, nurse):
    for text in ("鈴木", "スズキ", "すずき"):
        page = nurse.get("/patients", params={"q": text})
        assert _rows(page) == set(), text
        assert "No patient matches." in page.text


def test_nurse_reads_no_data_of_another_patient(site, nurse):
    other = site.patients["suzuki"]
    # The session reaches the FHIR API with the same Access as the pages.
    for path in (f"/fhir/Patient/{other}", f"/fhir/Observation?subject=Patient/{other}"):
        answer = nurse.get(path, headers={"Accept": "application/fhir+json"})
        if answer.status_code == 200:  # a search: an empty Bundle
            assert answer.json().get("entry", []) == [], path
        else:
            assert answer.status_code in (401, 403, 404), (path, answer.status_code)
    assert nurse.get(f"/patients/{other}").status_code == 404


def test_name_search_matches_kanji_katakana_and_hiragana(site, doctor):
    yamada = {site.patients["yamada"]}
    for text in ("山田", "ヤマダ", "やまだ", "タロウ"):
        assert _rows(doctor.get("/patients", params={"q": text})) == yamada, text


def test_only_flagged_filter(site, doctor):
    page = doctor.get("/patients", params={"flagged": "1"})
    # Every patient of this clinic has a flag; the filter keeps them all.
    assert _rows(page) == set(site.patients.values())


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "x'--", "order": "sideways"},
        {"q": "\\"},
        {"q": "a,b|c$d"},
        {"q": "山" * 500},
        {"flagged": "yes"},
    ],
)
def test_odd_list_parameters_answer_a_page_not_a_500(doctor, params):
    assert doctor.get("/patients", params=params).status_code == 200
