"""GraphQL for signing and disbursing a loan, and the loan calculator (F-LOAN-7).

- `signLoanContracts(loanId)` (loans.sign): render, freeze and hash the contracts; approved → signed.
- `disburseLoan(loanId)` (loans.disburse): pay the loan out through the product's provider. The
  payload's `payment.status` is SUCCEEDED, FAILED (the loan is back to contract_signed and may be
  retried) or UNKNOWN (the loan stays disbursing; a job resolves it, or `resolveLoanPayment`).
- `resolveLoanPayment(loanId)` (loans.resolve_payment): ask the provider about the open payment now.
- `calculateSchedule(...)` (page calculator): a schedule for given terms, no order created; every
  refusal names its argument (`amount`, `annualRate`, `term`, …).
Each acts within the caller's data scope: a loan outside it is NOT_FOUND, like a missing one.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

import strawberry
from strawberry.types import Info

from core import clock
from core.contracts.signing import sign_contracts
from core.errors import ErrorCode, UserError
from core.loans import disbursement
from core.loans.models import Payment, PaymentKind, PaymentStatus
from core.loans.money import is_cents
from core.loans.schedule import RepaymentMethod, ScheduleRequest, TermUnit, build_schedule
from core.products.lpr import lpr_on
from core.products.models import LprTerm, TermUnitChoice
from schema.contracts import ContractGql, load_contracts
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.loans import LoanGql, PaymentGql
from schema.orgs import RepaymentMethodEnum
from schema.products import LprTermEnum, TermUnitEnum
from schema.relay import decode, gid

MAX_AMOUNT = Decimal("100000000000.00")
MAX_TERM = {TermUnitChoice.MONTH: 360, TermUnitChoice.DAY: 3650}


def _payment(p: Payment) -> PaymentGql:
    return PaymentGql(id=gid("Payment", p.id), kind=PaymentKind(p.kind), provider=p.provider,
                      amount=Decimal(p.amount), status=PaymentStatus(p.status), provider_reference=p.provider_reference,
                      serial_no=p.serial_no, failure_reason=p.failure_reason, attempts=p.attempts,
                      business_date=p.business_date, requested_at=p.requested_at, settled_at=p.settled_at)


@strawberry.type
class SignContractsPayload(Payload):
    loan: LoanGql | None = None
    contracts: list[ContractGql] = strawberry.field(default_factory=list)


@strawberry.type
class DisbursementPayload(Payload):
    loan: LoanGql | None = None
    payment: PaymentGql | None = None


@strawberry.type(name="ScheduleQuoteRow")
class QuoteRowGql:
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    total: Decimal
    remaining_principal: Decimal


@strawberry.type(name="ScheduleQuote", description="A calculated schedule (no order is created).")
class QuoteGql:
    annual_rate: Decimal = strawberry.field(description="The rate used, a fraction (0.0495).")
    lpr_rate: Decimal | None = strawberry.field(description="With spreadBp: the LPR in force on startDate, percent.")
    spread_bp: int | None
    total_principal: Decimal
    total_interest: Decimal
    total: Decimal
    installments: list[QuoteRowGql]


def _decimal(value: str, field: str) -> Decimal:
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        raise UserError.of(field, ErrorCode.INVALID, f"{field} must be a decimal number such as 10000.00") from None
    if not number.is_finite():
        raise UserError.of(field, ErrorCode.INVALID, f"{field} must be a finite number")
    return number


async def quote(amount: str, term: int, unit: TermUnitChoice, method: RepaymentMethod, annual_rate: str | None,
                spread_bp: int | None, lpr_term: LprTerm, start_date: date | None, day_count: int) -> QuoteGql:
    """The calculator's work, refusing each bad argument by its GraphQL name."""
    principal = _decimal(amount, "amount")
    if principal <= 0 or principal > MAX_AMOUNT:
        raise UserError.of("amount", ErrorCode.OUT_OF_RANGE, f"amount must be above 0 and at most {MAX_AMOUNT}")
    if not is_cents(principal):
        raise UserError.of("amount", ErrorCode.INVALID, "amount has fractions of a cent; give at most two decimals")
    if not 1 <= term <= MAX_TERM[unit]:
        raise UserError.of("term", ErrorCode.OUT_OF_RANGE, f"term must be 1 to {MAX_TERM[unit]} {unit.value}s")
    if day_count not in (360, 365):
        raise UserError.of("dayCount", ErrorCode.INVALID, "dayCount must be 360 or 365")
    if (annual_rate is None) == (spread_bp is None):
        raise UserError.of("annualRate", ErrorCode.REQUIRED, "Give either annualRate (a fraction, 0.0495) or "
                           "spreadBp (over the LPR in force on startDate), not both")
    start = start_date or clock.business_today()
    lpr_percent: Decimal | None = None
    if annual_rate is not None:
        rate = _decimal(annual_rate, "annualRate")
        if not 0 <= rate < 1:
            raise UserError.of("annualRate", ErrorCode.OUT_OF_RANGE, "annualRate is a fraction from 0 to below 1 "
                               "(4.35% is 0.0435)")
    else:
        assert spread_bp is not None
        row = await lpr_on(lpr_term, start)
        if row is None:
            raise UserError.of("startDate", ErrorCode.INVALID_STATE, f"No {lpr_term.value} LPR is in force on "
                               f"{start}; give annualRate instead")
        lpr_percent = Decimal(row.rate)
        rate = lpr_percent / 100 + Decimal(spread_bp) / 10000
        if not 0 <= rate < 1:
            raise UserError.of("spreadBp", ErrorCode.OUT_OF_RANGE, f"LPR {lpr_percent}% + {spread_bp} bp is not a "
                               "rate from 0 to 100%")
    try:
        schedule = build_schedule(ScheduleRequest(principal=principal, annual_rate=rate, term=term,
                                                  unit=TermUnit(unit.value.upper()), method=method, start_date=start,
                                                  day_count=day_count))
    except ValueError as exc:
        raise UserError.of("amount", ErrorCode.OUT_OF_RANGE, str(exc)) from None
    return QuoteGql(annual_rate=rate, lpr_rate=lpr_percent, spread_bp=spread_bp,
                    total_principal=schedule.total_principal, total_interest=schedule.total_interest,
                    total=schedule.total,
                    installments=[QuoteRowGql(number=i.number, due_date=i.due_date, principal=i.principal,
                                              interest=i.interest, total=i.total,
                                              remaining_principal=i.remaining_principal)
                                  for i in schedule.installments])


