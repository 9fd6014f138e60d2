"""`homevitals admin alert-channel`: a staff member's channels, checked and audited."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

import homevitals_cli
from fhir_api.storage.database import make_engine
from fhir_api.storage.schema import audit_events


def admin(capsys, data, *args: str) -> tuple[int, str, str]:
    code = homevitals_cli.main(["admin", *args, "--data-dir", str(data)])
    out, err = capsys.readouterr()
    return code, out.strip(), err


def test_an_admin_sets_and_removes_a_nurses_alert_channels(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(
        "HOMEVITALS_NOTIFY_CHANNELS", json.dumps({"clinic-mail": "mailtos://u:p@smtp.example"})
    )
    data = tmp_path / "data"
    code, nurse, _ = admin(capsys, data, "practitioner", "create", "--family", "Ito")
    assert code == 0
    code, out, _ = admin(
        capsys, data, "alert-channel", "set", "--practitioner", nurse,
        "--channel", "clinic-mail", "--address", "ito@clinic.example",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out) == {
        "recipient": f"Practitioner/{nurse}",
        "channels": [["clinic-mail", "ito@clinic.example"]],
    }
    code, _, err = admin(
        capsys, data, "alert-channel", "set", "--practitioner", nurse, "--channel", "line"
    )
    assert code == 2 and "no channel 'line' is configured (clinic-mail)" in err
    code, _, err = admin(
        capsys, data, "alert-channel", "set", "--practitioner", "nobody", "--channel", "clinic-mail"
    )
    assert code == 2 and "Practitioner/nobody is not known" in err
    code, out, _ = admin(
        capsys, data, "alert-channel", "remove", "--practitioner", nurse, "--channel", "clinic-mail"
    )
    assert code == 0 and json.loads(out)["channels"] == []
    engine = make_engine(f"sqlite:///{data / 'homevitals.db'}")
    with engine.connect() as connection:
        subtypes = [row[0] for row in connection.execute(sa.select(audit_events.c.subtype))]
    engine.dispose()
    assert subtypes[-2:] == ["alert-channel-set", "alert-channel-remove"]


@pytest.mark.parametrize("verb", ["set", "remove"])
def test_the_channel_is_required(tmp_path, capsys, verb):
    with pytest.raises(SystemExit):
        homevitals_cli.main(["admin", "alert-channel", verb, "--practitioner", "x"])
    assert "--channel" in capsys.readouterr().err
