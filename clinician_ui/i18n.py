"""Page texts in Japanese and English: Babel catalogs read at start, no build step.

Each language's `locale/<lang>/LC_MESSAGES/messages.po` is read once with
`babel.messages.pofile.read_po` (no compiled .mo files to keep in step). The
language is the `?lang=` a user chose (kept in a cookie), else the browser's
Accept-Language, else Japanese.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from babel.messages.pofile import read_po

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "Catalogs", "choose_language"]

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
LANGUAGE_COOKIE = "hv_lang"
_LOCALE = Path(__file__).parent / "locale"


class Catalogs:
    """The translations of every language, msgid to text."""

    def __init__(self, directory: Path = _LOCALE) -> None:
        self._texts: dict[str, dict[str, str]] = {}
        for language in LANGUAGES:
            path = directory / language / "LC_MESSAGES" / "messages.po"
            with path.open("rb") as file:
                catalog = read_po(file, locale=language)
            self._texts[language] = {
                str(message.id): str(message.string)
                for message in catalog
                if message.id and isinstance(message.string, str) and message.string
            }

    def gettext(self, language: str) -> Callable[[str], str]:
        """The translation function of `language` (a text without translation stays as is)."""
        texts = self._texts.get(language, {})
        return lambda text: texts.get(text, text)

    def missing(self, language: str, msgids: list[str]) -> list[str]:
        """The texts of `msgids` that `language` has no translation for (for tests)."""
        return [m for m in msgids if m not in self._texts.get(language, {})]


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
