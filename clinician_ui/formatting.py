"""Dates, times and ages as the pages show them, in Japanese or English (pure).

Japanese dates are written the conventional way, 2026年11月30日(月); English ones
as "Mon 30 Nov 2026". Times are 24-hour. Every moment is shown in the zone it
is given (the patient's).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, tzinfo

from babel.dates import format_date

from .summary import Age

__all__ = ["age_text", "duration_text", "long_date", "moment"]

_PATTERNS = {"ja": "y年M月d日(E)", "en": "EEE d MMM y"}
_AGES = {"min": "{n} min ago", "h": "{n} h ago", "d": "{n} d ago"}


def long_date(day: date, language: str) -> str:
    """2026年11月30日(月) in Japanese, Mon 30 Nov 2026 in English."""
    return format_date(day, _PATTERNS.get(language, _PATTERNS["en"]), locale=language)


def moment(ms: int, zone: tzinfo, language: str) -> str:
    """The date and 24-hour time of epoch milliseconds `ms` in `zone`."""
    local = datetime.fromtimestamp(ms / 1000, zone)
    return f"{long_date(local.date(), language)} {local:%H:%M}"


def age_text(age: Age, gettext: Callable[[str], str]) -> str:
    """ "3 h ago" / "3時間前" (the catalogs hold the texts)."""
    if age.unit == "min" and age.amount < 1:
        return gettext("just now")
    return gettext(_AGES[age.unit]).format(n=age.amount)


def duration_text(minutes: float, gettext: Callable[[str], str]) -> str:
    """ "7 h 05 min" / "7時間05分": a night's sleep as people say it, not "7:05 h:mm"."""
    whole = round(minutes)
    return gettext("{hours} h {minutes} min").format(hours=whole // 60, minutes=f"{whole % 60:02d}")
