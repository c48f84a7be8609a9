"""Sealing unsealed transactions into blocks, single-writer across processes.

A block is due when ``block_size`` transactions are waiting, or when the oldest has waited
``block_seconds`` (both from settings: ``LENDLINE_LEDGER_BLOCK_SIZE``, ``LENDLINE_LEDGER_BLOCK_SECONDS``),
or on demand (``force``). Each block is sealed in its own database transaction that first updates
the single `ledger_lock` row: PostgreSQL then holds a row lock and SQLite its write lock until
commit, so a second sealer — in this process, another worker or another machine — waits and then
sees the rows already sealed. Transactions are picked as "not yet sealed, lowest id first", never
as "id above the last sealed", so one whose business transaction commits late (with a lower id) is
sealed by the next block instead of being skipped; the unique `seq` is the last line of defence
against double-sealing.

A transaction's `seq` is its leaf index in the global RFC 6962 log; the nodes the new leaves
complete are stored with the block, so proofs never recompute the tree.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.config import current_settings
from core.ledger.hashing import GENESIS_PREVIOUS, BlockHeader, tx_leaf
from core.ledger.merkle import load_compact_range, root
from core.ledger.models import LedgerBlock, LedgerLock, LedgerTransaction
from core.ledger.nodes import DbNodeStore
from core.oplog import service as oplog
from core.polling import PollingTask

log = logging.getLogger("lendline.ledger")
LOCK_ID = 1


@dataclass(frozen=True)
class SealPolicy:
    """When a block is due: ``block_size`` waiting transactions, or the oldest older than ``max_age``."""

    block_size: int
    max_age: timedelta

    @classmethod
    def from_settings(cls) -> SealPolicy:
        s = current_settings()
        return cls(max(1, s.ledger_block_size), timedelta(seconds=max(0, s.ledger_block_seconds)))


async def due(policy: SealPolicy | None = None) -> bool:
    """Cheap, lock-free check (two indexed reads) so idle sealers do not contend for the lock."""
    p = policy or SealPolicy.from_settings()
    oldest = await LedgerTransaction.filter(seq__isnull=True).order_by("id").first().values_list("created_at",
                                                                                                    flat=True)
    if oldest is None:
        return False
    if clock.now() - oldest >= p.max_age:  # type: ignore[operator]
        return True
    nth = await (LedgerTransaction.filter(seq__isnull=True).order_by("id").offset(p.block_size - 1).limit(1)
                 .values_list("id", flat=True))
    return bool(nth)


async def seal_pending(*, force: bool = False, policy: SealPolicy | None = None) -> list[LedgerBlock]:
    """Seal every block that is due (with ``force``: everything waiting); returns the new blocks."""
    p = policy or SealPolicy.from_settings()
    await _ensure_lock_row()
    blocks: list[LedgerBlock] = []
    while (block := await _seal_one(p, force)) is not None:
        blocks.append(block)
    return blocks


async def _ensure_lock_row() -> None:
    if await LedgerLock.filter(id=LOCK_ID).exists():
        return
    with contextlib.suppress(IntegrityError):  # another sealer created it first
        await LedgerLock.create(id=LOCK_ID)


async def _seal_one(policy: SealPolicy, force: bool) -> LedgerBlock | None:
    """Seal at most one block of up to ``block_size`` transactions, holding the lock row."""
    async with in_transaction():
        now = clock.now()
        await LedgerLock.filter(id=LOCK_ID).update(locked_at=now)  # blocks until other sealers commit
        pending = await (LedgerTransaction.filter(seq__isnull=True).order_by("id").limit(policy.block_size)
                         .only("id", "tx_hash", "created_at"))
        if not pending:
            return None
        if not force and len(pending) < policy.block_size and now - pending[0].created_at < policy.max_age:
            return None
        last = await LedgerBlock.all().order_by("-height").first()
        height, first_seq = (last.height + 1, last.tree_size) if last else (1, 0)
        leaves = [tx_leaf(t.tx_hash) for t in pending]
        store = DbNodeStore()
        tree = await load_compact_range(store, first_seq)
        new_nodes = tree.extend(leaves)
        header = BlockHeader(height=height, previous_hash=last.block_hash if last else GENESIS_PREVIOUS,
                             merkle_root=root(leaves).hex(), tx_count=len(pending), first_seq=first_seq,
                             tree_root=tree.root().hex(), sealed_at=now)
        for offset, tx in enumerate(pending):
            tx.seq = first_seq + offset
            tx.block_height = height
        await LedgerTransaction.bulk_update(pending, fields=["seq", "block_height"], batch_size=500)
        await store.put_nodes(new_nodes)
        block = await LedgerBlock.create(height=height, block_hash=header.hash(), previous_hash=header.previous_hash,
                                         merkle_root=header.merkle_root, tx_count=header.tx_count,
                                         first_seq=first_seq, tree_root=header.tree_root, sealed_at=now)
        # Integrators hear of the block after commit, through the outbox (at least once, deduplicated).
        from core.outbox.service import enqueue

        await enqueue("plugins.block_sealed", {"height": height}, f"block_sealed:{height}")
    log.info("sealed ledger block %s with %s transaction(s)", height, len(pending))
    return block


async def seal_on_demand(actor: Actor, request_id: str = "") -> list[LedgerBlock]:
    """Seal everything waiting now (the `sealBlock` mutation, `lendline ledger seal`), logged as an operation."""
    blocks = await seal_pending(force=True)
    heights = [b.height for b in blocks]
    await oplog.record(actor, kind=actor.kind(), module="ledger", action="seal_block",
                       summary=f"sealed {len(blocks)} block(s)" + (f" up to height {heights[-1]}" if heights else ""),
                       detail={"heights": heights}, request_id=request_id)
    return blocks


class PeriodicSealer(PollingTask):
    """The in-process sealer the app runs in its lifespan (several processes may each run one).

    Checks every ``interval`` seconds whether a block is due and seals it; failures are logged and
    retried on the next tick, never raised into the app (`core.polling`).
    """

    def __init__(self, interval: float | None = None, policy: SealPolicy | None = None) -> None:
        self.policy = policy or SealPolicy.from_settings()
        super().__init__("ledger-sealer", interval if interval is not None
                         else min(1.0, max(0.05, self.policy.max_age.total_seconds())))

    def start(self) -> None:
        self.ensure_running()

    async def stop(self) -> None:
        await self.close()

    async def tick(self) -> list[LedgerBlock]:
        """One check-and-seal round."""
        if not await due(self.policy):
            return []
        return await seal_pending(policy=self.policy)

    async def poll(self) -> None:
        await self.tick()
