"""A clinic's data, loaded through the FHIR API as a real deployment gets it.

Patients (JP Core names with their kana, time zone Asia/Tokyo), practitioners and
care teams are written with a system token; readings and the gateways' heartbeat
Devices by each home's gateway token, as the gateway uploads them (the Device is
`gateway.heartbeat.status_device`, the readings carry the gatewayDevice extension).

The clinic, relative to `now`:
- 山田 太郎 (ヤマダ タロウ), home-1 online: morning and evening blood pressure for 12
  days, the newest 152/96 (high) 3 h ago, pulse 72, SpO2 97, a night of 7:05 asleep.
- 佐藤 花子 (サトウ ハナコ), home-2 offline for 9 h with a cuff's battery at 10 %:
  118/76, pulse 112 (high), SpO2 87 (low), readings on 5 days.
- 鈴木 一郎 (スズキ イチロウ), home-3: 185/112 (urgent), one day. Only in the doctor's team.
The doctor is in all three care teams, the nurse in the first two.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine

from fhir_api.access.gateways import GatewayRegistry
from fhir_api.accounts.store import AccountStore
from fhir_api.auth import TokenStore
from fhir_api.roles import StaffRole, TokenKind
from gateway.heartbeat import status_device
from gateway.mapping import GatewayIdentity

TOKYO = ZoneInfo("Asia/Tokyo")
HOUR = 3600.0
DAY = 24 * HOUR
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
GATEWAY_EXT = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
TZ_EXT = "http://hl7.org/fhir/StructureDefinition/tz-code"
REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
VITAL = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
        }
    ]
}
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def iso(epoch: float) -> str:
    """An instant in Tokyo time, as the gateway writes it (with its offset)."""
    return datetime.fromtimestamp(epoch, TOKYO).isoformat(timespec="seconds")


def quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _coded(code: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code}]}


def patient(family: str, given: str, kana_family: str, kana_given: str) -> dict[str, Any]:
    """A JP Core style Patient: kanji name, kana name (SYL), time zone."""
    return {
        "resourceType": "Patient",
        "extension": [{"url": TZ_EXT, "valueCode": "Asia/Tokyo"}],
        "name": [
            {
                "extension": [{"url": REPRESENTATION, "valueCode": "IDE"}],
                "text": f"{family} {given}",
                "family": family,
                "given": [given],
            },
            {
                "extension": [{"url": REPRESENTATION, "valueCode": "SYL"}],
                "text": f"{kana_family} {kana_given}",
                "family": kana_family,
                "given": [kana_given],
            },
        ],
    }


def _reading(subject: str, gateway: str, ident: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [VITAL],
        "code": _coded(code),
        "subject": {"reference": subject},
        "identifier": [{"system": "urn:test:reading", "value": ident}],
        "extension": [{"url": GATEWAY_EXT, "valueReference": {"reference": gateway}}],
    }


def blood_pressure(
    subject: str, gateway: str, when: float, systolic: float, diastolic: float
) -> dict[str, Any]:
    body = _reading(subject, gateway, f"bp-{subject}-{when}", "85354-9")
    body["effectiveDateTime"] = iso(when)
    body["component"] = [
        {"code": _coded("8480-6"), "valueQuantity": quantity(systolic, "mm[Hg]")},
        {"code": _coded("8462-4"), "valueQuantity": quantity(diastolic, "mm[Hg]")},
    ]
    return body


def pulse(subject: str, gateway: str, when: float, rate: float) -> dict[str, Any]:
    body = _reading(subject, gateway, f"pulse-{subject}-{when}", "8867-4")
    body["effectiveDateTime"] = iso(when)
    body["valueQuantity"] = quantity(rate, "/min")
    return body


def spo2(subject: str, gateway: str, when: float, percent: float) -> dict[str, Any]:
    body = _reading(subject, gateway, f"spo2-{subject}-{when}", "2708-6")
    body["code"]["coding"].append({"system": LOINC, "code": "59408-5"})
    body["effectiveDateTime"] = iso(when)
    body["valueQuantity"] = quantity(percent, "%")
    return body


def sleep_night(subject: str, gateway: str, end: float, minutes: float) -> dict[str, Any]:
    body = _reading(subject, gateway, f"sleep-{subject}-{end}", "93832-4")
    body["category"] = [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "activity",
                }
            ]
        }
    ]
    body["effectivePeriod"] = {"start": iso(end - minutes * 60 - 1800), "end": iso(end)}
    body["valueQuantity"] = quantity(minutes, "min")
    return body


def heartbeat(name: str, system_id: str, battery: float | None = None) -> dict[str, Any]:
    """The gateway's Device with its status, as `gateway/heartbeat.py` makes it."""
    devices = {}
    if battery is not None:
        devices["D0:00:00:00:00:02"] = {
            "last_contact": time.time() - HOUR,
            "battery": battery,
            "kind": "blood-pressure",
        }
    status = {
        "uptime_s": 86_400,
        "bluetooth": "on",
        "storage": "ok",
        "last_upload_contact": time.time(),
        "queue_depth": 0,
        "rejected": 0,
        "quarantined": 0,
        "oldest_unsent_age_s": None,
        "devices": devices,
    }
    return status_device(GatewayIdentity(system_id, "0.1.0", name), status)


@dataclass
class Staff:
    username: str
    password: str
    display_name: str


