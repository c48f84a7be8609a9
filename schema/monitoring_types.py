"""GraphQL types of post-loan fund control (F-MON-1..5): account transactions and violations.

Shared by the views (`schema/monitoring_views.py`) and ingestion/detection (its mutations and the
violation subscription), so a transaction or a violation has one shape everywhere. Build a node with
`TransactionType.of(row)` / `ViolationType.of(row)`; nested data (fund parts, the traced loan, a
violation's transaction, a transaction's violations) loads through per-request dataloaders that apply
the caller's data scope in SQL, so a list costs a fixed number of queries and nesting never reaches
another bank's rows.

Display columns of seed 000's transaction list come from `core.monitoring.tracing.TraceResult`:
`fundStructure` (资金结构, percentages adding up to 100) and `fundSource` (资金来源, signed amounts),
one entry per contributing loan and then own funds. Inflows show one component (the loan for a
disbursement, own funds otherwise); an outflow not traced yet shows none. Decimals are strings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from core.loans.models import Loan, LoanStatus
from core.monitoring import views
from core.monitoring.models import (
    AccountTransaction,
    TransactionFundPart,
    TxDirection,
    TxSource,
    Violation,
    ViolationKind,
    ViolationStatus,
)
from core.monitoring.tracing import Source, TraceResult
from schema.dataloaders import request_loader
from schema.relay import gid

DirectionEnum = strawberry.enum(TxDirection, name="TransactionDirection", description="收入 in / 支出 out.")
TxSourceEnum = strawberry.enum(TxSource, name="TransactionSource",
                               description="How the transaction arrived: batch mutation, file import or plugin feed.")
ViolationKindEnum = strawberry.enum(ViolationKind, name="ViolationKind",
                                    description="资金异化 diversion / 反洗钱 AML / 资金集中 concentration.")
ViolationStatusEnum = strawberry.enum(ViolationStatus, name="ViolationStatus",
                                      description="待处理 open / 已确认 confirmed / 已排除 dismissed.")


@strawberry.enum(name="FundSourceKind", description="Where a part of a payment came from.")
class FundSourceKind(Enum):
    LOAN = "LOAN"  # 贷款资金
    OWN = "OWN"  # 自有资金


def money(value: Any) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def _opt_money(value: Any) -> str | None:
    return None if value is None else money(value)


def loader(info: Info, name: str, load: Callable[[list[int]], Awaitable[list[Any]]]) -> DataLoader[int, Any]:
    return request_loader(info, "monitoring", name, load)


def _fund_parts_loader(info: Info) -> DataLoader[int, list[TransactionFundPart]]:
    scope = info.context.scope

    async def load(keys: list[int]) -> list[list[TransactionFundPart]]:
        found = await views.fund_parts_by_transaction(scope, keys)
        return [found.get(k, []) for k in keys]
    return loader(info, "monitoring_fund_parts", load)


def _loan_loader(info: Info) -> DataLoader[int, Loan | None]:
    scope = info.context.scope

    async def load(keys: list[int]) -> list[Loan | None]:
        found = await views.loans_by_id(scope, keys)
        return [found.get(k) for k in keys]
    return loader(info, "monitoring_loans", load)


def _transaction_loader(info: Info) -> DataLoader[int, AccountTransaction | None]:
    scope = info.context.scope

    async def load(keys: list[int]) -> list[AccountTransaction | None]:
        found = await views.transactions_by_id(scope, keys)
        return [found.get(k) for k in keys]
    return loader(info, "monitoring_transactions", load)


def _violations_loader(info: Info) -> DataLoader[int, list[Violation]]:
    scope = info.context.scope

    async def load(keys: list[int]) -> list[list[Violation]]:
        found = await views.violations_by_transaction(scope, keys)
        return [found.get(k, []) for k in keys]
    return loader(info, "monitoring_tx_violations", load)


@strawberry.type(name="FundComponent", description="One source of a payment: a loan (orderNo set) or own funds.")
class FundComponentType:
    source: FundSourceKind
    order_no: str | None
    label: str = strawberry.field(description="贷款 <order no.> / 自有资金 / 贷款资金 (inflow of a disbursement).")
    amount: str = strawberry.field(description="Signed, as the 资金来源 column shows it (outflows negative).")
    percent: str = strawberry.field(description="Share of the transaction, e.g. \"30%\" (all add up to 100%).")


def components(tx: AccountTransaction, parts: Sequence[TransactionFundPart]) -> list[FundComponentType]:
    """The fund structure/source of one transaction, by the tracing module's display rules."""
    amount = Decimal(tx.amount).quantize(Decimal("0.01"))
    if tx.direction is TxDirection.IN:
        if tx.is_disbursement:
            return [FundComponentType(source=FundSourceKind.LOAN, order_no=tx.order_no, label="贷款资金",
                                      amount=money(amount), percent="100%")]
        return [FundComponentType(source=FundSourceKind.OWN, order_no=None, label="自有资金", amount=money(amount),
                                  percent="100%")]
    if tx.loan_part is None:
        return []  # not traced yet
    loan_parts: dict[str, Decimal] = {}
    for p in parts:
        if p.loan_id is not None:  # type: ignore[attr-defined]
            key = p.order_no or str(p.loan_id)  # type: ignore[attr-defined]
            loan_parts[key] = loan_parts.get(key, Decimal("0.00")) + Decimal(p.amount)
    if not loan_parts and Decimal(tx.loan_part) > 0:
        loan_parts[tx.order_no] = Decimal(tx.loan_part)  # parts not stored: the transaction's own total
    own = amount - sum(loan_parts.values(), Decimal("0.00"))
    result = TraceResult(tx.serial_no, tx.occurred_at, amount, sum(loan_parts.values(), Decimal("0.00")), own,
                         Decimal("0.00"), loan_parts, {}, Decimal("0.00"))
    per_loan = bool(loan_parts)
    comps = result.components(per_loan=per_loan)
    pct = result.fund_structure(per_loan=per_loan)
    src = result.fund_source(per_loan=per_loan)
    return [FundComponentType(source=FundSourceKind(c.source.value), order_no=c.order_no,
                              label=f"贷款 {c.order_no}" if c.source is Source.LOAN and c.order_no else
                              ("贷款资金" if c.source is Source.LOAN else "自有资金"),
                              amount=money(s), percent=p) for c, p, s in zip(comps, pct, src, strict=True)]


