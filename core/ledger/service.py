"""Appending ledger transactions: the one call every recorded business change makes.

Call it inside the database transaction of the change it records, so the ledger holds a change if
and only if the change happened (F-LED-1)::

    async with in_transaction():
        ...the business change...
        await ledger.append("contract.signed", {"contractId": c.id, "amount": c.amount},
                            initiator=actor, source=("Contract", c.id),
                            scope_bank_id=c.bank_id, scope_product_id=c.product_id)

* ``status``: ``COMPLETED`` by default; ``PENDING`` when the recorded operation itself awaits an
  outcome (e.g. a disbursement sent to the bank); ``PRIVACY_PROTECTED`` for personal data: its
  payload is shown only to callers with data rights over its tag, or to unrestricted callers when
  it has no tag (F-LED-4).
* ``scope_bank_id`` / ``scope_product_id``: whose data it is; a tagged payload is shown only to
  callers whose data scope covers the tag. Leave both None for data that belongs to no bank.
* ``source``: (GraphQL type name, id) of the object the transaction is about; the API turns it
  into a Relay global id the SPA can open.

The transaction stays unsealed (no block) until the sealer picks it up; see `core.ledger.sealing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import TransactionalDBClient

from core import clock
from core.actor import Actor
from core.ledger import hashing
from core.ledger.models import LedgerTransaction, TxStatus

__all__ = ["Entry", "NotInTransactionError", "append", "append_many"]


class NotInTransactionError(RuntimeError):
    """`append` ran outside a database transaction: the ledger could then disagree with the change."""


@dataclass(frozen=True)
class Entry:
    """One transaction to append (see the module docstring for the meaning of each field)."""

    tx_type: str
    payload: Mapping[str, Any]
    initiator: Actor | None = None
    status: TxStatus = TxStatus.COMPLETED
    source: tuple[str, int | str] | None = None
    scope_bank_id: int | None = None
    scope_product_id: int | None = None


async def append(tx_type: str, payload: Mapping[str, Any], *, initiator: Actor | None,
                 status: TxStatus = TxStatus.COMPLETED, source: tuple[str, int | str] | None = None,
                 scope_bank_id: int | None = None, scope_product_id: int | None = None) -> LedgerTransaction:
    """Append one transaction inside the caller's database transaction; returns the stored row."""
    _require_transaction()
    row = _build(Entry(tx_type, payload, initiator, status, source, scope_bank_id, scope_product_id))
    await row.save()
    return row


async def append_many(entries: Sequence[Entry]) -> list[str]:
    """Append a batch in one statement (imports, batch jobs); returns their hashes in order."""
    _require_transaction()
    rows = [_build(e) for e in entries]
    await LedgerTransaction.bulk_create(rows, batch_size=1000)
    return [r.tx_hash for r in rows]


def _require_transaction() -> None:
    if not isinstance(LedgerTransaction._meta.db, TransactionalDBClient):
        raise NotInTransactionError("ledger.append must run inside the database transaction of the change it "
                                    "records (async with in_transaction(): …)")


def _build(e: Entry) -> LedgerTransaction:
    """Validate, canonicalise and hash one entry into an unsaved row."""
    if not e.tx_type or len(e.tx_type) > 60:
        raise ValueError(f"ledger transaction type must be 1-60 characters, got {e.tx_type!r}")
    source_type, source_id = (e.source[0], str(e.source[1])) if e.source else (None, None)
    if source_type is not None and (not source_type or len(source_type) > 40 or len(source_id or "") > 64):
        raise ValueError(f"ledger source must be (type ≤ 40 chars, id ≤ 64 chars), got {e.source!r}")
    status = TxStatus(e.status)
    initiator_id = e.initiator.user_id if e.initiator and e.initiator.user_id else None
    initiator_name = (e.initiator.name if e.initiator else "")[:40]
    at = clock.now()
    payload = hashing.payload_text(e.payload)
    salt = hashing.new_salt()
    digest = hashing.tx_hash(hashing.envelope(
        tx_type=e.tx_type, payload=payload, initiator_id=initiator_id, initiator_name=initiator_name,
        status=status.value, time=hashing.time_text(at), salt=salt, source_type=source_type, source_id=source_id,
        bank_id=e.scope_bank_id, product_id=e.scope_product_id))
    return LedgerTransaction(tx_hash=digest, tx_type=e.tx_type, payload=payload, initiator_id=initiator_id,
                             initiator_name=initiator_name, status=status, created_at=at, salt=salt,
                             source_type=source_type, source_id=source_id, scope_bank_id=e.scope_bank_id,
                             scope_product_id=e.scope_product_id)
