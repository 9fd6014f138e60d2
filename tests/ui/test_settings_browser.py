"""The settings page in Chromium: a doctor changes 山田's systolic target and sees the
target band move on the blood-pressure chart (the page's chart data, and the band's
pixels), in Japanese and English; axe-core finds no serious violation; screenshots.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import axe, screenshot, sign_in
from .test_settings_http import add_care_manager
from .world import Clinic

# The canvas pixel a value's height shows at a time (seconds) when no reading was taken.
PIXEL = """([value, seconds]) => {
  const u = window.hvCharts.bp;
  const y = Math.round(u.valToPos(value, "y", true));
  const x = Math.round(u.valToPos(seconds, "x", true));
  return Array.from(u.ctx.getImageData(x, y, 1, 1).data);
}"""


@pytest.fixture
def pages(browser: Any) -> Iterator[Any]:
    """As conftest's `page_in`, but the refused form's own 400 is no console error."""
    contexts: list[Any] = []
    errors: list[str] = []
    expected = "the server responded with a status of 400"

    def open_page(lang: str) -> Any:
        context = browser.new_context(
            locale={"ja": "ja-JP", "en": "en-GB"}[lang],
            viewport={"width": 1600, "height": 1000},
            timezone_id="Asia/Tokyo",
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on(
            "console",
            lambda m: (
                errors.append(m.text) if m.type == "error" and expected not in m.text else None
            ),
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert errors == [], errors


def _chart(page: Any, clinic: Clinic) -> dict[str, Any]:
    page.goto(f"{clinic.root}/patients/{clinic.patients['yamada']}?period=7")
    page.wait_for_function("window.hvCharts && window.hvCharts.bp")
    data: dict[str, Any] = json.loads(page.locator("#chart-data").text_content())
    return data


def test_a_new_systolic_target_moves_the_band_on_the_chart(clinic: Clinic, pages: Any) -> None:
    # 山田's readings are taken 3 h and 15 h before `now`, every day: 9 h before, three
    # days back, the chart is 6 h from any reading (wherever the day boundaries fall).
    blank = clinic.now - 9 * 3600 - 3 * 86400
    for lang, target, texts in (
        ("en", 130, ("Enter a value from 90 to 200.", "Settings saved.")),
        ("ja", 134, ("90から200までの値を入力してください。", "設定を保存しました。")),
    ):
        page = pages(lang)
        sign_in(page, clinic.root, clinic.staff["doctor"])
        before = _chart(page, clinic)["thresholds"]
        inside = page.evaluate(PIXEL, [113, blank])
        probe = page.evaluate(PIXEL, [target - 2, blank])
        assert probe != inside  # above the old target: outside the band
        page.click("#patient-settings")
        page.wait_for_selector("form.settings")
        axe(page)
        screenshot(page, f"settings-{lang}")
        page.fill("#target_systolic", "400")
        page.click("form.settings button[type=submit]")
        assert texts[0] in page.locator("#target_systolic-error").inner_text()
        assert page.locator("#target_systolic").get_attribute("aria-invalid") == "true"
        axe(page)
        screenshot(page, f"settings-{lang}-refused")
        page.fill("#target_systolic", str(target))
        page.click("form.settings button[type=submit]")
        page.wait_for_selector("#saved")
        assert texts[1] in page.locator("#saved").inner_text()
        after = _chart(page, clinic)["thresholds"]
        assert (before["target_systolic"], after["target_systolic"]) != (target, target)
        assert after["target_systolic"] == target and after["systolic"] == 135
        assert page.evaluate(PIXEL, [target - 2, blank]) == inside  # now in the band
        caption = page.locator("#h-bp + figure figcaption, section:has(#h-bp) figcaption")
        assert f"{target}/75" in caption.first.inner_text()
        screenshot(page, f"settings-{lang}-chart")


def test_a_care_manager_reads_the_settings_without_a_form(clinic: Clinic, pages: Any) -> None:
    manager = add_care_manager(clinic)
    page = pages("ja")
    sign_in(page, clinic.root, manager)
    page.goto(f"{clinic.root}/patients/{clinic.patients['yamada']}/settings")
    assert page.locator("form.settings").count() == 0
    assert "変更はできません" in page.locator("#read-only").inner_text()
    assert "Asia/Tokyo" in page.locator("table.settings-values").inner_text()
    axe(page)
    screenshot(page, "settings-ja-read-only")
