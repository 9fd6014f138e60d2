"""Every text of the alert pages has a Japanese and an English translation: the
templates' `_()` texts, the route's messages and each condition, severity and kind."""

from __future__ import annotations

import re
from pathlib import Path

from clinician_ui import alerts_data, alerts_routes
from clinician_ui.i18n import Catalogs

UI = Path(__file__).parents[2] / "clinician_ui"
TEMPLATES = ("alerts.html", "patient_alerts.html", "patient_alerts_summary.html")


def alert_texts() -> list[str]:
    found: set[str] = set()
    for name in TEMPLATES:
        template = (UI / "templates" / name).read_text()
        found |= {a or b for a, b in re.findall(r"""_\((?:"([^"]+)"|'([^']+)')\)""", template)}
        found |= set(re.findall(r'"(?:open|acknowledged|resolved)": "([^"]+)"', template))
    found |= set(alerts_data.CONDITIONS.values()) | set(alerts_data.SEVERITY_TEXTS.values())
    found |= set(alerts_data._KINDS.values())
    found |= set(alerts_routes._STATE_TEXTS.values()) | set(alerts_routes._DONE.values())
    found |= {
        alerts_routes.NOT_FOUND,
        alerts_routes.ALREADY,
        alerts_routes.ACKNOWLEDGED_ALREADY,
        alerts_routes.NOTE_NEEDED,
        alerts_routes.NO_ALERTS,
        alerts_routes.NOTE_TOO_LONG,
        "Sort by open alerts",
        "Only patients with open alerts",
        "Unresolved: {n}",
        "{n} open",
    }
    return sorted(found)


def test_every_alert_page_text_is_translated() -> None:
    catalogs = Catalogs()
    texts = alert_texts()
    assert len(texts) > 60
    assert catalogs.missing("ja", texts) == []
    assert catalogs.missing("en", texts) == []
    japanese = catalogs.gettext("ja")
    assert [t for t in texts if japanese(t) == t and t not in ("SpO2", "HomeVitals")] == []
