"""The printable 30-day summary in a real headless Chromium: the numbers in the DOM,
the print stylesheet (no navigation, no buttons), and one A4 page in a PDF.

Screenshots (ja, en) go where the other browser tests put theirs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from clinician_ui.print_routes import MAX_FLAGGED_ROWS

from ..ui.conftest import axe, screenshot
from .world import LAST_DAY, World, age_today, world

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?!s)")

DASH = "\N{EN DASH}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("print-browser")) as running:
        yield running


def _open(browser: Any, site: World, language: str) -> tuple[Any, list[str]]:
    context = browser.new_context(
        locale=language,
        viewport={"width": 1200, "height": 900},
        extra_http_headers={"Accept-Language": language},
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site.root}/login")
    page.fill("input[name=username]", site.username)
    page.fill("input[name=password]", site.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.root}/patients")
    page.goto(f"{site.root}/patients/{site.patient_a}")
    page.click("#print-summary")  # the patient page's link
    page.wait_for_url(f"**/patients/{site.patient_a}/summary")
    page.goto(f"{site.root}/patients/{site.patient_a}/summary?end={LAST_DAY}")
    return page, errors


def _cells(page: Any, key: str) -> list[str]:
    return [c.strip() for c in page.locator(f"tr[data-key={key}] td").all_inner_texts()]


def count_pages(pdf: bytes) -> int:
    """Page objects in a PDF (`/Type /Page`, not the `/Type /Pages` tree nodes)."""
    return len(PAGE_OBJECT.findall(pdf))


def test_counting_pages_tells_page_objects_from_the_page_tree() -> None:
    assert count_pages(b"<< /Type /Pages /Kids [3 0 R 4 0 R] >> << /Type /Page >>") == 1
    assert count_pages(b"<</Type/Page/Parent 2 0 R>> <</Type /Page>> <</Type/Pages>>") == 2


def test_the_summary_prints_on_one_page(browser: Any, site: World) -> None:
    page, errors = _open(browser, site, "en")
    assert _cells(page, "morning") == ["144.0", "90.7", "3"]
    assert _cells(page, "evening") == ["135.0", "83.0", "2"]
    assert page.locator("#adherence").inner_text() == "4 of 30 days with readings."
    born = f"Born Mon 3 May 1948 ({age_today()} years)"
    assert page.locator("#who").inner_text().startswith(born)
    assert "380.0 min" in page.locator("#sleep").inner_text()
    assert page.locator("#table-flagged tbody tr").count() == 5
    assert page.locator("header.bar nav.main-nav").is_visible()
    axe(page)
    screenshot(page, "print-summary-en")

    page.emulate_media(media="print")
    for hidden in ("header.bar", "nav.main-nav", "nav.languages", ".signout button"):
        assert not page.locator(hidden).is_visible(), hidden
    assert page.locator("button:visible").count() == 0
    assert page.locator("#table-bp").is_visible()
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF")
    assert count_pages(pdf) == 1
    assert errors == []
    page.context.close()


def test_the_summary_in_japanese(browser: Any, site: World) -> None:
    page, errors = _open(browser, site, "ja")
    assert f"2026年11月1日(日) {DASH} 2026年11月30日(月)" in page.locator("#period").inner_text()
    assert page.locator("html").get_attribute("lang") == "ja"
    assert _cells(page, "morning") == ["144.0", "90.7", "3"]
    axe(page)
    screenshot(page, "print-summary-ja")
    page.emulate_media(media="print")
    assert count_pages(page.pdf(format="A4", prefer_css_page_size=True)) == 1
    # The worst case the page allows still fits: as many flagged rows as it lists
    # (MAX_FLAGGED_ROWS, then "and N more"), a long name with its kana.
    page.evaluate(
        """(rows) => { const body = document.querySelector("#table-flagged tbody");
        while (body.rows.length < rows) body.appendChild(body.rows[0].cloneNode(true));
        document.querySelector("h1").textContent = "田中 花子".repeat(4) + " (タナカ ハナコ)";
        const more = document.createElement("p"); more.className = "note";
        more.textContent = "ほかに99件"; body.closest("table").after(more); }""",
        MAX_FLAGGED_ROWS,
    )
    assert count_pages(page.pdf(format="A4", prefer_css_page_size=True)) == 1
    assert errors == []
    page.context.close()
