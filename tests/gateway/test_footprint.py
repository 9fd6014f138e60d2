"""The gateway runs on a Raspberry Pi without the server's dependencies."""

import subprocess
import sys

SCRIPT = """
import sys
import gateway.service, gateway.uploader, gateway.outbox, gateway.sessions
import gateway.mapping, gateway.retry
server_side = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg",
               "influxdb_client", "fhir_api", "orjson"}
test_side = {"bumble", "hypothesis", "pytest"}
loaded = {name.split(".")[0] for name in sys.modules}
print(sorted(loaded & (server_side | test_side)))
"""


def test_gateway_imports_nothing_from_the_server_or_the_test_tools():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_gateway_extra_lists_no_server_dependency():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    gateway = {
        d.split("[")[0].split("=")[0].split(">")[0].split("<")[0].lower()
        for d in project["project"]["optional-dependencies"]["gateway"]
    }
    assert not gateway & {
        "fastapi",
        "uvicorn",
        "sqlalchemy",
        "alembic",
        "psycopg",
        "influxdb-client",
        "orjson",
    }
    assert {"bleak", "httpx", "fhir.resources"} <= gateway
