"""Database wiring: the tortoise configuration, start-up and migrations.

Why global fallback: tortoise 1.x keeps its context per task, and uvicorn runs each request in its
own task; initialising with `_enable_global_fallback=True` makes the context visible to all of them.
"""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise

from core.config import current_settings

APP = "lendline"
MODEL_MODULES: list[str] = [
    "core.accounts.models",
    "core.review.models",
    "core.oplog.models",
    "core.ledger.models",
    "permissions.models",
    "core.orgs.models",
    "core.products.models",
    "core.system.models",
    "core.risk.models",
    "core.outbox.models",
    "core.system.task_models",
    "core.loans.models",
    "core.monitoring.models",
    "core.monitoring.export_models",
    "core.payments.models",
    "core.contracts.models",
    "core.loans.collection_models",
    "core.risk.rule_models",
    "core.loans.review_models",
]


def tortoise_config(database_url: str | None = None) -> dict[str, Any]:
    """The tortoise config for `database_url` (default: the settings'), with our migrations package."""
    url = database_url or current_settings().database_url
    return {
        "connections": {"default": url},
        "apps": {
            APP: {
                "models": list(MODEL_MODULES),
                "default_connection": "default",
                "migrations": "core.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def init_db(database_url: str | None = None) -> None:
    """Open the ORM for this process (does not migrate)."""
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close_db() -> None:
    await Tortoise.close_connections()


async def migrate(database_url: str | None = None, target: str | None = None) -> None:
    """Apply the checked-in migrations up to `target` (default: latest)."""
    from tortoise.cli.cli import tortoise_cli_context
    from tortoise.migrations.api import migrate as run_migrate

    config = tortoise_config(database_url)
    async with tortoise_cli_context(config):
        await run_migrate(config=config, target=target)


def is_postgres(database_url: str | None = None) -> bool:
    url = database_url or current_settings().database_url
    return url.startswith(("postgres://", "postgresql://", "asyncpg://", "psycopg://"))


def _cli_config() -> dict[str, Any]:
    """Config for tortoise's own CLI (`tortoise makemigrations`), read without the full settings."""
    import os

    from core.config import DEFAULT_DATABASE_URL

    return tortoise_config(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)


TORTOISE_ORM = _cli_config()
