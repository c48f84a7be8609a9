"""Fixtures for product tests: institutions and makers/checkers who may see every bank."""

from __future__ import annotations

from typing import Any

import pytest_asyncio

from core.actor import Actor
from permissions.scope import DataPolicy
from tests.products.helpers import Orgs, actor_of, make_orgs, set_data


@pytest_asyncio.fixture
async def orgs(db: str) -> Orgs:
    return await make_orgs()


@pytest_asyncio.fixture
async def staff(people: dict[str, Any]) -> dict[str, Actor]:
    """Actors for `people`; admin, maker and checker roles may see every bank's data."""
    for role in ("admin", "maker", "checker"):
        await set_data(role, DataPolicy(all=True))
    return {key: await actor_of(user) for key, user in people.items()}
