"""The patient page in a real headless Chromium (Debian's, driven by Playwright; no download).

Reads what uPlot was given to draw (`window.hvCharts`), not only that a canvas
exists; checks the page raises no script error (a CSP refusal is one) and stays
under 300 KB; saves screenshots to build/ui-screenshots/ (or $HOMEVITALS_TEST_ARTIFACTS).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..ui.conftest import axe
from .world import LAST_DAY, World, age_today, world

# Where helper A's harness puts them too: $HOMEVITALS_TEST_ARTIFACTS, else build/ (git-ignored).
SCREENSHOTS = Path(
    os.environ.get("HOMEVITALS_TEST_ARTIFACTS")
    or Path(__file__).parents[2] / "build" / "ui-screenshots"
)
MAX_PAGE_BYTES = 300 * 1024


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("ui-browser")) as running:
        yield running


def open_page(
    browser: Any, site: World, language: str, period: int
) -> tuple[Any, list[str], list[int]]:
    """A signed-in page at the patient's chart; its console errors and response sizes."""
    context = browser.new_context(
        locale=language,
        viewport={"width": 1200, "height": 900},
        extra_http_headers={"Accept-Language": language},
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site.root}/login")
    page.fill("input[name=username]", site.username)
    page.fill("input[name=password]", site.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.root}/patients")  # where a clinician lands after signing in
    sizes: list[int] = []
    page.on("response", lambda r: sizes.append(len(r.body())))
    page.goto(f"{site.root}/patients/{site.patient_a}?period={period}&end={LAST_DAY}")
    page.wait_for_function("window.hvCharts && window.hvCharts.sleep")
    return page, errors, sizes


def points(page: Any, key: str, series: int) -> int:
    """How many non-null values uPlot holds for one series of a chart."""
    return int(
        page.evaluate(
            "([k, s]) => window.hvCharts[k].data[s].filter(v => v !== null).length", [key, series]
        )
    )


def legends(page: Any) -> list[str]:
    """The legend text of every chart, as it reads with nothing hovered."""
    return list(page.evaluate("[...document.querySelectorAll('.u-legend')].map(l => l.innerText)"))


def strip(page: Any) -> tuple[list[str], list[str], list[str]]:
    """The adherence strip's squares, their titles and its visible dates."""
    return (
        page.locator("#strip li").all_inner_texts(),
        page.locator("#strip li").evaluate_all("items => items.map(i => i.title)"),
        page.locator("#strip .day").all_inner_texts(),
    )


def test_seven_days_draw_each_reading(browser: Any, site: World) -> None:
    page, errors, sizes = open_page(browser, site, "en", 7)
    # Nothing hovered: each legend shows the newest values (the 21:00 reading), not "--".
    shown = legends(page)
    assert all("--" not in text for text in shown), shown
    assert "Evening Systolic:\n120" in shown[0].replace(" 120", "\n120") or "120" in shown[0]
    assert "30 Nov 2026, 21:00" in shown[0]
    # Sleep: time in bed (450 min) behind time asleep; the rates in bed of the 29th's night,
    # and the heart rate of the 27th's (one SampledData of 480 samples, no breathing rate).
    assert page.evaluate("window.hvCharts.sleep.data[1][5]") == 450
    assert points(page, "sleep", 1) == 1 and points(page, "sleep", 2) == 1
    assert page.evaluate("window.hvCharts.sleep_vitals.data[0].length") == 7
    assert [points(page, "sleep_vitals", s) for s in range(1, 7)] == [2, 2, 2, 1, 1, 1]
    assert page.evaluate("window.hvCharts.sleep_vitals.data[3][5]") == 54  # heart rate mean
    assert page.evaluate("window.hvCharts.sleep_vitals.data[6][5]") == 13  # breathing rate
    # The adherence strip: each day a square with its date; the last day's date shows.
    squares, titles, days = strip(page)
    assert [q.split("\n")[0].strip() for q in squares] == ["□", "□", "□", "□", "■", "■", "■"]
    assert titles[-1].endswith("30 November 2026: readings") and "27" in titles[3]
    assert titles[3].endswith("no readings") and days == ["30/11"]
    # The tables are one click away (closed, the page is short), then readable.
    assert not page.locator("#table-bp").is_visible()
    page.locator("#numbers-bp summary").click()
    assert page.locator("#table-bp").is_visible()
    axe(page)
    assert page.evaluate("window.hvCharts.bp.data[0].length") == 5
    assert [points(page, "bp", s) for s in range(1, 7)] == [3, 3, 2, 2, 0, 0]  # morning, evening
    assert points(page, "pulse", 1) == 2 and points(page, "spo2", 1) == 2
    # the cursor is shared: every panel syncs on one key
    keys = page.evaluate("Object.values(window.hvCharts).map(u => u.cursor.sync.key)")
    assert set(keys) == {"hv-patient"}
    assert page.locator("#table-bp tbody tr").count() == 5
    # Hovering the flagged reading (the 28th, 07:00) shows its flags, and the synced
    # cursor shows the pulse taken with it (45 /min, low) in the panel below.
    page.locator("#table-bp").scroll_into_view_if_needed()
    spot = page.evaluate(
        """() => { const u = window.hvCharts.bp, box = u.over.getBoundingClientRect();
        return [box.left + u.valToPos(u.data[0][0], "x"), box.top + u.valToPos(100, "y")]; }"""
    )
    page.mouse.move(*spot)
    assert page.locator("#flags-bp").inner_text() == "⚠ Irregular pulse ⚠ At or above the home line"
    assert page.evaluate("window.hvCharts.pulse.cursor.idx") == 0
    assert page.locator("#flags-pulse").inner_text() == "⚠ Low"
    assert [e for e in errors if "favicon" not in e and "Failed to load" not in e] == []
    assert sum(sizes) < MAX_PAGE_BYTES, sizes
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "patient-7-days-en.png"), full_page=True)
    page.context.close()


