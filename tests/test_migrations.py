"""Migrations: checked in, in step with the models, and step-by-step equals fresh."""

from __future__ import annotations

import pkgutil

import pytest
from tortoise import Tortoise
from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.autodetector import MigrationAutodetector

import core.migrations
from core.db import migrate, tortoise_config
from tests.conftest import create_pg_database, drop_pg_database


def migration_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(core.migrations.__path__))


async def test_models_have_no_unmigrated_changes(tmp_path) -> None:
    config = tortoise_config(f"sqlite://{tmp_path / 'drift.db'}")
    async with tortoise_cli_context(config) as ctx:
        detector = MigrationAutodetector(ctx.apps, config["apps"])
        writers = await detector.changes()
    assert writers == [], "models changed without a migration: run `tortoise makemigrations`"


async def _schema(url: str) -> dict[str, list[tuple[str, str]]]:
    from tortoise import connections

    await Tortoise.init(config=tortoise_config(url))
    conn = connections.get("default")
    try:
        if url.startswith("sqlite"):
            tables = [r["name"] for r in (await conn.execute_query(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"))[1]]
            return {t: sorted((r["name"], r["type"]) for r in (await conn.execute_query(
                f'PRAGMA table_info("{t}")'))[1]) for t in tables}
        rows = (await conn.execute_query(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema='public'"))[1]
        out: dict[str, list[tuple[str, str]]] = {}
        for r in rows:
            out.setdefault(r["table_name"], []).append((r["column_name"], r["data_type"]))
        return {k: sorted(v) for k, v in out.items()}
    finally:
        await Tortoise.close_connections()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_step_by_step_upgrade_equals_fresh(kind: str, tmp_path) -> None:
    names = migration_names()
    assert names, "no migrations checked in"
    if kind == "sqlite":
        fresh, stepped = f"sqlite://{tmp_path / 'fresh.db'}", f"sqlite://{tmp_path / 'stepped.db'}"
    else:
        fresh, stepped = await create_pg_database(), await create_pg_database()
    try:
        await migrate(fresh)
        for name in names:
            await migrate(stepped, target=f"lendline.{name}")
        a, b = await _schema(fresh), await _schema(stepped)
        assert a == b
        assert {"app_user", "role", "change_request", "operation_log", "casbin_rule"} <= set(a)
    finally:
        if kind == "postgres":
            await drop_pg_database(fresh)
            await drop_pg_database(stepped)
