"""Gateway settings: `HOMEVITALS_GATEWAY_*` environment variables or a TOML file.

Example `/etc/homevitals/gateway.toml`::

    server_url = "https://fhir.example.org/fhir"
    data_dir = "/var/lib/homevitals"

    [[devices]]
    address = "D0:00:00:00:10:01"
    kind = "blood-pressure"
    patients = { "1" = "8e5a5691-…", "2" = "6884f103-…" }   # user slot -> Patient id; "*" = all

    # The patient's side (issue 14): off unless a pin or a speaker is configured.
    [feedback]
    language = "ja"                      # "ja" or "en"
    speech = true                        # a speaker is attached
    volume = 70                          # percent
    quiet_hours = "21:00-07:00"          # reminders and the outage warning wait
    read_values_for = ["8e5a5691-…"]     # Patient ids whose values are read aloud ("*": all)
    led_pin = 17
    button_pin = 27
    button_patient = "8e5a5691-…"
    care_team = "c1d2…"                  # CareTeam id a press is addressed to

    [[reminders]]
    patient = "8e5a5691-…"
    kind = "blood-pressure"
    times = ["07:00", "19:00"]           # the home's time zone
    repeat_after_minutes = 30
    max_repeats = 1

The token comes from `HOMEVITALS_GATEWAY_TOKEN` (or the file's `token`); it is
never logged or printed.

A typo must not be silently ignored: an unknown key in the file (at the top or in
a `[[devices]]` table) or an unknown `HOMEVITALS_GATEWAY_*` variable stops the
gateway with `UnknownSetting`, naming the key and the nearest known one. Only
`HOMEVITALS_GATEWAY_CONFIG` (the file's path) is let through; other
`HOMEVITALS_*` variables belong to the server and are not the gateway's business.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import uuid
from collections.abc import Iterable, Mapping
from datetime import time, timedelta
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .bindings import Binding, Bindings
from .feedback import FeedbackOptions, Language
from .mapping import GatewayIdentity, PatientLink
from .mapping.devices import DeviceKind
from .reminders import ReminderPlan

__all__ = [
    "DeviceConfig",
    "FeedbackConfig",
    "GatewaySettings",
    "ReminderConfig",
    "UnknownSetting",
    "default_system_id",
]

SOFTWARE_VERSION = "0.1.0"
ENV_PREFIX = "HOMEVITALS_GATEWAY_"
NOT_SETTINGS = ("HOMEVITALS_GATEWAY_CONFIG",)


class UnknownSetting(ValueError):
    """A file key or `HOMEVITALS_GATEWAY_*` variable that is no setting (a typo, most likely)."""

    def __init__(self, name: str, where: str, nearest: str | None) -> None:
        hint = f"; did you mean {nearest}?" if nearest else ""
        super().__init__(f"unknown setting {name} ({where}){hint}")
        self.name = name
        self.nearest = nearest


def _nearest(name: str, known: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _unknown_environment(
    environ: Mapping[str, str], fields: Iterable[str]
) -> UnknownSetting | None:
    known = {ENV_PREFIX + field.upper() for field in fields}
    for variable in sorted(environ):
        name = variable.upper()
        if name.startswith(ENV_PREFIX) and name not in known and name not in NOT_SETTINGS:
            return UnknownSetting(variable, "environment", _nearest(name, known))
    return None


def _unknown_in_file(document: Mapping[str, object], where: str) -> UnknownSetting | None:
    fields = GatewaySettings.model_fields
    for key in document:
        if key not in fields:
            return UnknownSetting(key, where, _nearest(key, fields))
    tables: list[tuple[str, object, type[BaseModel]]] = [
        ("feedback", document.get("feedback"), FeedbackConfig)
    ]
    lists: tuple[tuple[str, type[BaseModel]], ...] = (
        ("devices", DeviceConfig),
        ("reminders", ReminderConfig),
    )
    for name, model in lists:
        items = document.get(name)
        for index, item in enumerate(items if isinstance(items, list) else []):
            tables.append((f"{name}[{index}]", item, model))
    for name, table, model in tables:
        for key in table if isinstance(table, dict) else ():
            if key not in model.model_fields:
                return UnknownSetting(f"{name}.{key}", where, _nearest(key, model.model_fields))
    return None


def default_system_id() -> str:
    """An EUI-64 from this machine's MAC address (EUI-48 with FFFE in the middle)."""
    mac = f"{uuid.getnode():012X}"
    return mac[:6] + "FFFE" + mac[6:]


class DeviceConfig(BaseModel):
    """One device of the home."""

    model_config = ConfigDict(extra="forbid")

    address: str
    kind: DeviceKind
    patients: dict[str, str] = Field(
        default_factory=dict, description='user slot -> Patient id ("*": all)'
    )

    def binding(self) -> Binding:
        """As the service uses it."""
        patients = {
            (None if slot == "*" else int(slot)): PatientLink(logical_id=patient)
            for slot, patient in self.patients.items()
        }
        return Binding(self.address, self.kind, patients)


