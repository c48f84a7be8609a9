"""Verifying the whole ledger from the database: `lendline ledger verify` and GraphQL `verifyLedger`.

One pass over the transactions in log order (see `core.ledger.scan` for how rows are read fast)
recomputes:

* every transaction's hash from its stored columns (an edited payload, status, tag … shows here);
* every block: height sequence, link to the previous block's hash, header hash, that its
  transactions are exactly the log positions ``first_seq … first_seq + tx_count - 1`` (a deleted or
  inserted row shows here), its Merkle root, and the global log's root after it;
* that the stored subtrees proofs are served from reproduce the latest log root;
* the hashes of transactions not sealed yet.

It stops at the first problem and names it: block height, log position (seq), transaction hash and
what is wrong. When a block's Merkle root disagrees although every transaction hash is intact, the
log's stored leaves tell a reordering (the same transactions at other positions) from a replacement.

Not covered, by nature: a rewrite of the newest block that also recomputes every hash is
indistinguishable from the original; publishing (anchoring) the latest tree root elsewhere is what
pins it. Proofs are verified before they are served, so a damaged subtree outside the latest
frontier surfaces as a proof error, never as a false proof.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from core.ledger import scan
from core.ledger.batch_range import BatchRange
from core.ledger.hashing import GENESIS_PREVIOUS, BlockHeader
from core.ledger.merkle import MissingNodeError, root, store_root
from core.ledger.nodes import DbNodeStore

Progress = Callable[[int, int], None]
"""Called as (transactions checked, transactions to check) as verification advances."""

CHUNK = 10_000
_YIELD_EVERY = 2_000  # rows between event-loop yields, so prefetching connections keep reading
_sha256 = hashlib.sha256


class ProblemKind(Enum):
    HASH_MISMATCH = "hash mismatch"
    MISSING_TRANSACTION = "missing transaction"
    UNEXPECTED_TRANSACTION = "unexpected transaction"
    REORDERED = "reordered"
    MISSING_BLOCK = "missing block"
    BROKEN_LINK = "broken link"
    HEADER_MISMATCH = "block header mismatch"
    MERKLE_ROOT_MISMATCH = "merkle root mismatch"
    LOG_ROOT_MISMATCH = "log root mismatch"
    NODE_STORE_DAMAGED = "node store damaged"


@dataclass(frozen=True)
class Problem:
    """The first thing found wrong, and where."""

    kind: ProblemKind
    message: str
    height: int | None = None
    seq: int | None = None
    tx_hash: str | None = None

    def __str__(self) -> str:
        where = [f"block {self.height}" if self.height is not None else "",
                 f"seq {self.seq}" if self.seq is not None else "",
                 f"transaction {self.tx_hash}" if self.tx_hash else ""]
        located = ", ".join(w for w in where if w)
        return f"{self.kind.value}{' at ' + located if located else ''}: {self.message}"


@dataclass(frozen=True)
class Report:
    blocks: int
    transactions: int
    unsealed: int
    tree_size: int
    tree_root: str
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class _Failed(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class _Recheck(Exception):
    """The fast envelope did not hash to the stored hash: confirm in Python before reporting."""

    def __init__(self, index: int) -> None:
        self.index = index


class _RootMismatch(Exception):
    """A block's Merkle root disagrees; needs the stored leaves to say why."""

    def __init__(self, height: int, first_seq: int, hashes: list[str]) -> None:
        self.height, self.first_seq, self.hashes = height, first_seq, hashes


