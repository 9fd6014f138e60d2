"""The printable summary with the clinic's JP Core names: the kana reading beside the name,
and the nurse's reach (another care team's patient is a 404, like an unknown one)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from ..fhir_api.login_helpers import post_login
from .world import Clinic


def _signed_in(clinic: Clinic, who: str) -> httpx.Client:
    browser = httpx.Client(
        base_url=clinic.root, follow_redirects=False, timeout=30, headers={"Accept-Language": "ja"}
    )
    staff = clinic.staff[who]
    answer = post_login(browser, staff.username, staff.password)
    assert answer.status_code == 303, answer.text
    return browser


@pytest.fixture
def nurse(clinic: Clinic) -> Iterator[httpx.Client]:
    browser = _signed_in(clinic, "nurse")
    yield browser
    browser.close()


def test_the_summary_shows_the_name_and_its_kana(clinic: Clinic, nurse: httpx.Client) -> None:
    page = nurse.get(f"/patients/{clinic.patients['yamada']}/summary")
    assert page.status_code == 200, page.text
    assert '<span id="patient-name">山田 太郎</span>' in page.text
    kana = re.search(r'<span class="kana-inline" lang="ja">(.*?)</span>', page.text)
    assert kana and "ヤマダ タロウ" in kana.group(1)


def test_the_nurse_reaches_no_summary_of_another_care_teams_patient(
    clinic: Clinic, nurse: httpx.Client
) -> None:
    answer = nurse.get(f"/patients/{clinic.patients['suzuki']}/summary")
    assert answer.status_code == 404
    assert "鈴木" not in answer.text and "スズキ" not in answer.text
