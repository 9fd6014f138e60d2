"""The patient page and its chart.json over real HTTP, with data loaded through the FHIR API.

A nurse of home A's care team signs in through the login form; home B's patient is
out of reach and answers 404 like an unknown one, on the page and on chart.json.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from .world import EPOCHS_A, LAST_DAY, MRN, SAMPLES_A, World, age_today, world


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """SQLite and PostgreSQL: their `$stats` daily figures come from different code."""
    with world(tmp_path_factory.mktemp(f"ui-charts-{request.param}"), request.param) as running:
        yield running


@pytest.fixture(scope="module")
def nurse(site: World) -> Iterator[httpx.Client]:
    with site.signed_in("en") as browser:
        yield browser


def chart(nurse: httpx.Client, site: World, period: int) -> dict:
    answer = nurse.get(f"/patients/{site.patient_a}/chart.json?period={period}&end={LAST_DAY}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()


def test_seven_days_chart_each_reading_by_occasion(site: World, nurse: httpx.Client) -> None:
    data = chart(nurse, site, 7)
    assert data["detail"] == "readings" and data["zone"] == "Asia/Tokyo"
    bp = data["bp"]
    # 28th 07:00, 30th 01:30 (the 29th's evening), 07:00, 07:02, 21:00; the 20th is too old.
    assert [row["time"] for row in bp["rows"]] == ["07:00", "01:30", "07:00", "07:02", "21:00"]
    assert bp["series"]["morning_sys"] == [140, None, 130, 134, None]
    assert bp["series"]["evening_dia"] == [None, 95, None, None, 71]
    assert bp["rows"][0]["flags"] == ["irregular-pulse", "above-home-line"]
    assert data["pulse"]["series"]["value"] == [45, 72]
    assert data["pulse"]["rows"][0]["flags"] == ["low"]
    assert data["spo2"]["series"]["value"] == [88, 97]
    summary = data["summary"]
    assert summary["morning"] == {"systolic": 136.0, "diastolic": 86.0, "days": 2}
    assert summary["evening"] == {"systolic": 135.0, "diastolic": 83.0, "days": 2}
    assert summary["average"] == {"systolic": 135.5, "diastolic": 84.5, "days": 2}
    assert summary["difference"] == {"systolic": 1.0, "diastolic": 3.0, "days": 2}


def test_thirty_days_chart_the_servers_daily_figures_with_gaps(
    site: World, nurse: httpx.Client
) -> None:
    data = chart(nurse, site, 30)
    assert data["detail"] == "daily"
    s = data["bp"]["series"]
    assert len(data["bp"]["x"]) == len(s["sys_max"]) == 30
    # Calendar days (as $stats counts them): the 01:30 reading is the 30th's.
    assert s["sys_max"][-11:] == [160, None, None, None, None, None, None, None, 140, None, 150]
    assert s["dia_min"][-1] == 71 and s["sys_count"][-1] == 4
    assert s["sys_mean"][-1] == pytest.approx((150 + 130 + 134 + 120) / 4, abs=0.05)
    assert data["spo2"]["series"]["count"][-2:] == [1, 1]
    sleep = data["sleep"]["series"]
    assert sleep["asleep"][-2:] == [380, None]  # the night that began on the 29th
    assert [sleep[stage][-2] for stage in ("deep", "light", "rem")] == [60, 250, 70]
    assert data["adherence"]["days"] == 4  # the 20th, 28th, 29th (SpO2) and 30th


def test_the_page_shows_the_same_numbers_in_tables(site: World, nurse: httpx.Client) -> None:
    page = nurse.get(f"/patients/{site.patient_a}?period=7&end={LAST_DAY}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "田中 花子" in html
    assert 'aria-current="page">7 days' in html
    summary = re.search(r'<table class="data" id="table-summary">.*?</table>', html, re.S)
    assert summary is not None
    assert re.findall(r"<td>([^<]*)</td>", summary.group(0)) == [
        *("136.0", "86.0", "2"),
        *("135.0", "83.0", "2"),
        *("135.5", "84.5", "2"),
        *("1.0", "3.0", "2"),
    ]
    bp = re.search(r'<table class="data" id="table-bp">.*?</table>', html, re.S)
    assert bp is not None
    assert bp.group(0).count('<tr><th scope="row">') == 5
    assert "Mon 30 Nov 2026" in bp.group(0) and "⚠ Irregular pulse" in bp.group(0)
    assert '<script type="application/json" id="chart-data">' in html
    assert "<script>" not in html  # no inline script: the CSP forbids it
    assert "4 of 7 days with readings" not in html and "3 of 7 days with readings." in html


def test_sleep_panels_time_in_bed_and_rates_in_bed(site: World, nurse: httpx.Client) -> None:
    """Issue 12: time in bed beside time asleep; heart rate and respiration during sleep."""
    for period in (7, 30):
        data = chart(nurse, site, period)
        sleep = data["sleep"]["series"]
        assert sleep["in_bed"][-2:] == [450, None]  # 23:00 to 06:30, the night of the 29th
        assert sleep["asleep"][-2:] == [380, None]
        night = data["sleep_vitals"]
        assert len(night["x"]) == 7 and night["x"] == data["days"]["x"][-7:]
        assert night["labels"][-2] == "Sun 29 Nov 2026"
        rates = night["series"]
        # Every epoch of the night (those after midnight too) is the 29th's night; the
        # 27th's night came as one SampledData of 480 one-minute samples (issue 15): the
        # page reads `$stats` in bed, not the epochs, so every sample counts.
        assert rates["hr_count"] == [0, 0, 0, len(SAMPLES_A), 0, len(EPOCHS_A), 0]
        assert (rates["hr_min"][3], rates["hr_max"][3]) == (min(SAMPLES_A), max(SAMPLES_A))
        assert rates["hr_mean"][3] == round(sum(SAMPLES_A) / len(SAMPLES_A), 1)
        assert rates["rr_count"][3] == 0
        assert (rates["hr_min"][-2], rates["hr_max"][-2], rates["hr_mean"][-2]) == (52, 56, 54)
        assert (rates["rr_min"][-2], rates["rr_max"][-2], rates["rr_mean"][-2]) == (12, 14, 13)
        assert rates["rr_mean"][-1] is None  # no night yet: a gap, not a zero
    # The spot pulse panel keeps the spot readings only, not 15 epochs of the night.
    assert chart(nurse, site, 7)["pulse"]["series"]["value"] == [45, 72]


def test_the_header_says_who_and_the_newest_values(site: World) -> None:
    for language, facts in (
        ("en", f"{age_today()} years · Female · Born Mon 3 May 1948 · Patient no. {MRN}"),
        ("ja", f"{age_today()}歳 · 女性 · 生年月日 1948年5月3日(月) · 患者番号 {MRN}"),
    ):
        with site.signed_in(language) as browser:
            html = browser.get(f"/patients/{site.patient_a}?period=7&end={LAST_DAY}").text
        found = re.search(r'<p class="facts" id="facts">(.*?)</p>', html, re.S)
        assert found and found.group(1) == facts
        latest = re.search(r'<dl id="latest">(.*?)</dl>', html, re.S)
        assert latest is not None
        text = " ".join(re.sub(r"<[^>]+>", " ", latest.group(1)).split())
        asleep = "6 h 20 min asleep" if language == "en" else "6時間20分 睡眠"
        for value in ("120/71", "72", "97", asleep):
            assert value in text, (value, text)


def test_an_evening_reading_after_midnight_is_listed_under_its_evening(
    site: World, nurse: httpx.Client
) -> None:
    html = nurse.get(f"/patients/{site.patient_a}?period=7&end={LAST_DAY}").text
    table = re.search(r'<table class="data" id="table-bp">.*?</table>', html, re.S)
    assert table is not None
    rows = re.findall(
        r'<tr><th scope="row">([^<]*)</th><td>([^<]*)</td><td>([^<]*)</td>', table.group(0)
    )
    assert rows[1] == ("Sun 29 Nov 2026", "01:30 (next day)", "Evening")
    assert [r[0] for r in rows] == ["Sat 28 Nov 2026", "Sun 29 Nov 2026", *["Mon 30 Nov 2026"] * 3]


def test_the_page_in_japanese(site: World) -> None:
    with site.signed_in("ja") as browser:
        page = browser.get(f"/patients/{site.patient_a}?period=30&end={LAST_DAY}")
    assert page.status_code == 200
    assert "2026年11月30日(月)" in page.text
    assert "朝の平均" in page.text and "30日間" in page.text
    assert "睡眠中の心拍数と呼吸数" in page.text and "床上時間" in page.text


@pytest.mark.parametrize("path", ["", "/chart.json"])
def test_another_care_teams_patient_is_not_found(
    site: World, nurse: httpx.Client, path: str
) -> None:
    for patient in (site.patient_b, "no-such-patient"):
        answer = nurse.get(f"/patients/{patient}{path}")
        assert answer.status_code == 404, answer.text
        assert "chart-data" not in answer.text and "鈴木" not in answer.text
        if not path:
            assert answer.headers["content-type"].startswith("text/html")


def test_bad_parameters_are_refused_precisely(site: World, nurse: httpx.Client) -> None:
    page = nurse.get(f"/patients/{site.patient_a}?period=14")
    assert page.status_code == 400 and "period" in page.text
    data = nurse.get(f"/patients/{site.patient_a}/chart.json?end=2026-13-01")
    assert data.status_code == 400
    assert data.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("end=9999-12-31", 400),
        ("end=0001-01-01&period=365", 400),
        ("end=2026-02-30", 400),
        ("end=20261130", 400),
        ("period=", 400),
        ("period=7&period=x", 400),
    ],
)
def test_bad_dates_are_refused_not_500(
    site: World, nurse: httpx.Client, query: str, status: int
) -> None:
    for path in ("", "/chart.json"):
        answer = nurse.get(f"/patients/{site.patient_a}{path}?{query}")
        assert answer.status_code == status, (path, answer.text)


@pytest.mark.parametrize("patient", ["bad id!", "x" * 100, "%00"])
def test_a_malformed_id_is_refused_not_500(site: World, nurse: httpx.Client, patient: str) -> None:
    for path in ("", "/chart.json"):
        answer = nurse.get(f"/patients/{patient}{path}")
        assert answer.status_code in (400, 404), (path, answer.text)


def test_an_admin_reads_no_readings(site: World) -> None:
    with site.browser() as browser:
        site.sign_in(browser, site.admin)
        page = browser.get(f"/patients/{site.patient_a}")
        data = browser.get(f"/patients/{site.patient_a}/chart.json")
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert "chart-data" not in page.text
    assert data.status_code == 403 and data.json()["resourceType"] == "OperationOutcome"


def test_signed_out_goes_to_the_login(site: World) -> None:
    with site.browser() as browser:
        answer = browser.get(f"/patients/{site.patient_a}", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
