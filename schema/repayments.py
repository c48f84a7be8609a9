"""GraphQL for repayments (还款管理, F-LOAN-4): the repayment records list, early-settlement quotes,
deductions through the provider, manual records, early settlement and compensation.

Resolvers are thin: decode ids, call one `core.loans` service with the caller (whose data scope the
services apply in SQL), map rows to types. Nested product / channel / order number / funder parts go
through per-request dataloaders with the same scope, so a page costs a constant number of queries.
Money travels as strings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from core.errors import ErrorCode, ErrorCollector, UserError
from core.loans import compensation, deduction
from core.loans import repayment as service
from core.loans.allocation import SettlementPosition
from core.loans.models import (
    InstallmentStatus,
    Loan,
    LoanInstallment,
    Payment,
    PaymentKind,
    PaymentStatus,
    Repayment,
    RepaymentFunderPart,
    RepaymentKind,
    RepaymentSource,
)
from core.loans.queries import PlanFilter, check_plan_filter, repayment_plan_query
from core.orgs.models import AssistInstitution, Bank
from core.products.models import Product
from permissions.scope import DataScope
from schema.dataloaders import request_loader
from schema.errors import Payload, UserErrorType
from schema.guard import actor_of, guarded, guarded_mutation
from schema.loans import (
    InstallmentGql,
    InstallmentStatusEnum,
    LoanBankGql,
    LoanChannelGql,
    LoanProductGql,
    PaymentGql,
    RepaymentGql,
    RepaymentKindEnum,
    RepaymentSourceEnum,
)
from schema.relay import Connection, connection, decode, decode_optional, gid, paginate

SettlementPositionEnum = strawberry.enum(SettlementPosition, name="SettlementPosition",
                                         description="PAST_DUE owed in full, CURRENT interest to date, FUTURE "
                                                     "principal only.")


def _scope(info: Info) -> DataScope:
    return info.context.scope


def _loader(info: Info, name: str, load: Callable[[list[Any]], Awaitable[list[Any]]]) -> DataLoader[Any, Any]:
    return request_loader(info, "repayments", name, load)


async def _product(info: Info, product_id: int) -> LoanProductGql | None:
    """A product by id through the request's loader (one statement per request), inside the scope."""
    scope = _scope(info)

    async def load(keys: list[int]) -> list[LoanProductGql | None]:
        rows = {p.id: p for p in await Product.filter(scope.products("id"), id__in=keys).only("id", "code", "name")}
        return [LoanProductGql(id=gid("Product", k), code=rows[k].code, name=rows[k].name) if k in rows else None
                for k in keys]

    return await _loader(info, "product", load).load(product_id)


@strawberry.type(name="RepaymentFunderPart", description="A funder's part of a repayment (joint lending).")
class FunderPartGql:
    bank: LoanBankGql
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal


@strawberry.type(name="RepaymentRecord", description="A repayment received (前端还款记录): time, channel, traffic "
                                                     "platform, product, components, serial number.")
