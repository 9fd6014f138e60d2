"""docs/raspberry-pi.md's install commands, followed as written, give a working gateway.

The blocks the guide marks `<!-- install-test: office -->` and `<!-- install-test:
pi -->` are read from the guide itself, so it cannot drift from what is tested.
The office block runs in a copy of this repository (building the wheel with the
guide's own command); the pi block runs where the bundle was "copied", with
`sudo` dropped and /opt, /etc and /var moved into a scratch folder. Lines that
need a real system user (useradd, chown) are listed and skipped, nothing else.
The result is a fresh virtual environment with only the `gateway` extra, which
the tests below then use as an operator would.

Slow by nature (a wheel build, a venv with pip, ~25 packages from the index:
about a minute on a busy 2-core machine), so everything shares one install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
GUIDE = REPOSITORY / "docs" / "raspberry-pi.md"
# Commands of the pi block that need a real system user: skipped, and only these.
NEEDS_THE_SYSTEM_USER = ("useradd", "chown")
# Left out of the copy the wheel is built from (what a fresh clone does not have).
NOT_IN_A_CHECKOUT = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
)


def install_blocks(guide: str) -> dict[str, list[str]]:
    """The guide's `install-test` blocks by name, as commands (continuations joined)."""
    blocks = re.findall(r"<!-- install-test: (\w+) -->\s*```sh\n(.*?)```", guide, re.DOTALL)
    return {name: body.replace("\\\n", " ").strip().splitlines() for name, body in blocks}


def as_test_command(line: str, root: Path) -> str:
    """The command without sudo, its system paths moved under `root`."""
    line = re.sub(r"^sudo (-u \w+ )?", "", line.strip())
    return re.sub(r"(?<![\w./])/(opt|etc|var)/", f"{root}/\\1/", line)


@dataclass
class Install:
    root: Path
    venv: Path
    state: Path
    env: dict[str, str]
    skipped: list[str]
    wheel: Path

    def homevitals(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "homevitals"), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**self.env, **env},
            cwd=self.root,
            check=False,
        )