@dataclass
class Clinic:
    """What the tests know of the loaded data."""

    base: str  # the FHIR base URL
    root: str  # the site (pages)
    tokens: dict[str, str]
    patients: dict[str, str] = field(default_factory=dict)  # key -> Patient id
    staff: dict[str, Staff] = field(default_factory=dict)
    gateways: dict[str, str] = field(default_factory=dict)  # home -> Device id
    practitioners: dict[str, str] = field(default_factory=dict)  # role -> Practitioner id
    now: float = 0.0
    app: Any = None  # the server's FastAPI app (for service-level checks)

    def client(self, who: str = "system") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **FHIR_JSON}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


def _created(answer: httpx.Response) -> str:
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["id"])


def _transaction(client: httpx.Client, resources: list[dict[str, Any]]) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
            for r in resources
        ],
    }
    answer = client.post("/", json=bundle)
    assert answer.status_code == 200, answer.text


PEOPLE = {
    "yamada": ("山田", "太郎", "ヤマダ", "タロウ"),
    "sato": ("佐藤", "花子", "サトウ", "ハナコ"),
    "suzuki": ("鈴木", "一郎", "スズキ", "イチロウ"),
}
HOMES = {"yamada": "home-1", "sato": "home-2", "suzuki": "home-3"}
TEAMS = {"yamada": ("doctor", "nurse"), "sato": ("doctor", "nurse"), "suzuki": ("doctor",)}


def _readings(key: str, subject: str, gateway: str, now: float) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if key == "yamada":
        for day in range(12):
            morning, evening = now - 3 * HOUR - day * DAY, now - 15 * HOUR - day * DAY
            high = day == 0
            found += [
                blood_pressure(subject, gateway, morning, 152 if high else 128, 96 if high else 80),
                pulse(subject, gateway, morning, 72),
                blood_pressure(subject, gateway, evening, 126, 78),
                pulse(subject, gateway, evening, 70),
            ]
        found.append(spo2(subject, gateway, now - 5 * HOUR, 97))
        found.append(sleep_night(subject, gateway, now - 8 * HOUR, 425))
    elif key == "sato":
        for day in range(5):
            when = now - 10 * HOUR - day * DAY
            found += [
                blood_pressure(subject, gateway, when, 118, 76),
                pulse(subject, gateway, when, 112 if day == 0 else 80),
            ]
        found.append(spo2(subject, gateway, now - 10 * HOUR, 87))
    else:
        found.append(blood_pressure(subject, gateway, now - 2 * HOUR, 185, 112))
    return found


def load_clinic(
    base: str, engine: Engine, set_clock: Callable[[Callable[[], float]], None]
) -> Clinic:
    """Load the clinic. `set_clock` sets the server's write clock: every write runs 9 h
    in the past except the online gateways' last heartbeats (so home-2 is offline)."""
    now = time.time()
    set_clock(lambda: time.time() - 9 * HOUR)
    tokens = {"system": TokenStore(engine).create("ui-tests", TokenKind.SYSTEM)}
    clinic = Clinic(base, base.removesuffix("/fhir"), tokens, now=now)
    practitioners = clinic.practitioners
    with clinic.client() as system:
        for role in ("doctor", "nurse"):
            family = {"doctor": "医師", "nurse": "看護"}[role]
            practitioners[role] = _created(
                system.post(
                    "/Practitioner",
                    json={"resourceType": "Practitioner", "name": [{"family": family}]},
                )
            )
        for key, names in PEOPLE.items():
            clinic.patients[key] = _created(system.post("/Patient", json=patient(*names)))
            team = {
                "resourceType": "CareTeam",
                "status": "active",
                "subject": {"reference": f"Patient/{clinic.patients[key]}"},
                "participant": [
                    {"member": {"reference": f"Practitioner/{practitioners[m]}"}}
                    for m in TEAMS[key]
                ],
            }
            _created(system.post("/CareTeam", json=team))
    registry = GatewayRegistry(engine)
    for index, (key, home) in enumerate(HOMES.items()):
        registry.bind(home, [clinic.patients[key]])
        tokens[home] = TokenStore(engine).create(home, TokenKind.GATEWAY, gateway=home)
        with clinic.client(home) as gateway:
            battery = 10.0 if home == "home-2" else 90.0
            device = heartbeat(home, f"B8-27-EB-FF-FE-4A-6C-0{index + 1}", battery)
            clinic.gateways[home] = _created(gateway.post("/Device", json=device))
            reference = f"Device/{clinic.gateways[home]}"
            subject = f"Patient/{clinic.patients[key]}"
            _transaction(gateway, _readings(key, subject, reference, now))
    set_clock(time.time)
    # The last heartbeats of the homes still online arrive now; home-2's stays 9 h old
    # and says its cuff's battery is at 10 %.
    for index, home in enumerate(HOMES.values()):
        if home == "home-2":
            continue
        with clinic.client(home) as gateway:
            device = heartbeat(home, f"B8-27-EB-FF-FE-4A-6C-0{index + 1}", 90.0)
            device["id"] = clinic.gateways[home]
            answer = gateway.put(f"/Device/{clinic.gateways[home]}", json=device)
            assert answer.status_code == 200, answer.text
    accounts = AccountStore(engine, clock=time.time)
    for role, roles in (("doctor", (StaffRole.DOCTOR,)), ("nurse", (StaffRole.NURSE,))):
        username = f"{role}-{secrets.token_hex(3)}"
        display = {"doctor": "医師 一", "nurse": "看護 花"}[role]
        accounts.create(username, roles, practitioners[role], display)
        password = f"correct horse {secrets.token_hex(6)}"
        accounts.set_password(username, password, by_admin=False)
        clinic.staff[role] = Staff(username, password, display)
    return clinic
