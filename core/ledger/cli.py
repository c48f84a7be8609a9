"""`lendline ledger verify` and `lendline ledger seal`.

`verify` exits 0 when the whole ledger checks out and 1 naming the first problem (block height,
log position, transaction hash, what is wrong), so it can run from cron or a monitoring probe.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable
from typing import Any, TextIO, TypeVar

T = TypeVar("T")


class ProgressBar:
    """A one-line progress bar on a terminal stream, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self.started = time.monotonic()
        self._drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._drawn < 0.1:
            return
        self._drawn = now
        fraction = done / total if total else 1.0
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\rverifying [{bar}] {fraction:4.0%} {done:,}/{total:,} transactions "
                          f"{now - self.started:5.1f}s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


async def _with_db(work: Awaitable[T]) -> T:
    from core.db import close_db, init_db

    await init_db()
    try:
        return await work
    finally:
        await close_db()


def cmd_verify(args: argparse.Namespace) -> int:
    from core.ledger.verify import verify

    progress = None if args.quiet else ProgressBar(sys.stderr)
    report = asyncio.run(_with_db(verify(progress)))
    if report.problem is not None:
        print(f"Ledger verification FAILED: {report.problem}", file=sys.stderr)
        return 1
    print(f"Ledger OK: {report.blocks:,} blocks, {report.transactions:,} sealed transactions "
          f"({report.unsealed:,} waiting), log size {report.tree_size:,}, root {report.tree_root}")
    return 0


def cmd_seal(args: argparse.Namespace) -> int:
    from core.actor import SYSTEM
    from core.ledger.sealing import seal_on_demand

    blocks = asyncio.run(_with_db(seal_on_demand(SYSTEM)))
    for b in blocks:
        print(f"sealed block {b.height}: {b.tx_count} transaction(s), hash {b.block_hash}")
    if not blocks:
        print("Nothing to seal: no transaction is waiting")
    return 0


def add_ledger_commands(sub: Any) -> None:
    """Register `ledger verify|seal` on the `lendline` parser's subcommands."""
    ledger = sub.add_parser("ledger", help="audit ledger: verify the chain, seal blocks")
    commands = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = commands.add_parser("verify", help="recompute every hash, Merkle root and block link")
    verify.add_argument("--quiet", action="store_true", help="no progress bar")
    verify.set_defaults(func=cmd_verify)
    commands.add_parser("seal", help="seal every waiting transaction into blocks now").set_defaults(func=cmd_seal)
