"""GraphQL for loan orders (F-LOAN-1, F-LOAN-2): the order list and detail, admission and cancel.

Every read passes the caller's data scope to `core.loans.queries`, which applies it in SQL. Rows
nested under an order (customer, product, channel, funders, state log, schedule, repayments,
payments) load through per-request dataloaders, one statement per kind whatever the page size, so a
page of 50 orders with product, banks and 36 installments each costs a constant number of SQL
statements. Each nested field is its own resolver: other parts add fields (contracts, agreements)
to `LoanGql` with one method each.

Identity: a customer is masked (张*三, 110105********123X, 138****5678) unless the caller holds
`loans.view_identity`; a clear view is a viewer read of customer data and is written to the
operation log, one entry per product per request (tagged with the product, so only callers who see
the product see the entry). Searching orders by a customer identifier is logged the same way.
Money is strawberry's `Decimal` scalar (a string on the wire).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from core.loans import admission, customers, queries
from core.loans.models import (
    InstallmentStatus,
    Loan,
    LoanStatus,
    PaymentKind,
    PaymentStatus,
    RepaymentKind,
    RepaymentSource,
)
from core.oplog import service as oplog
from core.orgs.models import AssistInstitution, Bank
from core.products.models import Product, TermUnitChoice
from permissions.scope import DataScope
from schema.dataloaders import request_loader
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.orgs import RepaymentMethodEnum
from schema.products import TermUnitEnum
from schema.relay import Connection, connection, decode, decode_optional, gid, paginate

if TYPE_CHECKING:
    from schema.contracts import ContractGql

LoanStatusEnum = strawberry.enum(LoanStatus, name="LoanStatus", description="Order states (F-LOAN-1).")
InstallmentStatusEnum = strawberry.enum(InstallmentStatus, name="InstallmentStatus")
PaymentKindEnum = strawberry.enum(PaymentKind, name="PaymentKind", description="放款 / 代扣 / 代偿.")
PaymentStatusEnum = strawberry.enum(PaymentStatus, name="PaymentStatus",
                                    description="UNKNOWN is resolved only by a status query.")
RepaymentSourceEnum = strawberry.enum(RepaymentSource, name="RepaymentSource")
RepaymentKindEnum = strawberry.enum(RepaymentKind, name="RepaymentKind")


def _loader(info: Info, name: str, load: Callable[[list[Any]], Awaitable[list[Any]]]) -> DataLoader[Any, Any]:
    return request_loader(info, "loans", name, load)


def _grouped(rows: list[Any], keys: list[int], convert: Callable[[Any], Any], attr: str = "loan_id"
             ) -> list[list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        out[getattr(r, attr)].append(convert(r))
    return [out.get(k, []) for k in keys]


def _by_id(rows: list[Any], keys: list[Hashable], convert: Callable[[Any], Any]) -> list[Any]:
    found = {r.id: convert(r) for r in rows}
    return [found.get(k) for k in keys]


def _scope(info: Info) -> DataScope:
    return info.context.scope


# ---- nested types ----

@strawberry.type(name="LoanCustomer", description="The borrower; masked unless you hold loans.view_identity.")
class CustomerGql:
    id: strawberry.ID
    customer_no: str
    name: str
    id_number: str
    phone: str
    masked: bool

    @classmethod
    def of(cls, v: customers.CustomerView) -> CustomerGql:
        return cls(id=gid("Customer", v.id), customer_no=v.customer_no, name=v.name, id_number=v.id_number,
                   phone=v.phone, masked=v.masked)


@strawberry.type(name="LoanProduct", description="The product an order was admitted on.")
class LoanProductGql:
    id: strawberry.ID
    code: str
    name: str


@strawberry.type(name="LoanChannel", description="The traffic platform (lending-assist institution) of an order.")
class LoanChannelGql:
    id: strawberry.ID
    name: str
    number: str


@strawberry.type(name="LoanFunderBank")
class LoanBankGql:
    id: strawberry.ID
    code: str
    short_name: str


@strawberry.type(name="LoanFunder", description="A funder's share of the order; amounts sum exactly to the loan.")
class LoanFunderGql:
    bank: LoanBankGql
    share: Decimal = strawberry.field(description="Percent (70.0000).")
    amount: Decimal
    position: int = strawberry.field(description="0 is the lead funder, who takes the rounding cent.")


@strawberry.type(name="LoanInstallmentFunderPart",
                 description="A funder's part of one installment (joint lending: parts sum exactly to the "
                             "installment; a sole funder holds each installment whole).")
class InstallmentPartGql:
    number: int = strawberry.field(description="The installment's number.")
    bank: LoanBankGql
    principal: Decimal
    interest: Decimal


@strawberry.type(name="LoanEvent", description="One state change: from, to, who and why.")
class LoanEventGql:
    id: strawberry.ID
    from_status: LoanStatusEnum | None  # type: ignore[valid-type]
    to_status: LoanStatusEnum  # type: ignore[valid-type]
    actor_label: str
    reason: str
    created_at: datetime


@strawberry.type(name="LoanInstallment", description="One period of the repayment schedule with what was paid.")
class InstallmentGql:
    id: strawberry.ID
    number: int
    start_date: date
    due_date: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    paid_principal: Decimal
    paid_interest: Decimal
    paid_fee: Decimal
    paid_penalty: Decimal
    waived_interest: Decimal
    status: InstallmentStatusEnum  # type: ignore[valid-type]
    overdue_since: date | None
    settled_at: datetime | None


@strawberry.type(name="LoanRepayment", description="A repayment received on the order (前端还款记录).")
class RepaymentGql:
    id: strawberry.ID
    serial_no: str
    source: RepaymentSourceEnum  # type: ignore[valid-type]
    kind: RepaymentKindEnum  # type: ignore[valid-type]
    deduction_channel: str
    paid_at: datetime
    business_date: date
    amount: Decimal
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    leftover: Decimal
    margin_released: Decimal


@strawberry.type(name="LoanPayment", description="A money-moving instruction sent to the payment provider.")
class PaymentGql:
    id: strawberry.ID
    kind: PaymentKindEnum  # type: ignore[valid-type]
    provider: str
    amount: Decimal
    status: PaymentStatusEnum  # type: ignore[valid-type]
    provider_reference: str
    serial_no: str | None
    failure_reason: str
    attempts: int
    business_date: date
    requested_at: datetime
    settled_at: datetime | None


INSTALLMENT_COLUMNS = ("id", "number", "start_date", "due_date", "principal", "interest", "fee", "penalty",
                       "paid_principal", "paid_interest", "paid_fee", "paid_penalty", "waived_interest", "status",
                       "overdue_since", "settled_at")


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _term_unit(value: str) -> TermUnitChoice:
    return TermUnitChoice(value.lower())


@strawberry.type(name="Loan", description="A loan order through its whole life (借款订单).")
class LoanGql:
    id: strawberry.ID
    order_no: str
    channel_order_no: str
    status: LoanStatusEnum  # type: ignore[valid-type]
    amount: Decimal
    term: int
    term_unit: TermUnitEnum  # type: ignore[valid-type]
    repayment_method: RepaymentMethodEnum  # type: ignore[valid-type]
    allocation_strategy: str
    lpr_term: str
    spread_bp: int = strawberry.field(description="Loan rate = LPR + spread, basis points.")
    lpr_rate: Decimal | None = strawberry.field(description="LPR in force at disbursement, percent per year.")
    annual_rate: Decimal | None = strawberry.field(description="Fixed at disbursement, a fraction (0.0435).")
    deduction_event_key: str
    payment_provider: str
    risk_outcome: str
    risk_score: Decimal | None
    risk_quota: Decimal | None
    reject_reason: str
    applied_at: datetime
    approved_at: datetime | None
    signed_at: datetime | None
    disbursed_at: datetime | None
    disbursement_date: date | None
    maturity_date: date | None
    settled_at: datetime | None
    principal_outstanding: Decimal
    version: int
    pk: strawberry.Private[int]
    customer_pk: strawberry.Private[int]
    product_pk: strawberry.Private[int]
    channel_pk: strawberry.Private[int]

    @classmethod
    def of(cls, x: Loan) -> LoanGql:
        d: dict[str, Any] = x.__dict__
        return cls(
            id=gid("Loan", x.id), order_no=x.order_no, channel_order_no=x.channel_order_no, status=LoanStatus(x.status),
            amount=Decimal(x.amount), term=x.term, term_unit=_term_unit(x.term_unit),
            repayment_method=x.repayment_method, allocation_strategy=x.allocation_strategy, lpr_term=x.lpr_term,
            spread_bp=x.spread_bp, lpr_rate=_money(x.lpr_rate), annual_rate=_money(x.annual_rate),
            deduction_event_key=x.deduction_event_key, payment_provider=x.payment_provider,
            risk_outcome=x.risk_outcome, risk_score=_money(x.risk_score), risk_quota=_money(x.risk_quota),
            reject_reason=x.reject_reason, applied_at=x.applied_at, approved_at=x.approved_at,
            signed_at=x.signed_at, disbursed_at=x.disbursed_at, disbursement_date=x.disbursement_date,
            maturity_date=x.maturity_date, settled_at=x.settled_at,
            principal_outstanding=Decimal(x.principal_outstanding), version=x.version, pk=x.id,
            customer_pk=d["customer_id"], product_pk=d["product_id"], channel_pk=d["channel_id"])

    @strawberry.field(description="The borrower (masked unless you hold loans.view_identity).")
    async def customer(self, info: Info) -> CustomerGql | None:
        scope = _scope(info)
        clear = actor_of(info).can(customers.VIEW_IDENTITY)

        async def load(keys: list[int]) -> list[Any]:
            return _by_id(await queries.customers_query(scope, keys), keys, lambda c: c)

        row = await _loader(info, "loan_customers", load).load(self.customer_pk)
        if row is None:
            return None
        if clear:
            await _identity_views(info).load((self.product_pk, row.customer_no))
        return CustomerGql.of(customers.view(row, clear=clear))

    @strawberry.field
    async def product(self, info: Info) -> LoanProductGql | None:
        scope = _scope(info)

        async def load(keys: list[int]) -> list[Any]:
            rows = await Product.filter(scope.products("id"), id__in=keys).only("id", "code", "name")
            return _by_id(rows, keys, lambda p: LoanProductGql(id=gid("Product", p.id), code=p.code, name=p.name))

        return await _loader(info, "loan_products", load).load(self.product_pk)

    @strawberry.field(description="The traffic platform that sent the order.")
    async def channel(self, info: Info) -> LoanChannelGql | None:
        async def load(keys: list[int]) -> list[Any]:
            rows = await AssistInstitution.filter(id__in=keys).only("id", "name", "number")
            return _by_id(rows, keys, lambda c: LoanChannelGql(id=gid("AssistInstitution", c.id), name=c.name,
                                                                number=c.number))

        return await _loader(info, "loan_channels", load).load(self.channel_pk)

    @strawberry.field(description="Funders and their shares, lead funder first.")
    async def funders(self, info: Info) -> list[LoanFunderGql]:
        scope = _scope(info)

        async def load(keys: list[int]) -> list[list[LoanFunderGql]]:
            rows = await queries.funders_query(scope, keys)
            return _grouped(rows, keys, lambda f: LoanFunderGql(
                bank=LoanBankGql(id=gid("Bank", f.bank.id), code=f.bank.code, short_name=f.bank.short_name),
                share=Decimal(f.share), amount=Decimal(f.amount), position=f.position))

        return await _loader(info, "loan_funders", load).load(self.pk)

    @strawberry.field(description="The state log, oldest first.")
    async def events(self, info: Info) -> list[LoanEventGql]:
        scope = _scope(info)

        async def load(keys: list[int]) -> list[list[LoanEventGql]]:
            rows = await queries.events_query(scope, keys)
            return _grouped(rows, keys, lambda e: LoanEventGql(
                id=gid("LoanEvent", e.id), from_status=LoanStatus(e.from_status) if e.from_status else None,
                to_status=LoanStatus(e.to_status), actor_label=e.actor_label, reason=e.reason,
                created_at=e.created_at))

        return await _loader(info, "loan_events", load).load(self.pk)

    @strawberry.field(description="Each funder's part of every installment (the schedule split among the "
                                  "funders), by installment, lead funder first.")
    async def installment_funder_parts(self, info: Info) -> list[InstallmentPartGql]:
        scope = _scope(info)

        async def load(keys: list[int]) -> list[list[InstallmentPartGql]]:
            parts = await queries.installment_parts(scope, keys)
            banks = {b.id: LoanBankGql(id=gid("Bank", b.id), code=b.code, short_name=b.short_name)
                     for b in await Bank.filter(id__in={p.bank_id for p in parts}).only("id", "code", "short_name")}
            return _grouped(parts, keys, lambda p: InstallmentPartGql(
                number=p.number, bank=banks[p.bank_id], principal=p.principal, interest=p.interest))

        return await _loader(info, "loan_installment_parts", load).load(self.pk)

    @strawberry.field(description="The repayment schedule (还款计划), by period.")
    async def installments(self, info: Info) -> list[InstallmentGql]:
        scope = _scope(info)

        async def load(keys: list[int]) -> list[list[InstallmentGql]]:
            # plain rows, not model instances: a page of 50 loans carries 1,800 of them
            rows = await queries.installments_query(scope, keys).values("loan_id", *INSTALLMENT_COLUMNS)
            out: dict[int, list[InstallmentGql]] = defaultdict(list)
            for r in rows:
                loan_id = r.pop("loan_id")
                r["id"] = gid("LoanInstallment", r["id"])
                r["status"] = InstallmentStatus(r["status"])
                out[loan_id].append(InstallmentGql(**r))
            return [out.get(k, []) for k in keys]

        return await _loader(info, "loan_installments", load).load(self.pk)

    @strawberry.field(description="Repayments received, oldest first.")
    async def repayments(self, info: Info) -> list[RepaymentGql]:
        scope = _scope(info)

        async def load(keys: list[int]) -> list[list[RepaymentGql]]:
            rows = await queries.repayments_query(scope, keys)
            return _grouped(rows, keys, lambda r: RepaymentGql(
                id=gid("Repayment", r.id), serial_no=r.serial_no, source=RepaymentSource(r.source),
                kind=RepaymentKind(r.kind), deduction_channel=r.deduction_channel, paid_at=r.paid_at,
                business_date=r.business_date, amount=Decimal(r.amount), principal=Decimal(r.principal),
                interest=Decimal(r.interest), fee=Decimal(r.fee), penalty=Decimal(r.penalty),
                leftover=Decimal(r.leftover), margin_released=Decimal(r.margin_released)))

        return await _loader(info, "loan_repayments", load).load(self.pk)

    @strawberry.field(description="Payment instructions (disbursement, deductions, compensation), oldest first.")
    async def payments(self, info: Info) -> list[PaymentGql]:
        scope = _scope(info)

        async def load(keys: list[int]) -> list[list[PaymentGql]]:
            rows = await queries.payments_query(scope, keys)
            return _grouped(rows, keys, lambda p: PaymentGql(
                id=gid("Payment", p.id), kind=PaymentKind(p.kind), provider=p.provider, amount=Decimal(p.amount),
                status=PaymentStatus(p.status), provider_reference=p.provider_reference, serial_no=p.serial_no,
                failure_reason=p.failure_reason, attempts=p.attempts, business_date=p.business_date,
                requested_at=p.requested_at, settled_at=p.settled_at))

        return await _loader(info, "loan_payments", load).load(self.pk)

    @strawberry.field(description="The contracts signed for the order (text, SHA-256, ledger transaction hash).")
    async def contracts(self, info: Info) -> list[Annotated[ContractGql, strawberry.lazy("schema.contracts")]]:
        from schema.contracts import load_contracts

        return await load_contracts(info, self.pk)  # type: ignore[return-value]


def _identity_views(info: Info) -> DataLoader[tuple[int, str], None]:
    """Collects the customers shown in clear in this request; logs them once per product."""
    ctx = info.context
    actor = actor_of(info)

    async def load(keys: list[tuple[int, str]]) -> list[None]:
        by_product: dict[int, list[str]] = defaultdict(list)
        for product_id, customer_no in keys:
            if customer_no not in by_product[product_id]:
                by_product[product_id].append(customer_no)
        for product_id, nos in sorted(by_product.items()):
            await oplog.record(actor, kind=actor.kind(reading=True), module="loan_orders", action="view_identity",
                               summary=f"viewed the identity of {len(nos)} customer(s) in clear",
                               detail={"customerNos": nos, "field": info.field_name}, request_id=ctx.request_id,
                               scope_product_id=product_id)
        return [None for _ in keys]

    return _loader(info, "loan_identity_views", load)


# ---- queries ----

@strawberry.input(description="All given conditions must hold; customer identifiers are exact matches.")
class LoanFilterInput:
    channel_id: strawberry.ID | None = strawberry.field(default=None, description="Traffic platform")
    bank_id: strawberry.ID | None = strawberry.field(default=None, description="A funder of the order")
    statuses: list[LoanStatusEnum] | None = None  # type: ignore[valid-type]
    disbursed_from: date | None = strawberry.field(default=None, description="Disbursement date, inclusive")
    disbursed_to: date | None = strawberry.field(default=None, description="Disbursement date, inclusive")
    product_id: strawberry.ID | None = None
    customer_no: str | None = None
    id_number: str | None = None
    phone: str | None = None
    name: str | None = None
    order_no: str | None = None
    channel_order_no: str | None = None


def _filter(f: LoanFilterInput | None) -> queries.LoanFilter:
    f = f or LoanFilterInput()
    out = queries.LoanFilter(
        channel_id=decode_optional(f.channel_id, "AssistInstitution", "filter.channelId"),
        bank_id=decode_optional(f.bank_id, "Bank", "filter.bankId"),
        statuses=tuple(LoanStatus(s.value if hasattr(s, "value") else s) for s in f.statuses or ()),
        disbursed_from=f.disbursed_from, disbursed_to=f.disbursed_to,
        product_id=decode_optional(f.product_id, "Product", "filter.productId"),
        customer_no=f.customer_no, id_number=f.id_number, phone=f.phone, name=f.name, order_no=f.order_no,
        channel_order_no=f.channel_order_no)
    queries.check_filter(out)
    return out


async def _log_identity_search(info: Info, f: queries.LoanFilter, found: int) -> None:
    """A search by a person's identifiers is a viewer read of customer data (F-MON-7)."""
    actor = actor_of(info)
    await oplog.record(actor, kind=actor.kind(reading=True), module="loan_orders", action="search_customer",
                       summary=f"searched orders by customer identifiers ({found} found)",
                       detail={"customerNo": f.customer_no or None,
                               "idNumber": customers.mask_id_number(f.id_number) if f.id_number else None,
                               "phone": customers.mask_phone(f.phone) if f.phone else None,
                               "name": customers.mask_name(f.name) if f.name else None},
                       request_id=info.context.request_id)


