"""Counted texts agree with their number: "1 gateway", "2 gateways"; Japanese has one form.

Before, a one-point chart's text alternative read "1 points over 7 days" and a clinic
with one gateway "1 gateways": the catalogs had no plural entries at all.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from clinician_ui.i18n import Catalogs

TEMPLATES = Path(__file__).parents[2] / "clinician_ui" / "templates"
CALL = re.compile(r'ngettext\(\s*"((?:[^"\\]|\\.)+)",\s*"((?:[^"\\]|\\.)+)"')


def plural_calls() -> list[tuple[str, str]]:
    """Every (singular, plural) pair the templates pass to ngettext."""
    calls: set[tuple[str, str]] = set()
    for template in TEMPLATES.glob("*.html"):
        calls |= set(CALL.findall(template.read_text(encoding="utf-8")))
    return sorted(calls)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_counted_texts_are_plural_calls() -> None:
    singulars = {singular for singular, _ in plural_calls()}
    assert {"{n} gateway", "{n} year", "{n} reading waiting"} <= singulars
    assert len(singulars) >= 9
    # a counted text passed to _() anywhere in its msgid, as before ("{title}: {points}
    # points over ...", "{n} readings waiting")
    singular_call = re.compile(
        r'(?<!n)_\("[^"]*\{\w+\} (points over|gateways|years|readings waiting)'
    )
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert singular_call.findall(text) == [], template.name


@pytest.mark.parametrize(("language", "forms"), [("en", 2), ("ja", 1)])
def test_every_plural_call_has_its_forms_with_the_same_placeholders(
    language: str, forms: int
) -> None:
    catalogs = Catalogs()
    for singular, plural in plural_calls():
        translated = catalogs.plural_forms(language, singular)
        assert translated is not None and len(translated) == forms, (language, singular)
        for form in translated:
            assert placeholders(form) == placeholders(plural), (language, form)


def test_english_counts_one_in_the_singular_and_japanese_is_unchanged() -> None:
    catalogs = Catalogs()
    english, japanese = catalogs.ngettext("en"), catalogs.ngettext("ja")
    one = english("{n} gateway", "{n} gateways", 1).format(n=1)
    two = english("{n} gateway", "{n} gateways", 2).format(n=2)
    none = english("{n} gateway", "{n} gateways", 0).format(n=0)
    assert (one, two, none) == ("1 gateway", "2 gateways", "0 gateways")
    points = english(
        "{title}: {points} point over {days} days, lowest {low} {unit}, highest {high} {unit}.",
        "{title}: {points} points over {days} days, lowest {low} {unit}, highest {high} {unit}.",
        1,
    )
    assert points.startswith("{title}: {points} point over")
    assert [japanese("{n} year", "{n} years", n).format(n=n) for n in (1, 78)] == ["1歳", "78歳"]


def test_an_untranslated_plural_falls_back_to_the_english_rule() -> None:
    translate = Catalogs().ngettext("ja")
    assert translate("{n} apple", "{n} apples", 1) == "{n} apple"
    assert translate("{n} apple", "{n} apples", 3) == "{n} apples"


def test_a_catalog_entry_left_untranslated_falls_back_and_is_reported_missing(
    tmp_path: Path,
) -> None:
    """`pybabel update` adds a new counted text as a plural entry with empty forms, and
    marks a guessed translation fuzzy. Compiled as is, the empty forms became the
    singular msgid for every number in Japanese ("2 new reading"), and the fuzzy text,
    which the page does not show, counted as translated for `missing`."""
    source = Path(__file__).parents[2] / "clinician_ui" / "locale"
    for language in ("ja", "en"):
        folder = tmp_path / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        text = (source / language / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
        if language == "ja":
            text += (
                '\nmsgid "{n} new reading"\nmsgid_plural "{n} new readings"\nmsgstr[0] ""\n'
                '\n#, fuzzy\nmsgid "A guessed text"\nmsgstr "推測"\n'
            )
        (folder / "messages.po").write_text(text, encoding="utf-8")
    catalogs = Catalogs(tmp_path)
    translate = catalogs.ngettext("ja")
    assert translate("{n} new reading", "{n} new readings", 1) == "{n} new reading"
    assert translate("{n} new reading", "{n} new readings", 2) == "{n} new readings"
    assert catalogs.gettext("ja")("A guessed text") == "A guessed text"
    assert catalogs.missing("ja", ["{n} new reading", "A guessed text"]) == [
        "{n} new reading",
        "A guessed text",
    ]
    assert catalogs.missing("ja", ["{n} gateway"]) == []
