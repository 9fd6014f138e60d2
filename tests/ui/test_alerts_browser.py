"""The alert inbox in Chromium, with the real rules behind it: an urgent blood pressure
uploaded through the FHIR API appears first in the doctor's inbox (polled, no fixed
sleep), is acknowledged with a note (the row says by whom and when) and resolved with
a note (it leaves the open list; the DetectedIssue shows both steps); a nurse outside
the patient's care team sees none of it; a care manager sees the list's cell and the
patient page's block. axe-core finds no serious violation; screenshots ja + en.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .alerts_world import alert_clinic, upload_bp, wait_for_alert
from .conftest import axe, screenshot, sign_in
from .test_settings_http import add_care_manager
from .world import Clinic

# The newest alert mark of the blood-pressure chart: where it is on the page, its words.
MARK = """() => {
  const u = window.hvCharts.bp;
  const mark = u.alertMarks[u.alertMarks.length - 1];
  const box = u.over.getBoundingClientRect();
  return [box.left + u.valToPos(mark[0], "x"), box.top + box.height / 2, mark[1]];
}"""


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    """This module's own server: alerts on (SQLite)."""
    with alert_clinic("sqlite", Path(tmp_path_factory.mktemp("alerts-browser"))) as found:
        yield found


def _row_shows(page: Any, root: str, alert_id: str, timeout: float = 15) -> Any:
    """Reload the inbox until the alert's row is there (the worker evaluates in the
    background); the row's locator."""
    deadline = time.monotonic() + timeout
    row = page.locator(f"#alert-{alert_id}")
    while True:
        page.goto(f"{root}/alerts")
        if row.count():
            return row
        assert time.monotonic() < deadline, f"alert {alert_id} never reached the inbox"
        page.wait_for_timeout(100)


def test_the_doctor_acknowledges_and_resolves_an_urgent_alert(clinic: Clinic, page_in: Any) -> None:
    page = page_in("ja")
    sign_in(page, clinic.root, clinic.staff["doctor"])
    observation = upload_bp(clinic, "yamada", 186, 112)
    alert = wait_for_alert(clinic, "yamada", "bp-urgent")
    row = _row_shows(page, clinic.root, alert)
    # Urgent and open come first; the row says what, whose, how severe, when.
    assert page.locator("ol.alerts > li").first.get_attribute("class").count("severity-urgent")
    text = row.inner_text()
    assert "山田 太郎" in text and "血圧が著しく高値" in text and "血圧 186/112 mmHg" in text
    assert "▲▲ 緊急" in text and "未確認" in text
    assert re.search(r"発生: \d{4}年\d{1,2}月\d{1,2}日\([月火水木金土日]\) \d\d:\d\d", text)
    assert re.search(r"アラート \(未確認 \d+件\)", page.locator("#nav-alerts").inner_text())
    axe(page)
    screenshot(page, "alerts-inbox-ja")

    row.locator(f"#ack-{alert}").fill("本人に電話、安静にして再測定を依頼")
    row.get_by_role("button", name="確認する").click()
    page.wait_for_url(re.compile(r"/alerts\?done=acknowledged"))
    assert page.locator("#done").inner_text() == "アラートを確認済みにしました。"
    row = page.locator(f"#alert-{alert}")
    assert row.get_attribute("data-status") == "acknowledged"
    ack = row.locator(".ack").inner_text()
    assert "医師 一が確認" in ack and "本人に電話、安静にして再測定を依頼" in ack
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日\([月火水木金土日]\) \d\d:\d\d", ack)
    axe(page)
    screenshot(page, "alerts-acknowledged-ja")

    row.locator(f"#res-{alert}").fill("再測定 142/88 mmHg、主治医に報告済み")
    row.get_by_role("button", name="解決する").click()
    page.wait_for_url(re.compile(r"/alerts\?done=resolved"))
    assert page.locator(f"#alert-{alert}").count() == 0
    page.goto(f"{clinic.root}/alerts?state=resolved")
    resolved = page.locator(f"#alert-{alert}")
    assert "医師 一が解決" in resolved.inner_text()

    with clinic.client() as system:
        issue = system.get(f"/DetectedIssue/{alert}").json()
    assert issue["status"] == "final"
    assert issue["implicated"] == [{"reference": f"Observation/{observation}"}]
    steps = [
        (m["action"]["coding"][0]["code"], m["action"].get("text")) for m in issue["mitigation"]
    ]
    assert steps == [
        ("acknowledged", "本人に電話、安静にして再測定を依頼"),
        ("resolved", "再測定 142/88 mmHg、主治医に報告済み"),
    ]
    doctor = f"Practitioner/{clinic.practitioners['doctor']}"
    assert {m["author"]["reference"] for m in issue["mitigation"]} == {doctor}


def test_a_nurse_outside_the_care_team_sees_none_of_it(clinic: Clinic, page_in: Any) -> None:
    alert = wait_for_alert(clinic, "suzuki", "bp-urgent")
    suzuki = clinic.patients["suzuki"]
    page = page_in("en")
    sign_in(page, clinic.root, clinic.staff["nurse"])
    page.goto(f"{clinic.root}/alerts?state=all")
    assert page.locator(f"#alert-{alert}").count() == 0
    assert "鈴木" not in page.content()
    page.goto(f"{clinic.root}/alerts?patient={suzuki}&state=all")
    assert page.locator("#no-alerts").is_visible()
    # The data requests behind the pages refuse too (with the session's cookie).
    assert page.request.get(f"{clinic.root}/patients/{suzuki}").status == 404
    assert page.request.get(f"{clinic.root}/patients/{suzuki}/chart.json").status == 404
    refused = page.request.post(f"{clinic.root}/alerts/{alert}/acknowledge", form={"note": ""})
    assert refused.status == 403  # no CSRF token: refused before anything is looked up


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_a_care_manager_sees_the_cell_the_block_and_the_inbox(
    clinic: Clinic, page_in: Any, lang: str
) -> None:
    staff = clinic.staff.get("care_manager") or add_care_manager(clinic)
    upload_bp(clinic, "yamada", 188, 114)
    alert = wait_for_alert(clinic, "yamada", "bp-urgent")
    yamada = clinic.patients["yamada"]
    page = page_in(lang)
    sign_in(page, clinic.root, staff)
    cell = page.locator(f"#patient-{yamada} .row-alerts")
    assert ("Urgent" if lang == "en" else "緊急") in cell.inner_text()
    axe(page)
    screenshot(page, f"alerts-list-{lang}")
    page.goto(f"{clinic.root}/patients/{yamada}")
    block = page.locator(f"#patient-alert-{alert}")
    assert block.is_visible()
    # The chart marks the opening; its words show when the cursor is on the mark.
    page.locator("#chart-bp").scroll_into_view_if_needed()
    x, y, words = page.evaluate(MARK)
    assert ("Very high blood pressure" if lang == "en" else "血圧が著しく高値") in words
    page.mouse.move(x, y)
    assert words in page.locator("#alert-marks-bp").inner_text()
    axe(page)
    screenshot(page, f"alerts-patient-{lang}")
    block.get_by_role("link").click()
    row = page.locator(f"#alert-{alert}")
    assert row.is_visible()
    axe(page)
    screenshot(page, f"alerts-inbox-care-manager-{lang}")
