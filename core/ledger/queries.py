"""Reading the ledger for the blocks page, with payloads limited by the caller's data scope (F-LED-4).

Everyone with ledger rights sees every transaction's hash, type, status, time and position — the
chain must be checkable by all. The rest (payload, initiator, source, salt, tags) is read by a
second query over the page's ids whose `WHERE` carries the visibility rule, so a hidden payload never
leaves the database:

* tagged with a bank/product: visible when the caller's data scope covers the tag;
* untagged and privacy-protected: visible only to unrestricted callers;
* untagged otherwise: visible.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from core.ledger import hashing
from core.ledger.models import LedgerBlock, LedgerTransaction, TxStatus
from permissions.scope import DataScope

LIST_FIELDS = ("id", "tx_hash", "tx_type", "status", "created_at", "seq", "block_height")
"""What any ledger user may see of a transaction; never the payload."""

_DETAIL_FIELDS = ("id", "payload", "salt", "initiator_id", "initiator_name", "source_type", "source_id",
                  "scope_bank_id", "scope_product_id")


def payload_visible(scope: DataScope) -> Q:
    """The SQL condition for transactions whose details the caller may read."""
    if scope.unrestricted:
        return Q()
    untagged_private = Q(scope_bank_id__isnull=True, scope_product_id__isnull=True,
                         status=TxStatus.PRIVACY_PROTECTED)
    return Q(scope.tagged(), ~untagged_private)


@dataclass(frozen=True)
class Details:
    """The parts of a transaction shown only to callers allowed to see its payload."""

    payload: Any
    salt: str
    initiator_id: int | None
    initiator_name: str
    source_type: str | None
    source_id: str | None
    scope_bank_id: int | None
    scope_product_id: int | None
    canonical: str  # the exact envelope text the hash covers, so a client can recompute it


async def details(rows: Iterable[LedgerTransaction], scope: DataScope) -> dict[int, Details]:
    """Details of those ``rows`` (fetched with `LIST_FIELDS`) the caller may see, in one query."""
    by_id = {r.id: r for r in rows}
    if not by_id:
        return {}
    visible = await (LedgerTransaction.filter(id__in=list(by_id)).filter(payload_visible(scope))
                     .values(*_DETAIL_FIELDS))
    return {v["id"]: _details(by_id[v["id"]], v) for v in visible}


def _details(row: LedgerTransaction, v: dict[str, Any]) -> Details:
    canonical = hashing.envelope(
        tx_type=row.tx_type, payload=v["payload"], initiator_id=v["initiator_id"], initiator_name=v["initiator_name"],
        status=TxStatus(row.status).value, time=hashing.time_text(row.created_at), salt=v["salt"],
        source_type=v["source_type"], source_id=v["source_id"], bank_id=v["scope_bank_id"],
        product_id=v["scope_product_id"]).decode("utf-8")
    return Details(payload=json.loads(v["payload"]), salt=v["salt"], initiator_id=v["initiator_id"],
                   initiator_name=v["initiator_name"], source_type=v["source_type"], source_id=v["source_id"],
                   scope_bank_id=v["scope_bank_id"], scope_product_id=v["scope_product_id"], canonical=canonical)


@dataclass(frozen=True)
class TxFilter:
    tx_type: str | None = None
    status: TxStatus | None = None
    block_height: int | None = None
    sealed: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


def transactions(f: TxFilter | None = None) -> QuerySet[LedgerTransaction]:
    """Transactions filtered in SQL, list fields only (paginate newest first)."""
    f = f or TxFilter()
    qs = LedgerTransaction.all()
    if f.tx_type:
        qs = qs.filter(tx_type=f.tx_type)
    if f.status is not None:
        qs = qs.filter(status=f.status)
    if f.block_height is not None:
        qs = qs.filter(block_height=f.block_height)
    if f.sealed is not None:
        qs = qs.filter(seq__isnull=not f.sealed)
    if f.since:
        qs = qs.filter(created_at__gte=f.since)
    if f.until:
        qs = qs.filter(created_at__lt=f.until)
    return qs.only(*LIST_FIELDS)


def transaction_by_hash(tx_hash: str) -> QuerySet[LedgerTransaction]:
    return LedgerTransaction.filter(tx_hash=tx_hash).only(*LIST_FIELDS)


def blocks() -> QuerySet[LedgerBlock]:
    return LedgerBlock.all()


@dataclass(frozen=True)
class Head:
    """The ledger's summary for the blocks page header."""

    block: LedgerBlock | None
    transactions: int
    unsealed: int


async def head() -> Head:
    block = await LedgerBlock.all().order_by("-height").first()
    unsealed = await LedgerTransaction.filter(seq__isnull=True).count()
    return Head(block=block, transactions=(block.tree_size if block else 0) + unsealed, unsealed=unsealed)
