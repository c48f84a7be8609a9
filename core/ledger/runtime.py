"""The ledger's background work inside a serving process: the periodic sealer and the live feed.

Entered from the app's lifespan. Every API process may run a sealer — the database lock keeps
sealing single-writer — unless ``LENDLINE_LEDGER_BLOCK_SECONDS=0`` leaves sealing to a worker or
to `lendline ledger seal`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from core.config import current_settings
from core.ledger.notify import ledger_feed
from core.ledger.sealing import PeriodicSealer


@contextlib.asynccontextmanager
async def ledger_runtime() -> AsyncIterator[PeriodicSealer | None]:
    sealer = PeriodicSealer() if current_settings().ledger_block_seconds > 0 else None
    if sealer is not None:
        sealer.start()
    try:
        yield sealer
    finally:
        if sealer is not None:
            await sealer.stop()
        await ledger_feed().close()