class RepaymentRecordGql(RepaymentGql):
    loan_id: strawberry.ID
    pk: strawberry.Private[int]
    loan_pk: strawberry.Private[int]
    product_pk: strawberry.Private[int]
    channel_pk: strawberry.Private[int]

    @classmethod
    def of(cls, r: Repayment) -> RepaymentRecordGql:
        return cls(id=gid("Repayment", r.id), loan_id=gid("Loan", r.loan_id),  # type: ignore[attr-defined]
                   serial_no=r.serial_no, source=RepaymentSource(r.source), kind=RepaymentKind(r.kind),
                   deduction_channel=r.deduction_channel, paid_at=r.paid_at, business_date=r.business_date,
                   amount=r.amount, principal=r.principal, interest=r.interest, fee=r.fee, penalty=r.penalty,
                   leftover=r.leftover, margin_released=r.margin_released, pk=r.id,
                   loan_pk=r.loan_id, product_pk=r.product_id, channel_pk=r.channel_id)  # type: ignore[attr-defined]

    @strawberry.field(description="The order number of the loan repaid.")
    async def order_no(self, info: Info) -> str | None:
        scope = _scope(info)

        async def load(keys: list[int]) -> list[str | None]:
            rows = dict(await Loan.filter(scope.products("product_id"), id__in=keys).values_list("id", "order_no"))
            return [rows.get(k) for k in keys]

        return await _loader(info, "order_no", load).load(self.loan_pk)

    @strawberry.field
    async def product(self, info: Info) -> LoanProductGql | None:
        return await _product(info, self.product_pk)

    @strawberry.field(description="The traffic platform (lending-assist institution) of the loan.")
    async def traffic_platform(self, info: Info) -> LoanChannelGql | None:
        async def load(keys: list[int]) -> list[LoanChannelGql | None]:
            rows = {c.id: c for c in await AssistInstitution.filter(id__in=keys).only("id", "name", "number")}
            return [LoanChannelGql(id=gid("AssistInstitution", k), name=rows[k].name, number=rows[k].number)
                    if k in rows else None for k in keys]

        return await _loader(info, "channel", load).load(self.channel_pk)

    @strawberry.field(description="Each funder's part (banks within your data scope), lead funder first.")
    async def funder_parts(self, info: Info) -> list[FunderPartGql]:
        scope = _scope(info)

        async def load(keys: list[int]) -> list[list[FunderPartGql]]:
            parts = await RepaymentFunderPart.filter(scope.banks("bank_id"), repayment_id__in=keys).order_by("id")
            banks = {b.id: b for b in await Bank.filter(id__in={p.bank_id for p in parts}).only(  # type: ignore[attr-defined]
                "id", "code", "short_name")}
            grouped: dict[int, list[FunderPartGql]] = defaultdict(list)
            for p in parts:
                b = banks[p.bank_id]  # type: ignore[attr-defined]
                grouped[p.repayment_id].append(FunderPartGql(  # type: ignore[attr-defined]
                    bank=LoanBankGql(id=gid("Bank", b.id), code=b.code, short_name=b.short_name),
                    principal=p.principal, interest=p.interest, fee=p.fee, penalty=p.penalty))
            return [grouped.get(k, []) for k in keys]

        return await _loader(info, "parts", load).load(self.pk)


def payment_gql(p: Payment) -> PaymentGql:
    return PaymentGql(id=gid("Payment", p.id), kind=PaymentKind(p.kind), provider=p.provider, amount=p.amount,
                      status=PaymentStatus(p.status), provider_reference=p.provider_reference, serial_no=p.serial_no,
                      failure_reason=p.failure_reason, attempts=p.attempts, business_date=p.business_date,
                      requested_at=p.requested_at, settled_at=p.settled_at)


@strawberry.type(name="EarlySettlementLine", description="What settling charges and waives on one installment.")
class SettlementLineGql:
    number: int
    due_date: date
    position: SettlementPositionEnum  # type: ignore[valid-type]
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    waived_interest: Decimal
    waived_fee: Decimal


@strawberry.type(name="EarlySettlementQuote", description="提前结清试算: interest to the settlement date only.")
class SettlementQuoteGql:
    loan_id: strawberry.ID
    order_no: str
    settle_date: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    total: Decimal
    waived_interest: Decimal
    waived_fee: Decimal
    current_installment: int | None
    settled_installments: list[int]
    lines: list[SettlementLineGql]


@strawberry.type(name="RepaymentPlanLine", description="One installment of a disbursed order with its order "
                                                       "(银行还款计划); settled-early installments show as settled.")
