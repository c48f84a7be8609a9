"""Proofs served from the database verify with plain RFC 9162 code, and fail once any byte is flipped."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import pytest

from core.errors import ErrorCode, UserError
from core.ledger import merkle, proofs, sealing
from core.ledger.hashing import tx_leaf
from core.ledger.models import LedgerBlock, LedgerTransaction
from core.ledger.nodes import pack
from tests.ledger.helpers import SMALL_BLOCKS, append_n, execute


def _flip(hex_value: str, rng: random.Random) -> bytes:
    raw = bytearray(bytes.fromhex(hex_value))
    raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    return bytes(raw)


async def _sealed(n: int, rng: random.Random) -> list[LedgerBlock]:
    """``n`` transactions sealed into blocks of random sizes, so tree sizes are ragged."""
    done = 0
    while done < n:
        step = min(rng.randint(1, 9), n - done)
        await append_n(step, start=done)
        await sealing.seal_pending(force=True, policy=sealing.SealPolicy(step, SMALL_BLOCKS.max_age))
        done += step
    return await LedgerBlock.all().order_by("height")


def _check_inclusion(p: proofs.InclusionProof, rng: random.Random) -> None:
    leaf = tx_leaf(p.tx_hash)
    path = [bytes.fromhex(h) for h in p.audit_path]
    assert merkle.verify_inclusion(leaf, p.leaf_index, p.tree_size, path, bytes.fromhex(p.root_hash))
    block_path = [bytes.fromhex(h) for h in p.block_audit_path]
    block_root = bytes.fromhex(p.block_merkle_root)
    assert merkle.verify_inclusion(leaf, p.index_in_block, p.block_tx_count, block_path, block_root)
    if path:
        bad = list(path)
        i = rng.randrange(len(bad))
        bad[i] = _flip(bad[i].hex(), rng)
        assert not merkle.verify_inclusion(leaf, p.leaf_index, p.tree_size, bad, bytes.fromhex(p.root_hash))
    assert not merkle.verify_inclusion(leaf, p.leaf_index, p.tree_size, path, _flip(p.root_hash, rng))
    assert not merkle.verify_inclusion(_flip(leaf.hex(), rng), p.leaf_index, p.tree_size, path,
                                       bytes.fromhex(p.root_hash))


async def test_every_inclusion_proof_verifies_at_every_tree_head(db: str) -> None:
    rng = random.Random(6962)
    blocks = await _sealed(40, rng)
    hashes = await LedgerTransaction.all().order_by("seq").values_list("tx_hash", flat=True)
    for seq, tx_hash in enumerate(hashes):
        latest = await proofs.inclusion_proof(str(tx_hash))
        assert (latest.leaf_index, latest.tree_size, latest.root_hash) == (seq, 40, blocks[-1].tree_root)
        _check_inclusion(latest, rng)
        for block in blocks:  # every older tree head that already held the transaction
            if block.tree_size > seq:
                older = await proofs.inclusion_proof(str(tx_hash), block.tree_size)
                assert older.root_hash == block.tree_root
                _check_inclusion(older, rng)


async def test_every_consistency_proof_between_sizes_verifies(db: str) -> None:
    rng = random.Random(9162)
    blocks = await _sealed(23, rng)
    for m in range(0, 24):
        for n in range(m, 24):
            p = await proofs.consistency_proof(m, n)
            args = (p.from_size, p.to_size, bytes.fromhex(p.from_root), bytes.fromhex(p.to_root))
            proof = [bytes.fromhex(h) for h in p.proof]
            assert merkle.verify_consistency(*args, proof)
            if proof:
                bad = list(proof)
                i = rng.randrange(len(bad))
                bad[i] = _flip(bad[i].hex(), rng)
                assert not merkle.verify_consistency(*args, bad)
                assert not merkle.verify_consistency(m, n, _flip(p.from_root, rng), args[3], proof)
    latest = await proofs.consistency_proof(blocks[0].tree_size)
    assert (latest.to_size, latest.to_root, latest.from_root) == (23, blocks[-1].tree_root, blocks[0].tree_root)


async def test_proof_requests_that_cannot_be_answered_say_why(db: str) -> None:
    with pytest.raises(UserError) as none_sealed:
        await proofs.consistency_proof(0)
    assert none_sealed.value.code is ErrorCode.INVALID_STATE
    (first,) = await append_n(1)
    await _sealed(3, random.Random(1))
    cases: list[tuple[Callable[[], Awaitable[object]], ErrorCode]] = [
        (lambda: proofs.inclusion_proof("ab" * 32), ErrorCode.NOT_FOUND),
        (lambda: proofs.inclusion_proof("xyz"), ErrorCode.INVALID),
        (lambda: proofs.inclusion_proof(first.tx_hash, 0), ErrorCode.OUT_OF_RANGE),
        (lambda: proofs.consistency_proof(2, 99), ErrorCode.OUT_OF_RANGE),
        (lambda: proofs.consistency_proof(3, 2), ErrorCode.OUT_OF_RANGE),
        (lambda: proofs.consistency_proof(-1), ErrorCode.OUT_OF_RANGE)]
    for call, code in cases:
        with pytest.raises(UserError) as refused:
            await call()
        assert refused.value.code is code, refused.value
    (pending,) = await append_n(1, start=50)
    with pytest.raises(UserError) as waiting:
        await proofs.inclusion_proof(pending.tx_hash)
    assert waiting.value.code is ErrorCode.INVALID_STATE


async def test_a_damaged_node_store_yields_an_error_never_a_false_proof(db: str) -> None:
    await _sealed(8, random.Random(2))
    first = await LedgerTransaction.get(seq=0)
    flipped = "X'" + "00" * 32 + "'" if db == "sqlite" else "'\\x" + "00" * 32 + "'"
    await execute(f"UPDATE ledger_node SET hash = {flipped} WHERE key = {pack((0, 1))}")
    with pytest.raises(UserError) as damaged:
        await proofs.inclusion_proof(first.tx_hash, 7)
    assert damaged.value.code is ErrorCode.INVALID_STATE and "verify" in damaged.value.errors[0].message
