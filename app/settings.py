"""Typed settings, read from the environment once per process (never at import time)."""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_BYTES = 32
SECRET_FILE_NAME = "secret.key"  # noqa: S105 - a file name


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ConfigurationError(Exception):
    """The configuration cannot run the product; the message says what to change."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TENANTGRAPH_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    # External PostgreSQL used for migrations and administration (the schema owner).
    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "TENANTGRAPH_DATABASE_URL")
    )
    # The runtime connection; by default DATABASE_URL with the user replaced by `app_role`.
    app_database_url: SecretStr | None = None
    app_role: str = "tenantgraph_app"
    # The platform path's connection (super-admin analytics); by default the runtime URL with the
    # user replaced by `<app_role>_platform`.
    platform_database_url: SecretStr | None = None
    data_dir: Path = Path(".pgdata")
    secret_key: SecretStr | None = None
    # The secret before the last rotation: tokens it signed verify until they expire.
    secret_key_previous: SecretStr | None = None
    base_domain: str = "localhost"
    token_ttl: int = Field(default=3600, ge=60, le=30 * 24 * 3600)
    token_issuer: str = "tenantgraph"  # noqa: S105 - not a secret
    token_audience: str = "tenantgraph-api"  # noqa: S105 - not a secret
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cookie_secure: bool | None = None
    redis_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "TENANTGRAPH_REDIS_URL")
    )
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # The runtime URL goes through PgBouncer in transaction pooling mode: no prepared statement
    # may outlive its transaction (consecutive transactions land on different server connections).
    db_pgbouncer: bool = False
    host_cache_seconds: float = Field(default=30.0, ge=0)
    # Sign-in attempts per window: per (tenant, email) and per client address.
    login_attempts_per_account: int = Field(default=10, ge=1)
    login_attempts_per_address: int = Field(default=50, ge=1)
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    # Origins besides each tenant's own hosts that may call the API from a browser.
    cors_extra_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # how long a cached analytics answer may be reused (changes invalidate it at once)
    analytics_cache_seconds: float = Field(default=60.0, gt=0)
    # --- observability (docs/observability.md) ---
    # "auto": JSON lines in production, readable console lines in development
    log_format: Literal["auto", "json", "console"] = "auto"
    # /metrics: off unless a bearer token (served by the API) or a port of its own is set
    metrics_token: SecretStr | None = None
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    # tenants (ids or slugs) that always get their own metrics label; besides them, the first
    # `metrics_tenant_limit` tenants seen do, and every other one is counted as "other"
    metrics_tenants: Annotated[list[str], NoDecode] = Field(default_factory=list)
    metrics_tenant_limit: int = Field(default=20, ge=0, le=1000)
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_service_name: str = "tenantgraph"
    sentry_dsn: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SENTRY_DSN", "TENANTGRAPH_SENTRY_DSN")
    )
    # audit rows of security events per tenant and minute (the log line and counter always)
    security_events_per_minute: int = Field(default=30, ge=0)

    @field_validator("trusted_proxies", "cors_extra_origins", "metrics_tenants", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("base_domain")
    @classmethod
    def _normalise_domain(cls, value: str) -> str:
        value = value.strip().strip(".").lower()
        if not value:
            raise ValueError("TENANTGRAPH_BASE_DOMAIN must not be empty")
        return value

    @field_validator("app_role")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        if not value.replace("_", "").isalnum() or not value[0].isalpha():
            raise ValueError("TENANTGRAPH_APP_ROLE must be a plain SQL identifier")
        return value

    @model_validator(mode="after")
    def _production_needs_a_secret(self) -> Settings:
        if self.env is Environment.PRODUCTION and self.secret_key is None:
            raise ValueError("TENANTGRAPH_SECRET_KEY is required when TENANTGRAPH_ENV=production")
        if self.secret_key is not None:
            _check_secret(self.secret_key.get_secret_value().encode())
        if self.secret_key_previous is not None:
            _check_secret(
                self.secret_key_previous.get_secret_value().encode(),
                "TENANTGRAPH_SECRET_KEY_PREVIOUS",
            )
        return self

    @property
    def json_logs(self) -> bool:
        if self.log_format == "auto":
            return not self.is_development
        return self.log_format == "json"

    @property
    def is_development(self) -> bool:
        return self.env is Environment.DEVELOPMENT

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return not self.is_development

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None

    def previous_signing_secret(self) -> bytes | None:
        """The secret before the last rotation, if one is configured."""
        if self.secret_key_previous is None:
            return None
        return self.secret_key_previous.get_secret_value().encode()

    def signing_secret(self) -> bytes:
        """The signing secret: configured, or generated once into the data dir (development)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / SECRET_FILE_NAME
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting together cannot both write a different key.
            try:
                fd = path.open("x", encoding="ascii")
            except FileExistsError:
                pass
            else:
                with fd:
                    path.chmod(0o600)
                    fd.write(secrets.token_urlsafe(48))
        secret = path.read_text(encoding="ascii").strip().encode()
        _check_secret(secret)
        return secret


def _check_secret(secret: bytes, name: str = "TENANTGRAPH_SECRET_KEY") -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"{name} must be at least {MIN_SECRET_BYTES} bytes long")


def load_settings() -> Settings:
    """Read the settings from the environment, turning validation errors into one clear message."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from None
