"""Requests from home on the pages (issue 14): the patient page says "Asked to be called
… (2 h ago)", the list marks the patient; only the last 3 days count; the home settings
form needs its CSRF token.

The presses are uploaded by 山田's gateway (home-1) with its own token, as the call
button's Communications are.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fhir_api.codes import CALL_ME, FINE_TODAY, PATIENT_REQUEST, PRESS_IDENTIFIER

from .test_settings_http import as_staff, care_manager  # noqa: F401  (fixtures)
from .world import Clinic


def _press(clinic: Clinic, home: str, patient: str, request: str, hours_ago: float) -> None:
    sent = datetime.fromtimestamp(time.time() - hours_ago * 3600, UTC)
    value = f"{home}-{request}-{hours_ago}"
    body = {
        "resourceType": "Communication",
        "identifier": [{"system": PRESS_IDENTIFIER, "value": value}],
        "status": "completed",
        "category": [{"coding": [{"system": PATIENT_REQUEST, "code": request}]}],
        "subject": {"reference": f"Patient/{patient}"},
        "sender": {"reference": f"Patient/{patient}"},
        "sent": sent.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    with clinic.client(home) as gateway:
        answer = gateway.post("/Communication", json=body)
        assert answer.status_code == 201, answer.text


def test_the_patient_page_and_list_show_a_request_to_be_called(
    clinic: Clinic,
    as_staff: Any,  # noqa: F811
) -> None:
    yamada, sato = clinic.patients["yamada"], clinic.patients["sato"]
    _press(clinic, "home-1", yamada, CALL_ME, 2.2)
    _press(clinic, "home-1", yamada, CALL_ME, 30)  # an older one: the newest is shown
    _press(clinic, "home-1", yamada, FINE_TODAY, 5.5)
    _press(clinic, "home-2", sato, CALL_ME, 4 * 24)  # four days ago: no longer news
    doctor = as_staff("doctor")
    page = doctor.get(f"/patients/{yamada}").text
    assert 'id="request-call-me"' in page
    assert "Asked to be called" in page and "(2 h ago)" in page
    assert "Fine today, said" in page and "(5 h ago)" in page
    assert 'id="request' not in doctor.get(f"/patients/{sato}").text
    listed = doctor.get("/patients").text
    row = listed.split(f'id="patient-{yamada}"', 1)[1].split("</tr>", 1)[0]
    assert "call-asked" in row and "Asked to be called in the last 3 days" in row
    other = listed.split(f'id="patient-{sato}"', 1)[1].split("</tr>", 1)[0]
    assert "call-asked" not in other
    japanese = as_staff("doctor", "ja").get(f"/patients/{yamada}").text
    assert "電話の依頼あり" in japanese and "2時間前" in japanese


def test_the_home_settings_form_refuses_a_post_without_its_csrf_token(
    clinic: Clinic,
    as_staff: Any,  # noqa: F811
) -> None:
    doctor = as_staff("doctor")
    answer = doctor.post(
        f"/patients/{clinic.patients['yamada']}/home",
        data={"version": "1", "speech": "off"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