@strawberry.type(name="LoanTrace", description="溯源: the loan a transaction or violation is monitored under.")
class LoanTraceType:
    loan_id: strawberry.ID
    order_no: str
    customer_no: str
    product_id: strawberry.ID
    amount: str
    status: str = strawberry.field(description="The loan's status value (e.g. disbursed, settled).")
    disbursed_at: datetime | None
    disbursement_account: str

    @classmethod
    def of(cls, loan: Loan) -> LoanTraceType:
        return cls(loan_id=gid("Loan", loan.id), order_no=loan.order_no, customer_no=loan.customer.customer_no,
                   product_id=gid("Product", loan.product_id),  # type: ignore[attr-defined]
                   amount=money(loan.amount), status=LoanStatus(loan.status).value, disbursed_at=loan.disbursed_at,
                   disbursement_account=loan.disbursement_account)


@strawberry.type(name="ViolationTag", description="A violation raised on a transaction (交易/异化类型, 是否违规).")
class ViolationTagType:
    violation_id: strawberry.ID
    kind: ViolationKindEnum  # type: ignore[valid-type]
    type_code: str
    type_name: str
    status: ViolationStatusEnum  # type: ignore[valid-type]


@strawberry.type(name="AccountTransaction", description="A transaction on a borrower's account (F-MON-1/2).")
class TransactionType:
    id: strawberry.ID
    serial_no: str = strawberry.field(description="交易流水号")
    order_no: str = strawberry.field(description="订单号 of the loan monitored")
    customer_no: str = strawberry.field(description="客户号")
    account_no: str
    occurred_at: datetime
    direction: DirectionEnum  # type: ignore[valid-type]
    amount: str
    counterparty_name: str
    counterparty_account: str
    counterparty_category: str
    channel: str
    balance_after: str | None
    is_disbursement: bool
    is_repayment: bool
    source: TxSourceEnum  # type: ignore[valid-type]
    loan_part: str | None = strawberry.field(description="Loan-funded part of an outflow (null: not traced yet).")
    own_part: str | None
    traced_at: datetime | None
    product_id: strawberry.ID
    ingested_at: datetime
    pk: strawberry.Private[int]
    loan_pk: strawberry.Private[int | None]
    row: strawberry.Private[AccountTransaction]

    @classmethod
    def of(cls, tx: AccountTransaction) -> TransactionType:
        return cls(id=gid("AccountTransaction", tx.id), serial_no=tx.serial_no, order_no=tx.order_no,
                   customer_no=tx.customer_no, account_no=tx.account_no, occurred_at=tx.occurred_at,
                   direction=TxDirection(tx.direction), amount=money(tx.amount),
                   counterparty_name=tx.counterparty_name, counterparty_account=tx.counterparty_account,
                   counterparty_category=tx.counterparty_category, channel=tx.channel,
                   balance_after=_opt_money(tx.balance_after), is_disbursement=tx.is_disbursement,
                   is_repayment=tx.is_repayment, source=TxSource(tx.source), loan_part=_opt_money(tx.loan_part),
                   own_part=_opt_money(tx.own_part), traced_at=tx.traced_at,
                   product_id=gid("Product", tx.product_id),  # type: ignore[attr-defined]
                   ingested_at=tx.ingested_at, pk=tx.id, loan_pk=tx.loan_id,  # type: ignore[attr-defined]
                   row=tx)

    @strawberry.field(description="资金结构 / 资金来源 per source: each contributing loan, then own funds.")
    async def fund_components(self, info: Info) -> list[FundComponentType]:
        parts = await _fund_parts_loader(info).load(self.pk) if self.row.direction is TxDirection.OUT else []
        return components(self.row, parts)

    @strawberry.field(description="资金结构 column, e.g. [\"30%\", \"70%\"] (labels in fundComponents).")
    async def fund_structure(self, info: Info) -> list[str]:
        return [c.percent for c in await self.fund_components(info)]

    @strawberry.field(description="资金来源 column: signed amounts, e.g. [\"-2000.00\", \"-5000.00\"].")
    async def fund_source(self, info: Info) -> list[str]:
        return [c.amount for c in await self.fund_components(info)]

    @strawberry.field(description="查看溯源: the loan this transaction is monitored under (null: not linked).")
    async def trace(self, info: Info) -> LoanTraceType | None:
        if self.loan_pk is None:
            return None
        loan = await _loan_loader(info).load(self.loan_pk)
        return LoanTraceType.of(loan) if loan else None

    @strawberry.field(description="Violations raised on this transaction (交易/异化类型), all statuses.")
    async def violations(self, info: Info) -> list[ViolationTagType]:
        rows = await _violations_loader(info).load(self.pk)
        return [ViolationTagType(violation_id=gid("Violation", v.id), kind=ViolationKind(v.kind),
                                 type_code=v.type_code, type_name=v.type_name, status=ViolationStatus(v.status))
                for v in rows]

    @strawberry.field(description="是否违规: a violation not dismissed exists on this transaction.")
    async def is_violation(self, info: Info) -> bool:
        rows = await _violations_loader(info).load(self.pk)
        return any(v.status is not ViolationStatus.DISMISSED for v in rows)


