"""A patient's alert silences in Chromium: the doctor follows the link from the patient
page, adds a silence of one rule for a hospital stay (typed in the patient's zone),
sees it in effect, and ends it (the refusals are in test_alert_settings_http).
axe-core finds no serious violation; screenshots ja + en.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from fhir_api.storage.schema import alert_preferences, alert_silences

from .alerts_world import alert_clinic
from .conftest import axe, screenshot, sign_in
from .world import Clinic

_TOKYO = ZoneInfo("Asia/Tokyo")
_DATE = r"\d{4}年\d{1,2}月\d{1,2}日\([月火水木金土日]\) \d\d:\d\d"


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    """This module's own server: alerts on (SQLite)."""
    with alert_clinic("sqlite", Path(tmp_path_factory.mktemp("alert-settings-browser"))) as found:
        yield found


def _local(delta: timedelta) -> str:
    return (datetime.now(_TOKYO) + delta).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_doctor_pauses_a_rule_for_a_hospital_stay_and_ends_it(
    clinic: Clinic, page_in: Any, lang: str
) -> None:
    ja = lang == "ja"
    patient = clinic.patients["suzuki"]
    page = page_in(lang)
    sign_in(page, clinic.root, clinic.staff["doctor"])
    page.goto(f"{clinic.root}/patients/{patient}")
    page.locator("#alert-settings").click()
    page.wait_for_url(f"{clinic.root}/patients/{patient}/alerts/settings")
    assert page.locator("#no-silences").count() == 1

    page.locator("#silence-ends").fill(_local(timedelta(days=7)))
    page.locator("#silence-rule").select_option("bp-high")
    page.locator("#silence-reason").fill("入院中 市民病院" if ja else "In hospital")
    page.get_by_role("button", name="一時停止を保存" if ja else "Save silence").click()
    page.wait_for_url(re.compile(r"/alerts/settings\?done=added"))
    row = page.locator("#silences tbody tr").first
    assert row.get_attribute("data-state") == "active"
    text = row.inner_text()
    assert clinic.staff["doctor"].display_name in text  # who asked for it, by name
    if ja:
        assert "● 停止中" in text and "家庭血圧が高値" in text and "入院中 市民病院" in text
        assert len(re.findall(_DATE, text)) == 2
    else:
        assert "● In effect" in text and "High home blood pressure" in text
        assert "In hospital" in text
    axe(page)
    screenshot(page, f"alert-settings-{lang}")

    row.get_by_role("button", name="今すぐ終了" if ja else "End now").click()
    page.wait_for_url(re.compile(r"/alerts/settings\?done=ended"))
    assert page.locator("#silences tbody tr").first.get_attribute("data-state") == "ended"
    with clinic.app.state.store.engine.begin() as connection:
        connection.execute(sa.delete(alert_silences))


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_doctor_sets_quiet_hours_from_the_inbox(
    clinic: Clinic, page_in: Any, lang: str
) -> None:
    ja = lang == "ja"
    page = page_in(lang)
    sign_in(page, clinic.root, clinic.staff["doctor"])
    page.goto(f"{clinic.root}/alerts")
    page.locator("#alert-preferences").click()
    page.wait_for_url(f"{clinic.root}/alerts/settings")
    page.locator("#pref-quiet-start").fill("22:00")
    page.locator("#pref-quiet-end").fill("07:00")
    page.locator("#pref-non-urgent").select_option("digest")
    page.locator("#pref-digest").fill("09:00")
    page.get_by_role(
        "button", name="通知設定を保存" if ja else "Save my notification settings"
    ).click()
    page.wait_for_url(re.compile(r"/alerts/settings\?saved=1"))
    assert page.locator("#saved").is_visible()
    assert page.locator("#pref-quiet-start").input_value() == "22:00"
    assert page.locator("#pref-non-urgent").input_value() == "digest"
    axe(page)
    screenshot(page, f"alert-preferences-{lang}")
    with clinic.app.state.store.engine.begin() as connection:
        connection.execute(sa.delete(alert_preferences))
