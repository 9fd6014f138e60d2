"""A server on loopback with two care teams' patients and a week of readings loaded over FHIR.

The nurse belongs to home A's care team only. Home A's readings (Asia/Tokyo) are
chosen so that occasions, calendar days and gaps disagree where they should: a
reading at 01:30 is the evening before by occasion but the same calendar day by
`$stats`; the 27th has no reading at all. The bed sensor sends the night that began
on the 29th at 23:00 (in bed until 06:30) and its heart and breathing rates per epoch.
Patient A was born on 3 May 1948 (78 on the 30th), carries the clinic's patient number
typed MR beside another identifier, and is female.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from fhir_api.auth import Role, TokenStore
from fhir_api.roles import StaffRole

from ..fhir_api.conftest import serve, settings_for
from ..fhir_api.helpers import JSON, blood_pressure, spo2
from ..fhir_api.login_helpers import fast_password_hashing

TOKYO = ZoneInfo("Asia/Tokyo")


def age_today() -> int:
    """The patient's age in years today in Tokyo (born 3 May 1948), as the pages say it:
    the pages count from the real today, so a fixed "78" failed from 3 May 2027."""
    today = datetime.now(TOKYO).date()
    return today.year - 1948 - ((today.month, today.day) < (5, 3))


TZ_CODE = "http://hl7.org/fhir/StructureDefinition/tz-code"
LAST_DAY = "2026-11-30"
IRREGULAR = {
    "code": {
        "coding": [
            {"system": "http://hl7.org/fhir/uv/phd/CodeSystem/ASN1ToHL7", "code": "8410608.2"}
        ],
        "text": "irregular-pulse",
    },
    "valueCodeableConcept": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0136", "code": "Y"}]
    },
}
# (local time in Tokyo, systolic, diastolic, flagged irregular)
BP_A = [
    ("2026-11-20T07:00:00+09:00", 160, 100, False),  # in 30 days, not in the last 7
    ("2026-11-28T07:00:00+09:00", 140, 90, True),
    ("2026-11-30T01:30:00+09:00", 150, 95, False),  # the evening of the 29th
    ("2026-11-30T07:00:00+09:00", 130, 80, False),
    ("2026-11-30T07:02:00+09:00", 134, 84, False),
    ("2026-11-30T21:00:00+09:00", 120, 71, False),
]
PULSE_A = [("2026-11-28T07:00:00+09:00", 45), ("2026-11-30T07:00:00+09:00", 72)]
SPO2_A = [("2026-11-29T08:00:00+09:00", 88), ("2026-11-30T07:05:00+09:00", 97)]
MRN = "0001234567"
# The night of the 29th: a 30-minute epoch's heart and breathing rate, 23:00 to 06:30.
EPOCHS_A = [(23 * 60 + 30 * n, 52 + n % 5, 12 + n % 3) for n in range(15)]
# The night of the 27th as the gateway sends it since issue 15: one SampledData of
# 1-minute epochs from 23:00 (480 samples; as single Observations more than the page's
# search would read for a week of nights).
SAMPLES_A = [48 + n % 11 for n in range(480)]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def pulse(subject: str, when: str, value: float) -> dict[str, Any]:
    body = spo2(subject, when, value)
    body["code"] = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
    body["valueQuantity"].update(unit="/min", code="/min")
    return body


def rate_in_bed(subject: str, start_minute: int, code: str, value: float) -> dict[str, Any]:
    """A bed sensor's epoch rate as the gateway sends it: over the epoch's period."""
    start = datetime(2026, 11, 29, tzinfo=TOKYO) + timedelta(minutes=start_minute)
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": subject},
        "effectivePeriod": {
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
        },
        "valueQuantity": {
            "value": value,
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


def heart_rate_night(subject: str, start: datetime, values: list[int]) -> dict[str, Any]:
    """A night of a bed sensor's 1-minute heart rates as one Observation (PHD: coded by MDC)."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://homevitals.org/fhir/CodeSystem/measurement-setting",
                        "code": "in-bed",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "urn:iso:std:iso:11073:10101", "code": "147842"}]},
        "subject": {"reference": subject},
        "effectivePeriod": {
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=len(values))).isoformat(),
        },
        "valueSampledData": {
            "origin": {
                "value": 0,
                "unit": "/min",
                "system": "http://unitsofmeasure.org",
                "code": "/min",
            },
            "period": 60000,
            "dimensions": 1,
            "data": " ".join(str(v) for v in values),
        },
    }


def _minutes(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}


def sleep_night(subject: str, start: str, end: str, asleep: int) -> dict[str, Any]:
    """A night as the gateway sends it: minutes asleep, and stages as components."""
    stages = (("93831-6", 60), ("93830-8", 250), ("93829-0", 70))  # deep, light, REM
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "93832-4"}]},
        "subject": {"reference": subject},
        "effectivePeriod": {"start": start, "end": end},
        "valueQuantity": _minutes(asleep),
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "valueQuantity": _minutes(value),
            }
            for code, value in stages
        ],
    }


