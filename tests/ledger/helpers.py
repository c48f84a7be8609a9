"""Helpers shared by the ledger's database tests."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from core.accounts.models import User
from core.actor import Actor
from core.ledger import service
from core.ledger.models import LedgerTransaction, TxStatus
from core.ledger.sealing import SealPolicy
from permissions.policy import policy_store

ACTOR = Actor(7, "tester", "测试员", ())
SMALL_BLOCKS = SealPolicy(block_size=4, max_age=timedelta(hours=1))


async def append_n(n: int, *, start: int = 0, status: TxStatus = TxStatus.COMPLETED, **tags: Any
                   ) -> list[LedgerTransaction]:
    """Append ``n`` transactions, each in its own database transaction like a business change."""
    out = []
    for i in range(start, start + n):
        async with in_transaction():
            out.append(await service.append("test.event", {"i": i, "amount": Decimal("10.50"), "who": "张三"},
                                            initiator=ACTOR, status=status, source=("Thing", i), **tags))
    return out


async def execute(sql: str) -> None:
    """Raw SQL, as someone with database access would tamper with the ledger."""
    await connections.get("default").execute_script(sql)


async def actor_of(user: User) -> Actor:
    """The Actor a request by ``user`` would carry."""
    await user.fetch_related("roles")
    keys = tuple(sorted(r.key for r in user.roles if r.enabled))
    store = policy_store()
    await store.refresh()
    return Actor(user.id, user.account, user.name, keys, frozenset(store.nodes_for(list(keys))),
                 scope=store.scope_for(keys))