@strawberry.type
class LoansQuery:
    @guarded("loan_orders", description="Orders within your data permission, newest first (filters: channel, "
             "funder, status, disbursement dates, product, customer identifiers, order numbers).")
    async def loans(self, info: Info, filter: LoanFilterInput | None = None, first: int | None = None,
                    after: str | None = None) -> Connection[LoanGql]:
        f = _filter(filter)
        page = await paginate(queries.loans_query(_scope(info), f), first, after)
        if f.by_identity:
            await _log_identity_search(info, f, page.total)
        return connection(page, LoanGql.of)

    @guarded("loan_orders", description="One order; another bank's order answers null like a missing one.")
    async def loan(self, info: Info, id: strawberry.ID) -> LoanGql | None:
        row = await queries.get_loan(_scope(info), decode(id, "Loan", "id"))
        return LoanGql.of(row) if row else None

    @guarded("loan_orders", description="One order by the platform's order number (null if missing or not yours).")
    async def loan_by_order_no(self, info: Info, order_no: str) -> LoanGql | None:
        row = await queries.get_loan_by_order_no(_scope(info), order_no)
        return LoanGql.of(row) if row else None


# ---- mutations ----

@strawberry.input(description="An application from a traffic platform. Repeating it with the same idempotencyKey "
                  "returns the same order; the same key with different content is a CONFLICT.")
