"""Server settings: `HOMEVITALS_*` environment variables or a TOML file.

Example::

    HOMEVITALS_DATA_DIR=/var/lib/homevitals homevitals server
    HOMEVITALS_DATABASE_URL=postgresql+psycopg://hv@db/hv HOMEVITALS_SERIES_BACKEND=postgresql ...
    HOMEVITALS_CONFIG=/etc/homevitals/server.toml homevitals server
    HOMEVITALS_CORS_ORIGINS='["https://portal.example.org"]' ...   # a list: JSON

Outside development mode (`HOMEVITALS_DEVELOPMENT=true`) the server refuses to
start without a real `HOMEVITALS_SESSION_SECRET` (`Settings.check_secrets`).

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
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
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
    "InsecureSettings",
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


class InsecureSettings(ValueError):
    """Settings a server outside development mode must not start with (one line: why)."""


# Secrets people paste from examples; any value containing one of them is refused.
_PLACEHOLDERS = ("changeme", "change-me", "change_me", "secret", "password", "example", "xxxx")
MIN_SECRET_LENGTH = 32


def session_secret_problem(secret: str | None) -> str | None:
    """Why `secret` may not sign a production server's sessions, or None when it may."""
    if not secret:
        return "HOMEVITALS_SESSION_SECRET is not set"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"HOMEVITALS_SESSION_SECRET is shorter than {MIN_SECRET_LENGTH} characters"
    lowered = secret.lower()
    if any(word in lowered for word in _PLACEHOLDERS) or len(set(secret)) < 8:
        return "HOMEVITALS_SESSION_SECRET looks like a placeholder"
    return None


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

    # Staff logins (issue 11). The secret signs CSRF tokens; outside development mode a
    # server refuses to start without a real one (`check_secrets`).
    session_secret: SecretStr | None = Field(
        default=None,
        description="at least 32 random characters, e.g. `python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))'`; every worker must have the same",
    )
    development: bool = Field(
        default=False,
        description="development mode: a missing session secret is replaced by a random "
        "one per process (logins then work with one worker only)",
    )
    require_totp: bool = Field(
        default=True, description="clinical roles (doctor, nurse, care_manager) need TOTP"
    )
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(default=12, ge=1, le=7 * 24)
    cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed by CORS; none: CORS stays closed"
    )
    secure_cookies: bool | None = Field(
        default=None,
        description="Secure cookies and HSTS; default: when base_url starts with https",
    )
    # Issue 13: where alert messages go. Name -> apprise URL (JSON in the environment);
    # the URLs carry passwords and tokens, so they live here, never in the database,
    # which names a channel only (alert_recipients).
    notify_channels: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='alert channels: {"clinic-mail": "mailtos://…", "ops-hook": "json://…"}',
    )
    notify_anonymous_channels: list[str] = Field(
        default_factory=list,
        description="channels outside the clinic (e.g. LINE): their messages name no patient",
    )
    alerts_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="how often each alert worker looks for work"
    )
    notify_language: Literal["ja", "en"] = Field(
        default="ja", description="the language of alert messages"
    )
    notify_link_base: str | None = Field(
        default=None,
        description="the clinic's address in alert messages' links (https://clinic.example); "
        "default: base_url without its /fhir, else http://host:port",
    )

    def alerts_link_base(self) -> str:
        """Where the patient pages are, for the links in alert messages."""
        if self.notify_link_base:
            return self.notify_link_base.rstrip("/")
        if self.base_url:
            return self.base_url.rstrip("/").removesuffix("/fhir")
        return f"http://{self.host}:{self.port}"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _anonymous_channels_exist(self) -> Settings:
        unknown = sorted(set(self.notify_anonymous_channels) - set(self.notify_channels))
        if unknown:  # a typo here would send patients' names to the channel it meant
            raise ValueError(f"notify_anonymous_channels names no channel: {', '.join(unknown)}")
        return self

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
    def behind_tls(self) -> bool:
        """Whether browsers reach the server over HTTPS (Secure cookies, HSTS)."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return bool(self.base_url and self.base_url.lower().startswith("https://"))

    def check_secrets(self) -> None:
        """Refuse a missing or placeholder session secret outside development mode.

        Raises:
            InsecureSettings: with one line saying what is wrong and how to fix it.
        """
        secret = self.session_secret.get_secret_value() if self.session_secret else None
        problem = session_secret_problem(secret)
        if problem is not None and not self.development:
            raise InsecureSettings(
                f"{problem}: set it to at least {MIN_SECRET_LENGTH} random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
                "or HOMEVITALS_DEVELOPMENT=true on a development machine"
            )

    @property
    def signing_key(self) -> bytes:
        """The key that signs CSRF tokens: the session secret, in development a random one."""
        if self.session_secret is not None:
            return self.session_secret.get_secret_value().encode()
        self.check_secrets()
        return _development_key()

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
def _development_key() -> bytes:
    """One random key per process, for a development server without a secret."""
    return secrets.token_bytes(32)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
