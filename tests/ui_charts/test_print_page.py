"""The printable 30-day summary over real HTTP, with data loaded through the FHIR API.

Home A's readings (tests/ui_charts/world.py) over the 30 days ending 2026-11-30:
mornings on the 20th (160/100), the 28th (140/90, irregular pulse) and the 30th
(130/80 and 134/84: 132/82 that day); evenings on the 29th (150/95 at 01:30 on the
30th) and the 30th (120/71); pulse 45 on the 28th (low); SpO2 88 on the 29th (low);
one night of 380 min asleep. Home B's patient is another care team's: 404.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from clinician_ui.i18n import Catalogs

from .world import LAST_DAY, MRN, World, age_today, world

TEMPLATE = Path(__file__).parents[2] / "clinician_ui" / "templates" / "print_summary.html"

DASH = "\N{EN DASH}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """SQLite and PostgreSQL: their `$stats` daily figures come from different code."""
    with world(tmp_path_factory.mktemp(f"print-{request.param}"), request.param) as running:
        yield running


@pytest.fixture(scope="module")
def nurse(site: World) -> Iterator[httpx.Client]:
    with site.signed_in("en") as browser:
        yield browser


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _row(html: str, key: str) -> list[str]:
    found = re.search(rf'<tr data-key="{key}">(.*?)</tr>', html, re.S)
    assert found, key
    return [unescape(c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", found.group(1))]


def test_the_summary_shows_the_thirty_days_numbers(site: World, nurse: httpx.Client) -> None:
    page = nurse.get(f"/patients/{site.patient_a}/summary?end={LAST_DAY}")
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert _row(html, "morning")[1:] == ["144.0", "90.7", "3"]
    assert _row(html, "evening")[1:] == ["135.0", "83.0", "2"]
    assert _row(html, "difference")[1:] == ["9.0", "7.7", "2"]
    text = _text(html)
    assert f"Sun 1 Nov 2026 {DASH} Mon 30 Nov 2026" in text
    assert "4 of 30 days with readings." in text
    assert "Time asleep: 380.0 min on average (6 h 20 min); nights with data: 1." in text
    # Who, beyond a name (issue 12 review): birth date with age, sex, the clinic's number
    # (the MR-typed identifier, not the first one).
    who = re.search(r'<p class="who" id="who">(.*?)</p>', html, re.S)
    assert who and who.group(1) == (
        f"Born Mon 3 May 1948 ({age_today()} years) · Female · Patient no. {MRN}"
    )
    assert "at or above 135/85 mmHg" in text and "below 90 %" in text
    flagged = re.search(r'<table class="data" id="table-flagged">(.*?)</table>', html, re.S)
    assert flagged
    rows = [_text(r) for r in re.findall(r"<tr>(.*?)</tr>", flagged.group(1), re.S)][1:]
    assert rows[0] == "Fri 20 Nov 2026 07:00 160/100 mmHg ⚠ At or above the home line"
    assert "Sat 28 Nov 2026 07:00 140/90 mmHg ⚠ Irregular pulse ⚠ At or above the home line" in rows
    assert "Sat 28 Nov 2026 07:00 Pulse 45 /min ⚠ Low" in rows
    assert rows[3:] == [
        "Sun 29 Nov 2026 08:00 SpO2 88 % ⚠ Low",
        "Sun 29 Nov 2026 01:30 (next day) 150/95 mmHg ⚠ At or above the home line",
    ]
    assert "(5)" in text


def test_the_summary_in_japanese(site: World) -> None:
    with site.signed_in("ja") as browser:
        page = browser.get(f"/patients/{site.patient_a}/summary?end={LAST_DAY}")
    assert page.status_code == 200
    text = _text(page.text)
    assert f"2026年11月1日(日) {DASH} 2026年11月30日(月)" in text
    assert "30日間のまとめ" in text and "朝の平均" in text
    assert "2026年11月28日(土) 07:00 140/90 mmHg" in text
    assert f"生年月日 1948年5月3日(月) ({age_today()}歳) · 女性 · 患者番号 {MRN}" in text
    assert "2026年11月29日(日) 翌日 01:30 150/95 mmHg" in text


def test_the_patient_page_links_to_it(site: World, nurse: httpx.Client) -> None:
    page = nurse.get(f"/patients/{site.patient_a}")
    assert f'href="/patients/{site.patient_a}/summary"' in page.text


def test_another_care_teams_patient_is_not_found(site: World, nurse: httpx.Client) -> None:
    for patient in (site.patient_b, "no-such-patient"):
        answer = nurse.get(f"/patients/{patient}/summary")
        assert answer.status_code == 404, answer.text
        assert "鈴木" not in answer.text and "table-bp" not in answer.text


def test_a_bad_end_is_refused_not_500(site: World, nurse: httpx.Client) -> None:
    for end in ("2026-13-01", "yesterday", "9999-12-31"):
        answer = nurse.get(f"/patients/{site.patient_a}/summary", params={"end": end})
        assert answer.status_code == 400, (end, answer.status_code)


def test_signed_out_goes_to_the_login(site: World) -> None:
    with site.browser() as anonymous:
        answer = anonymous.get(f"/patients/{site.patient_a}/summary", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")


def test_every_text_is_translated() -> None:
    template = TEMPLATE.read_text()
    texts = {a or b for a, b in re.findall(r"""_\((?:"([^"]+)"|'([^']+)')\)""", template)}
    texts |= set(re.findall(r'"((?:Morning)[^"]*)"', template))
    assert len(texts) > 20
    catalogs = Catalogs()
    assert catalogs.missing("ja", sorted(texts)) == []
    assert catalogs.missing("en", sorted(texts)) == []
