"""`homevitals admin alert-silence`: a patient's pause, checked, listed, ended and audited."""

from __future__ import annotations

import json

import sqlalchemy as sa

from fhir_api.storage.database import make_engine
from fhir_api.storage.schema import audit_event_patients, audit_events

from .test_cli import admin


def test_an_admin_silences_a_patient_for_a_hospital_stay_and_ends_it_early(tmp_path, capsys):
    data = tmp_path / "data"
    code, patient, _ = admin(capsys, data, "patient", "create", "--family", "Sato")
    assert code == 0
    code, out, _ = admin(
        capsys, data, "alert-silence", "add", "--patient", patient,
        "--from", "2030-01-10 09:00", "--until", "2030-01-20",
        "--reason", "入院中 (hospital stay)",
    )  # fmt: skip
    assert code == 0, out
    added = json.loads(out)
    # Times without an offset are the patient's (Asia/Tokyo by default: UTC+9).
    assert added["starts"] == "2030-01-10T00:00:00+00:00"
    assert added["ends"] == "2030-01-19T15:00:00+00:00"
    assert added["reason"] == "入院中 (hospital stay)" and added["rule"] is None
    assert added["author"].startswith("system:cli:")
    # A silence from now (the default) on one rule, ended early: it is no longer listed.
    code, out, _ = admin(
        capsys, data, "alert-silence", "add", "--patient", patient, "--rule", "bp-high",
        "--until", "2030-01-05", "--reason", "cuff broken",
    )  # fmt: skip
    assert code == 0, out
    now = json.loads(out)
    assert now["rule"] == "bp-high"
    code, out, _ = admin(capsys, data, "alert-silence", "list", "--patient", patient)
    assert code == 0 and [s["id"] for s in json.loads(out)] == [now["id"], added["id"]]

    code, out, _ = admin(capsys, data, "alert-silence", "end", "--id", now["id"])
    assert code == 0
    assert json.loads(out)["ends"] < now["ends"]
    code, out, _ = admin(capsys, data, "alert-silence", "list", "--patient", patient)
    assert [s["id"] for s in json.loads(out)] == [added["id"]]
    code, out, _ = admin(capsys, data, "alert-silence", "list", "--patient", patient, "--all")
    assert [s["id"] for s in json.loads(out)] == [now["id"], added["id"]]

    engine = make_engine(f"sqlite:///{data / 'homevitals.db'}")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(audit_events.c.seq, audit_events.c.subtype, audit_events.c.agent)
        ).all()
        about = {
            r.seq
            for r in connection.execute(
                sa.select(audit_event_patients.c.seq).where(
                    audit_event_patients.c.patient_id == patient
                )
            )
        }
    engine.dispose()
    silence_events = [r for r in rows if r.subtype.startswith("alert-silence")]
    assert [r.subtype for r in silence_events] == [
        "alert-silence-add",
        "alert-silence-add",
        "alert-silence-end",
    ]
    assert all(r.agent.startswith("cli:") and r.seq in about for r in silence_events)


def test_a_silence_is_refused_without_a_known_patient_a_reason_or_a_valid_time(tmp_path, capsys):
    data = tmp_path / "data"
    code, patient, _ = admin(capsys, data, "patient", "create", "--family", "Sato")
    base = ("alert-silence", "add", "--until", "2030-01-20")
    code, _, err = admin(capsys, data, *base, "--patient", "nobody", "--reason", "travel")
    assert code == 2 and "Patient/nobody is not known" in err
    code, _, err = admin(capsys, data, *base, "--patient", patient, "--reason", "  ")
    assert code == 2 and "reason" in err
    code, _, err = admin(
        capsys, data, *base, "--patient", patient, "--reason", "travel", "--from", "2030-02-01"
    )
    assert code == 2 and "end after it starts" in err
    code, _, err = admin(
        capsys, data, "alert-silence", "add", "--patient", patient, "--reason", "travel",
        "--until", "next week",
    )  # fmt: skip
    assert code == 2 and "not a date and time: 'next week'" in err
    code, _, err = admin(
        capsys, data, *base, "--patient", patient, "--reason", "travel", "--rule", "BP HIGH"
    )
    assert code == 2 and "not a rule name" in err
    code, _, err = admin(capsys, data, "alert-silence", "end", "--id", "no-such")
    assert code == 2 and "no silence no-such" in err
    code, out, _ = admin(capsys, data, "alert-silence", "list", "--patient", patient, "--all")
    assert json.loads(out) == []
