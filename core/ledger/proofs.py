"""Inclusion and consistency proofs served from the stored log (F-LED-3).

A client verifies them by itself with any RFC 6962 / RFC 9162 implementation:

* inclusion: ``leaf = SHA-256(0x00 || bytes.fromhex(txHash))``, then the RFC 9162 §2.1.3.2 check
  of ``auditPath`` for (``leafIndex``, ``treeSize``) against ``rootHash``; when ``treeSize`` is a
  block's tree size, ``rootHash`` is the ``treeRoot`` of that block, whose hash covers it. The same
  is given inside the transaction's block (``blockAuditPath`` against the block's Merkle root).
* consistency: RFC 9162 §2.1.4.2 of ``proof`` between (``fromSize``, ``fromRoot``) and
  (``toSize``, ``toRoot``): the later log extends the earlier one without rewriting it.

Every proof is checked here before it is returned, so a damaged node store yields an error that says
so, never a proof that fails (or worse, passes) on the client.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ErrorCode, UserError, not_found
from core.ledger import merkle
from core.ledger.hashing import is_hex_hash, tx_leaf
from core.ledger.models import LedgerBlock, LedgerTransaction
from core.ledger.nodes import DbNodeStore


@dataclass(frozen=True)
class InclusionProof:
    tx_hash: str
    leaf_index: int
    tree_size: int
    root_hash: str
    audit_path: list[str]
    block_height: int
    block_hash: str
    index_in_block: int
    block_tx_count: int
    block_merkle_root: str
    block_audit_path: list[str]


@dataclass(frozen=True)
class ConsistencyProof:
    from_size: int
    to_size: int
    from_root: str
    to_root: str
    proof: list[str]


def _damaged() -> UserError:
    return UserError.of(None, ErrorCode.INVALID_STATE, "The ledger's stored proof data is damaged; run "
                        "`lendline ledger verify` (or verifyLedger) to locate the problem")


async def _head() -> LedgerBlock:
    head = await LedgerBlock.all().order_by("-height").first()
    if head is None:
        raise UserError.of(None, ErrorCode.INVALID_STATE, "No block has been sealed yet")
    return head


async def _root(store: DbNodeStore, head: LedgerBlock, size: int, field: str) -> bytes:
    """The log root at ``size`` (≤ the head's): the head's own root, or from the stored frontier."""
    if not 0 <= size <= head.tree_size:
        raise UserError.of(field, ErrorCode.OUT_OF_RANGE, f"{field} must be between 0 and {head.tree_size}, the "
                           "size of the sealed log")
    if size == head.tree_size:
        return bytes.fromhex(head.tree_root)
    try:
        return await merkle.store_root(store, size)
    except merkle.MissingNodeError:
        raise _damaged() from None


async def inclusion_proof(tx_hash: str, tree_size: int | None = None) -> InclusionProof:
    """Audit paths for one sealed transaction, in the global log (at ``tree_size``) and in its block."""
    if not is_hex_hash(tx_hash):
        raise UserError.of("txHash", ErrorCode.INVALID, "txHash must be 64 lowercase hex characters")
    tx = await LedgerTransaction.filter(tx_hash=tx_hash).only("id", "seq", "block_height").first()
    if tx is None:
        raise not_found("Ledger transaction", "txHash")
    if tx.seq is None or tx.block_height is None:
        raise UserError.of("txHash", ErrorCode.INVALID_STATE, "The transaction is not sealed yet; it will be in "
                           "the next block")
    head = await _head()
    size = head.tree_size if tree_size is None else tree_size
    if size <= tx.seq:
        raise UserError.of("treeSize", ErrorCode.OUT_OF_RANGE, f"treeSize must be above the transaction's leaf "
                           f"index {tx.seq}")
    store = DbNodeStore()
    root = await _root(store, head, size, "treeSize")
    leaf = tx_leaf(tx_hash)
    try:
        path = await merkle.store_inclusion_proof(store, tx.seq, size)
    except merkle.MissingNodeError:
        raise _damaged() from None
    block = head if head.height == tx.block_height else await LedgerBlock.get(height=tx.block_height)
    in_block = await (LedgerTransaction.filter(seq__gte=block.first_seq, seq__lt=block.tree_size)
                      .order_by("seq").values_list("tx_hash", flat=True))
    index = tx.seq - block.first_seq
    block_leaves = [tx_leaf(str(h)) for h in in_block]
    block_path = merkle.inclusion_proof(block_leaves, index) if index < len(block_leaves) else []
    if not (merkle.verify_inclusion(leaf, tx.seq, size, path, root)
            and merkle.verify_inclusion(leaf, index, block.tx_count, block_path, bytes.fromhex(block.merkle_root))):
        raise _damaged()
    return InclusionProof(tx_hash=tx_hash, leaf_index=tx.seq, tree_size=size, root_hash=root.hex(),
                          audit_path=[p.hex() for p in path], block_height=block.height, block_hash=block.block_hash,
                          index_in_block=index, block_tx_count=block.tx_count, block_merkle_root=block.merkle_root,
                          block_audit_path=[p.hex() for p in block_path])


async def consistency_proof(from_size: int, to_size: int | None = None) -> ConsistencyProof:
    """Proof that the log at ``from_size`` is a prefix of the log at ``to_size`` (default: the latest)."""
    head = await _head()
    to = head.tree_size if to_size is None else to_size
    if from_size > to:
        raise UserError.of("fromSize", ErrorCode.OUT_OF_RANGE, "fromSize must not exceed toSize")
    store = DbNodeStore()
    to_root = await _root(store, head, to, "toSize")
    from_root = await _root(store, head, from_size, "fromSize")
    try:
        proof = await merkle.store_consistency_proof(store, from_size, to)
    except merkle.MissingNodeError:
        raise _damaged() from None
    if not merkle.verify_consistency(from_size, to, from_root, to_root, proof):
        raise _damaged()
    return ConsistencyProof(from_size=from_size, to_size=to, from_root=from_root.hex(), to_root=to_root.hex(),
                            proof=[p.hex() for p in proof])