class RepaymentPlanLineGql(InstallmentGql):
    loan_id: strawberry.ID
    order_no: str
    channel_order_no: str = strawberry.field(description="The traffic platform's (merchant's) order number.")
    disbursement_date: date | None
    maturity_date: date | None
    settled: bool = strawberry.field(description="Nothing is owed on it any more (paid, settled early, compensated).")
    product_pk: strawberry.Private[int]

    @classmethod
    def of(cls, i: LoanInstallment) -> RepaymentPlanLineGql:
        loan = i.loan
        status = InstallmentStatus(i.status)
        return cls(id=gid("LoanInstallment", i.id), loan_id=gid("Loan", loan.id), order_no=loan.order_no,
                   channel_order_no=loan.channel_order_no, disbursement_date=loan.disbursement_date,
                   maturity_date=loan.maturity_date, number=i.number, start_date=i.start_date, due_date=i.due_date,
                   principal=i.principal, interest=i.interest, fee=i.fee, penalty=i.penalty,
                   paid_principal=i.paid_principal, paid_interest=i.paid_interest, paid_fee=i.paid_fee,
                   paid_penalty=i.paid_penalty, waived_interest=i.waived_interest, status=status,
                   settled=status not in service.OPEN, overdue_since=i.overdue_since, settled_at=i.settled_at,
                   product_pk=loan.product_id)  # type: ignore[attr-defined]

    @strawberry.field
    async def product(self, info: Info) -> LoanProductGql | None:
        return await _product(info, self.product_pk)


@strawberry.input(description="All given conditions must hold (银行还款计划 search).")
class RepaymentPlanFilterInput:
    product_id: strawberry.ID | None = None
    bank_id: strawberry.ID | None = strawberry.field(default=None, description="A funder of the order (project).")
    disbursed_from: date | None = strawberry.field(default=None, description="Disbursement date, inclusive")
    disbursed_to: date | None = None
    maturity_from: date | None = strawberry.field(default=None, description="The order's end date, inclusive")
    maturity_to: date | None = None
    due_from: date | None = strawberry.field(default=None, description="The installment's due date, inclusive")
    due_to: date | None = None
    order_no: str | None = None
    channel_order_no: str | None = None
    statuses: list[InstallmentStatusEnum] | None = None  # type: ignore[valid-type]


@strawberry.input(description="All given conditions must hold.")
class RepaymentFilterInput:
    loan_id: strawberry.ID | None = None
    order_no: str | None = None
    product_id: strawberry.ID | None = None
    traffic_platform_id: strawberry.ID | None = None
    source: RepaymentSourceEnum | None = None  # type: ignore[valid-type]
    kind: RepaymentKindEnum | None = None  # type: ignore[valid-type]
    serial_no: str | None = None
    date_from: date | None = None
    date_to: date | None = None


@strawberry.type
class RepaymentsQuery:
    @guarded("repayments", description="Repayment records within your data permission, newest first.")
    async def repayments(self, info: Info, filter: RepaymentFilterInput | None = None, first: int | None = None,
                         after: str | None = None) -> Connection[RepaymentRecordGql]:
        f = filter or RepaymentFilterInput()
        if f.date_from and f.date_to and f.date_to < f.date_from:
            raise UserError.of("filter.dateTo", ErrorCode.OUT_OF_RANGE, "dateTo must not be before dateFrom")
        qs = service.repayments_query(
            _scope(info), loan_id=decode_optional(f.loan_id, "Loan", "filter.loanId"),
            product_id=decode_optional(f.product_id, "Product", "filter.productId"),
            channel_id=decode_optional(f.traffic_platform_id, "AssistInstitution", "filter.trafficPlatformId"),
            source=RepaymentSource(f.source) if f.source else None, kind=RepaymentKind(f.kind) if f.kind else None,
            serial_no=f.serial_no, date_from=f.date_from, date_to=f.date_to, order_no=f.order_no)
        return connection(await paginate(qs, first, after), RepaymentRecordGql.of)

    @guarded("repayments", description="The bank repayment plan (银行还款计划): installments of the orders within "
             "your data permission, newest order first, filtered by product, funder, disbursement and end dates, "
             "due dates, order numbers and repayment status.")
    async def repayment_plans(self, info: Info, filter: RepaymentPlanFilterInput | None = None,
                              first: int | None = None, after: str | None = None) -> Connection[RepaymentPlanLineGql]:
        f = filter or RepaymentPlanFilterInput()
        plan = PlanFilter(
            product_id=decode_optional(f.product_id, "Product", "filter.productId"),
            bank_id=decode_optional(f.bank_id, "Bank", "filter.bankId"),
            disbursed_from=f.disbursed_from, disbursed_to=f.disbursed_to, maturity_from=f.maturity_from,
            maturity_to=f.maturity_to, due_from=f.due_from, due_to=f.due_to, order_no=f.order_no,
            channel_order_no=f.channel_order_no,
            statuses=tuple(InstallmentStatus(getattr(s, "value", s)) for s in f.statuses or ()))
        check_plan_filter(plan)
        page = await paginate(repayment_plan_query(_scope(info), plan), first, after, "loan")
        return connection(page, RepaymentPlanLineGql.of)

    @guarded("repayments", "settlement_query", description="What settling the loan early on `date` (default today) "
                                                             "costs; nothing is changed.")
    async def early_settlement_quote(self, info: Info, loan_id: strawberry.ID,
                                     date: date | None = None) -> SettlementQuoteGql:
        loan, q = await service.quote_early_settlement(_scope(info), decode(loan_id, "Loan", "loanId"), date)
        return SettlementQuoteGql(
            loan_id=gid("Loan", loan.id), order_no=loan.order_no, settle_date=q.settle_date, principal=q.principal,
            interest=q.interest, fee=q.fee, penalty=q.penalty, total=q.total, waived_interest=q.waived_interest,
            waived_fee=q.waived_fee, current_installment=q.current_installment,
            settled_installments=list(q.settled_installments),
            lines=[SettlementLineGql(number=ln.number, due_date=ln.due_date, position=ln.position,
                                     principal=ln.principal, interest=ln.interest, fee=ln.fee, penalty=ln.penalty,
                                     waived_interest=ln.waived_interest, waived_fee=ln.waived_fee)
                   for ln in q.lines])


