"""Real Redis for the worker tests: one DB index and a per-run key prefix, cleaned at the end.

Redis URL from ``LENDLINE_TEST_REDIS`` (default ``redis://127.0.0.1:6379/13``). Like PostgreSQL in
tests/conftest.py: under CI=true a missing Redis fails the run; elsewhere these tests skip.
Every arq key this run creates contains the run's token (queue name, job ids, health-check key).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.exceptions import RedisError

from workers.runtime import redis_settings

REDIS_URL = os.environ.get("LENDLINE_TEST_REDIS", "redis://127.0.0.1:6379/13")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class RedisEnv:
    settings: RedisSettings
    queue: str
    pool: ArqRedis


@pytest_asyncio.fixture(scope="session")
async def redis_env() -> AsyncIterator[RedisEnv]:
    settings = redis_settings(REDIS_URL)
    try:
        pool = await create_pool(settings)
    except (OSError, RedisError) as exc:
        message = f"Redis is not reachable at {REDIS_URL}: {exc}"
        if _in_ci():
            pytest.fail(message + " (CI=true: Redis tests must run)")
        pytest.skip(message)
    token = secrets.token_hex(4)
    try:
        yield RedisEnv(settings, f"lendline:test:{token}", pool)
    finally:
        keys = [k async for k in pool.scan_iter(match=f"*{token}*")]
        if keys:
            await pool.delete(*keys)
        await pool.aclose()


@pytest_asyncio.fixture
async def queue(redis_env: RedisEnv) -> AsyncIterator[RedisEnv]:
    """The run's queue and job results, emptied before and after each test."""
    await _clear(redis_env)
    yield redis_env
    await _clear(redis_env)


async def _clear(env: RedisEnv) -> None:
    keys = [k async for k in env.pool.scan_iter(match=f"arq:*{env.queue}*")]
    await env.pool.delete(env.queue, *keys)
