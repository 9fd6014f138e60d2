"""The gateways page over plain HTTP: whose gateways each person sees, and what a row says.

A nurse of one care team never sees another home's gateway; an admin (who sees
every Device) sees them all; home-2's gateway is offline with a cuff's battery low.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import httpx
import pytest

from fhir_api.accounts.store import AccountStore
from fhir_api.roles import StaffRole

from ..fhir_api.login_helpers import post_login
from .world import Clinic, Staff

ROW = re.compile(r'data-gateway="([^"]+)"')


def _signed_in(clinic: Clinic, staff: Staff) -> httpx.Client:
    browser = httpx.Client(
        base_url=clinic.root, follow_redirects=False, timeout=30, headers={"Accept-Language": "en"}
    )
    answer = post_login(browser, staff.username, staff.password)
    assert answer.status_code == 303, answer.text
    return browser


@pytest.fixture(scope="module")
def admin(clinic: Clinic) -> Staff:
    """An administrator with no clinical role (sees every Device, reads no readings)."""
    accounts: AccountStore = clinic.app.state.accounts
    username = f"admin-{secrets.token_hex(3)}"
    accounts.create(username, (StaffRole.ADMIN,), None, "管理 者")
    password = f"correct horse {secrets.token_hex(6)}"
    accounts.set_password(username, password, by_admin=False)
    return Staff(username, password, "管理 者")


@pytest.fixture
def as_(clinic: Clinic, admin: Staff) -> Iterator[object]:
    opened: list[httpx.Client] = []

    def open_as(who: str) -> httpx.Client:
        staff = admin if who == "admin" else clinic.staff[who]
        opened.append(_signed_in(clinic, staff))
        return opened[-1]

    yield open_as
    for client in opened:
        client.close()


def _gateways(page: httpx.Response) -> set[str]:
    assert page.status_code == 200, page.text
    return set(ROW.findall(page.text))


def test_the_page_needs_a_session(clinic):
    with httpx.Client(base_url=clinic.root, follow_redirects=False) as anonymous:
        answer = anonymous.get("/gateways")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")


def test_nurse_never_sees_another_homes_gateway(clinic, as_):
    page = as_("nurse").get("/gateways")
    assert _gateways(page) == {clinic.gateways["home-1"], clinic.gateways["home-2"]}
    assert "home-3" not in page.text
    assert "鈴木" not in page.text


def test_doctor_sees_the_gateways_of_all_their_teams(clinic, as_):
    assert _gateways(as_("doctor").get("/gateways")) == set(clinic.gateways.values())


def test_admin_sees_every_gateway(clinic, as_):
    page = as_("admin").get("/gateways")
    assert _gateways(page) == set(clinic.gateways.values())
    assert 'href="/gateways" aria-current="page"' in page.text


def _row(page: httpx.Response, device_id: str) -> str:
    start = page.text.index(f'data-gateway="{device_id}"')
    return " ".join(
        re.sub(r"<[^>]+>", " ", page.text[start : page.text.index("</tr>", start)]).split()
    )


def test_rows_say_state_patients_and_battery_in_words(clinic, as_):
    page = as_("nurse").get("/gateways")
    offline = _row(page, clinic.gateways["home-2"])
    assert "✕ Offline since" in offline
    assert "佐藤 花子" in offline and "山田 太郎" not in offline
    assert "▁ Battery low: 10 %" in offline
    online = _row(page, clinic.gateways["home-1"])
    assert "● Online" in online and "山田 太郎" in online
    assert "Battery: 90 %" in online and "Battery low" not in online
    # Offline first: the one to act on.
    assert page.text.index(clinic.gateways["home-2"]) < page.text.index(
        f'data-gateway="{clinic.gateways["home-1"]}"'
    )


def test_japanese_page(clinic, as_):
    page = as_("nurse").get("/gateways", params={"lang": "ja"})
    assert "<h1>ゲートウェイ</h1>" in page.text
    offline = _row(page, clinic.gateways["home-2"])
    assert "からオフライン" in offline and "電池残量低下: 10 %" in offline
