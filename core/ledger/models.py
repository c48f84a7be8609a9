"""Ledger tables: transactions, sealed blocks, the global log's stored subtrees, the sealing lock.

Why no foreign keys: a ledger row must never change once written, and `ON DELETE SET NULL` or
`CASCADE` from a user or a block would silently rewrite hashed columns. The references are plain
integers, checked by `lendline ledger verify`.
"""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.models import Model


class TxStatus(str, Enum):
    """A transaction's status as the seed's blocks page shows it (已完成 / 待处理 / 隐私保护)."""

    COMPLETED = "completed"
    PENDING = "pending"
    PRIVACY_PROTECTED = "privacy_protected"


class LedgerTransaction(Model):
    """One recorded business event: `tx_hash` covers every column up to `scope_product_id`.

    `seq` (its leaf index in the global log) and `block_height` stay null until a block seals it;
    they are positions, not content, and are checked against the blocks and the log instead.
    """

    id = fields.BigIntField(primary_key=True)
    tx_hash = fields.CharField(max_length=64, unique=True)
    tx_type = fields.CharField(max_length=60, db_index=True)
    payload = fields.TextField(description="Canonical JSON text, exactly the bytes that were hashed")
    initiator_id = fields.IntField(null=True)
    initiator_name = fields.CharField(max_length=40, default="")
    status = fields.CharEnumField(TxStatus, max_length=20)
    created_at = fields.DatetimeField()
    salt = fields.CharField(max_length=32)
    source_type = fields.CharField(max_length=40, null=True, description="GraphQL type of the source object")
    source_id = fields.CharField(max_length=64, null=True)
    # Whose data it is (F-ROLE-4, F-LED-4): the payload is shown only to callers whose scope covers it.
    scope_bank_id = fields.IntField(null=True)
    scope_product_id = fields.IntField(null=True)
    seq = fields.BigIntField(null=True, unique=True)
    block_height = fields.IntField(null=True, db_index=True)

    class Meta:
        table = "ledger_transaction"
        indexes = (("source_type", "source_id"),)


class LedgerBlock(Model):
    """A sealed block: `block_hash` covers the header (see `core.ledger.hashing.BlockHeader`)."""

    id = fields.IntField(primary_key=True)
    height = fields.IntField(unique=True)
    block_hash = fields.CharField(max_length=64, unique=True)
    previous_hash = fields.CharField(max_length=64)
    merkle_root = fields.CharField(max_length=64)
    tx_count = fields.IntField()
    first_seq = fields.BigIntField()
    tree_root = fields.CharField(max_length=64, description="Global log root after this block")
    sealed_at = fields.DatetimeField()

    class Meta:
        table = "ledger_block"

    @property
    def tree_size(self) -> int:
        return self.first_seq + self.tx_count


class LedgerNode(Model):
    """One perfect subtree of the global RFC 6962 log, written once when it completes.

    `key` packs (level, index) as ``index * 64 + level`` so the table needs a single index; see
    `core.ledger.nodes`.
    """

    key = fields.BigIntField(primary_key=True, generated=False)
    hash = fields.BinaryField()

    class Meta:
        table = "ledger_node"


class LedgerLock(Model):
    """A single row every sealer updates first: the database lock that makes sealing single-writer.

    Updating it takes PostgreSQL's row lock and SQLite's write lock alike, so two processes (or two
    machines) never seal the same transactions.
    """

    id = fields.IntField(primary_key=True, generated=False)
    locked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "ledger_lock"


# Approvals must write the ledger in every process that can approve: the ORM imports this module
# wherever a database is opened (app, CLI, workers, tests), so the wiring rides on that import.
from core.ledger import review_hook as _review_hook  # noqa: E402, F401