def test_thirty_days_draw_daily_bars_with_gaps(browser: Any, site: World) -> None:
    page, errors, sizes = open_page(browser, site, "ja", 30)
    assert all("--" not in text for text in legends(page))
    squares, titles, days = strip(page)
    assert len(squares) == 30 and titles[-1] == "2026年11月30日(月): 測定あり"
    assert titles[-4] == "2026年11月27日(金): 測定なし"
    assert days == ["11/2", "11/9", "11/16", "11/23", "11/30"]  # weekly, from the last day
    assert f"{age_today()}歳 · 女性" in page.locator("#facts").inner_text()
    # The rates in bed sit at the 29th's night on the shared axis (not at the 6th).
    assert page.evaluate("window.hvCharts.sleep_vitals.data[0][5]") == page.evaluate(
        "window.hvCharts.sleep.data[0][28]"
    )
    # Shorter than the 3,200 px the doctor scrolled through at 1,200 px wide (2,300 px,
    # plus the review band of about 150 px for those who may mark the page reviewed).
    assert page.evaluate("document.documentElement.scrollHeight") < 2550
    axe(page)
    assert page.evaluate("window.hvCharts.bp.data[0].length") == 30
    assert points(page, "bp", 2) == 3  # systolic max: the 20th, 28th and 30th; the rest gaps
    assert page.evaluate("window.hvCharts.bp.data[2][28]") is None  # the 29th
    assert [points(page, "sleep", s) for s in (1, 2, 3, 4)] == [1, 1, 1, 1]  # asleep, stages
    assert page.locator("#table-bp tbody tr").count() == 3
    assert "2026年11月30日(月)" in page.content()
    assert [e for e in errors if "favicon" not in e and "Failed to load" not in e] == []
    assert sum(sizes) < MAX_PAGE_BYTES, sizes
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "patient-30-days-ja.png"), full_page=True)
    page.context.close()


def test_switching_periods_by_the_links(browser: Any, site: World) -> None:
    page, errors, _ = open_page(browser, site, "en", 30)
    for label, days in (("90 days", 90), ("1 year", 365), ("7 days", 7)):
        page.get_by_role("link", name=label).click()
        page.wait_for_url(f"**period={days}&end={LAST_DAY}")
        page.wait_for_function("window.hvCharts && window.hvCharts.sleep")
        assert page.locator('.periods a[aria-current="page"]').inner_text() == label
        if days > 7:
            assert page.evaluate("window.hvCharts.bp.data[0].length") == days
            assert points(page, "bp", 2) == 3
            if days == 365:
                page.screenshot(path=str(SCREENSHOTS / "patient-1-year-en.png"), full_page=True)
        else:
            assert page.evaluate("window.hvCharts.bp.data[0].length") == 5
    assert [e for e in errors if "favicon" not in e and "Failed to load" not in e] == []
    page.context.close()