def run_block(lines: list[str], cwd: Path, env: dict[str, str]) -> None:
    for line in lines:
        done = subprocess.run(
            ["/bin/sh", "-c", line],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> Install:
    scratch = tmp_path_factory.mktemp("install")
    blocks = install_blocks(GUIDE.read_text(encoding="utf-8"))
    assert set(blocks) == {"office", "pi"}, blocks.keys()
    # `python3` is this interpreter; PYTHONPATH is dropped so that the new venv
    # imports the installed wheel and nothing from the checkout.
    shims = scratch / "bin"
    shims.mkdir()
    (shims / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (shims / "python3").chmod(0o755)
    (scratch / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"PATH": f"{shims}:{env['PATH']}", "TMPDIR": str(scratch / "tmp")}
    env["PIP_NO_COMPILE"] = "1"  # no .pyc for fhir.resources' ~1000 modules: half the time

    checkout = scratch / "checkout"
    shutil.copytree(REPOSITORY, checkout, ignore=NOT_IN_A_CHECKOUT)
    run_block(blocks["office"], checkout, env)

    home = scratch / "home"  # where `scp dist/* pi:` puts the bundle
    shutil.copytree(checkout / "dist", home)
    root = scratch / "root"
    root.mkdir()
    skipped = []
    commands = []
    for line in blocks["pi"]:
        command = as_test_command(line, root)
        if command.split()[0] in NEEDS_THE_SYSTEM_USER:
            skipped.append(command.split()[0])
        else:
            commands.append(command)
    run_block(commands, home, env)
    return Install(
        root=root,
        venv=root / "opt" / "homevitals" / "venv",
        state=root / "var" / "lib" / "homevitals",
        env=env,
        skipped=skipped,
        wheel=next(home.glob("homevitals-*.whl")),
    )


def test_the_wheel_carries_the_pages_assets(install):
    """Templates, scripts, styles, the vendored uPlot and the catalogs: a server installed
    from the wheel serves the clinician view, not a 404 for its charts."""
    import zipfile

    names = set(zipfile.ZipFile(install.wheel).namelist())
    for wanted in (
        "clinician_ui/templates/base.html",
        "clinician_ui/templates/patient.html",
        "clinician_ui/static/style.css",
        "clinician_ui/static/charts.js",
        "clinician_ui/static/vendor/uplot/uPlot.iife.min.js",
        "clinician_ui/static/vendor/uplot/LICENSE",
        "clinician_ui/locale/ja/LC_MESSAGES/messages.po",
    ):
        assert wanted in names, wanted


def test_the_guide_skips_only_what_needs_the_system_user(install):
    assert sorted(install.skipped) == sorted(NEEDS_THE_SYSTEM_USER)


def test_the_state_directory_exists_before_pairing(install):
    assert install.state.is_dir()
    assert install.state.stat().st_mode & 0o777 == 0o750


def test_only_the_gateway_extra_is_installed(install):
    probe = (
        "import importlib.util as u; "
        "print(*[m for m in ('bleak', 'httpx', 'fhir', 'pydantic_settings', 'fastapi', "
        "'uvicorn', 'sqlalchemy', 'bumble') if u.find_spec(m)])"
    )
    found = subprocess.run(
        [str(install.venv / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        env=install.env,
        check=True,
    ).stdout.split()
    assert found == ["bleak", "httpx", "fhir", "pydantic_settings"]


def test_the_units_documentation_exists_where_the_guide_installs_it(install):
    unit = (install.root / "etc" / "systemd" / "system" / "homevitals-gateway.service").read_text()
    assert unit == (REPOSITORY / "deploy" / "homevitals-gateway.service").read_text()
    documentation = re.search(r"^Documentation=file://(/\S+)$", unit, re.MULTILINE).group(1)
    installed = Path(as_test_command(documentation, install.root))
    assert installed.read_text() == GUIDE.read_text()


def test_gateway_commands_run(install):
    helped = install.homevitals("gateway", "--help")
    assert helped.returncode == 0, helped.stderr
    assert all(command in helped.stdout for command in ("run", "pair", "status"))
    paired = install.homevitals("gateway", "pair", "--help")
    assert paired.returncode == 0, paired.stderr
    assert "--patient" in paired.stdout
    status = install.homevitals("gateway", "status", HOMEVITALS_GATEWAY_DATA_DIR=str(install.state))
    assert status.returncode in (0, 1), status.stderr  # 1: nothing paired or run yet
    assert "Traceback" not in status.stderr
    assert str(install.state) in status.stdout + status.stderr


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("command", "extras"),
    [
        (["demo"], "[gateway,server,dev]"),
        (["server", "--port", "8123"], "[server]"),
        (["server", "reindex"], "[server]"),
        (["admin", "user", "list"], "[server]"),
    ],
)
def test_server_commands_say_what_to_install(install, command, extras):
    hint = one_line(install.homevitals(*command))
    assert f"pip install 'homevitals-0.1.0-py3-none-any.whl{extras}'" in hint


def test_simulation_says_what_to_install(install):
    result = install.homevitals(
        "gateway", "run", "--simulate", HOMEVITALS_GATEWAY_DATA_DIR=str(install.state)
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    hint = result.stderr.strip().splitlines()[-1]
    assert "pip install 'homevitals-0.1.0-py3-none-any.whl[gateway,dev]'" in hint


@pytest.mark.parametrize(
    "command",
    [
        ["token", "create", "--role", "system", "--name", "gw-home"],
        ["gateway", "run"],
        ["gateway", "pair", "--patient", "p-1"],
    ],
)
def test_a_missing_token_says_how_to_get_one_from_the_servers_host(install, command):
    result = install.homevitals(*command, HOMEVITALS_GATEWAY_DATA_DIR=str(install.state))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    hint = result.stderr.strip().splitlines()[-1]  # `gateway run` logs its start first
    assert "on the server's host" in hint
    assert "homevitals admin gateway-token create --gateway" in hint
    assert "HOMEVITALS_GATEWAY_TOKEN" in hint
