"""`homevitals admin patient|practitioner|careteam|gateway|gateway-token|staff-token`
against a real server's store, and what each puts on the audit trail."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert

import homevitals_cli
from fhir_api.audit.store import verify
from fhir_api.settings import Settings
from fhir_api.storage.database import make_engine
from fhir_api.storage.schema import staff_accounts

from .conftest import serve
from .helpers import JSON, blood_pressure


def admin(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> str:
    code = homevitals_cli.main(["admin", *args, "--data-dir", str(data)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out.strip()


def refused(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> str:
    code = homevitals_cli.main(["admin", *args, "--data-dir", str(data)])
    _, err = capsys.readouterr()
    assert code != 0
    return err


def test_an_admin_sets_up_a_home_from_the_command_line(tmp_path, capsys) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    with serve(settings) as (base, store):
        patient = admin(
            capsys,
            data,
            "patient",
            "create",
            "--family",
            "田中",
            "--given",
            "花子",
            "--kana",
            "タナカ ハナコ",
            "--identifier",
            "urn:oid:1.2.392.100495.20.3.51.1|0001",
        )
        doctor = admin(capsys, data, "practitioner", "create", "--family", "Sato")
        nurse = admin(capsys, data, "practitioner", "create", "--family", "Ito")
        team = admin(capsys, data, "careteam", "create", "--patient", patient, "--member", doctor)
        members = admin(
            capsys, data, "careteam", "add-member", "--careteam", team, "--member", nurse
        )
        assert json.loads(members) == [f"Practitioner/{doctor}", f"Practitioner/{nurse}"]
        members = admin(
            capsys, data, "careteam", "remove-member", "--careteam", team, "--member", doctor
        )
        assert json.loads(members) == [f"Practitioner/{nurse}"]
        assert "no Patient/nobody" in refused(
            capsys, data, "gateway-token", "create", "--gateway", "home-1", "--patient", "nobody"
        )
        token = admin(
            capsys, data, "gateway-token", "create", "--gateway", "home-1", "--patient", patient
        )
        assert token.startswith("hv_")
        headers = {"Authorization": f"Bearer {token}", **JSON}
        with httpx.Client(base_url=base, headers=headers) as gateway:
            device = gateway.post("/Device", json={"resourceType": "Device"})
            assert device.status_code == 201
            reading = blood_pressure(f"Patient/{patient}", "2026-11-02T07:00:00+09:00", 120, 80)
            reading["extension"] = [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice",
                    "valueReference": {"reference": f"Device/{device.json()['id']}"},
                }
            ]
            assert gateway.post("/Observation", json=reading).status_code == 201
            assert gateway.get(f"/Patient/{patient}").status_code == 403
            shown = json.loads(admin(capsys, data, "gateway", "show", "--gateway", "home-1"))
            assert shown == {
                "gateway": "home-1",
                "patients": [patient],
                "devices": [device.json()["id"]],
                "disabled": False,
            }
            admin(capsys, data, "gateway", "disable", "--gateway", "home-1")
            time.sleep(0.6)
            assert gateway.get("/Device").status_code == 401
            admin(capsys, data, "gateway", "enable", "--gateway", "home-1")
            time.sleep(0.6)
            assert gateway.get("/Device").status_code == 200
            assert "revoked 1" in admin(
                capsys, data, "gateway-token", "revoke", "--gateway", "home-1"
            )
            time.sleep(0.6)
            assert gateway.get("/Device").status_code == 401

        engine = make_engine(settings.sqlalchemy_url)
        with engine.begin() as connection:
            connection.execute(
                insert(staff_accounts).values(
                    username="sato", roles="doctor", practitioner_id=nurse, created_ms=0
                )
            )
        staff = admin(capsys, data, "staff-token", "create", "--username", "sato")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {staff}"}) as client:
            assert client.get(f"/Patient/{patient}").status_code == 200
        assert "no staff account" in refused(
            capsys, data, "staff-token", "create", "--username", "x"
        )

        # Every act is on the audit trail, named after the operating-system user.
        result = verify(engine)
        assert result.broken is None, result
        system = homevitals_cli.main(
            ["token", "create", "--role", "system", "--name", "ops", "--data-dir", str(data)]
        )
        ops = capsys.readouterr().out.strip()
        assert system == 0
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ops}"}) as client:
            events = client.get(f"/AuditEvent?patient={patient}&_count=100").json()["entry"]
        subtypes = [
            next(
                c["code"]
                for c in e["resource"]["subtype"]
                if c["system"].startswith("urn:homevitals")
            )
            if any(c["system"].startswith("urn:homevitals") for c in e["resource"]["subtype"])
            else e["resource"]["subtype"][0]["code"]
            for e in events
            if e["resource"]["agent"][0]["who"]["identifier"]["value"].startswith("cli:")
        ]
        assert {"create", "update", "gateway-token-create"} <= set(subtypes), subtypes
        engine.dispose()
        store.engine.dispose()
