"""Sealing: every N transactions or T seconds or on demand, linked blocks, a global log, no double sealing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

from core import clock
from core.ledger import hashing, merkle, sealing, service, verify
from core.ledger.models import LedgerBlock, LedgerTransaction
from core.ledger.nodes import DbNodeStore
from tests.ledger.helpers import ACTOR, SMALL_BLOCKS, append_n


async def _leaves(block: LedgerBlock | None = None) -> list[bytes]:
    qs = LedgerTransaction.filter(seq__not_isnull=True)
    if block is not None:
        qs = qs.filter(block_height=block.height)
    return [hashing.tx_leaf(h) for h in await qs.order_by("seq").values_list("tx_hash", flat=True)]


async def test_full_blocks_seal_at_once_and_the_rest_waits_until_old_enough(db: str) -> None:
    await append_n(10)
    assert await sealing.due(SMALL_BLOCKS)
    blocks = await sealing.seal_pending(policy=SMALL_BLOCKS)
    assert [(b.height, b.tx_count, b.first_seq) for b in blocks] == [(1, 4, 0), (2, 4, 4)]
    assert not await sealing.due(SMALL_BLOCKS) and await sealing.seal_pending(policy=SMALL_BLOCKS) == []
    clock.travel(timedelta(hours=2))
    assert await sealing.due(SMALL_BLOCKS)
    (last,) = await sealing.seal_pending(policy=SMALL_BLOCKS)
    assert (last.height, last.tx_count, last.first_seq) == (3, 2, 8)
    assert await LedgerTransaction.filter(seq__isnull=True).count() == 0


async def test_blocks_link_and_carry_their_merkle_root_and_the_global_log_root(db: str) -> None:
    await append_n(11)
    blocks = await sealing.seal_pending(force=True, policy=SMALL_BLOCKS)
    assert [b.tx_count for b in blocks] == [4, 4, 3]
    previous = hashing.GENESIS_PREVIOUS
    all_leaves = await _leaves()
    for block in blocks:
        leaves = await _leaves(block)
        assert block.previous_hash == previous and block.merkle_root == merkle.root(leaves).hex()
        assert block.tree_root == merkle.root(all_leaves[:block.tree_size]).hex()
        header = hashing.BlockHeader(height=block.height, previous_hash=block.previous_hash,
                                     merkle_root=block.merkle_root, tx_count=block.tx_count, first_seq=block.first_seq,
                                     tree_root=block.tree_root, sealed_at=block.sealed_at)
        assert header.hash() == block.block_hash
        previous = block.block_hash
    seqs = await LedgerTransaction.all().order_by("id").values_list("seq", flat=True)
    assert seqs == list(range(11))  # log order is append order here
    store = DbNodeStore()
    assert await merkle.store_root(store, 11) == merkle.root(all_leaves)
    assert (await store.get_nodes([(0, 10)]))[(0, 10)] == all_leaves[10]


async def test_the_periodic_sealer_seals_what_is_due(db: str) -> None:
    await append_n(5)
    sealer = sealing.PeriodicSealer(interval=0.01, policy=SMALL_BLOCKS)
    assert [b.tx_count for b in await sealer.tick()] == [4]
    sealer.start()
    clock.travel(timedelta(hours=2))
    for _ in range(200):
        if await LedgerBlock.all().count() == 2:
            break
        await asyncio.sleep(0.01)
    await sealer.stop()
    assert await LedgerBlock.all().count() == 2


async def test_concurrent_sealers_never_seal_a_transaction_twice(db: str) -> None:
    await append_n(30)
    results = await asyncio.gather(*(sealing.seal_pending(force=True, policy=SMALL_BLOCKS) for _ in range(4)))
    heights = sorted(b.height for blocks in results for b in blocks)
    assert heights == list(range(1, 9))
    assert sum(b.tx_count for blocks in results for b in blocks) == 30
    assert (await verify.verify()).ok


async def test_a_transaction_that_commits_late_is_sealed_by_the_next_block(db: str) -> None:
    if db != "postgres":
        pytest.skip("SQLite serialises writers: a transaction cannot stay open while another commits")
    appended = asyncio.Event()
    release = asyncio.Event()

    async def slow_business_change() -> None:
        async with in_transaction():
            await service.append("test.slow", {"late": True}, initiator=ACTOR)
            appended.set()
            await release.wait()

    task = asyncio.create_task(slow_business_change())
    await appended.wait()
    (later,) = await append_n(1)  # a higher id, committed first
    (first,) = await sealing.seal_pending(force=True, policy=SMALL_BLOCKS)
    assert first.tx_count == 1
    release.set()
    await task
    (second,) = await sealing.seal_pending(force=True, policy=SMALL_BLOCKS)
    slow = await LedgerTransaction.get(tx_type="test.slow")
    assert slow.id < later.id and (slow.block_height, slow.seq) == (second.height, 1)
    assert (await verify.verify()).ok
