"""GraphQL for the fund-control views (F-MON-5/6/7): transactions, the fund-flow chain, violations and
their totals, the offset-coefficient series, the blacklist / early-settlement query, Excel downloads
and confirming / dismissing a violation.

Every read passes the caller's scope to `core.monitoring.views` (SQL conditions); nested rows load
through the scoped dataloaders of `schema.monitoring_types`. Pages: transactions, violations,
settlement_query; actions violations.export and violations.handle. Times without an offset are read
in the business time zone. Decimals are strings.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from core.config import current_settings
from core.loans.customers import VIEW_IDENTITY, view
from core.loans.models import Customer, Repayment
from core.monitoring import export, settlement_query, views
from core.monitoring.export_models import ExportFile, ExportStatus
from core.monitoring.models import ViolationStatus
from core.monitoring.viewer import log_search
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.monitoring_types import (
    DirectionEnum,
    TransactionType,
    ViolationKindEnum,
    ViolationStatusEnum,
    ViolationType,
    loader,
    money,
)
from schema.relay import Connection, connection, decode, decode_optional, gid, paginate


def aware(at: datetime | None) -> datetime | None:
    """A time without an offset is business time (the SPA's date pickers send local times)."""
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=current_settings().tz)


# ---- inputs ----

@strawberry.input(name="AccountTransactionFilter",
                  description="Transactions: by default the last 7 business days; reset=true lists all. An explicit "
                  "since/until replaces the default window.")
class TransactionFilter:
    customer_no: str | None = None
    order_no: str | None = None
    direction: DirectionEnum | None = None  # type: ignore[valid-type]
    product_id: strawberry.ID | None = None
    since: datetime | None = None
    until: datetime | None = strawberry.field(default=None, description="Exclusive.")
    reset: bool = strawberry.field(default=False, description="重置: drop the default 7-day window.")


@strawberry.input(description="Violations: by default raised in the last 7 business days; reset=true lists all. The "
                  "window applies to detectedAt.")
class ViolationFilter:
    type_code: str | None = None
    kind: ViolationKindEnum | None = None  # type: ignore[valid-type]
    status: ViolationStatusEnum | None = None  # type: ignore[valid-type]
    customer_no: str | None = None
    order_no: str | None = None
    product_id: strawberry.ID | None = None
    since: datetime | None = None
    until: datetime | None = strawberry.field(default=None, description="Exclusive.")
    reset: bool = False


def _tx_filter(f: TransactionFilter | None) -> views.TransactionFilter:
    f = f or TransactionFilter()
    return views.TransactionFilter(
        customer_no=f.customer_no, order_no=f.order_no, direction=f.direction, since=aware(f.since),
        until=aware(f.until), reset=f.reset, product_id=decode_optional(f.product_id, "Product", "filter.productId"))


def violation_filter(f: ViolationFilter | None) -> views.ViolationFilter:
    f = f or ViolationFilter()
    return views.ViolationFilter(
        type_code=f.type_code, kind=f.kind, status=f.status, customer_no=f.customer_no, order_no=f.order_no,
        product_id=decode_optional(f.product_id, "Product", "filter.productId"), since=aware(f.since),
        until=aware(f.until), reset=f.reset)


@strawberry.enum(name="ViolationDecision", description="确认 confirm (a real violation) / 排除 dismiss (not one).")
class Decision(Enum):
    CONFIRM = "confirmed"
    DISMISS = "dismissed"


# ---- outputs ----

@strawberry.type(name="FundFlowStep", description="One link of the fund-flow chain (资金流水链).")
class ChainStepType:
    kind: str = strawberry.field(description="loan_funds 贷款资金 / incoming 进项资金 / diverted 异化资金 / "
                                 "repayment 还款 / spending 消费资金.")
    transaction: TransactionType
    amount: str = strawberry.field(description="Signed: + in, - out.")
    loan_part: str
    own_part: str
    balance: str = strawberry.field(description="Account balance after the step (the bank's figure when given).")
    loan_balance: str = strawberry.field(description="Unspent loan money in the chain after the step.")
    own_balance: str
    traced: bool = strawberry.field(description="False for an outflow not traced yet (loanPart shown as 0).")
    violation_types: list[str] = strawberry.field(description="异化类型 names of the step's open/confirmed violations.")