@dataclass
class World:
    root: str
    patient_a: str
    patient_b: str
    username: str
    password: str
    admin: str  # an admin's username (same password): manages patients, reads no readings

    def browser(self, language: str = "en") -> httpx.Client:
        return httpx.Client(base_url=self.root, timeout=30, headers={"Accept-Language": language})

    @contextmanager
    def signed_in(self, language: str = "en") -> Iterator[httpx.Client]:
        """A browser signed in as the nurse through the login form."""
        with self.browser(language) as browser:
            self.sign_in(browser)
            yield browser

    def sign_in(self, browser: httpx.Client, username: str | None = None) -> None:
        form = browser.get("/login")
        found = CSRF.search(form.text)
        assert found, form.text
        answer = browser.post(
            "/login",
            data={
                "csrf": found.group(1),
                "username": username or self.username,
                "password": self.password,
            },
        )
        assert (answer.status_code, answer.headers.get("location")) == (303, "/"), answer.text


def _created(client: httpx.Client, resource: dict[str, Any]) -> str:
    answer = client.post(f"/{resource['resourceType']}", json=resource, headers=JSON)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _load(base: str, engine: Any, accounts: Any) -> World:
    token = TokenStore(engine).create("ui-charts", Role.SYSTEM)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as fhir:
        tokyo = [{"url": TZ_CODE, "valueCode": "Asia/Tokyo"}]
        a = _created(
            fhir,
            {
                "resourceType": "Patient",
                "identifier": [
                    {"system": "urn:example:insurance", "value": "INS-99"},
                    {
                        "type": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                    "code": "MR",
                                }
                            ]
                        },
                        "system": "urn:oid:1.2.392.100495.20.3.51.11312345678",
                        "value": MRN,
                    },
                ],
                "name": [{"text": "田中 花子"}],
                "gender": "female",
                "birthDate": "1948-05-03",
                "extension": tokyo,
            },
        )
        b = _created(
            fhir, {"resourceType": "Patient", "name": [{"text": "鈴木 一郎"}], "extension": tokyo}
        )
        nurse, other = (
            _created(fhir, {"resourceType": "Practitioner", "name": [{"family": n}]})
            for n in ("Nurse", "Other")
        )
        for patient, member in ((a, nurse), (b, other)):
            _created(
                fhir,
                {
                    "resourceType": "CareTeam",
                    "status": "active",
                    "subject": {"reference": f"Patient/{patient}"},
                    "participant": [{"member": {"reference": f"Practitioner/{member}"}}],
                },
            )
        subject = f"Patient/{a}"
        for when, systolic, diastolic, irregular in BP_A:
            body = blood_pressure(subject, when, systolic, diastolic)
            if irregular:
                body["component"].append(IRREGULAR)
            _created(fhir, body)
        for when, value in PULSE_A:
            _created(fhir, pulse(subject, when, value))
        for when, value in SPO2_A:
            _created(fhir, spo2(subject, when, value))
        _created(
            fhir,
            sleep_night(subject, "2026-11-29T23:00:00+09:00", "2026-11-30T06:30:00+09:00", 380),
        )
        for minute, heart, breathing in EPOCHS_A:
            _created(fhir, rate_in_bed(subject, minute, "8867-4", heart))
            _created(fhir, rate_in_bed(subject, minute, "9279-1", breathing))
        bedtime = datetime(2026, 11, 27, 23, tzinfo=TOKYO)
        _created(fhir, heart_rate_night(subject, bedtime, SAMPLES_A))
        _created(fhir, blood_pressure(f"Patient/{b}", "2026-11-30T07:00:00+09:00", 200, 120))
    username = f"nurse{secrets.token_hex(3)}"
    accounts.create(username, (StaffRole.NURSE,), nurse, "Nurse")
    password = f"correct horse {secrets.token_hex(6)}"
    accounts.set_password(username, password, by_admin=False)
    admin = f"admin{secrets.token_hex(3)}"
    accounts.create(admin, (StaffRole.ADMIN,), None, "Admin")
    accounts.set_password(admin, password, by_admin=False)
    return World(base.removesuffix("/fhir"), a, b, username, password, admin)


@contextmanager
def world(tmp: Path, backend: str = "sqlite") -> Iterator[World]:
    """The server (no TOTP required) with the readings loaded."""
    with ExitStack() as stack:
        stack.enter_context(fast_password_hashing())
        settings = settings_for(backend, stack, tmp, require_totp=False)
        apps = []
        base, store = stack.enter_context(serve(settings, configure=apps.append))
        yield _load(base, store.engine, apps[0].state.accounts)