def _clock_time(text: str) -> time:
    """ "07:00" -> time(7, 0); refuses anything else (a typo must not silence a reminder)."""
    try:
        hour, minute = text.split(":")
        return time(int(hour), int(minute))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a time of day HH:MM") from exc


class FeedbackConfig(BaseModel):
    """The light, the voice and the call button (issue 14). Everything is off by default."""

    model_config = ConfigDict(extra="forbid")

    language: Language = Language.JA
    speech: bool = False
    volume: int = Field(default=70, ge=0, le=100)
    rate: int = Field(default=140, ge=80, le=300, description="words per minute")
    quiet_hours: str | None = Field(default=None, description='"21:00-07:00", local time')
    read_values_for: list[str] = Field(default_factory=list, description='Patient ids; "*": all')
    led_pin: int | str | None = None
    button_pin: int | str | None = None
    button_patient: str | None = None
    button_hold_time: float = Field(default=2.0, gt=0)
    care_team: str | None = None
    outage_warning_after: float = Field(default=1800.0, gt=0, description="seconds")
    print_speech: bool = Field(default=False, description="also print each sentence (the demo)")

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_window(cls, value: str | None) -> str | None:
        if value is not None:
            start, _, end = value.partition("-")
            _clock_time(start)
            _clock_time(end)
        return value

    def options(self) -> FeedbackOptions:
        """As the pure policy takes them."""
        quiet = None
        if self.quiet_hours is not None:
            start, _, end = self.quiet_hours.partition("-")
            quiet = (_clock_time(start), _clock_time(end))
        return FeedbackOptions(self.language, self.speech, self.volume, self.rate, quiet)


class ReminderConfig(BaseModel):
    """One patient's measurement times for one kind of device."""

    model_config = ConfigDict(extra="forbid")

    patient: str
    kind: DeviceKind
    times: list[str]
    repeat_after_minutes: float = Field(default=30.0, gt=0)
    max_repeats: int = Field(default=1, ge=0, le=10)

    @field_validator("times")
    @classmethod
    def _times_of_day(cls, value: list[str]) -> list[str]:
        for text in value:
            _clock_time(text)
        return value

    def plan(self) -> ReminderPlan:
        """As the pure scheduler takes it."""
        return ReminderPlan(
            self.patient,
            self.kind.value,
            tuple(_clock_time(t) for t in self.times),
            timedelta(minutes=self.repeat_after_minutes),
            self.max_repeats,
        )


class GatewaySettings(BaseSettings):
    """Everything the gateway can be configured with."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    server_url: str = "http://127.0.0.1:8000/fhir"
    token: SecretStr | None = None
    data_dir: Path = Path("gateway-data")
    timezone: str = "Asia/Tokyo"
    system_id: str = Field(default_factory=default_system_id)
    name: str = "HomeVitals home gateway"
    batch_size: int = Field(default=100, ge=1, le=500)
    idle_timeout: float = Field(default=5.0, gt=0)
    cooldown: float = Field(default=30.0, ge=0)
    heartbeat_interval: float = Field(default=300.0, gt=0)
    # The Device is replaced on a material change, else once per keep-alive (issue 9).
    heartbeat_keepalive: float = Field(default=6 * 3600.0, gt=0)
    # Sent rows are deleted this long after the server's 2xx (an SD card lasts years).
    sent_retention_days: float = Field(default=7.0, gt=0)
    adapter: str | None = None
    simulate: bool = False
    simulation_home: Path | None = None
    devices: list[DeviceConfig] = Field(default_factory=list)
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)
    reminders: list[ReminderConfig] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        """The home's time zone."""
        return ZoneInfo(self.timezone)

    def identity(self) -> GatewayIdentity:
        """This gateway as a PHG Device."""
        return GatewayIdentity(self.system_id, SOFTWARE_VERSION, self.name)

    def bindings(self) -> Bindings:
        """The home's devices."""
        return Bindings([device.binding() for device in self.devices])

    def require_token(self) -> str:
        """The bearer token (a clear error when it is missing)."""
        if self.token is None or not self.token.get_secret_value():
            raise SystemExit(  # what to do, from the gateway's side: issue 9
                "no token: on the server's host an administrator runs "
                "`homevitals admin gateway-token create --gateway <home> --patient <id>`; put "
                "the token it "
                "prints once in HOMEVITALS_GATEWAY_TOKEN (on a Pi: /etc/homevitals/gateway.env)"
            )
        return self.token.get_secret_value()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        unknown = _unknown_environment(os.environ, settings_cls.model_fields)
        if unknown is not None:
            raise unknown
        toml = os.environ.get("HOMEVITALS_GATEWAY_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml:
            with open(toml, "rb") as file:
                unknown = _unknown_in_file(tomllib.load(file), toml)
            if unknown is not None:
                raise unknown
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)
