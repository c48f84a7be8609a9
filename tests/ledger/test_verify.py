"""Tampering with the real database is caught and located by `verify` (and `lendline ledger verify`)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tortoise.transactions import in_transaction

from core.actor import Actor
from core.config import current_settings
from core.ledger import hashing, scan, sealing, service
from core.ledger.models import LedgerBlock, LedgerTransaction, TxStatus
from core.ledger.nodes import pack
from core.ledger.verify import ProblemKind, Report, verify
from tests.conftest import REPO
from tests.ledger.helpers import SMALL_BLOCKS, append_n, execute

# 3 blocks of 4 (seq 0-3, 4-7, 8-11) and one transaction waiting.


@pytest.fixture
async def ledger(db: str) -> str:
    await append_n(12)
    await sealing.seal_pending(policy=SMALL_BLOCKS)
    await append_n(1, start=12)
    return db


async def _checked() -> Report:
    report = await verify()
    assert not report.ok, "tampering went unnoticed"
    return report


def _located(report: Report, kind: ProblemKind, height: int | None, seq: int | None) -> None:
    p = report.problem
    assert p is not None and (p.kind, p.height, p.seq) == (kind, height, seq), p


async def test_an_untouched_ledger_verifies(ledger: str) -> None:
    progress: list[tuple[int, int]] = []
    report = await verify(lambda done, total: progress.append((done, total)))
    assert report.ok and (report.blocks, report.transactions, report.unsealed, report.tree_size) == (3, 12, 1, 12)
    assert report.tree_root == (await LedgerBlock.get(height=3)).tree_root
    assert progress[-1] == (13, 13)


async def test_an_edited_payload_is_a_hash_mismatch_at_its_transaction(ledger: str) -> None:
    tx = await LedgerTransaction.get(seq=5)
    await LedgerTransaction.filter(id=tx.id).update(payload=tx.payload.replace("10.50", "99.50"))
    report = await _checked()
    _located(report, ProblemKind.HASH_MISMATCH, 2, 5)
    assert report.problem and report.problem.tx_hash == tx.tx_hash


async def test_revealing_a_privacy_protected_transaction_is_caught(ledger: str) -> None:
    (private,) = await append_n(1, start=20, status=TxStatus.PRIVACY_PROTECTED)
    await sealing.seal_pending(force=True, policy=SMALL_BLOCKS)
    await LedgerTransaction.filter(id=private.id).update(status=TxStatus.COMPLETED)
    _located(await _checked(), ProblemKind.HASH_MISMATCH, 4, 13)


async def test_a_deleted_transaction_is_missing_at_its_position(ledger: str) -> None:
    await LedgerTransaction.filter(seq=6).delete()
    _located(await _checked(), ProblemKind.MISSING_TRANSACTION, 2, 6)


async def test_deleting_the_last_transaction_of_the_last_block_is_caught(ledger: str) -> None:
    await LedgerTransaction.filter(seq=11).delete()
    _located(await _checked(), ProblemKind.MISSING_TRANSACTION, 3, 11)


async def _forged(seq: int | None, height: int | None) -> LedgerTransaction:
    """A well-formed transaction (its own hash is right) slipped in with direct database access."""
    async with in_transaction():
        forged = await service.append("test.event", {"i": 99, "amount": "1.00"}, initiator=Actor(9, "x", "x", ()))
    await LedgerTransaction.filter(id=forged.id).update(seq=seq, block_height=height)
    return forged


async def test_a_transaction_inserted_into_a_sealed_block_is_caught(ledger: str) -> None:
    await _forged(12, 2)
    _located(await _checked(), ProblemKind.UNEXPECTED_TRANSACTION, 2, 12)


async def test_a_transaction_inserted_by_shifting_the_others_is_caught(ledger: str) -> None:
    for seq in range(11, 4, -1):  # make room at position 5, last first (seq is unique)
        await LedgerTransaction.filter(seq=seq).update(seq=seq + 100)
        await LedgerTransaction.filter(seq=seq + 100).update(seq=seq + 1)
    await LedgerTransaction.filter(seq=8).update(block_height=2)
    await LedgerTransaction.filter(seq=12).update(block_height=3)
    await _forged(5, 2)
    _located(await _checked(), ProblemKind.UNEXPECTED_TRANSACTION, 2, 5)


async def test_two_swapped_transactions_are_reported_as_reordered(ledger: str) -> None:
    await LedgerTransaction.filter(seq=1).update(seq=-1)
    await LedgerTransaction.filter(seq=2).update(seq=1)
    await LedgerTransaction.filter(seq=-1).update(seq=2)
    _located(await _checked(), ProblemKind.REORDERED, 1, 1)


async def test_a_transaction_moved_to_another_block_is_caught(ledger: str) -> None:
    await LedgerTransaction.filter(seq=4).update(block_height=1)
    _located(await _checked(), ProblemKind.UNEXPECTED_TRANSACTION, 2, 4)


async def test_an_edited_block_header_is_caught_at_its_height(ledger: str) -> None:
    await LedgerBlock.filter(height=2).update(tx_count=3)
    _located(await _checked(), ProblemKind.HEADER_MISMATCH, 2, None)


async def test_a_rewritten_and_rehashed_block_breaks_the_link_to_the_next(ledger: str) -> None:
    block = await LedgerBlock.get(height=2)
    header = hashing.BlockHeader(height=2, previous_hash=block.previous_hash, merkle_root=block.merkle_root,
                                 tx_count=block.tx_count, first_seq=block.first_seq, tree_root=block.tree_root,
                                 sealed_at=block.sealed_at.replace(year=2020))
    await LedgerBlock.filter(height=2).update(sealed_at=header.sealed_at, block_hash=header.hash())
    _located(await _checked(), ProblemKind.BROKEN_LINK, 3, None)


async def test_a_rehashed_header_with_a_forged_merkle_root_is_caught(ledger: str) -> None:
    block = await LedgerBlock.get(height=3)
    header = hashing.BlockHeader(height=3, previous_hash=block.previous_hash, merkle_root="0" * 64,
                                 tx_count=block.tx_count, first_seq=block.first_seq, tree_root=block.tree_root,
                                 sealed_at=block.sealed_at)
    await LedgerBlock.filter(height=3).update(merkle_root="0" * 64, block_hash=header.hash())
    _located(await _checked(), ProblemKind.MERKLE_ROOT_MISMATCH, 3, None)


async def test_a_rehashed_header_with_a_forged_log_root_is_caught(ledger: str) -> None:
    block = await LedgerBlock.get(height=3)
    header = hashing.BlockHeader(height=3, previous_hash=block.previous_hash, merkle_root=block.merkle_root,
                                 tx_count=block.tx_count, first_seq=block.first_seq, tree_root="1" * 64,
                                 sealed_at=block.sealed_at)
    await LedgerBlock.filter(height=3).update(tree_root="1" * 64, block_hash=header.hash())
    _located(await _checked(), ProblemKind.LOG_ROOT_MISMATCH, 3, None)


async def test_a_deleted_block_is_missing(ledger: str) -> None:
    await LedgerBlock.filter(height=2).delete()
    _located(await _checked(), ProblemKind.MISSING_BLOCK, 2, None)


async def test_a_damaged_node_store_is_reported(ledger: str) -> None:
    await execute(f"DELETE FROM ledger_node WHERE key = {pack((2, 2))}")  # a frontier node of the 12-leaf log
    _located(await _checked(), ProblemKind.NODE_STORE_DAMAGED, None, None)


async def test_an_edited_unsealed_transaction_is_caught(ledger: str) -> None:
    await LedgerTransaction.filter(seq__isnull=True).update(initiator_name="someone else")
    report = await _checked()
    assert report.problem and report.problem.kind is ProblemKind.HASH_MISMATCH and report.problem.seq is None


async def test_awkward_text_verifies_on_both_databases(db: str) -> None:
    """PostgreSQL rebuilds envelopes in SQL; its JSON escaping must agree with Python's (or be rechecked)."""
    names = ['"quoted"', "back\\slash", "tab\tnew\nline", "bell\x07\x1f", "é中文😀", "\u2028sep", "\x7fdel"]
    for i, name in enumerate(names):
        async with in_transaction():
            await service.append(f"odd.{i}", {"note": name, name: [name]}, initiator=Actor(i + 1, "a", name, ()),
                                 source=("Thing", name))
    await sealing.seal_pending(force=True, policy=SMALL_BLOCKS)
    assert (await verify()).ok
    fast = [row async for segment in scan.sealed(len(names), 3) for row in segment]
    columns = await scan.query(f"SELECT {scan.TX_COLUMNS} FROM ledger_transaction ORDER BY seq")
    assert [bytes(r[3]) for r in fast] == [scan.python_envelope(c) for c in columns]  # no recheck was needed


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": current_settings().database_url, "LENDLINE_SECRET_KEY": "t" * 48,
           "LENDLINE_ENV": "test"}
    return subprocess.run([sys.executable, "-m", "core.cli", "ledger", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


async def test_the_cli_prints_progress_and_exits_non_zero_naming_the_problem(ledger: str) -> None:
    ok = _cli("verify")
    assert ok.returncode == 0, ok.stderr
    assert "Ledger OK: 3 blocks, 12 sealed transactions (1 waiting)" in ok.stdout and "100%" in ok.stderr
    await LedgerTransaction.filter(seq=9).update(tx_type="test.other")
    bad = _cli("verify", "--quiet")
    assert bad.returncode == 1
    assert "FAILED: hash mismatch at block 3, seq 9" in bad.stderr
    sealed = _cli("seal")
    assert sealed.returncode == 0 and "sealed block 4: 1 transaction(s)" in sealed.stdout