@strawberry.type
class DisbursementQuery:
    @guarded("calculator", description="Calculate a repayment schedule (no order is created). Give annualRate, or "
             "spreadBp over the LPR (lprTerm) in force on startDate (default today).")
    async def calculate_schedule(self, info: Info, amount: str, term: int, unit: TermUnitEnum,  # type: ignore[valid-type]
                                 method: RepaymentMethodEnum,  # type: ignore[valid-type]
                                 annual_rate: str | None = None, spread_bp: int | None = None,
                                 lpr_term: LprTermEnum = LprTerm.ONE_YEAR,  # type: ignore[valid-type]
                                 start_date: date | None = None, day_count: int = 360) -> QuoteGql:
        return await quote(amount, term, TermUnitChoice(unit), RepaymentMethod(method), annual_rate, spread_bp,
                           LprTerm(lpr_term), start_date, day_count)


@strawberry.type
class DisbursementMutation:
    @guarded_mutation("loans.sign", description="Sign an approved loan's contracts: every active applicable template "
                      "is rendered, frozen and hashed into the ledger; the loan moves to contract_signed.")
    async def sign_loan_contracts(self, info: Info, loan_id: strawberry.ID) -> SignContractsPayload:
        actor = actor_of(info)
        pk = decode(loan_id, "Loan", "loanId")
        await sign_contracts(actor, pk, scope=info.context.scope, request_id=info.context.request_id)
        from core.loans.models import Loan

        loan = await Loan.get(id=pk)
        return SignContractsPayload(loan=LoanGql.of(loan), contracts=await load_contracts(info, pk))

    @guarded_mutation("loans.disburse", description="Disburse a signed loan through its product's payment provider "
                      "(exactly once, however often it is called).")
    async def disburse_loan(self, info: Info, loan_id: strawberry.ID) -> DisbursementPayload:
        outcome = await disbursement.disburse(actor_of(info), decode(loan_id, "Loan", "loanId"),
                                              scope=info.context.scope, request_id=info.context.request_id)
        return DisbursementPayload(loan=LoanGql.of(outcome.loan), payment=_payment(outcome.payment))

    @guarded_mutation("loans.resolve_payment", description="Ask the provider now what became of the loan's open "
                      "disbursement payment, and apply the answer.")
    async def resolve_loan_payment(self, info: Info, loan_id: strawberry.ID) -> DisbursementPayload:
        outcome = await disbursement.resolve_loan(actor_of(info), decode(loan_id, "Loan", "loanId"),
                                                  scope=info.context.scope)
        return DisbursementPayload(loan=LoanGql.of(outcome.loan), payment=_payment(outcome.payment))