@strawberry.type(name="FundFlowChain")
class ChainType:
    customer_no: str
    start: datetime | None = strawberry.field(description="Where the chain starts (the disbursement, if any).")
    end: datetime | None
    starts_at_disbursement: bool
    opening_balance: str
    steps: list[ChainStepType]


@strawberry.type(name="ViolationTotals", description="截止目前: every violation so far within your data scope.")
class TotalsType:
    count: int = strawberry.field(description="Open and confirmed (dismissed ones are not violations).")
    amount: str
    loan_amount: str
    open_count: int
    confirmed_count: int
    dismissed_count: int


@strawberry.type(name="ViolationTypeAmount", description="各业务类型违规金额统计 of a violation query.")
class TypeAmountType:
    kind: ViolationKindEnum  # type: ignore[valid-type]
    type_code: str
    type_name: str
    count: int
    amount: str
    loan_amount: str


@strawberry.type(name="OffsetCoefficientPoint", description="资金用途异化偏移系数 of one day (cumulative).")
class OffsetPointType:
    day: date
    coefficient: str = strawberry.field(description="Diverted ÷ disbursed loan funds to date, 6 places.")
    diverted_to_date: str
    disbursed_to_date: str


@strawberry.type(name="EarlySettlement", description="提前结清: a repayment that settled the loan early.")
class EarlySettlementType:
    id: strawberry.ID
    loan_id: strawberry.ID
    order_no: str
    serial_no: str
    paid_at: datetime
    amount: str
    principal: str
    interest: str
    fee: str
    penalty: str
    deduction_channel: str


@strawberry.type(name="SettlementCustomer", description="A customer on the blacklist / early-settlement page.")
class SettlementCustomerType:
    id: strawberry.ID
    customer_no: str
    name: str = strawberry.field(description="Masked unless you hold loans.view_identity.")
    id_number: str
    phone: str
    is_blacklisted: bool
    pk: strawberry.Private[int]

    @strawberry.field(description="The customer's early settlements of products you may see, newest first.")
    async def early_settlements(self, info: Info) -> list[EarlySettlementType]:
        scope = info.context.scope

        async def load(keys: list[int]) -> list[list[Repayment]]:
            found = await settlement_query.settlements_by_customer(scope, keys)
            return [found.get(k, []) for k in keys]
        rows = await loader(info, "settlement_repayments", load).load(self.pk)
        return [EarlySettlementType(
            id=gid("Repayment", r.id), loan_id=gid("Loan", r.loan_id),  # type: ignore[attr-defined]
            order_no=r.loan.order_no, serial_no=r.serial_no, paid_at=r.paid_at, amount=money(r.amount),
            principal=money(r.principal), interest=money(r.interest), fee=money(r.fee), penalty=money(r.penalty),
            deduction_channel=r.deduction_channel) for r in rows]


@strawberry.type(name="SettlementTotals")
class SettlementTotalsType:
    blacklisted_customers: int
    early_settlements: int
    early_settlement_amount: str


@strawberry.type(name="BlacklistSettlementResult")
class BlacklistSettlementType:
    totals: SettlementTotalsType
    records: Connection[SettlementCustomerType]


@strawberry.type(name="ExportFile", description="A background Excel export; only its owner can see it.")
class ExportFileType:
    id: strawberry.ID
    status: str = strawberry.field(description="pending / ready / failed / expired.")
    file_name: str
    row_count: int | None
    error: str
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime
    content_type: str
    content_base64: str | None = strawberry.field(description="The file, when ready and not expired.")

    @classmethod
    def of(cls, row: ExportFile, with_content: bool = False) -> ExportFileType:
        expired = export.is_expired(row)
        status = "expired" if expired else ExportStatus(row.status).value
        content = None
        if with_content and status == ExportStatus.READY.value and row.content is not None:
            content = base64.b64encode(bytes(row.content)).decode()
        return cls(id=gid("ExportFile", row.id), status=status, file_name=row.file_name, row_count=row.row_count,
                   error=row.error, created_at=row.created_at, finished_at=row.finished_at,
                   expires_at=row.expires_at, content_type=export.XLSX_TYPE, content_base64=content)


