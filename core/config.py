"""Settings read from the environment once per process.

Why environment variables: the same build runs as the embedded default (nothing configured) and in
production (a bank's deployment sets DATABASE_URL, REDIS_URL, LENDLINE_SECRET_KEY, …), and twelve-factor
style configuration is what operations teams expect to template.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

DEFAULT_DATABASE_URL = "sqlite://lendline.db"
STATE_DIR = ".lendline"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable and what to fix."""


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _embedded_secret(state_dir: Path) -> str:
    """Generate the signing key once and keep it, so tokens survive a restart of the embedded default."""
    path = state_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class Settings:
    """Every knob the platform reads; see README "Configuration" for the table."""

    env: str = "development"
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    secret_key: str = field(default="", repr=False)
    timezone: str = "Asia/Shanghai"
    cors_origins: tuple[str, ...] = ()
    access_token_ttl: int = 900
    refresh_token_ttl: int = 14 * 24 * 3600
    max_failed_logins: int = 5
    lockout_seconds: int = 15 * 60
    query_depth_limit: int = 12
    query_token_limit: int = 4000
    query_alias_limit: int = 30
    max_page_size: int = 100
    ledger_block_size: int = 100  # a block is sealed once this many transactions wait …
    ledger_block_seconds: int = 10  # … or the oldest has waited this long (0: no in-process sealer)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get("LENDLINE_ENV", "development").strip() or "development"
        if env not in {"development", "production", "test"}:
            raise ConfigError(f"LENDLINE_ENV must be development, production or test, got {env!r}")
        secret = os.environ.get("LENDLINE_SECRET_KEY", "")
        if not secret:
            if env == "production":
                raise ConfigError("LENDLINE_SECRET_KEY is required when LENDLINE_ENV=production")
            secret = _embedded_secret(Path(os.environ.get("LENDLINE_STATE_DIR", STATE_DIR)))
        elif len(secret) < 32:
            raise ConfigError("LENDLINE_SECRET_KEY must be at least 32 characters")
        tz = os.environ.get("LENDLINE_TIMEZONE", "Asia/Shanghai")
        try:
            ZoneInfo(tz)
        except Exception as exc:
            raise ConfigError(f"LENDLINE_TIMEZONE {tz!r} is not a known IANA time zone") from exc
        origins = tuple(o.strip() for o in os.environ.get("LENDLINE_CORS_ORIGINS", "").split(",") if o.strip())
        return cls(
            env=env,
            database_url=os.environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
            redis_url=os.environ.get("REDIS_URL", "").strip() or None,
            secret_key=secret,
            timezone=tz,
            cors_origins=origins,
            access_token_ttl=_int_env("LENDLINE_ACCESS_TOKEN_TTL", 900),
            refresh_token_ttl=_int_env("LENDLINE_REFRESH_TOKEN_TTL", 14 * 24 * 3600),
            ledger_block_size=_int_env("LENDLINE_LEDGER_BLOCK_SIZE", 100),
            ledger_block_seconds=_int_env("LENDLINE_LEDGER_BLOCK_SECONDS", 10),
        )


_current: list[Settings | None] = [None]


def current_settings() -> Settings:
    """Settings in force: the environment's, read once, unless a test or the CLI overrode them."""
    if _current[0] is None:
        _current[0] = Settings.from_env()
    return _current[0]


def override_settings(settings: Settings | None) -> None:
    """Replace the settings in force (None: read the environment again on next use)."""
    _current[0] = settings
