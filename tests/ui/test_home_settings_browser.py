"""The home gateway settings page in Chromium (issue 14): a doctor sets 山田's measurement
times and turns speech off from the patient page; a wrong time is refused on the page;
what is saved is what 山田's home gateway reads next (`Device/$gateway-settings`
with its own token). Japanese and English; axe-core; screenshots.
"""

from __future__ import annotations

from typing import Any

from fhir_api.codes import CALL_ME

from .conftest import axe, screenshot, sign_in
from .test_patient_requests_http import _press
from .test_settings_browser import pages  # noqa: F401  (the fixture: a 400 is expected)
from .test_settings_http import add_care_manager
from .world import Clinic


def _home_reads(clinic: Clinic) -> dict[str, Any]:
    with clinic.client("home-1") as gateway:
        response = gateway.get("/Device/$gateway-settings")
        assert response.status_code == 200, response.text
        return {p["name"]: p for p in response.json()["parameter"]}


def test_a_doctor_sets_the_home_reminders_and_the_gateway_reads_them(
    clinic: Clinic,
    pages: Any,  # noqa: F811
) -> None:
    _press(clinic, "home-1", clinic.patients["yamada"], CALL_ME, 2.2)
    for lang, times, texts in (
        ("en", "07:30 19:00", ("Enter times as HH:MM", "Saved.")),
        ("ja", "06:45 18:30", ("時刻は HH:MM の形で", "保存しました。")),
    ):
        page = pages(lang)
        sign_in(page, clinic.root, clinic.staff["doctor"])
        page.goto(f"{clinic.root}/patients/{clinic.patients['yamada']}")
        assert page.locator("#request-call-me").is_visible()
        axe(page)
        page.locator(".patient-head").screenshot(path=str(screenshot(page, f"asked-{lang}")))
        page.click("#home-settings")
        page.wait_for_selector("form.home-settings")
        axe(page)
        screenshot(page, f"home-settings-{lang}")
        page.fill("#times_blood-pressure", "7時")
        page.click("form.home-settings button[type=submit]")
        assert texts[0] in page.locator("#times_blood-pressure-error").inner_text()
        assert page.locator("#times_blood-pressure").get_attribute("aria-invalid") == "true"
        axe(page)
        screenshot(page, f"home-settings-{lang}-refused")
        page.fill("#times_blood-pressure", times)
        page.select_option("#speech", "off")
        page.fill("#volume", "35")
        page.click("form.home-settings button[type=submit]")
        page.wait_for_selector("#saved")
        assert texts[1] in page.locator("#saved").inner_text()
        assert page.locator("#times_blood-pressure").input_value() == times
        reads = _home_reads(clinic)
        assert reads["speech"]["valueBoolean"] is False
        assert reads["volume"]["valueInteger"] == 35
        parts = reads["reminder"]["part"]
        assert {"name": "kind", "valueCode": "blood-pressure"} in parts
        assert [p["valueTime"][:5] for p in parts if p["name"] == "time"] == times.split()
        screenshot(page, f"home-settings-{lang}-saved")


def test_a_care_manager_reads_the_home_settings_without_a_form(
    clinic: Clinic,
    pages: Any,  # noqa: F811
) -> None:
    manager = add_care_manager(clinic)
    page = pages("ja")
    sign_in(page, clinic.root, manager)
    page.goto(f"{clinic.root}/patients/{clinic.patients['yamada']}/home")
    assert page.locator("form.home-settings").count() == 0
    assert "変更はできません" in page.locator("#read-only").inner_text()
    axe(page)
    screenshot(page, "home-settings-ja-read-only")
