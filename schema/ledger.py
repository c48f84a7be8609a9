"""GraphQL for the audit ledger (SPEC §7, seed 000 "区块" page): blocks, transactions, proofs, verification.

Any caller with the `ledger` page sees every block and every transaction's hash, type, status, time
and position; payloads (with initiator, source and salt) only as `core.ledger.queries` allows, read
by a second SQL query over the page's ids. `ledger.verify` holds verification and on-demand sealing.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from core.errors import ErrorCode, UserError
from core.ledger import proofs, queries, sealing, verify
from core.ledger.hashing import is_hex_hash
from core.ledger.models import LedgerBlock, LedgerTransaction, TxStatus
from core.ledger.notify import ledger_feed
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation, guarded_subscription
from schema.relay import Connection, connection, gid, paginate

LedgerTxStatusEnum = strawberry.enum(TxStatus, name="LedgerTxStatus")
ProblemKindEnum = strawberry.enum(verify.ProblemKind, name="LedgerProblemKind")


@strawberry.type(name="LedgerSource", description="The object a transaction records; `id` is its Relay global id.")
class LedgerSourceType:
    type: str
    id: strawberry.ID


@strawberry.type(name="LedgerTransaction")
class LedgerTransactionType:
    id: strawberry.ID
    hash: str
    type: str
    status: LedgerTxStatusEnum  # type: ignore[valid-type]
    created_at: datetime
    leaf_index: int | None = strawberry.field(description="Position in the global log; null until sealed")
    block_height: int | None
    payload_visible: bool = strawberry.field(description="False: your data scope does not cover this transaction")
    payload: JSON | None
    initiator_id: strawberry.ID | None
    initiator_name: str | None
    source: LedgerSourceType | None
    canonical: str | None = strawberry.field(description="The exact text the hash covers: SHA-256 of its UTF-8 "
                                             "bytes is `hash` (null when the payload is hidden)")

    @classmethod
    def of(cls, tx: LedgerTransaction, details: queries.Details | None) -> LedgerTransactionType:
        d = details
        return cls(id=gid("LedgerTransaction", tx.id), hash=tx.tx_hash, type=tx.tx_type, status=tx.status,
                   created_at=tx.created_at, leaf_index=tx.seq, block_height=tx.block_height,
                   payload_visible=d is not None, payload=d.payload if d else None,
                   initiator_id=gid("User", d.initiator_id) if d and d.initiator_id else None,
                   initiator_name=d.initiator_name if d else None,
                   source=LedgerSourceType(type=d.source_type, id=gid(d.source_type, _pk(d.source_id)))
                   if d and d.source_type and d.source_id is not None else None,
                   canonical=d.canonical if d else None)


def _pk(value: str) -> Any:
    return int(value) if value.isdigit() else value


async def _convert(info: Info, rows: Iterable[LedgerTransaction]) -> list[LedgerTransactionType]:
    rows = list(rows)
    visible = await queries.details(rows, info.context.scope)
    return [LedgerTransactionType.of(r, visible.get(r.id)) for r in rows]


async def _tx_connection(info: Info, page: Any) -> Connection[LedgerTransactionType]:
    nodes = {id(r): n for r, n in zip(page.rows, await _convert(info, page.rows), strict=True)}
    return connection(page, lambda r: nodes[id(r)])


@strawberry.type(name="LedgerBlock")
class LedgerBlockType:
    id: strawberry.ID
    height: int
    hash: str
    previous_hash: str
    merkle_root: str = strawberry.field(description="RFC 6962 root over this block's transaction hashes")
    tx_count: int
    first_leaf_index: int
    tree_size: int = strawberry.field(description="Size of the global log after this block")
    tree_root: str = strawberry.field(description="RFC 6962 root of the global log at tree_size")
    sealed_at: datetime

    @classmethod
    def of(cls, b: LedgerBlock) -> LedgerBlockType:
        return cls(id=gid("LedgerBlock", b.id), height=b.height, hash=b.block_hash, previous_hash=b.previous_hash,
                   merkle_root=b.merkle_root, tx_count=b.tx_count, first_leaf_index=b.first_seq,
                   tree_size=b.tree_size, tree_root=b.tree_root, sealed_at=b.sealed_at)

    @strawberry.field(description="This block's transactions, last first.")
    async def transactions(self, info: Info, first: int | None = None, after: str | None = None
                           ) -> Connection[LedgerTransactionType]:
        page = await paginate(queries.transactions(queries.TxFilter(block_height=self.height)), first, after)
        return await _tx_connection(info, page)


@strawberry.type(name="LedgerHead", description="The latest block and the log size (the blocks page header).")
class LedgerHeadType:
    block: LedgerBlockType | None
    transaction_count: int
    unsealed_count: int


@strawberry.input
class LedgerTransactionFilter:
    type: str | None = None
    status: LedgerTxStatusEnum | None = None  # type: ignore[valid-type]
    block_height: int | None = None
    sealed: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.type(name="LedgerInclusionProof", description="Check it yourself: leaf = SHA-256(0x00 ‖ raw txHash); "
                 "RFC 9162 §2.1.3.2 with auditPath for (leafIndex, treeSize) gives rootHash.")
class InclusionProofType:
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


@strawberry.type(name="LedgerConsistencyProof", description="RFC 9162 §2.1.4.2: the log at toSize extends the log "
                 "at fromSize.")
class ConsistencyProofType:
    from_size: int
    to_size: int
    from_root: str
    to_root: str
    proof: list[str]


@strawberry.type(name="LedgerProblem")
class ProblemType:
    kind: ProblemKindEnum  # type: ignore[valid-type]
    message: str
    height: int | None
    leaf_index: int | None
    tx_hash: str | None


@strawberry.type(name="LedgerVerification")
class VerificationType:
    ok: bool
    blocks: int
    transactions: int
    unsealed: int
    tree_size: int
    tree_root: str
    problem: ProblemType | None


@strawberry.type
class SealBlockPayload(Payload):
    blocks: list[LedgerBlockType] = strawberry.field(default_factory=list)


def _hash_arg(value: str, field: str) -> str:
    value = value.strip().lower()
    if not is_hex_hash(value):
        raise UserError.of(field, ErrorCode.INVALID, f"{field} must be 64 hex characters")
    return value


@strawberry.type
class LedgerQuery:
    @guarded("ledger", description="The latest block and how many transactions the ledger holds.")
    async def ledger_head(self, info: Info) -> LedgerHeadType:
        head = await queries.head()
        return LedgerHeadType(block=LedgerBlockType.of(head.block) if head.block else None,
                              transaction_count=head.transactions, unsealed_count=head.unsealed)

    @guarded("ledger", description="Blocks, latest first.")
    async def ledger_blocks(self, info: Info, first: int | None = None, after: str | None = None
                            ) -> Connection[LedgerBlockType]:
        return connection(await paginate(queries.blocks(), first, after), LedgerBlockType.of)

    @guarded("ledger", description="One block by height or by hash (give exactly one).")
    async def ledger_block(self, info: Info, height: int | None = None, hash: str | None = None
                           ) -> LedgerBlockType | None:
        if (height is None) == (hash is None):
            raise UserError.of(None, ErrorCode.INVALID, "Give either height or hash")
        block = await (LedgerBlock.get_or_none(height=height) if height is not None
                       else LedgerBlock.get_or_none(block_hash=_hash_arg(hash or "", "hash")))
        return LedgerBlockType.of(block) if block else None

    @guarded("ledger", description="Transactions, latest first (unsealed ones included).")
    async def ledger_transactions(self, info: Info, filter: LedgerTransactionFilter | None = None,
                                  first: int | None = None, after: str | None = None
                                  ) -> Connection[LedgerTransactionType]:
        f = filter or LedgerTransactionFilter()
        qs = queries.transactions(queries.TxFilter(tx_type=f.type, status=f.status, block_height=f.block_height,
                                                   sealed=f.sealed, since=f.since, until=f.until))
        return await _tx_connection(info, await paginate(qs, first, after))

    @guarded("ledger", description="One transaction by its hash.")
    async def ledger_transaction(self, info: Info, hash: str) -> LedgerTransactionType | None:
        tx = await queries.transaction_by_hash(_hash_arg(hash, "hash")).first()
        return (await _convert(info, [tx]))[0] if tx else None

    @guarded("ledger", description="Audit paths proving a sealed transaction is in the log (default: the "
             "latest tree size) and in its block.")
    async def inclusion_proof(self, info: Info, tx_hash: str, tree_size: int | None = None) -> InclusionProofType:
        p = await proofs.inclusion_proof(_hash_arg(tx_hash, "txHash"), tree_size)
        return InclusionProofType(**vars(p))

    @guarded("ledger", description="Proof that the log at toSize (default: latest) extends the log at fromSize.")
    async def consistency_proof(self, info: Info, from_size: int, to_size: int | None = None
                                ) -> ConsistencyProofType:
        return ConsistencyProofType(**vars(await proofs.consistency_proof(from_size, to_size)))

    @guarded("ledger.verify", description="Recompute every hash, Merkle root and block link; names the first "
             "problem found.")
    async def verify_ledger(self, info: Info) -> VerificationType:
        r = await verify.verify()
        p = r.problem
        return VerificationType(ok=r.ok, blocks=r.blocks, transactions=r.transactions, unsealed=r.unsealed,
                                tree_size=r.tree_size, tree_root=r.tree_root,
                                problem=ProblemType(kind=p.kind, message=str(p), height=p.height, leaf_index=p.seq,
                                                    tx_hash=p.tx_hash) if p else None)


@strawberry.type
class LedgerMutation:
    @guarded_mutation("ledger.verify", description="Seal every waiting transaction into blocks now.")
    async def seal_block(self, info: Info) -> SealBlockPayload:
        blocks = await sealing.seal_on_demand(actor_of(info), info.context.request_id)
        return SealBlockPayload(blocks=[LedgerBlockType.of(b) for b in blocks])


@strawberry.type
class LedgerSubscription:
    @guarded_subscription("ledger", description="Each block as it is sealed (by any process).")
    async def new_ledger_blocks(self, info: Info) -> AsyncGenerator[LedgerBlockType, None]:
        async with ledger_feed().blocks() as queue:
            while True:
                yield LedgerBlockType.of(await queue.get())

    @guarded_subscription("ledger", description="Each transaction as it is appended; payloads as your data scope "
                          "allows.")
    async def new_ledger_transactions(self, info: Info) -> AsyncGenerator[LedgerTransactionType, None]:
        async with ledger_feed().transactions() as queue:
            while True:
                tx = await queue.get()
                yield (await _convert(info, [tx]))[0]

