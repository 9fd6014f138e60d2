"""Gateway settings: `HOMEVITALS_GATEWAY_*` environment variables or a TOML file.

Example `/etc/homevitals/gateway.toml`::

    server_url = "https://fhir.example.org/fhir"
    data_dir = "/var/lib/homevitals"

    [[devices]]
    address = "D0:00:00:00:10:01"
    kind = "blood-pressure"
    patients = { "1" = "8e5a5691-…", "2" = "6884f103-…" }   # user slot -> Patient id; "*" = all

The token comes from `HOMEVITALS_GATEWAY_TOKEN` (or the file's `token`); it is
never logged or printed.
"""

from __future__ import annotations

import os
import uuid
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .bindings import Binding, Bindings
from .mapping import GatewayIdentity, PatientLink
from .mapping.devices import DeviceKind

__all__ = ["DeviceConfig", "GatewaySettings", "default_system_id"]

SOFTWARE_VERSION = "0.1.0"


def default_system_id() -> str:
    """An EUI-64 from this machine's MAC address (EUI-48 with FFFE in the middle)."""
    mac = f"{uuid.getnode():012X}"
    return mac[:6] + "FFFE" + mac[6:]


class DeviceConfig(BaseModel):
    """One device of the home."""

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


class GatewaySettings(BaseSettings):
    """Everything the gateway can be configured with."""

    model_config = SettingsConfigDict(env_prefix="HOMEVITALS_GATEWAY_", extra="ignore")

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
            raise SystemExit(
                "no token: set HOMEVITALS_GATEWAY_TOKEN (from 'homevitals token create')"
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
        toml = os.environ.get("HOMEVITALS_GATEWAY_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)
