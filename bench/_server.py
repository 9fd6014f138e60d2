"""Start the real server (`homevitals server`) for a benchmark, on SQLite or PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa

from fhir_api.launch import start_server_process

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def start_server(
    data_dir: Path, port: int, environment: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The server on the store in `data_dir` (or `environment`'s), and a system token for it."""
    try:
        return start_server_process(
            data_dir, port, client="bench", environment=environment, log=data_dir / "server.log"
        )
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def create_patients(base: str, token: str, ids: list[str]) -> None:
    """PUT a Patient for each id: the server refuses readings of patients it does not hold."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for patient_id in ids:
            body = {"resourceType": "Patient", "id": patient_id}
            client.put(f"/Patient/{patient_id}", json=body).raise_for_status()


def gateway_token(data_dir: Path, patients: list[dict[str, object]]) -> str:
    """A gateway token bound to `patients` (stored Patients), in the store in `data_dir`."""
    from fhir_api.access.gateways import GatewayRegistry
    from fhir_api.auth import TokenStore
    from fhir_api.roles import TokenKind

    engine = sa.create_engine(f"sqlite:///{data_dir / 'homevitals.db'}")
    try:
        GatewayRegistry(engine).bind("bench-home", [str(p["id"]) for p in patients])
        return TokenStore(engine).create("bench-home", TokenKind.GATEWAY, gateway="bench-home")
    finally:
        engine.dispose()


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=10)


@contextmanager
def postgres_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A throw-away PostgreSQL database on loopback; dropped afterwards."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"hv_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
