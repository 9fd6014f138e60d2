"""Gateway configuration: TOML plus environment, bindings per user slot, the token."""

import pytest

from gateway.mapping import PatientLink
from gateway.settings import GatewaySettings, UnknownSetting, default_system_id


def test_toml_devices_become_bindings(tmp_path, monkeypatch):
    config = tmp_path / "gateway.toml"
    config.write_text(
        'server_url = "https://fhir.example.org/fhir"\n'
        "[[devices]]\n"
        'address = "d0:00:00:00:10:01"\nkind = "blood-pressure"\n'
        'patients = { "1" = "p-one", "2" = "p-two" }\n'
        "[[devices]]\n"
        'address = "D0:00:00:00:10:02"\nkind = "pulse-oximeter"\npatients = { "*" = "p-one" }\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HOMEVITALS_GATEWAY_CONFIG", str(config))
    monkeypatch.setenv("HOMEVITALS_GATEWAY_TOKEN", "hv_secret")
    settings = GatewaySettings()
    assert settings.server_url == "https://fhir.example.org/fhir"
    bindings = settings.bindings()
    cuff = bindings.get("D0:00:00:00:10:01")
    assert cuff is not None
    assert cuff.patient_for(2) == PatientLink(logical_id="p-two")
    assert cuff.patient_for(3) is None  # an unbound slot: unassigned, never guessed
    oximeter = bindings.get("d0-00-00-00-10-02")
    assert oximeter is not None and oximeter.patient_for(None) == PatientLink(logical_id="p-one")
    assert settings.require_token() == "hv_secret"
    assert "hv_secret" not in repr(settings) and "hv_secret" not in str(settings.model_dump())


def test_missing_token_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("HOMEVITALS_GATEWAY_TOKEN", raising=False)
    monkeypatch.delenv("HOMEVITALS_GATEWAY_CONFIG", raising=False)
    with pytest.raises(SystemExit, match="HOMEVITALS_GATEWAY_TOKEN"):
        GatewaySettings().require_token()


def test_default_system_id_is_an_eui64_from_the_mac():
    eui = default_system_id()
    assert len(eui) == 16 and eui[6:10] == "FFFE"
    int(eui, 16)


def test_unknown_variable_is_refused_with_the_nearest_name(monkeypatch):
    monkeypatch.setenv("HOMEVITALS_GATEWAY_SERVR_URL", "https://fhir.example.org/fhir")
    with pytest.raises(UnknownSetting) as caught:
        GatewaySettings()
    assert caught.value.name == "HOMEVITALS_GATEWAY_SERVR_URL"
    assert caught.value.nearest == "HOMEVITALS_GATEWAY_SERVER_URL"


def test_server_and_config_variables_are_not_the_gateways_business(tmp_path, monkeypatch):
    config = tmp_path / "gateway.toml"
    config.write_text('name = "Kitchen"\n', encoding="utf-8")
    monkeypatch.setenv("HOMEVITALS_GATEWAY_CONFIG", str(config))
    monkeypatch.setenv("HOMEVITALS_DATA_DIR", "/srv/server-data")  # the server's setting
    assert GatewaySettings().name == "Kitchen"


@pytest.mark.parametrize(
    ("text", "name", "nearest"),
    [
        ('sever_url = "https://x/fhir"\n', "sever_url", "server_url"),
        (
            '[[devices]]\naddress = "D0:00:00:00:10:01"\nkind = "blood-pressure"\npatient = {}\n',
            "devices[0].patient",
            "patients",
        ),
    ],
)
def test_unknown_file_key_is_refused_with_the_nearest_name(
    tmp_path, monkeypatch, text, name, nearest
):
    config = tmp_path / "gateway.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("HOMEVITALS_GATEWAY_CONFIG", str(config))
    with pytest.raises(UnknownSetting) as caught:
        GatewaySettings()
    assert (caught.value.name, caught.value.nearest) == (name, nearest)
    assert str(config) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "name", "nearest"),
    [
        ('[feedback]\nquiet_hour = "21:00-07:00"\n', "feedback.quiet_hour", "quiet_hours"),
        (
            '[[reminders]]\npatient = "p"\nkind = "blood-pressure"\ntime = ["07:00"]\n',
            "reminders[0].time",
            "times",
        ),
    ],
)
def test_unknown_patient_side_key_is_refused_with_the_nearest_name(
    tmp_path, monkeypatch, text, name, nearest
):
    config = tmp_path / "gateway.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("HOMEVITALS_GATEWAY_CONFIG", str(config))
    with pytest.raises(UnknownSetting) as caught:
        GatewaySettings()
    assert (caught.value.name, caught.value.nearest) == (name, nearest)


@pytest.mark.parametrize(
    "text",
    [
        '[feedback]\nquiet_hours = "21-07"\n',
        "[feedback]\nvolume = 150\n",
        '[[reminders]]\npatient = "p"\nkind = "blood-pressure"\ntimes = ["7 am"]\n',
        '[[reminders]]\npatient = "p"\nkind = "blood-pressure"\ntimes = ["25:00"]\n',
    ],
)
def test_a_bad_time_or_volume_is_refused_not_ignored(tmp_path, monkeypatch, text):
    from pydantic import ValidationError

    config = tmp_path / "gateway.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("HOMEVITALS_GATEWAY_CONFIG", str(config))
    with pytest.raises(ValidationError):
        GatewaySettings()