def _aware(value: datetime | str) -> datetime:
    """SQLite raw rows carry ISO text, PostgreSQL aware datetimes."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class _Chain:
    """Walks blocks and their transactions in log order; raises at the first inconsistency."""

    def __init__(self, blocks: list[Any]) -> None:
        self.blocks = blocks
        self.tree = BatchRange()
        self.next_block = 0  # index into blocks of the block after the open one
        self.previous_hash = GENESIS_PREVIOUS
        self.expected_seq = 0
        self.height = 0
        self.block_end = 0  # log position after the open block's last transaction
        self.hashes: list[str] = []
        self.leaves: list[bytes] = []
        self.checked = 0
        self.rechecked: int | None = None  # seq whose hash Python confirmed after a fast-path mismatch

    def feed(self, rows: Sequence[scan.Row]) -> None:
        """Check a run of consecutive sealed rows (seq within the blocks' range)."""
        sha, fromhex = _sha256, bytes.fromhex
        for index, row in enumerate(rows):
            seq, tx_height, stored = row[0], row[1], row[2]
            while seq >= self.block_end:
                self._close_block()
                self._open_block()
            if seq != self.expected_seq:
                raise _Failed(Problem(ProblemKind.MISSING_TRANSACTION, "no transaction holds this log position "
                                      "(deleted?)", self.height, self.expected_seq))
            if tx_height != self.height:
                raise _Failed(Problem(ProblemKind.UNEXPECTED_TRANSACTION, f"the row claims block {tx_height} but its "
                                      f"log position belongs to block {self.height}", self.height, seq, stored))
            try:
                raw = fromhex(stored)
            except ValueError:  # not even hex: certainly not the hash of anything
                raw = b""
            if sha(row[3]).digest() != raw and self.rechecked != seq:
                raise _Recheck(index)
            self.hashes.append(stored)
            self.leaves.append(sha(b"\x00" + raw).digest())
            self.expected_seq += 1
            self.checked += 1

    def finish(self) -> None:
        """Close the open block and check every remaining one (their rows are missing if any)."""
        while self.next_block < len(self.blocks) or self.height:
            self._close_block()
            if self.next_block == len(self.blocks):
                return
            self._open_block()

    def _open_block(self) -> None:
        if self.next_block == len(self.blocks):  # unreachable: rows are bounded by the last block's end
            raise _Failed(Problem(ProblemKind.UNEXPECTED_TRANSACTION, "a log position past the last block",
                                  None, self.expected_seq))
        height, block_hash, previous_hash, merkle_root, tx_count, first_seq, tree_root, sealed_at = (
            self.blocks[self.next_block])
        expected_height = self.next_block + 1
        if height != expected_height:
            raise _Failed(Problem(ProblemKind.MISSING_BLOCK, f"block {expected_height} is missing; the next one "
                                  f"stored is {height}", expected_height))
        if previous_hash != self.previous_hash:
            raise _Failed(Problem(ProblemKind.BROKEN_LINK, f"its previous-block hash does not match block "
                                  f"{height - 1}'s hash (one of them was rewritten)", height))
        header = BlockHeader(height=height, previous_hash=previous_hash, merkle_root=merkle_root, tx_count=tx_count,
                             first_seq=first_seq, tree_root=tree_root, sealed_at=_aware(sealed_at))
        if header.hash() != block_hash:
            raise _Failed(Problem(ProblemKind.HEADER_MISMATCH, "the header does not hash to the block hash "
                                  "(header edited?)", height))
        if first_seq != self.expected_seq:
            raise _Failed(Problem(ProblemKind.HEADER_MISMATCH, f"the block starts at log position {first_seq} but "
                                  f"the previous block ends at {self.expected_seq}", height))
        self.next_block += 1
        self.height, self.block_end = height, first_seq + tx_count
        self.hashes, self.leaves = [], []

    def _close_block(self) -> None:
        if not self.height:
            return
        height, block_hash, _, merkle_root, tx_count, first_seq, tree_root, _ = self.blocks[self.next_block - 1]
        if self.expected_seq < self.block_end:
            raise _Failed(Problem(ProblemKind.MISSING_TRANSACTION, f"block {height} lists {tx_count} transaction(s) "
                                  f"but log position {self.expected_seq} is empty (deleted?)", height,
                                  self.expected_seq))
        leaves = self.leaves
        if root(leaves).hex() != merkle_root:
            raise _RootMismatch(height, first_seq, self.hashes)
        self.tree.extend(leaves)
        if self.tree.root().hex() != tree_root:
            raise _Failed(Problem(ProblemKind.LOG_ROOT_MISMATCH, "the global log root recomputed after this block "
                                  "differs from the one in its header", height))
        self.previous_hash = block_hash
        self.height = 0


async def _diagnose(failure: _RootMismatch) -> Problem:
    """Tell reordered transactions from a replaced one, using the log's stored leaves."""
    height, first_seq, hashes = failure.height, failure.first_seq, failure.hashes
    keys = [(0, first_seq + i) for i in range(len(hashes))]
    stored = await DbNodeStore().get_nodes(keys)
    logged = [stored.get(k) for k in keys]
    leaves = [_sha256(b"\x00" + bytes.fromhex(h)).digest() for h in hashes]
    for i, (leaf, tx_hash) in enumerate(zip(leaves, hashes, strict=True)):
        if leaf == logged[i]:
            continue
        seq = first_seq + i
        if leaf in logged:
            if logged[i] in leaves:
                return Problem(ProblemKind.REORDERED, f"this transaction was logged at position "
                               f"{first_seq + logged.index(leaf)}", height, seq, tx_hash)
            return Problem(ProblemKind.MISSING_TRANSACTION, "the transaction the log recorded at this position is "
                           "gone and later ones moved up (deleted?)", height, seq)
        if logged[i] in leaves:
            return Problem(ProblemKind.UNEXPECTED_TRANSACTION, "the log never recorded this transaction; later ones "
                           "moved down to make room (inserted?)", height, seq, tx_hash)
        return Problem(ProblemKind.HASH_MISMATCH, "this transaction is not the one the log recorded at this position "
                       "(replaced and re-hashed?)", height, seq, tx_hash)
    return Problem(ProblemKind.MERKLE_ROOT_MISMATCH, "the header's Merkle root does not match its transactions",
                   height)


async def _feed(chain: _Chain, rows: Sequence[scan.Row]) -> None:
    """Feed a segment, confirming fast-path hash mismatches in Python before failing."""
    start = 0
    while start < len(rows):
        part = rows[start:start + _YIELD_EVERY]
        try:
            chain.feed(part)
        except _Recheck as recheck:
            row = part[recheck.index]
            if await scan.python_hash(row[0]) != row[2]:
                raise _Failed(Problem(ProblemKind.HASH_MISMATCH, "the stored columns do not hash to the "
                                      "transaction's hash (edited?)", chain.height, row[0], row[2])) from None
            chain.rechecked = row[0]
            start += recheck.index
            continue
        start += len(part)
        await asyncio.sleep(0)


class _Verifier:
    def __init__(self, progress: Progress | None, chunk: int) -> None:
        self.progress = progress
        self.chunk = chunk

    async def run(self) -> Report:
        blocks = await scan.blocks()
        pending = await scan.unsealed()
        end = blocks[-1][5] + blocks[-1][4] if blocks else 0
        chain = _Chain(blocks)
        total = end + len(pending)
        problem = None
        try:
            try:
                async with contextlib.aclosing(scan.sealed(end, self.chunk)) as segments:
                    async for segment in segments:
                        await _feed(chain, segment)
                        if self.progress:
                            self.progress(chain.checked, total)
                chain.finish()
            except _RootMismatch as mismatch:
                raise _Failed(await _diagnose(mismatch)) from None
            await self._outside(end)
            self._unsealed(pending)
            await self._frontier(chain.tree)
        except _Failed as failed:
            problem = failed.problem
        if self.progress and problem is None:
            self.progress(total, total)
        return Report(blocks=len(blocks), transactions=chain.checked, unsealed=len(pending),
                      tree_size=chain.tree.size, tree_root=chain.tree.root().hex(), problem=problem)

    @staticmethod
    async def _outside(end: int) -> None:
        row = await scan.outside(end)
        if row is not None:
            raise _Failed(Problem(ProblemKind.UNEXPECTED_TRANSACTION, f"the row claims block {row[1]} but its log "
                                  "position is outside every block (inserted?)", row[1], row[0], row[2]))

    @staticmethod
    def _unsealed(pending: list[scan.Row]) -> None:
        for row in pending:
            if row[1] is not None:
                raise _Failed(Problem(ProblemKind.UNEXPECTED_TRANSACTION, f"the row claims block {row[1]} but has no "
                                      "log position", row[1], None, row[2]))
            if _sha256(row[3]).hexdigest() != row[2]:
                raise _Failed(Problem(ProblemKind.HASH_MISMATCH, "the stored columns of this unsealed transaction "
                                      "do not hash to its hash (edited?)", None, None, row[2]))

    @staticmethod
    async def _frontier(tree: BatchRange) -> None:
        if not tree.size:
            return
        try:
            stored = await store_root(DbNodeStore(), tree.size)
        except MissingNodeError as exc:
            raise _Failed(Problem(ProblemKind.NODE_STORE_DAMAGED, f"stored subtrees are missing: {exc}")) from None
        if stored != tree.root():
            raise _Failed(Problem(ProblemKind.NODE_STORE_DAMAGED, "the stored subtrees proofs are served from do not "
                                  "reproduce the log root"))


async def verify(progress: Progress | None = None, *, chunk: int = CHUNK) -> Report:
    """Verify everything from the database; a tampered ledger is reported, never raised."""
    return await _Verifier(progress, chunk).run()
