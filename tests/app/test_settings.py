from pathlib import Path

import pytest

from app.settings import ConfigurationError, Environment, Settings, load_settings


def test_production_requires_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTGRAPH_ENV", "production")
    monkeypatch.delenv("TENANTGRAPH_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="TENANTGRAPH_SECRET_KEY is required"):
        load_settings()


@pytest.mark.parametrize("secret", ["", "short", "x" * 31])
def test_short_secrets_are_refused(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("TENANTGRAPH_SECRET_KEY", secret)
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        load_settings()


def test_development_secret_is_generated_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", env=Environment.DEVELOPMENT)
    first = settings.signing_secret()
    assert len(first) >= 32
    assert settings.signing_secret() == first
    assert (tmp_path / "data" / "secret.key").stat().st_mode & 0o077 == 0


def test_trusted_proxies_are_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTGRAPH_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16")
    assert load_settings().trusted_proxies == ["10.0.0.1", "192.168.0.0/16"]


def test_cookies_are_secure_outside_development() -> None:
    assert not Settings(secret_key="x" * 32).secure_cookies
    assert Settings(secret_key="x" * 32, env=Environment.PRODUCTION).secure_cookies
    assert Settings(secret_key="x" * 32, cookie_secure=True).secure_cookies


def test_pgbouncer_mode_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TENANTGRAPH_DB_PGBOUNCER", raising=False)
    assert Settings().db_pgbouncer is False
    monkeypatch.setenv("TENANTGRAPH_DB_PGBOUNCER", "true")
    assert Settings().db_pgbouncer is True
