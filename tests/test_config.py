"""Settings from the environment (README "Configuration")."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.cli import _safe_url
from core.config import ConfigError, Settings


def test_embedded_default_generates_and_keeps_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LENDLINE_SECRET_KEY", "DATABASE_URL", "LENDLINE_ENV", "REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LENDLINE_STATE_DIR", str(tmp_path / "state"))
    first = Settings.from_env()
    assert first.database_url == "sqlite://lendline.db" and first.redis_url is None
    assert len(first.secret_key) >= 32 and Settings.from_env().secret_key == first.secret_key
    assert (tmp_path / "state" / "secret_key").stat().st_mode & 0o077 == 0


def test_production_requires_a_strong_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENDLINE_ENV", "production")
    monkeypatch.delenv("LENDLINE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="LENDLINE_SECRET_KEY is required"):
        Settings.from_env()
    monkeypatch.setenv("LENDLINE_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="at least 32"):
        Settings.from_env()


@pytest.mark.parametrize(("var", "value", "message"), [
    ("LENDLINE_ENV", "staging", "LENDLINE_ENV"),
    ("LENDLINE_TIMEZONE", "Mars/Olympus", "LENDLINE_TIMEZONE"),
    ("LENDLINE_ACCESS_TOKEN_TTL", "soon", "LENDLINE_ACCESS_TOKEN_TTL"),
])
def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, var: str, value: str, message: str) -> None:
    monkeypatch.setenv("LENDLINE_SECRET_KEY", "k" * 40)
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=message):
        Settings.from_env()


def test_printed_database_url_hides_the_password() -> None:
    assert _safe_url("postgres://app:hunter2@db:5432/lendline") == "postgres://app:***@db:5432/lendline"
