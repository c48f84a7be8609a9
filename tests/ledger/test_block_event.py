"""Integrators hear of each sealed block after commit, through the outbox (SPEC §10 events)."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from core.actor import SYSTEM
from core.ledger import service as ledger
from core.ledger.sealing import seal_pending
from core.outbox.models import OutboxMessage
from core.outbox.service import deliver
from plugins import PluginDefinition, hookimpl
from plugins.runtime import plugin_runtime
from plugins.testkit import host_from_dict


class BlockListener:
    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    async def lendline_on_block_sealed(self, event: Any) -> None:
        self.events.append(event)


async def test_sealing_a_block_tells_plugins_once_after_commit(db: str) -> None:
    host = host_from_dict({"plugins": {"block_listener": {}}}, extra=[PluginDefinition("block_listener",
                                                                                       BlockListener)],
                          entry_points=False)
    async with plugin_runtime(host):
        async with in_transaction():
            await ledger.append("demo.event", {"n": 1}, initiator=SYSTEM)
        (block,) = await seal_pending(force=True)
        (message,) = await OutboxMessage.filter(job="plugins.block_sealed")
        assert message.dedupe_key == f"block_sealed:{block.height}"
        await deliver(message.id)
        await deliver(message.id)  # a repeated delivery does not run the handler again
        listener = host.plugin("block_listener")
        assert [(e.height, e.block_hash, e.transaction_count) for e in listener.events] == [
            (block.height, block.block_hash, 1)]