@strawberry.type
class ExportPayload(Payload):
    row_count: int | None = None
    file_name: str | None = None
    content_type: str | None = None
    content_base64: str | None = strawberry.field(default=None, description="The file, for a small result.")
    export_file: ExportFileType | None = strawberry.field(
        default=None, description=f"For more than {export.INLINE_MAX_ROWS} rows: poll exportFile(id) until ready.")


@strawberry.type
class ViolationPayload(Payload):
    violation: ViolationType | None = None


def _chain(c: views.FundFlowChain) -> ChainType:
    return ChainType(customer_no=c.customer_no, start=c.since, end=c.until,
                     starts_at_disbursement=c.started_at_disbursement, opening_balance=money(c.opening_balance),
                     steps=[ChainStepType(kind=s.kind, transaction=TransactionType.of(s.transaction),
                                          amount=money(s.signed_amount), loan_part=money(s.loan_part),
                                          own_part=money(s.own_part), balance=money(s.balance),
                                          loan_balance=money(s.loan_balance), own_balance=money(s.own_balance),
                                          traced=s.traced, violation_types=list(s.violation_types))
                            for s in c.steps])


async def _settlement_customers(info: Info, rows: list[Customer]) -> dict[int, SettlementCustomerType]:
    flags = await settlement_query.blacklist_flags(rows)
    clear = actor_of(info).can(VIEW_IDENTITY)
    out = {}
    for c in rows:
        v = view(c, clear=clear)
        out[c.id] = SettlementCustomerType(id=gid("Customer", c.id), customer_no=v.customer_no, name=v.name,
                                           id_number=v.id_number, phone=v.phone, is_blacklisted=flags[c.id],
                                           pk=c.id)
    return out