class LoanApplicationInput:
    idempotency_key: str = strawberry.field(description="Unique per traffic platform, ≤100 of A-Z a-z 0-9 _ . : -")
    channel_id: strawberry.ID = strawberry.field(description="The traffic platform (AssistInstitution)")
    channel_order_no: str = strawberry.field(description="The platform's own order number, unique per platform")
    product_id: strawberry.ID
    name: str
    id_number: str = strawberry.field(description="18-character resident ID number")
    phone: str = strawberry.field(description="Mainland mobile number")
    amount: str = strawberry.field(description="Decimal string in whole cents, e.g. \"50000.00\"")
    term: int
    term_unit: TermUnitEnum  # type: ignore[valid-type]
    disbursement_account: str | None = strawberry.field(default=None, description="Borrower's receiving account")


@strawberry.type
class LoanPayload(Payload):
    loan: LoanGql | None = None


@strawberry.type
class LoansMutation:
    @guarded_mutation("loans.apply", description="Submit a loan application (进件): admission checks product, "
                      "channel, amount, term, blacklist, console switch, today's plan quota and, when the product's "
                      "risk event is on, the risk scene. Refusals name the input field.",
                      sensitive=("input",))
    async def submit_loan_application(self, info: Info, input: LoanApplicationInput) -> LoanPayload:
        app = admission.Application(
            idempotency_key=input.idempotency_key,
            channel_id=decode(input.channel_id, "AssistInstitution", "channelId"),
            channel_order_no=input.channel_order_no, product_id=decode(input.product_id, "Product", "productId"),
            name=input.name, id_number=input.id_number, phone=input.phone, amount=input.amount, term=input.term,
            term_unit=input.term_unit.value if hasattr(input.term_unit, "value") else input.term_unit,
            disbursement_account=input.disbursement_account)
        loan = await admission.submit_application(actor_of(info), app, request_id=info.context.request_id)
        return LoanPayload(loan=LoanGql.of(loan))

    @guarded_mutation("loans.cancel", description="Cancel an order not yet disbursing; its plan quota is given back.")
    async def cancel_loan(self, info: Info, id: strawberry.ID, reason: str) -> LoanPayload:
        loan = await admission.cancel_order(actor_of(info), decode(id, "Loan", "id"), reason,
                                            request_id=info.context.request_id)
        return LoanPayload(loan=LoanGql.of(loan))
