"""Two OS processes sealing the same database while transactions arrive never double-seal or skip one."""

from __future__ import annotations

import asyncio
import os
import sys

from core.config import current_settings
from core.ledger import sealing
from core.ledger.models import LedgerBlock, LedgerTransaction
from core.ledger.verify import verify
from tests.conftest import REPO
from tests.ledger.helpers import append_n

SEALER = """
import asyncio, sys
from datetime import timedelta
from core.db import close_db, init_db
from core.ledger.sealing import SealPolicy, seal_pending

async def main(url: str, seconds: float) -> None:
    await init_db(url)
    loop = asyncio.get_running_loop()
    end, heights = loop.time() + seconds, []
    try:
        while loop.time() < end:
            heights += [b.height for b in await seal_pending(policy=SealPolicy(3, timedelta(0)))]
            await asyncio.sleep(0.002)
    finally:
        await close_db()
    print(",".join(map(str, heights)))

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


async def _sealer(seconds: float) -> asyncio.subprocess.Process:
    env = {**os.environ, "LENDLINE_SECRET_KEY": "t" * 48, "LENDLINE_ENV": "test"}
    return await asyncio.create_subprocess_exec(sys.executable, "-c", SEALER, current_settings().database_url,
                                                str(seconds), cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)


async def test_two_sealing_processes_seal_every_transaction_exactly_once(db: str) -> None:
    processes = [await _sealer(4.0), await _sealer(4.0)]
    appended = 0
    while all(p.returncode is None for p in processes):  # business changes keep arriving while both seal
        await append_n(4, start=appended)
        appended += 4
        await asyncio.sleep(0.02)
    sealed_by: list[list[int]] = []
    for process in processes:
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        sealed_by.append([int(h) for h in out.decode().strip().split(",") if h])
    heights = sorted(h for hs in sealed_by for h in hs)
    assert all(sealed_by), f"both processes should have sealed blocks: {sealed_by}"
    assert heights == list(range(1, len(heights) + 1)) == await LedgerBlock.all().order_by("height").values_list(
        "height", flat=True)
    await sealing.seal_pending(force=True)  # what arrived after the sealers stopped
    seqs = await LedgerTransaction.all().order_by("seq").values_list("seq", flat=True)
    assert seqs == list(range(appended))  # none skipped, none twice
    assert sum(await LedgerBlock.all().values_list("tx_count", flat=True)) == appended
    assert (await verify()).ok