@strawberry.type(name="Violation", description="A flagged use of loan funds (F-MON-3/5), written to the ledger.")
class ViolationType:
    id: strawberry.ID
    kind: ViolationKindEnum  # type: ignore[valid-type]
    type_code: str = strawberry.field(description="Diversion type code (e.g. GS) or AML rule kind.")
    type_name: str
    order_no: str
    customer_no: str
    product_id: strawberry.ID
    amount: str = strawberry.field(description="The payment's amount.")
    loan_amount: str = strawberry.field(description="The loan-funded part of the payment.")
    loan_share: str = strawberry.field(description="Loan part ÷ loan principal, fraction with 6 places.")
    confidence: str | None
    detector: str
    reason: str
    status: ViolationStatusEnum  # type: ignore[valid-type]
    occurred_at: datetime = strawberry.field(description="The payment's time.")
    detected_at: datetime
    ledger_tx_hash: str = strawberry.field(description="Hash of the violation's ledger transaction.")
    handled_at: datetime | None
    handle_comment: str
    handled_by_id: strawberry.ID | None
    pk: strawberry.Private[int]
    transaction_pk: strawberry.Private[int | None]
    loan_pk: strawberry.Private[int | None]

    @classmethod
    def of(cls, v: Violation) -> ViolationType:
        handler: int | None = v.handled_by_id  # type: ignore[attr-defined]
        return cls(id=gid("Violation", v.id), kind=ViolationKind(v.kind), type_code=v.type_code,
                   type_name=v.type_name, order_no=v.order_no, customer_no=v.customer_no,
                   product_id=gid("Product", v.product_id),  # type: ignore[attr-defined]
                   amount=money(v.amount), loan_amount=money(v.loan_amount),
                   loan_share=str(Decimal(v.loan_share).quantize(Decimal("0.000001"))),
                   confidence=None if v.confidence is None else str(Decimal(v.confidence).quantize(Decimal("0.0001"))),
                   detector=v.detector, reason=v.reason, status=ViolationStatus(v.status), occurred_at=v.occurred_at,
                   detected_at=v.detected_at, ledger_tx_hash=v.ledger_hash, handled_at=v.handled_at,
                   handle_comment=v.handle_comment, handled_by_id=gid("User", handler) if handler else None,
                   pk=v.id, transaction_pk=v.transaction_id,  # type: ignore[attr-defined]
                   loan_pk=v.loan_id)  # type: ignore[attr-defined]

    @strawberry.field(description="The payment that was flagged (null for rules over several transactions).")
    async def transaction(self, info: Info) -> TransactionType | None:
        if self.transaction_pk is None:
            return None
        tx = await _transaction_loader(info).load(self.transaction_pk)
        return TransactionType.of(tx) if tx else None

    @strawberry.field(description="查看溯源: the loan whose funds were used (order no., loan id).")
    async def trace(self, info: Info) -> LoanTraceType | None:
        if self.loan_pk is None:
            return None
        loan = await _loan_loader(info).load(self.loan_pk)
        return LoanTraceType.of(loan) if loan else None
