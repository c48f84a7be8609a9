"""Shared fixtures: a real database per backend (SQLite and PostgreSQL), an HTTP client, users.

Database tests request `db`; they run once on SQLite and once on PostgreSQL (pytest groups them by
backend, so each backend's database is migrated once per run). PostgreSQL gets a throwaway database
per run, dropped at the end. Under CI=true a missing PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os

os.environ.setdefault("LENDLINE_ARGON2_PROFILE", "cheapest")
os.environ.setdefault("LENDLINE_ENV", "test")

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE

from core import clock
from core.accounts.roles import ensure_builtin_roles
from core.config import Settings, override_settings
from core.db import close_db, init_db, is_postgres, migrate
from permissions.policy import reset_policy_store
from tests.support import Api, make_user

PG_ADMIN_URL = os.environ.get("LENDLINE_TEST_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
TEST_SETTINGS = Settings(env="test", secret_key="t" * 48)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


async def create_pg_database() -> str:
    """Create a throwaway database and return its URL (fail under CI, skip elsewhere, if PG is down)."""
    name = f"lendline_test_{secrets.token_hex(4)}"
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://", 1), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}"
        if _in_ci():
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="session", params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path_factory.mktemp('db') / 'lendline.db'}"
    else:
        url = await create_pg_database()
    override_settings(replace(TEST_SETTINGS, database_url=url))
    # tortoise caches compiled INSERTs per (connection name, table), not per backend: switching from
    # SQLite to PostgreSQL in one process would reuse "?" placeholders.
    EXECUTOR_CACHE.clear()
    if os.environ.get("LENDLINE_TEST_SCHEMA") == "generate":
        # Development aid while a model has no migration yet; CI always migrates.
        await init_db(url)
        await Tortoise.generate_schemas()
    else:
        await migrate(url)
        await init_db(url)
    try:
        yield request.param
    finally:
        await close_db()
        if request.param == "postgres":
            await drop_pg_database(url)
        override_settings(None)


def _tables() -> list[str]:
    names: set[str] = set()
    for model in Tortoise.apps["lendline"].values():
        names.add(model._meta.db_table)
        for field in model._meta.m2m_fields:
            names.add(model._meta.fields_map[field].through)  # type: ignore[attr-defined]
    return sorted(names)


async def truncate_all() -> None:
    conn = connections.get("default")
    tables = _tables()
    if is_postgres():
        await conn.execute_script("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    else:
        await conn.execute_script("PRAGMA foreign_keys = OFF;" + "".join(f'DELETE FROM "{t}";' for t in tables)
                                  + "DELETE FROM sqlite_sequence; PRAGMA foreign_keys = ON;")


@pytest_asyncio.fixture
async def db(backend: str) -> AsyncIterator[str]:
    """A clean database with the built-in roles; yields the backend name."""
    await truncate_all()
    reset_policy_store()
    clock.reset()
    await ensure_builtin_roles()
    yield backend
    clock.reset()


@pytest.fixture
def app() -> Any:
    from schema.app import create_app

    return create_app(manage_db=False)


@pytest_asyncio.fixture
async def client(db: str, app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lendline.test") as c:
        yield c


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)


@pytest_asyncio.fixture
async def people(db: str) -> dict[str, Any]:
    """admin, two makers, two checkers and a viewer."""
    return {
        "admin": await make_user("admin", ["admin"], "管理员"),
        "maker": await make_user("maker1", ["maker"], "经办一"),
        "maker2": await make_user("maker2", ["maker"], "经办二"),
        "checker": await make_user("checker1", ["checker"], "复核一"),
        "checker2": await make_user("checker2", ["checker"], "复核二"),
        "viewer": await make_user("viewer1", ["viewer"], "查询一"),
    }


REPO = Path(__file__).resolve().parents[1]
