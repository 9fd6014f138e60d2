"""The gateways page in Debian's Chromium: reached from the menu, readable, accessible (axe),
with screenshots in Japanese and English for people to look at."""

from __future__ import annotations

import pytest

from .conftest import axe, screenshot, sign_in
from .world import Clinic

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _text(locator) -> str:
    return " ".join(locator.inner_text().split())


@pytest.mark.parametrize(
    ("lang", "link", "offline", "low"),
    [
        ("ja", "ゲートウェイ", "からオフライン", "電池残量低下: 10 %"),
        ("en", "Gateways", "Offline since", "Battery low: 10 %"),
    ],
)
def test_gateways_page_from_the_menu(clinic: Clinic, page_in, lang, link, offline, low):
    page = page_in(lang)
    sign_in(page, clinic.root, clinic.staff["doctor"])
    page.click(f"nav.main-nav a:text-is('{link}')")
    page.wait_for_url(f"{clinic.root}/gateways")
    rows = page.locator("tbody tr")
    assert rows.count() == 3
    # Offline first, with the battery low in words, not colour alone.
    first = rows.nth(0)
    assert first.get_attribute("data-gateway") == clinic.gateways["home-2"]
    assert offline in _text(first.locator("td.state-cell"))
    assert low in _text(first.locator("td.devices"))
    assert first.locator("td.devices .glyph").inner_text() == "▁"
    # The sensor's kind as its gateway reports it, beside its address (not "Device").
    cuff = "血圧計" if lang == "ja" else "Blood pressure cuff"
    assert f"{cuff} D0:00:00:00:00:02" in _text(first.locator("td.devices"))
    assert page.locator("nav.main-nav a[aria-current='page']").inner_text() == link
    axe(page)
    screenshot(page, f"gateways-{lang}")