@strawberry.type
class RepaymentPayload(Payload):
    repayment: RepaymentRecordGql | None = None


@strawberry.type
class DeductionPayload(Payload):
    payment: PaymentGql | None = None
    repayment: RepaymentRecordGql | None = None


@strawberry.input(description="Money received offline (登记还款); the serial number makes a repeat harmless.")
class RecordRepaymentInput:
    loan_id: strawberry.ID
    amount: Decimal
    serial_no: str
    paid_at: datetime | None = None


@strawberry.input(description="One line of a repayment file (还款明细): money received on a loan under its serial.")
class RepaymentLineInput:
    loan_id: strawberry.ID
    amount: Decimal
    serial_no: str
    paid_at: datetime | None = None
    channel: str = strawberry.field(default="offline", description="How the money came (provider, bank transfer…).")


@strawberry.type(name="RepaymentLineResult", description="What became of one line: posted, a repeat of a line "
                                                         "posted before (replayed), or refused (errors).")
class RepaymentLineResultGql:
    index: int = strawberry.field(description="The line's position in the input, from 0.")
    serial_no: str
    replayed: bool
    repayment: RepaymentRecordGql | None
    errors: list[UserErrorType]


@strawberry.type
class RecordRepaymentsPayload(Payload):
    results: list[RepaymentLineResultGql] = strawberry.field(default_factory=list)
    posted: int = strawberry.field(default=0, description="Lines posted now (not counting repeats).")


@strawberry.input(description="Early settlement: collect the quote by deduction, or record a payment received.")
class SettleLoanEarlyInput:
    loan_id: strawberry.ID
    collect: bool = False
    amount: Decimal | None = None
    serial_no: str | None = None
    paid_at: datetime | None = None


async def _deduction_payload(payment: Payment) -> DeductionPayload:
    repayment = await Repayment.filter(payment_id=payment.id).first()
    return DeductionPayload(payment=payment_gql(payment),
                            repayment=RepaymentRecordGql.of(repayment) if repayment else None)


