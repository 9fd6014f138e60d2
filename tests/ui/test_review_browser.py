"""Mark as reviewed, end to end in Debian's Chromium (issue 12): a doctor opens a patient,
marks the period shown as reviewed, sees who reviewed when on the page and in the list,
and the "not reviewed for 7 days" filter drops that patient and keeps the others. axe
finds nothing serious; screenshots in Japanese and English for people to look at.
"""

from __future__ import annotations

import re

import pytest

from fhir_api.codes import HOMEVITALS_TASK, VITALS_REVIEW

from .conftest import axe, screenshot, sign_in
from .world import Clinic

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

REVIEW = f"{HOMEVITALS_TASK}|{VITALS_REVIEW}"
DATE = {"ja": r"\d{4}年\d{1,2}月\d{1,2}日\(.\)", "en": r"\w{3} \d{1,2} \w{3} \d{4}"}
DATE_TIME = {lang: rf"{day} \d\d:\d\d" for lang, day in DATE.items()}
JA_LAST = "最終確認: {when}（医師）"  # noqa: RUF001 (Japanese brackets, as the catalog has them)


def _text(locator) -> str:
    return " ".join(locator.inner_text().split())


def _rows(page) -> list[str]:
    return page.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.patient)")


@pytest.mark.parametrize(
    ("lang", "patient", "button", "last", "stale"),
    [
        ("ja", "sato", "確認済みにする", JA_LAST, "7日以上未確認"),
        ("en", "suzuki", "Mark as reviewed", "Last reviewed {when} by 医師.", "Not reviewed for 7"),
    ],
)
def test_a_doctor_marks_a_patient_reviewed_and_sees_it_on_the_page_and_in_the_list(
    clinic: Clinic, page_in, lang, patient, button, last, stale
):
    page = page_in(lang)
    sign_in(page, clinic.root, clinic.staff["doctor"])
    patient_id = clinic.patients[patient]
    page.click(f"a[href='/patients/{patient_id}']")
    page.wait_for_url(f"{clinic.root}/patients/{patient_id}")
    block = page.locator("#review")
    assert block.locator(".last-review.none").count() == 1
    page.fill("#review-note", "朝の血圧上昇に注意" if lang == "ja" else "Watch the morning BP")
    page.click(f"#mark-reviewed:text-is('{button}')")
    page.wait_for_url(re.compile(rf"/patients/{patient_id}\?period=30#review$"))
    expected = re.escape(last).replace(re.escape("{when}"), DATE_TIME[lang])
    assert re.search(expected, _text(block.locator(".last-review"))), _text(block)
    assert block.locator(".review-note").count() == 1
    axe(page)
    block.screenshot(path=str(screenshot(page, f"review-page-{lang}").with_suffix(".block.png")))

    page.click("nav.main-nav a[href='/patients']")
    page.wait_for_url(f"{clinic.root}/patients")
    cell = page.locator(f"tr[data-patient='{patient_id}'] td.reviewed")
    assert re.fullmatch(rf"{DATE[lang]} 医師", _text(cell)), _text(cell)
    everyone = set(clinic.patients.values())
    assert set(_rows(page)) == everyone
    screenshot(page, f"review-list-{lang}")
    page.check(f"label.check:has-text('{stale}') input")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"stale=1"))
    with clinic.client() as system:
        tasks = system.get("/Task", params={"code": REVIEW, "_count": "100"}).json()
    reviewed = {e["resource"]["for"]["reference"].split("/")[1] for e in tasks["entry"]}
    assert patient_id in reviewed
    assert set(_rows(page)) == everyone - reviewed
    axe(page)
    screenshot(page, f"review-list-stale-{lang}")
