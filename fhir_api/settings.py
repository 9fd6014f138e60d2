"""Server settings: `HOMEVITALS_*` environment variables or a TOML file.

Example::

    HOMEVITALS_DATA_DIR=/var/lib/homevitals homevitals server
    HOMEVITALS_DATABASE_URL=postgresql+psycopg://hv@db/hv HOMEVITALS_SERIES_BACKEND=postgresql ...
    HOMEVITALS_CONFIG=/etc/homevitals/server.toml homevitals server

A typo must not be silently ignored: an unknown key in the TOML file, or an
unknown `HOMEVITALS_*` variable, stops the server with `UnknownSetting`, which
names the key and the nearest known one. These `HOMEVITALS_*` variables are not
server settings and are let through (`NOT_SETTINGS`):

- `HOMEVITALS_CONFIG`: the path of the TOML file itself;
- `HOMEVITALS_GATEWAY_*`: the gateway's settings (the gateway checks them);
- `HOMEVITALS_TEST_*` and `HOMEVITALS_BENCH_*`: the test suite's and the
  benchmarks' own knobs (e.g. `HOMEVITALS_TEST_PG_URL`).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .fhir import InputLimits

__all__ = [
    "NOT_SETTINGS",
    "LogFormat",
    "SeriesBackend",
    "Settings",
    "UnknownSetting",
    "get_settings",
]

ENV_PREFIX = "HOMEVITALS_"
# `HOMEVITALS_*` names that are not server settings: exact names, then prefixes.
NOT_SETTINGS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("HOMEVITALS_CONFIG",),
    ("HOMEVITALS_GATEWAY_", "HOMEVITALS_TEST_", "HOMEVITALS_BENCH_"),
)


class UnknownSetting(ValueError):
    """A TOML key or `HOMEVITALS_*` variable that is no setting (a typo, most likely)."""

    def __init__(self, name: str, where: str, nearest: str | None) -> None:
        hint = f"; did you mean {nearest}?" if nearest else ""
        super().__init__(f"unknown setting {name} ({where}){hint}")
        self.name = name
        self.nearest = nearest


def _nearest(name: str, known: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_environment(environ: Mapping[str, str], fields: Iterable[str]) -> UnknownSetting | None:
    """The first `HOMEVITALS_*` variable that is neither a field nor in `NOT_SETTINGS`."""
    known = {ENV_PREFIX + field.upper() for field in fields}
    exact, prefixes = NOT_SETTINGS
    for variable in sorted(environ):
        name = variable.upper()
        if not name.startswith(ENV_PREFIX) or name in known or name in exact:
            continue
        if name.startswith(prefixes):
            continue
        return UnknownSetting(variable, "environment", _nearest(name, known))
    return None


def unknown_toml_key(document: Mapping[str, object], fields: Iterable[str]) -> str | None:
    """The first top-level key of a TOML document that is not a field."""
    known = set(fields)
    return next((key for key in document if key not in known), None)


class LogFormat(StrEnum):
    """How the server writes its log lines."""

    TEXT = "text"
    JSON = "json"


class SeriesBackend(StrEnum):
    """Where vital-sign time series are kept."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"
    INFLUXDB = "influxdb"


class Settings(BaseSettings):
    """Everything the server can be configured with."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    data_dir: Path = Field(default=Path("data"), description="embedded store directory")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite in data_dir"
    )
    series_backend: SeriesBackend = SeriesBackend.SQLITE
    influx_url: str = "http://127.0.0.1:8086"
    influx_database: str = "homevitals"
    influx_retention_policy: str | None = None
    influx_token: str | None = Field(default=None, description="InfluxDB 2.x/3.x token")
    influx_username: str | None = None
    influx_password: str | None = None
    timezone: str = "Asia/Tokyo"
    max_body_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    # What one body may hold (issue 10), refused before validation or database work.
    # The depth stays far below the JSON encoder's 255, so a stored resource can always be
    # served inside a Bundle.
    max_json_depth: int = Field(default=64, ge=16, le=200, description="JSON nesting levels")
    max_array_length: int = Field(default=200, ge=10, description="items of any JSON array")
    max_bundle_entries: int = Field(default=1_000, ge=1, description="entries per Bundle")
    max_string_length: int = Field(
        default=10_000, ge=1_024, description="characters per string (narrative excepted)"
    )
    max_identifiers: int = Field(default=20, ge=1, description="identifiers per element")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes")
    base_url: str | None = Field(
        default=None,
        description="public base URL of the FHIR endpoint (https://host/fhir) for every link "
        "the server writes; set it behind a reverse proxy",
    )
    default_page_size: int = Field(default=50, ge=1, le=1000)
    log_format: LogFormat = Field(default=LogFormat.TEXT, description="text or json log lines")
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    limit_concurrency: int = Field(
        default=1000,
        ge=1,
        description="per worker: connections and tasks at once before new requests get 503",
    )
    keep_alive_timeout: float = Field(
        default=5.0, gt=0, le=300, description="seconds an idle keep-alive connection stays open"
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="bearer token Prometheus sends to /metrics; /metrics is off without it",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _backend_matches_database(self) -> Settings:
        if self.series_backend is SeriesBackend.POSTGRESQL and not self.sqlalchemy_url.startswith(
            "postgresql"
        ):
            raise ValueError("series_backend postgresql needs a PostgreSQL database_url")
        if self.series_backend is SeriesBackend.SQLITE and not self.sqlalchemy_url.startswith(
            "sqlite"
        ):
            raise ValueError("series_backend sqlite needs a SQLite database_url")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The resource store URL (SQLite in data_dir unless database_url is set)."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'homevitals.db').as_posix()}"

    @property
    def input_limits(self) -> InputLimits:
        """The body limits, as the parser takes them."""
        return InputLimits(
            self.max_json_depth,
            self.max_array_length,
            self.max_bundle_entries,
            self.max_string_length,
            self.max_identifiers,
        )

    @property
    def zone(self) -> ZoneInfo:
        """The default patient time zone."""
        return ZoneInfo(self.timezone)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        fields = settings_cls.model_fields
        unknown = unknown_environment(os.environ, fields)
        if unknown is not None:
            raise unknown
        toml = os.environ.get("HOMEVITALS_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml:
            with open(toml, "rb") as file:
                key = unknown_toml_key(tomllib.load(file), fields)
            if key is not None:
                raise UnknownSetting(key, toml, _nearest(key, fields))
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
