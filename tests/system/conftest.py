"""Fixtures for the system-management tests: an admin actor and a fresh parameter snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from core.actor import Actor
from core.system.alerts import flush_alerts
from core.system.parameters import reset_parameter_cache
from tests.support import make_user


@pytest_asyncio.fixture(autouse=True)
async def _fresh_state() -> AsyncIterator[None]:
    reset_parameter_cache()
    yield
    await flush_alerts()
    reset_parameter_cache()


@pytest_asyncio.fixture
async def admin(db: str) -> Actor:
    user = await make_user("sysadmin", ["admin"], "系统管理员")
    return Actor(user.id, user.account, user.name, ("admin",))
