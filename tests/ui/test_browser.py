"""The clinician view in a real headless Chromium (Debian's), against a real server.

Checks what a person sees (the DOM's text), that axe-core finds no serious or
critical accessibility violation, and saves screenshots of /login and /patients
in both languages for people to look at.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pytest

from .conftest import axe, screenshot, sign_in
from .world import TOKYO, Clinic

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _row(page, patient_id: str):
    return page.locator(f"tr[data-patient='{patient_id}']")


def _text(locator) -> str:
    return " ".join(locator.inner_text().split())


def test_login_page_is_accessible_in_both_languages(clinic: Clinic, page_in):
    for lang, title in (("ja", "サインイン"), ("en", "Sign in")):
        page = page_in(lang)
        page.goto(f"{clinic.root}/login")
        assert page.locator("h1").inner_text() == title
        assert page.locator("html").get_attribute("lang") == lang
        axe(page)
        screenshot(page, f"login-{lang}")


def test_doctor_sees_latest_values_and_flags(clinic: Clinic, page_in):
    page = page_in("en")
    sign_in(page, clinic.root, clinic.staff["doctor"])
    assert "医師 一" in _text(page.locator("header"))
    yamada = _row(page, clinic.patients["yamada"])
    assert _text(yamada.locator("td.bp")) == "▲ 152/96 mmHg High 3 h ago"
    assert _text(yamada.locator("td.pulse")) == "72 /min 3 h ago"
    assert _text(yamada.locator("td.spo2")) == "97 % 5 h ago"
    assert _text(yamada.locator("td.sleep")) == "7 h 05 min asleep 8 h ago"
    # 12 days of readings 3 h and 15 h before now: 12 or 13 dates in Tokyo, by the hour.
    days = {
        datetime.fromtimestamp(clinic.now - hours * 3600 - day * 86400, TOKYO).date()
        for day in range(12)
        for hours in (3, 15)
    }
    assert _text(yamada.locator("td.adherence")) == f"{len(days)} / 30 days"
    assert _text(yamada.locator("td.gateway")) == "● Online"
    sato = _row(page, clinic.patients["sato"])
    assert _text(sato.locator("td.bp")) == "118/76 mmHg 10 h ago"
    assert _text(sato.locator("td.pulse")) == "▲ 112 /min High 10 h ago"
    assert _text(sato.locator("td.spo2")) == "▼ 87 % Low 10 h ago"
    assert _text(sato.locator("td.sleep")) == "No reading"
    assert _text(sato.locator("td.adherence")) == "5 / 30 days"
    offline = datetime.fromtimestamp(clinic.now - 9 * 3600, TOKYO)
    gateway = _text(sato.locator("td.gateway"))
    assert gateway.startswith(f"✕ Offline since {offline:%a} {offline.day} {offline:%b %Y}")
    assert gateway.endswith("Battery low")
    suzuki = _row(page, clinic.patients["suzuki"])
    assert _text(suzuki.locator("td.bp")) == "▲▲ 185/112 mmHg Urgent 2 h ago"
    # Colour never alone: each flag has its glyph and its word (checked above) and a class.
    assert suzuki.locator("td.bp .flag-urgent").count() == 1
    # Sorted by name (kana reading) by default; by systolic pressure when asked.
    names = page.locator("tbody th.name a").all_inner_texts()
    assert names == ["佐藤 花子", "鈴木 一郎", "山田 太郎"]
    page.click("thead a:text('Blood pressure')")
    page.click("thead a:text('Blood pressure')")  # the second click: descending
    assert page.locator("tbody th.name a").all_inner_texts()[0] == "鈴木 一郎"
    assert page.locator("th[aria-sort='descending']").count() == 1


def test_search_and_flag_filter(clinic: Clinic, page_in):
    page = page_in("ja")
    sign_in(page, clinic.root, clinic.staff["doctor"])
    page.fill("#q", "やまだ")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=*")
    assert page.locator("tbody th.name a").all_inner_texts() == ["山田 太郎"]
    page.fill("#q", "")
    page.check("input[name=flagged]")
    page.click("form.filters button")
    page.wait_for_url("**flagged=1*")
    assert page.locator("tbody tr").count() == 3


def test_nurse_sees_only_the_patients_of_the_nurses_care_teams(clinic: Clinic, page_in):
    page = page_in("en")
    sign_in(page, clinic.root, clinic.staff["nurse"])
    shown = set(page.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.patient)"))
    assert shown == {clinic.patients["yamada"], clinic.patients["sato"]}
    other = clinic.patients["suzuki"]
    # The FHIR API wants a token: the session cookie alone reads nothing there.
    assert page.request.get(f"{clinic.root}/fhir/Patient/{other}").status == 401
    assert page.request.get(f"{clinic.root}/patients/{other}").status == 404


def _days_served(load: Callable[[], str]) -> tuple[set[date], str]:
    """The text of `.today` after `load()`, and the dates in Tokyo it may show: the day
    the page is served (before or after `load()`, should it run across midnight), not
    the day the module's clinic was loaded."""
    before = datetime.now(TOKYO).date()
    shown = load()
    return {before, datetime.now(TOKYO).date()}, shown


