"""Security headers on every response, CORS closed unless configured, TLS-only extras."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from fhir_api.auth import Role, TokenStore
from fhir_api.security_headers import CONTENT_SECURITY_POLICY

from .conftest import serve, settings_for
from .login_helpers import csrf_of

ALLOWED = "https://portal.example.org"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A server as on a LAN without TLS and without CORS settings."""
    with ExitStack() as stack:
        settings = settings_for("sqlite", stack, tmp_path_factory.mktemp("plain"))
        base, store = stack.enter_context(serve(settings))
        yield base.removesuffix("/fhir"), TokenStore(store.engine).create("t", Role.SYSTEM)


@pytest.fixture(scope="module")
def behind_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server behind a TLS proxy (its base URL says https), with one CORS origin."""
    with ExitStack() as stack:
        settings = settings_for(
            "sqlite",
            stack,
            tmp_path_factory.mktemp("tls"),
            base_url="https://hv.example.org/fhir",
            cors_origins=[ALLOWED],
        )
        base, _ = stack.enter_context(serve(settings))
        yield base.removesuffix("/fhir")


def _assert_protected(answer: httpx.Response) -> None:
    headers = answer.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"


def test_every_kind_of_answer_carries_the_headers(plain):
    root, token = plain
    auth = {"Authorization": f"Bearer {token}"}
    answers = [
        httpx.get(f"{root}/fhir/metadata"),
        httpx.get(f"{root}/fhir/Patient/nobody", headers=auth),  # 404 OperationOutcome
        httpx.get(f"{root}/fhir/Patient"),  # 401
        httpx.post(f"{root}/fhir/Patient", headers=auth, content=b"x" * (6 * 1024 * 1024)),
        httpx.get(f"{root}/login"),
        httpx.get(f"{root}/"),  # redirect to /login
        httpx.get(f"{root}/static/style.css"),
        httpx.get(f"{root}/healthz"),
    ]
    assert [a.status_code for a in answers] == [200, 404, 401, 413, 200, 303, 200, 200]
    for answer in answers:
        _assert_protected(answer)
        assert "strict-transport-security" not in answer.headers  # plain HTTP: no HSTS


def test_cors_is_closed_by_default(plain):
    root, token = plain
    preflight = httpx.options(
        f"{root}/fhir/Patient",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"},
    )
    simple = httpx.get(
        f"{root}/fhir/Patient", headers={"Origin": ALLOWED, "Authorization": f"Bearer {token}"}
    )
    for answer in (preflight, simple):
        assert not any(name.startswith("access-control-") for name in answer.headers)


def test_behind_tls_hsts_and_secure_host_cookies(behind_tls):
    login = httpx.get(f"{behind_tls}/login")
    _assert_protected(login)
    assert login.headers["strict-transport-security"].startswith("max-age=31536000")
    cookie = login.headers["set-cookie"]
    assert cookie.startswith("hv_login=") and "Secure" in cookie
    answer = httpx.post(
        f"{behind_tls}/login",
        data={"csrf": csrf_of(login), "username": "nobody", "password": "x" * 12},
        cookies={"hv_login": cookie.split(";")[0].split("=", 1)[1]},
    )
    assert answer.status_code == 401  # the Secure cookie came back: CSRF passed


def test_configured_cors_allows_exactly_those_origins(behind_tls):
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            f"{behind_tls}/fhir/Patient",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
        )

    allowed = preflight(ALLOWED)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    other = preflight("https://evil.example.com")
    assert "access-control-allow-origin" not in other.headers
    _assert_protected(other)
