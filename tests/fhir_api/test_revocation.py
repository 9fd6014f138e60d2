"""A revoked token, a disabled gateway or a disabled staff account is refused by every
worker within one second (issue 11; each worker used to trust its cache for five)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert, update

from fhir_api.access.gateways import GatewayRegistry
from fhir_api.auth import TokenStore
from fhir_api.launch import start_server_process
from fhir_api.roles import TokenKind
from fhir_api.storage.schema import staff_accounts

from ..services import free_port


def _statuses(base: str, token: str, rounds: int = 16) -> set[int]:
    """Answers over fresh connections, which the two workers share between them."""
    seen = set()
    for _ in range(rounds):
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
            seen.add(client.get("/Device?_count=1").status_code)
    return seen


def _refused_within_a_second(base: str, token: str, act: Callable[[], None]) -> None:
    assert _statuses(base, token) == {200}  # both workers have it cached now
    act()
    acted = time.monotonic()
    time.sleep(max(0.0, acted + 1.0 - time.monotonic()))
    assert _statuses(base, token, rounds=30) == {401}


def test_revocation_and_disabling_reach_every_worker_within_a_second(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    process, system = start_server_process(
        data, port, client="t", log=tmp_path / "server.log", environment={"HOMEVITALS_WORKERS": "2"}
    )
    base = f"http://127.0.0.1:{port}/fhir"
    engine = create_engine(f"sqlite:///{data / 'homevitals.db'}")
    tokens = TokenStore(engine)
    try:
        victim = tokens.create("victim", TokenKind.SYSTEM)
        _refused_within_a_second(base, victim, lambda: tokens.revoke("victim"))

        with engine.begin() as connection:
            connection.execute(
                insert(staff_accounts).values(
                    username="leaver", roles="admin", created_ms=int(time.time() * 1000)
                )
            )
        staff = tokens.create("leaver", TokenKind.STAFF, account_id=1)

        def disable() -> None:
            with engine.begin() as connection:
                connection.execute(
                    update(staff_accounts)
                    .where(staff_accounts.c.username == "leaver")
                    .values(disabled_ms=int(time.time() * 1000))
                )

        _refused_within_a_second(base, staff, disable)

        headers = {"Authorization": f"Bearer {system}"}
        made = httpx.post(f"{base}/Patient", json={"resourceType": "Patient"}, headers=headers)
        registry = GatewayRegistry(engine)
        registry.bind("home-1", [made.json()["id"]])
        home = tokens.create("home-1", TokenKind.GATEWAY, gateway="home-1")
        _refused_within_a_second(base, home, lambda: registry.set_disabled("home-1", True))
    finally:
        engine.dispose()
        process.terminate()
        process.wait(timeout=20)