def test_language_switch_and_accessibility(clinic: Clinic, page_in):
    page = page_in("en")

    def signed_in() -> str:
        sign_in(page, clinic.root, clinic.staff["doctor"])
        return _text(page.locator(".today"))

    days, shown = _days_served(signed_in)
    assert any(f"{d:%a} {d.day} {d:%b %Y}" in shown for d in days), (days, shown)
    assert page.locator("h1").inner_text() == "Patients"
    axe(page)
    screenshot(page, "patients-en")

    def in_japanese() -> str:
        page.click("nav.languages a[lang=ja]")
        page.wait_for_url("**lang=ja*")
        return _text(page.locator(".today"))

    days, shown = _days_served(in_japanese)
    assert any(
        f"{d.year}年{d.month}月{d.day}日({'月火水木金土日'[d.weekday()]})" in shown for d in days
    ), (days, shown)
    assert page.locator("h1").inner_text() == "患者一覧"
    assert "3時間前" in _text(_row(page, clinic.patients["yamada"]).locator("td.bp"))
    assert page.locator("html").get_attribute("lang") == "ja"
    axe(page)
    screenshot(page, "patients-ja")
    # The choice is kept: the next page is in Japanese without ?lang=.
    page.goto(f"{clinic.root}/patients")
    assert page.locator("h1").inner_text() == "患者一覧"


def test_keyboard_reaches_the_list_and_the_focus_is_visible(clinic: Clinic, page_in):
    page = page_in("en")
    sign_in(page, clinic.root, clinic.staff["doctor"])
    focused_outline = "getComputedStyle(document.activeElement).outlineStyle"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.evaluate(focused_outline) == "solid"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Patients"
    assert page.evaluate(focused_outline) == "solid"
    # Onwards to the first patient's link, through the header, the filters and the sort links.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('tbody') !== null"):
            break
    assert page.evaluate("document.activeElement.textContent") == "佐藤 花子"
    assert page.evaluate(focused_outline) == "solid"


def test_list_fits_1600_px_without_sideways_scrolling(clinic: Clinic, page_in):
    """The gateway cell wraps a long "offline since" text: "last reviewed" stays in view."""
    for lang in ("ja", "en"):
        page = page_in(lang)
        sign_in(page, clinic.root, clinic.staff["doctor"])
        sato = _row(page, clinic.patients["sato"])
        assert ("からオフライン" if lang == "ja" else "Offline since") in _text(sato)
        widths = page.evaluate(
            "() => { const w = document.querySelector('.table-wrap');"
            " return [w.scrollWidth, w.clientWidth, document.documentElement.scrollWidth,"
            " document.documentElement.clientWidth]; }"
        )
        assert widths[0] <= widths[1] and widths[2] <= widths[3], widths
        if lang == "ja":
            assert _text(_row(page, clinic.patients["yamada"]).locator("td.sleep")).startswith(
                "7時間05分 睡眠"
            )


# When <html> gets data-charts-drawn, the state of every chart (uPlot's status is 1 after
# its first draw): the signal bench/ui.py times must not come before the charts.
_CHARTS_AT_SIGNAL = """
const set = Element.prototype.setAttribute;
Element.prototype.setAttribute = function (name, value) {
  if (name === "data-charts-drawn") {
    window.chartsAtSignal = Object.entries(window.hvCharts || {}).map(([k, u]) => [k, u.status]);
  }
  return set.call(this, name, value);
};
"""


@pytest.mark.parametrize("period", [7, 90])
def test_page_signals_when_every_chart_is_drawn(clinic: Clinic, page_in, period: int):
    page = page_in("en")
    page.add_init_script(_CHARTS_AT_SIGNAL)
    sign_in(page, clinic.root, clinic.staff["doctor"])
    page.goto(f"{clinic.root}/patients/{clinic.patients['yamada']}?period={period}")
    page.wait_for_selector("html[data-charts-drawn]", state="attached")
    at_signal = dict(page.evaluate("window.chartsAtSignal"))
    assert {"bp", "pulse", "spo2", "sleep"} <= at_signal.keys()
    assert at_signal == dict.fromkeys(page.evaluate("Object.keys(window.hvCharts)"), 1)
    marks = page.evaluate("performance.getEntriesByName('hv-charts-drawn').length")
    assert marks == 1
