"""The home's devices on the home settings page in Chromium (issue 14): a doctor binds
user slot 2 of the cuff 山田's gateway reports to 山田, and 山田's home gateway reads
that binding next (`Device/$gateway-settings` with its own token). Japanese and
English; axe-core; screenshots.
"""

from __future__ import annotations

from typing import Any

from .conftest import axe, screenshot, sign_in
from .test_settings_browser import pages  # noqa: F401  (the fixture: a 400 is expected)
from .world import Clinic

CUFF = "D0:00:00:00:00:02"  # the cuff the world's heartbeats report


def _home_devices(clinic: Clinic) -> list[dict[str, Any]]:
    with clinic.client("home-1") as gateway:
        response = gateway.get("/Device/$gateway-settings")
        assert response.status_code == 200, response.text
        return [
            {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in d["part"]}
            for d in response.json()["parameter"]
            if d["name"] == "device"
        ]


def test_a_doctor_binds_a_cuff_slot_and_the_gateway_reads_it(
    clinic: Clinic,
    pages: Any,  # noqa: F811
) -> None:
    yamada = clinic.patients["yamada"]
    for lang, slot, texts in (("en", "2", "User slot"), ("ja", "1", "ユーザー番号")):
        page = pages(lang)
        sign_in(page, clinic.root, clinic.staff["doctor"])
        page.goto(f"{clinic.root}/patients/{yamada}/home")
        row = page.locator("table.devices tbody tr", has_text=CUFF)
        assert row.count() == 1
        assert texts in row.inner_text()
        select = row.locator("select")
        select.select_option(slot)
        axe(page)
        page.locator("#devices").screenshot(path=str(screenshot(page, f"home-devices-{lang}")))
        page.click("form.home-settings button[type=submit]")
        page.wait_for_selector("#saved")
        assert (
            page.locator("table.devices tbody tr", has_text=CUFF).locator("select").input_value()
            == slot
        )
        assert {
            "address": CUFF,
            "kind": "blood-pressure",
            "patient": yamada,
            "slot": int(slot),
        } in _home_devices(clinic)
        screenshot(page, f"home-devices-{lang}-saved")
