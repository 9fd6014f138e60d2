"""Server settings: `HOMEVITALS_*` environment variables or a TOML file.

Example::

    HOMEVITALS_DATA_DIR=/var/lib/homevitals homevitals server
    HOMEVITALS_DATABASE_URL=postgresql+psycopg://hv@db/hv HOMEVITALS_SERIES_BACKEND=postgresql ...
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .fhir import InputLimits

__all__ = ["SeriesBackend", "Settings", "get_settings"]


class SeriesBackend(StrEnum):
    """Where vital-sign time series are kept."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"
    INFLUXDB = "influxdb"


class Settings(BaseSettings):
    """Everything the server can be configured with."""

    model_config = SettingsConfigDict(env_prefix="HOMEVITALS_", extra="ignore")

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
    base_url: str | None = Field(default=None, description="public base URL, for Location headers")
    default_page_size: int = Field(default=50, ge=1, le=1000)

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
        toml = os.environ.get("HOMEVITALS_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