@strawberry.type
class MonitoringViewsQuery:
    @guarded("transactions", description="全量交易: transactions within your data scope, newest first (default: "
             "the last 7 business days; filter.reset lists all).")
    async def account_transactions(self, info: Info, filter: TransactionFilter | None = None,
                                   first: int | None = None, after: str | None = None) -> Connection[TransactionType]:
        f = _tx_filter(filter)
        page = await paginate(views.transactions_query(info.context.scope, f), first, after)
        if f.customer_no:
            await log_search(actor_of(info), module=views.MODULE_TRANSACTIONS, action="accountTransactions",
                             customer_no=f.customer_no.strip(), criteria={
                                 "orderNo": f.order_no, "direction": f.direction.value if f.direction else None,
                                 "since": str(f.since or ""), "until": str(f.until or ""), "reset": f.reset},
                             found=page.total,
                             request_id=info.context.request_id)
        return connection(page, TransactionType.of)

    @guarded("transactions", description="资金流水链: a customer's transactions for a period, oldest first, starting "
             "at the loan disbursement, with running balance and loan/own composition.")
    async def fund_flow_chain(self, info: Info, customer_no: str,
                              from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
                              to: datetime | None = None, account_no: str | None = None) -> ChainType:
        chain = await views.fund_flow_chain(info.context.scope, customer_no, aware(from_), aware(to), account_no)
        await log_search(actor_of(info), module=views.MODULE_TRANSACTIONS, action="fundFlowChain",
                         customer_no=chain.customer_no, criteria={"from": str(from_ or ""), "to": str(to or ""),
                                                                  "accountNo": account_no or ""},
                         found=len(chain.steps), request_id=info.context.request_id)
        return _chain(chain)

    @guarded("violations", description="违规交易: violations within your data scope, newest first (default: raised "
             "in the last 7 business days; filter.reset lists all).")
    async def violations(self, info: Info, filter: ViolationFilter | None = None, first: int | None = None,
                         after: str | None = None) -> Connection[ViolationType]:
        f = violation_filter(filter)
        page = await paginate(views.violations_query(info.context.scope, f), first, after)
        if f.customer_no:
            await log_search(actor_of(info), module=views.MODULE_VIOLATIONS, action="violations",
                             customer_no=f.customer_no.strip(), criteria=f.to_json(), found=page.total,
                             request_id=info.context.request_id)
        return connection(page, ViolationType.of)

    @guarded("violations", description="One violation; another bank's answers null like a missing one.")
    async def violation(self, info: Info, id: strawberry.ID) -> ViolationType | None:
        row = await views.get_violation(info.context.scope, decode(id, "Violation", "id"))
        return ViolationType.of(row) if row else None

    @guarded("violations", "home", description="截止目前: totals of every violation so far within your data scope.")
    async def violation_totals(self, info: Info) -> TotalsType:
        t = await views.violation_totals(info.context.scope)
        return TotalsType(count=t.count, amount=money(t.amount), loan_amount=money(t.loan_amount),
                          open_count=t.open_count, confirmed_count=t.confirmed_count, dismissed_count=t.dismissed_count)

    @guarded("violations", description="各业务类型违规金额统计: amounts per type of the same query as violations.")
    async def violation_amounts_by_type(self, info: Info, filter: ViolationFilter | None = None
                                        ) -> list[TypeAmountType]:
        rows = await views.amounts_by_type(info.context.scope, violation_filter(filter))
        return [TypeAmountType(kind=r.kind, type_code=r.type_code, type_name=r.type_name, count=r.count,
                               amount=money(r.amount), loan_amount=money(r.loan_amount)) for r in rows]

    @guarded("violations", "home", description="资金用途异化偏移系数 per day (default: the last 30 days), for one "
             "product or every product you may see.")
    async def offset_coefficients(self, info: Info, product_id: strawberry.ID | None = None,
                                  from_: Annotated[date | None, strawberry.argument(name="from")] = None,
                                  to: date | None = None) -> list[OffsetPointType]:
        points = await views.offset_series(info.context.scope, decode_optional(product_id, "Product", "productId"),
                                           from_, to)
        return [OffsetPointType(day=p.day, coefficient=str(p.coefficient), diverted_to_date=money(p.diverted_to_date),
                                disbursed_to_date=money(p.disbursed_to_date)) for p in points]

    @guarded("settlement_query", description="黑名单/提前结清查询: totals to date and customers. Viewers must give "
             "one exact customer number (each search is logged).")
    async def blacklist_settlement_query(self, info: Info, customer_no: str | None = None, first: int | None = None,
                                         after: str | None = None) -> BlacklistSettlementType:
        actor = actor_of(info)
        qs = await settlement_query.records_query(actor, customer_no, info.context.request_id)
        page = await paginate(qs, first, after)
        converted = await _settlement_customers(info, page.rows)
        t = await settlement_query.totals(actor.scope)
        return BlacklistSettlementType(
            totals=SettlementTotalsType(blacklisted_customers=t.blacklisted_customers,
                                        early_settlements=t.early_settlements,
                                        early_settlement_amount=money(t.early_settlement_amount)),
            records=connection(page, lambda c: converted[c.id]))

    @guarded("violations.export", description="Your background export: status, and the file when ready.")
    async def export_file(self, info: Info, id: strawberry.ID) -> ExportFileType | None:
        row = await export.get_export(actor_of(info), decode(id, "ExportFile", "id"))
        return ExportFileType.of(row, with_content=True) if row else None


@strawberry.type
class MonitoringViewsMutation:
    @guarded_mutation("violations.export", description="下载表格: the violation query as Excel, with your data scope. "
                      f"Up to {export.INLINE_MAX_ROWS} rows inline; more through a background export.")
    async def export_violations(self, info: Info, filter: ViolationFilter | None = None) -> ExportPayload:
        result = await export.request_violation_export(actor_of(info), violation_filter(filter),
                                                       info.context.request_id)
        return ExportPayload(
            row_count=result.row_count, file_name=result.file_name, content_type=export.XLSX_TYPE,
            content_base64=base64.b64encode(result.content).decode() if result.content is not None else None,
            export_file=ExportFileType.of(result.export) if result.export is not None else None)

    @guarded_mutation("violations.handle", description="Confirm or dismiss an open violation (logged, and written "
                      "to the ledger). Dismissing needs a comment.")
    async def handle_violation(self, info: Info, id: strawberry.ID, decision: Decision,
                               comment: str | None = None) -> ViolationPayload:
        row = await views.handle_violation(actor_of(info), decode(id, "Violation", "id"),
                                           ViolationStatus(decision.value),
                                           comment, info.context.request_id)
        return ViolationPayload(violation=ViolationType.of(row))
