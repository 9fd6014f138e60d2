"""The home settings form and the home's device bindings (issue 14).

The bindings (which device and user slot read for 山田) sit in the same Patient
extension as the reminder times; a save of the settings form must keep them.
"""

from __future__ import annotations

import re
from typing import Any

from clinician_ui.gateways import Sensor
from clinician_ui.home_devices import DeviceRow, device_rows
from fhir_api.home_settings import DeviceBinding, HomeSettings, settings_of, with_settings

from ..fhir_api.login_helpers import csrf_of
from .test_settings_http import as_staff, care_manager  # noqa: F401  (fixtures)
from .world import Clinic

CUFF_SLOT_2 = DeviceBinding("AA:BB:CC:DD:EE:01", "blood-pressure", 2)


def test_saving_the_settings_form_keeps_the_device_bindings(
    clinic: Clinic,
    as_staff: Any,  # noqa: F811
) -> None:
    yamada = clinic.patients["yamada"]
    with clinic.client("system") as fhir:
        current = fhir.get(f"/Patient/{yamada}").json()
        bound = with_settings(current, HomeSettings(devices=(CUFF_SLOT_2,)))
        assert fhir.put(f"/Patient/{yamada}", json=bound).status_code == 200
    doctor = as_staff("doctor")
    page = doctor.get(f"/patients/{yamada}/home")
    with clinic.client("system") as fhir:
        version = fhir.get(f"/Patient/{yamada}").json()["meta"]["versionId"]
    saved = doctor.post(
        f"/patients/{yamada}/home",
        data={"csrf": csrf_of(page), "version": version, "speech": "off", "volume": "30"},
    )
    assert saved.status_code == 200, saved.text
    with clinic.client("system") as fhir:
        settings = settings_of(fhir.get(f"/Patient/{yamada}").json())
    assert settings is not None
    assert settings.volume == 30 and settings.devices == (CUFF_SLOT_2,)


def test_a_choice_not_in_the_list_is_refused_and_nothing_is_saved(
    clinic: Clinic,
    as_staff: Any,  # noqa: F811
) -> None:
    yamada = clinic.patients["yamada"]
    doctor = as_staff("doctor")
    page = doctor.get(f"/patients/{yamada}/home")
    with clinic.client("system") as fhir:
        before = fhir.get(f"/Patient/{yamada}").json()
    refused = doctor.post(
        f"/patients/{yamada}/home",
        data={
            "csrf": csrf_of(page),
            "version": before["meta"]["versionId"],
            "volume": "20",
            "devices_shown": "1",
            "device_0_address": "D0:00:00:00:00:02",
            "device_0_kind": "blood-pressure",
            "device_0": "9",
        },
    )
    assert refused.status_code == 400
    assert 'id="device_0-error"' in refused.text and "Please choose from the list." in refused.text
    with clinic.client("system") as fhir:
        assert fhir.get(f"/Patient/{yamada}").json()["meta"] == before["meta"]


def test_rows_list_reported_devices_and_bound_ones_not_reported() -> None:
    reported = [Sensor("d0-00-00-00-00-02", None, 5, None, "blood-pressure")]
    settings = HomeSettings(
        devices=(CUFF_SLOT_2, DeviceBinding("D0:00:00:00:00:02", "blood-pressure"))
    )
    assert device_rows(reported, settings) == [
        DeviceRow("AA:BB:CC:DD:EE:01", "blood-pressure", None, "2"),
        DeviceRow("D0:00:00:00:00:02", "blood-pressure", 5, "all"),
    ]
    assert device_rows([Sensor("D0:00:00:00:00:09", "x", None, None)], None) == []


def test_the_page_lists_the_cuff_the_patients_gateway_reports(
    clinic: Clinic,
    as_staff: Any,  # noqa: F811
) -> None:
    yamada = clinic.patients["yamada"]
    page = as_staff("doctor").get(f"/patients/{yamada}/home")
    assert page.status_code == 200
    rows = dict(re.findall(r'name="(device_\d+)_address" value="([^"]+)"', page.text))
    reported = [key for key, address in rows.items() if address == "D0:00:00:00:00:02"]
    assert len(reported) == 1, rows
    assert f'name="{reported[0]}_kind" value="blood-pressure"' in page.text
