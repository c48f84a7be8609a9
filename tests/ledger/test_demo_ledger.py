"""`lendline demo` leaves sealed blocks of reviewed changes that verify."""

from __future__ import annotations

from core.demo import load_demo
from core.ledger.models import LedgerBlock, LedgerTransaction
from core.ledger.verify import verify


async def test_a_fresh_demo_has_sealed_blocks_that_verify(db: str) -> None:
    done = await load_demo("demo1234")
    blocks = await LedgerBlock.all().order_by("height")
    assert len(blocks) >= 2 and any("ledger block" in line for line in done)
    types = set(await LedgerTransaction.all().values_list("tx_type", flat=True))
    assert {"role.create", "user.create"} <= types
    assert await LedgerTransaction.filter(seq__isnull=True).count() == 0
    report = await verify()
    assert report.ok and report.blocks == len(blocks)
    assert await load_demo("demo1234") == [] and await LedgerBlock.all().count() == len(blocks)
