"""A patient's own alert rules in Chromium: the doctor gives one patient a one-day
no-reading time for blood pressure and turns the fever rule off, then types a
no-reading time of 0 and sees the message at the field (the rest is in
test_alert_rules_http). axe-core finds no serious violation; screenshots ja + en.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fhir_api.alert_rules import ALERT_RULES_EXTENSION

from .alerts_world import alert_clinic
from .conftest import axe, screenshot, sign_in
from .test_settings_browser import pages  # noqa: F401  (the refused form's 400 is expected)
from .world import Clinic


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    """This module's own server: alerts on (SQLite)."""
    with alert_clinic("sqlite", Path(tmp_path_factory.mktemp("alert-rules-browser"))) as found:
        yield found


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_doctor_sets_a_patients_own_rules_and_sees_a_refused_value_at_its_field(
    clinic: Clinic,
    pages: Any,  # noqa: F811  (the imported fixture)
    lang: str,
) -> None:
    ja = lang == "ja"
    patient = clinic.patients["suzuki"]
    page = pages(lang)
    sign_in(page, clinic.root, clinic.staff["doctor"])
    page.goto(f"{clinic.root}/patients/{patient}/alerts/settings")
    label = "血圧の測定なし（日）" if ja else "No blood pressure for (days)"  # noqa: RUF001
    page.get_by_label(label).fill("1")
    page.get_by_role("checkbox", name="発熱" if ja else "Fever").check()
    page.get_by_role("button", name="アラート規則を保存" if ja else "Save alert rules").click()
    page.wait_for_url(re.compile(r"/alerts/settings\?done=rules"))
    assert page.get_by_label(label).input_value() == "1"
    assert page.get_by_role("checkbox", name="発熱" if ja else "Fever").is_checked()
    axe(page)
    screenshot(page, f"alert-rules-{lang}")

    page.get_by_label(label).fill("0")
    page.get_by_role("button", name="アラート規則を保存" if ja else "Save alert rules").click()
    error = page.locator("#rule-no_reading_systolic-error")
    assert ("0.1〜90" if ja else "from 0.1 to 90") in error.inner_text()
    assert page.get_by_label(label).get_attribute("aria-invalid") == "true"
    axe(page)
    screenshot(page, f"alert-rules-refused-{lang}")

    # back to the defaults for the other language's run
    page.get_by_label(label).fill("")
    page.get_by_role("checkbox", name="発熱" if ja else "Fever").uncheck()
    page.get_by_role("button", name="アラート規則を保存" if ja else "Save alert rules").click()
    page.wait_for_url(re.compile(r"/alerts/settings\?done=rules"))
    with clinic.client() as system:
        stored = system.get(f"/Patient/{patient}").json()
    assert all(e["url"] != ALERT_RULES_EXTENSION for e in stored.get("extension", []))
