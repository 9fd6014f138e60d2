"""Page texts in Japanese and English: Babel catalogs read at start, no build step.

Each language's `locale/<lang>/LC_MESSAGES/messages.po` is read once with
`babel.messages.pofile.read_po` and compiled in memory (`babel.messages.mofile.write_mo`)
into the standard library's `gettext.GNUTranslations`, so no compiled .mo file has to
be kept in step. A text that counts something ("1 gateway", "2 gateways") is a plural
entry, its form chosen by `GNUTranslations.ngettext` with the catalog's own
Plural-Forms rule: English has two forms, Japanese one. The language is the `?lang=`
a user chose (kept in a cookie), else the browser's Accept-Language, else Japanese.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from gettext import GNUTranslations
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "Catalogs", "choose_language"]

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
LANGUAGE_COOKIE = "hv_lang"
_LOCALE = Path(__file__).parent / "locale"


class Catalogs:
    """The translations of every language."""

    def __init__(self, directory: Path = _LOCALE) -> None:
        self._translations: dict[str, GNUTranslations] = {}
        # singular msgid -> its translated forms, for the tests' checks of the catalogs
        self._plurals: dict[str, dict[str, tuple[str, ...]]] = {}
        self._known: dict[str, frozenset[str]] = {}
        for language in LANGUAGES:
            path = directory / language / "LC_MESSAGES" / "messages.po"
            with path.open("rb") as file:
                catalog = read_po(file, locale=language)
            # Only whole translations are compiled: write_mo would fill a plural entry's
            # empty forms with its msgid by index (Japanese's one form: the English
            # singular for every number) where a missing entry takes the English rule,
            # and it leaves fuzzy entries out, which must then not count as translated.
            for message in list(catalog)[1:]:
                if message.fuzzy or not _translated(message.string, catalog.num_plurals):
                    catalog.delete(message.id, message.context)
            compiled = BytesIO()
            write_mo(compiled, catalog)
            compiled.seek(0)
            self._translations[language] = GNUTranslations(compiled)
            self._plurals[language] = {
                str(message.id[0]): tuple(str(form) for form in message.string)
                for message in catalog
                if isinstance(message.id, tuple) and isinstance(message.string, tuple)
            }
            self._known[language] = frozenset(
                str(message.id) for message in catalog if message.id and isinstance(message.id, str)
            ) | frozenset(self._plurals[language])

    def gettext(self, language: str) -> Callable[[str], str]:
        """The translation function of `language` (a text without translation stays as is)."""
        found = self._translations.get(language)
        return found.gettext if found else lambda text: text

    def ngettext(self, language: str) -> Callable[[str, str, int], str]:
        """`language`'s plural translation function: the form its rule gives for `n`
        (an untranslated text falls back to English's rule: singular for 1)."""
        found = self._translations.get(language)
        return found.ngettext if found else lambda one, other, n: one if n == 1 else other

    def missing(self, language: str, msgids: list[str]) -> list[str]:
        """The texts of `msgids` that `language` has no translation for (for tests); a
        plural entry is named by its singular msgid."""
        known = self._known.get(language, frozenset())
        return [m for m in msgids if m not in known]

    def plural_forms(self, language: str, singular: str) -> tuple[str, ...] | None:
        """The translated forms of the plural entry `singular` (None: no such entry)."""
        return self._plurals.get(language, {}).get(singular)


def _translated(string: object, forms: int) -> bool:
    """A msgstr with its text, or a plural entry with every one of the language's forms."""
    if isinstance(string, tuple):
        return len(string) == forms and all(string)
    return bool(string)


def _accepted(header: str) -> list[str]:
    """Languages of an Accept-Language header, best first (q=0 dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if name and quality > 0:
            ranked.append((-quality, index, name.strip().lower().split("-")[0]))
    return [name for _, _, name in sorted(ranked)]


def choose_language(
    query: str | None, cookie: str | None, headers: Mapping[str, str]
) -> tuple[str, bool]:
    """The page language, and whether it was chosen now (to keep in the cookie)."""
    if query in LANGUAGES:
        return str(query), True
    if cookie in LANGUAGES:
        return str(cookie), False
    for name in _accepted(headers.get("accept-language", "")):
        if name in LANGUAGES:
            return name, False
    return DEFAULT_LANGUAGE, False
