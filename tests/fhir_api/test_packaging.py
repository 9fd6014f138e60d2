"""The server installs with its own extra: everything it imports is declared there.

The test environment has every extra installed, so a module the server imports
but only the gateway or dev extra brings in would go unnoticed until a server-only
install failed to start (httpx did, for the InfluxDB backend). The server is
imported in a process where every distribution outside the server extra (and what
it needs, transitively) cannot be imported, as on a server-only install; optional
imports, such as Mako's of Pygments, fall back as they would there.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"fhir_api", "gateway", "device_adapters", "clinician_ui", "homevitals_cli"}

SCRIPT = """
import sys
blocked = set(sys.argv[1:]) - {name.split(".")[0] for name in sys.modules}

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"{name!r} is not in the server extra", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
import fhir_api.app, fhir_api.cli, fhir_api.storage.series.influx
print("imported")
"""


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: set[str]) -> set[str]:
    """The distributions `names` need, transitively (markers for extras are not followed)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in requires if "extra ==" not in r]
    return seen


def test_the_server_imports_with_only_its_extra_installed():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {_name(r) for r in project["project"]["optional-dependencies"]["server"]}
    declared |= {_name(r) for r in project["project"].get("dependencies", [])}
    declared.add(_name(project["project"]["name"]))
    # uvicorn[standard] brings its standard set along.
    declared |= {"httptools", "uvloop", "watchfiles", "websockets", "python-dotenv", "pyyaml"}
    allowed = _closure(declared)
    blocked = sorted(
        module
        for module, distributions in metadata.packages_distributions().items()
        if module not in PROJECT_PACKAGES
        and not any(d.lower().replace("_", "-") in allowed for d in distributions)
    )
    assert "bleak" in blocked and "pytest" in blocked  # the gateway's and the tests' own
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *blocked], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.strip() == "imported"
