"""Demo data for the ledger: the demo's reviewed changes, sealed into blocks to look at and verify."""

from __future__ import annotations

from core.ledger.sealing import seal_pending


async def seal_demo_blocks() -> list[str]:
    """Seal what the demo's approvals appended (nothing on a second run: the demo stays idempotent)."""
    blocks = await seal_pending(force=True)
    return [f"ledger block {b.height} sealed with {b.tx_count} reviewed change(s)" for b in blocks]
