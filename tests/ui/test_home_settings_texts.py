"""Every text of the home gateway settings page has a Japanese and an English translation."""

from __future__ import annotations

import re

from clinician_ui.home_settings_form import REMINDER_KINDS
from clinician_ui.i18n import Catalogs

from .test_settings_texts import UI, _constants


def test_every_home_settings_text_is_translated() -> None:
    template = (UI / "templates" / "home_settings.html").read_text()
    found = {a or b for a, b in re.findall(r"""_\((?:"([^"]+)"|'([^']+)')\)""", template)}
    found |= set(re.findall(r'"([A-Z][a-z][^"]*)"\)', template))  # the options' labels
    found |= set(REMINDER_KINDS.values())
    found |= _constants(UI / "home_settings_form.py")
    found |= _constants(UI / "home_settings_routes.py")
    found.add("Home gateway: reminders, voice")  # the link on the patient page
    texts = sorted(found)
    assert len(texts) > 25, texts
    catalogs = Catalogs()
    assert catalogs.missing("ja", texts) == []
    assert catalogs.missing("en", texts) == []
