"""Every text of the patient page has a Japanese and an English translation."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from clinician_ui.charts import FLAG_NAMES
from clinician_ui.i18n import Catalogs

UI = Path(__file__).parents[2] / "clinician_ui"


def page_texts() -> list[str]:
    template = (UI / "templates" / "patient.html").read_text()
    texts = re.findall(r"""_\((?:"([^"]+)"|'([^']+)')\)""", template)
    found = {a or b for a, b in texts}
    # the summary rows and occasions: tuples of msgids passed to _() in loops
    found |= set(re.findall(r'"((?:Morning|Evening|Other)[^"]*)"', template))
    routes = ast.parse((UI / "patient_routes.py").read_text())
    for node in ast.walk(routes):
        if isinstance(node, ast.FunctionDef) and node.name == "_labels":
            for value in ast.walk(node):
                if isinstance(value, ast.Dict):
                    found |= {v.value for v in value.values if isinstance(v, ast.Constant)}
    # the page's "no such patient" (Pages.patient_error, shared by the patient's pages)
    refused = {
        str(node.value)
        for node in ast.walk(ast.parse((UI / "rendering.py").read_text()))
        if isinstance(node, ast.Constant) and str(node.value).startswith("No patient of")
    }
    assert refused, "Pages.patient_error's message"
    return sorted(found | refused | set(FLAG_NAMES.values()))


def test_every_text_is_translated() -> None:
    catalogs = Catalogs()
    texts = page_texts()
    assert len(texts) > 60
    assert catalogs.missing("ja", texts) == []
    assert catalogs.missing("en", texts) == []
