"""Every text of the patient settings page has a Japanese and an English translation."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from clinician_ui.i18n import Catalogs

ROOT = Path(__file__).parents[2]
UI = ROOT / "clinician_ui"


def _constants(path: Path) -> set[str]:
    """The string constants of a module that read as sentences or labels shown to people."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)
    }  # a bare string statement: a docstring
    found = set()
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if re.match(r"^[A-Z][a-z]", text) and " " in text and "\n" not in text:
                found.add(text)
    return found


def settings_texts() -> list[str]:
    template = (UI / "templates" / "patient_settings.html").read_text()
    found = {a or b for a, b in re.findall(r"""_\((?:"([^"]+)"|'([^']+)')\)""", template)}
    found |= set(re.findall(r'"(Standard \(low[^"]*|Target 88-92[^"]*)"', template))
    found |= {"Time zone", "Blood pressure target", "Blood pressure flags", "Pulse", "SpO2"}
    found |= _constants(UI / "settings_form.py") - {"Asia/Tokyo"}
    found |= _constants(UI / "settings_routes.py")
    limits = _constants(ROOT / "fhir_api" / "vital_limits.py")
    found |= {t for t in limits if t.startswith(("Must be", "Enter a"))}
    return sorted(found)


def test_every_settings_text_is_translated() -> None:
    catalogs = Catalogs()
    texts = settings_texts()
    assert len(texts) > 30, texts
    assert catalogs.missing("ja", texts) == []
    assert catalogs.missing("en", texts) == []