@strawberry.type
class RepaymentsMutation:
    @guarded_mutation("repayments.deduct", description="Collect through the payment provider (代扣): everything "
                      "due, one installment, or an amount. Unknown outcomes are resolved by a status job.")
    async def deduct_repayment(self, info: Info, loan_id: strawberry.ID, installment: int | None = None,
                               amount: Decimal | None = None) -> DeductionPayload:
        actor = actor_of(info)
        payment = await deduction.deduct(actor, decode(loan_id, "Loan", "loanId"), installment_number=installment,
                                         amount=amount, request_id=info.context.request_id)
        return await _deduction_payload(payment)

    @guarded_mutation("repayments.record", description="Record a repayment received offline.")
    async def record_repayment(self, info: Info, input: RecordRepaymentInput) -> RepaymentPayload:
        actor = actor_of(info)
        r = await service.record_repayment(actor, decode(input.loan_id, "Loan", "loanId"), input.amount,
                                           input.serial_no, input.paid_at, request_id=info.context.request_id)
        return RepaymentPayload(repayment=RepaymentRecordGql.of(r))

    @guarded_mutation("repayments.record", description="Record a batch of repayments received (a repayment file, "
                      "at most 1,000 lines) in one transaction. Malformed lines refuse the batch; a line that "
                      "cannot be posted (loan not found, settled, serial used for another amount) is refused "
                      "alone and reported in its result; a repeated serial answers with the first repayment.")
    async def record_repayments(self, info: Info, input: list[RepaymentLineInput]) -> RecordRepaymentsPayload:
        from core.loans.repayment_batch import RepaymentIn

        actor = actor_of(info)
        errs = ErrorCollector()
        items: list[RepaymentIn] = []
        for i, line in enumerate(input):
            try:
                loan_id = decode(line.loan_id, "Loan", f"items[{i}].loanId")
            except UserError as exc:
                errs.errors.extend(exc.errors)
                continue
            items.append(RepaymentIn(loan_id, line.amount, line.serial_no, RepaymentSource.MANUAL, line.paid_at,
                                     channel=line.channel.strip()[:50] or "offline"))
        errs.raise_if_any()
        outcomes = await service.record_repayments(actor, items, request_id=info.context.request_id)
        return RecordRepaymentsPayload(
            results=[RepaymentLineResultGql(
                index=i, serial_no=(o.repayment.serial_no if o.repayment else str(o.item.serial_no or "")),
                replayed=o.replayed, repayment=RepaymentRecordGql.of(o.repayment) if o.repayment else None,
                errors=[UserErrorType.of(e) for e in o.error.errors] if o.error else [])
                for i, o in enumerate(outcomes)],
            posted=sum(1 for o in outcomes if o.repayment is not None and not o.replayed))

    @guarded_mutation("repayments.settle", description="Settle a loan early (提前结清): the current and all later "
                      "installments are settled, interest to date only.")
    async def settle_loan_early(self, info: Info, input: SettleLoanEarlyInput) -> DeductionPayload:
        actor = actor_of(info)
        loan_id = decode(input.loan_id, "Loan", "loanId")
        if not input.collect and (input.amount is None or not input.serial_no):
            raise UserError.of("amount" if input.amount is None else "serialNo", ErrorCode.REQUIRED,
                               "Give amount and serialNo of the payment received, or collect: true to deduct")
        outcome = await deduction.settle_early(actor, loan_id, collect=input.collect, amount=input.amount,
                                               serial_no=input.serial_no, paid_at=input.paid_at,
                                               request_id=info.context.request_id)
        if isinstance(outcome, Payment):
            return await _deduction_payload(outcome)
        payment = await Payment.get_or_none(id=outcome.payment_id) if outcome.payment_id else None  # type: ignore[attr-defined]
        return DeductionPayload(payment=payment_gql(payment) if payment else None,
                                repayment=RepaymentRecordGql.of(outcome))

    @guarded_mutation("repayments.compensate", description="Compensate (代偿) every installment due so far from the "
                      "product's credit-enhancement institution.")
    async def compensate_loan(self, info: Info, loan_id: strawberry.ID) -> RepaymentPayload:
        actor = actor_of(info)
        r = await compensation.compensate_loan(actor, decode(loan_id, "Loan", "loanId"), scope=actor.scope,
                                               request_id=info.context.request_id)
        return RepaymentPayload(repayment=RepaymentRecordGql.of(r))

