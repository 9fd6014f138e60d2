"""A year of every panel, every day, stays under the issue's 300 KB per page.

The worst case the page can get: four readings a day of every charted code for
365 days, rendered with the real template, plus every file the page loads
(style sheets, charts.js, uPlot). The browser test measures a real, smaller page.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from clinician_ui.charts import (
    FLAG_NAMES,
    STATS_CODES,
    Night,
    NightRate,
    chart_data,
    for_browser,
)
from clinician_ui.list_routes import FLAG_TEXTS, GLYPHS
from clinician_ui.patient_facts import SEXES, Facts
from clinician_ui.patient_routes import _labels
from clinician_ui.rendering import Pages
from clinician_ui.review_routes import ReviewBlock
from clinician_ui.summary import Age, Gateway, GatewayState, PatientRow, Value
from fhir_api.storage.series.base import DayStatistics

STATIC = Path(__file__).parents[2] / "clinician_ui" / "static"
LOADED = [
    "style.css",
    "patient.css",
    "review.css",
    "charts.js",
    "vendor/uplot/uPlot.iife.min.js",
    "vendor/uplot/uPlot.min.css",
]
LAST = date(2026, 11, 30)
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_full_year_stays_under_300_kb(language: str) -> None:
    stats = [
        DayStatistics(code, LAST - timedelta(days=n), 100.5, 150.5, 125.25, 4, "x")
        for code in STATS_CODES
        for n in range(365)
    ]
    # A night in bed every night; the rates in bed of the last 7 nights.
    bedtimes = [
        datetime.combine(LAST - timedelta(days=n), datetime.min.time(), TOKYO).replace(hour=22)
        for n in range(365)
    ]
    nights = [Night(start, start + timedelta(hours=8, minutes=30)) for start in bedtimes]
    epochs = [
        NightRate(kind, start.date(), 48.5, 71.5, 55.55, 102)
        for start in bedtimes[:7]
        for kind in ("sleep_hr", "sleep_rr")
    ]
    data = chart_data(
        period=365,
        last=LAST,
        zone=TOKYO,
        zone_name="Asia/Tokyo",
        stats=stats,
        readings=[],
        rates=epochs,
        language=language,
        nights=nights,
    )
    gettext = pages_gettext = Pages().catalogs.gettext(language)
    value = Value("152/96", 0, Age(3, "h"), None, 152.0)
    latest = PatientRow(
        "p", "田中 花子", None, TOKYO, value, value, value, value, 30, Gateway(GatewayState.ONLINE)
    )
    pages = Pages()
    html = pages.environment.get_template("patient.html").render(
        _=pages.catalogs.gettext(language),
        ngettext=pages.catalogs.ngettext(language),
        lang=language,
        csrf="x" * 43,
        patient_id="p" * 36,
        name="田中 花子",
        zone="Asia/Tokyo",
        last_day="2026年11月30日(月)",
        end=None,
        periods=(7, 30, 90, 365),
        data=data,
        browser={
            **for_browser(data, FLAG_NAMES),
            "labels": _labels(pages, language),
            "lang": language,
        },
        truncated=False,
        flag_names=FLAG_NAMES,
        facts=Facts(date(1948, 5, 3), 78, "female", "0000123456"),
        birth_day="1948年5月3日(月)",
        sexes=SEXES,
        latest=latest,
        glyphs=GLYPHS,
        flag_texts={level: gettext(text) for level, text in FLAG_TEXTS.items()},
        ago=lambda v: "3 h ago",
        asleep=lambda minutes: f"{minutes} min",
        # The fullest review block: a reviewer, a period, the longest note, the form.
        review=ReviewBlock(
            reviewed=True,
            when="2026年11月30日(月) 14:05",
            reviewer="医師 " + "名" * 60,
            period="2025年12月1日(月) \N{EN DASH} 2026年11月30日(月)",
            note="メ" * 500,
            may_review=True,
            first="2025-12-01",
            last="2026-11-30",
            shown="2025年12月1日(月) \N{EN DASH} 2026年11月30日(月)",
        ),
    )
    del pages_gettext
    # Every day of four panels, the 7-day summary's rows and the last 7 nights in bed.
    assert html.count('<tr><th scope="row">') == 4 * 365 + 4 + 7
    total = len(html.encode()) + sum((STATIC / name).stat().st_size for name in LOADED)
    assert total < 300 * 1024, total
