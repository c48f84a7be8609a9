"""Posting repayments (F-LOAN-4): allocation over installments, joint-lending parts, loan status.

`post_repayment` is the one function that applies money received on a loan, whatever its source
(a deduction we asked the provider for, a provider callback, an operator's record of an offline
transfer, the guarantor's compensation); it is a batch of one of `core.loans.repayment_batch`
(the set-based engine, also behind `recordRepayments` files), and this module holds the rules that
engine applies. In one transaction:

1. the loan row is locked (`SELECT … FOR NO KEY UPDATE` on PostgreSQL; SQLite serialises writers)
   and, under the lock, a serial number already posted is found: a repeat returns the first
   repayment, a repeat with another amount or loan is a CONFLICT — so concurrent repeats of one
   serial post once (the unique `repayment.serial_no` backs this up);
2. allocates with the loan's named strategy (`core.loans.allocation`, default penalty → fee →
   interest → principal, oldest installment first) over every open installment. Money beyond what
   is due prepays the next installments in order (kind `prepayment`); money beyond everything owed
   is held as `leftover` on the repayment (to refund) — never silently dropped;
3. writes the repayment, one line per installment paid, and each funder's part (joint lending: per
   component by the loan's LoanFunder shares, remainder to position 0, so parts sum exactly);
4. updates installments with version-checked UPDATEs (the overdue job bumps versions too; a lost
   race retries the whole use case on fresh rows) and the loan (`principal_outstanding`, and the
   state machine: settled when nothing is open, overdue → disbursed when nothing is overdue);
5. releases margin in proportion (`core.orgs.margins.release`, idempotent per serial), updates the
   collection case, writes the operation log, and enqueues the payment-settled plugin event and
   the repayment SMS through the outbox (after commit, at least once).

Early settlement (`Mode.EARLY_SETTLEMENT`) uses `early_settlement_quote` at the payment's business
date: past-due installments paid in full, the current one's interest to date, later ones principal
only; the current and later installments become `settled_early` with the waived interest kept.
Compensation (`Mode.COMPENSATION`) pays everything outstanding on the installments due so far from
the guarantor; they become `compensated` and the loan `compensated`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core import clock
from core.actor import SYSTEM, Actor
from core.config import current_settings
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.loans.allocation import (
    AllocationStrategy,
    OutstandingInstallment,
    SettlementQuote,
    allocate_repayment,
    early_settlement_quote,
)
from core.loans.models import (
    InstallmentStatus,
    Loan,
    LoanFunder,
    LoanInstallment,
    LoanStatus,
    Repayment,
    RepaymentKind,
    RepaymentSource,
)
from core.loans.money import ZERO, split_by_shares
from core.loans.schedule import Installment, Schedule
from core.loans.states import REPAYING
from core.orgs import rules
from permissions.scope import EVERYTHING, DataScope

MODULE = "repayments"
OPEN: tuple[InstallmentStatus, ...] = (InstallmentStatus.PENDING, InstallmentStatus.PARTIAL,
                                       InstallmentStatus.OVERDUE)
"""Installment states that still owe money (the others are closed)."""
PAYMENT_SETTLED_JOB = "plugins.payment_settled"  # registered in workers.disbursement_jobs (self-contained payload)
REPAYMENT_SMS_JOB = "repayments.send_sms"
HUNDRED = Decimal(100)
COMPONENTS = ("penalty", "fee", "interest", "principal")


class Mode(StrEnum):
    NORMAL = "normal"
    EARLY_SETTLEMENT = "early_settlement"
    COMPENSATION = "compensation"


@dataclass
class _Line:
    inst: LoanInstallment
    penalty: Decimal = ZERO
    fee: Decimal = ZERO
    interest: Decimal = ZERO
    principal: Decimal = ZERO
    waived_interest: Decimal = ZERO
    status: InstallmentStatus | None = None  # new status when it changes

    @property
    def total(self) -> Decimal:
        return self.penalty + self.fee + self.interest + self.principal


@dataclass
class _Plan:
    lines: list[_Line] = field(default_factory=list)
    leftover: Decimal = ZERO
    kind: RepaymentKind = RepaymentKind.REGULAR


# --- pure helpers ---------------------------------------------------------------------------------


def outstanding(inst: LoanInstallment) -> OutstandingInstallment:
    """What is still owed on one installment (scheduled minus paid; penalty as accrued so far)."""
    return OutstandingInstallment(
        number=inst.number, principal=max(inst.principal - inst.paid_principal, ZERO),
        interest=max(inst.interest - inst.paid_interest - inst.waived_interest, ZERO),
        fee=max(inst.fee - inst.paid_fee, ZERO), penalty=max(inst.penalty - inst.paid_penalty, ZERO))


def owed(inst: LoanInstallment) -> Decimal:
    """`outstanding(inst).total`, without building (and validating) the value object: it runs for
    every open installment of every repayment of a batch."""
    return (max(inst.principal - inst.paid_principal, ZERO)
            + max(inst.interest - inst.paid_interest - inst.waived_interest, ZERO)
            + max(inst.fee - inst.paid_fee, ZERO) + max(inst.penalty - inst.paid_penalty, ZERO))


_OPEN_VALUES = frozenset(s.value for s in OPEN)


def is_open(inst: LoanInstallment) -> bool:
    return inst.status in _OPEN_VALUES  # a str or the StrEnum (equal to its value); no enum lookup per call


def business_date_of(moment: datetime) -> date:
    return moment.astimezone(current_settings().tz).date()


def schedule_of(installments: Sequence[LoanInstallment]) -> Schedule:
    """The contractual schedule as stored (what `early_settlement_quote` needs: numbers, dates, interest)."""
    rows = tuple(Installment(number=i.number, due_date=i.due_date, principal=i.principal, interest=i.interest,
                             total=i.principal + i.interest + i.fee, remaining_principal=ZERO, fee=i.fee)
                 for i in sorted(installments, key=lambda i: i.number))
    principal = sum((r.principal for r in rows), ZERO)
    interest = sum((r.interest for r in rows), ZERO)
    return Schedule(installments=rows, total_principal=principal, total_interest=interest, total=principal + interest)


def quote_for(loan: Loan, installments: Sequence[LoanInstallment], settle_date: date) -> SettlementQuote:
    """The early-settlement quote for `loan` on `settle_date` from its stored installments."""
    ordered = sorted(installments, key=lambda i: i.number)
    start = loan.disbursement_date or (ordered[0].start_date if ordered else settle_date)
    if settle_date < start:
        raise UserError.of("date", ErrorCode.OUT_OF_RANGE,
                           f"date {settle_date} is before the loan's disbursement date {start}")
    return early_settlement_quote(schedule_of(ordered), start, settle_date,
                                  [outstanding(i) for i in ordered if is_open(i)])


def _strategy(loan: Loan) -> AllocationStrategy:
    try:
        return AllocationStrategy(loan.allocation_strategy)
    except ValueError:
        return AllocationStrategy.PENALTY_FEE_INTEREST_PRINCIPAL


def _reachable(open_: list[LoanInstallment], amount: Decimal, strategy: AllocationStrategy) -> list[LoanInstallment]:
    """The installments `amount` can reach: strategies that fill installment after installment never
    touch one past the first whose cumulative owed covers the amount (component-first ones may)."""
    if strategy is AllocationStrategy.COMPONENT_FIRST:
        return open_
    covered = ZERO
    ordered = sorted(open_, key=lambda i: i.number)
    for k, inst in enumerate(ordered, 1):
        covered += owed(inst)
        if covered >= amount:
            return ordered[:k]
    return ordered


def _normal_plan(loan: Loan, open_: list[LoanInstallment], amount: Decimal, business_date: date) -> _Plan:
    strategy = _strategy(loan)
    result = allocate_repayment([outstanding(i) for i in _reachable(open_, amount, strategy)], amount, strategy)
    by_number = {i.number: i for i in open_}
    due_total = sum((owed(i) for i in open_ if i.due_date <= business_date), ZERO)
    plan = _Plan(leftover=result.leftover)
    ahead = False
    for alloc in result.lines:
        if not alloc.total:
            continue
        inst = by_number[alloc.number]
        line = _Line(inst, alloc.penalty, alloc.fee, alloc.interest, alloc.principal)
        if alloc.settled:
            line.status = InstallmentStatus.PAID
        elif InstallmentStatus(inst.status) is not InstallmentStatus.OVERDUE:
            line.status = InstallmentStatus.PARTIAL
        ahead = ahead or inst.due_date > business_date
        plan.lines.append(line)
    if amount < due_total:
        plan.kind = RepaymentKind.PARTIAL
    elif ahead or due_total == 0:
        plan.kind = RepaymentKind.PREPAYMENT
    return plan


def _settlement_plan(loan: Loan, installments: list[LoanInstallment], amount: Decimal, business_date: date
                     ) -> _Plan:
    quote = quote_for(loan, installments, business_date)
    if amount < quote.total:
        raise UserError.of("amount", ErrorCode.OUT_OF_RANGE,
                           f"Early settlement on {business_date} costs {quote.total}; {amount} is not enough")
    by_number = {i.number: i for i in installments}
    settled = set(quote.settled_installments)
    plan = _Plan(leftover=amount - quote.total, kind=RepaymentKind.EARLY_SETTLEMENT)
    for q in quote.lines:
        inst = by_number[q.number]
        plan.lines.append(_Line(inst, q.penalty, q.fee, q.interest, q.principal, q.waived_interest,
                                InstallmentStatus.SETTLED_EARLY if q.number in settled else InstallmentStatus.PAID))
    return plan


def _compensation_plan(open_: list[LoanInstallment], amount: Decimal, through: date) -> _Plan:
    due = [i for i in open_ if i.due_date <= through]
    total = sum((owed(i) for i in due), ZERO)
    if not due:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"Nothing is due on or before {through} to compensate")
    if amount != total:
        raise UserError.of("amount", ErrorCode.CONFLICT,
                           f"Compensation must pay exactly what is due ({total}), not {amount}")
    plan = _Plan(kind=RepaymentKind.REGULAR)
    for inst in due:
        o = outstanding(inst)
        plan.lines.append(_Line(inst, o.penalty, o.fee, o.interest, o.principal, ZERO, InstallmentStatus.COMPENSATED))
    return plan


def funder_parts(funders: Sequence[LoanFunder], totals: dict[str, Decimal]) -> dict[int, dict[str, Decimal]]:
    """Each funder's part of every component: split by share, remainder to position 0, sums exact."""
    if not funders:
        return {}
    ordered = sorted(funders, key=lambda f: f.position)
    shares = {str(f.bank_id): f.share / HUNDRED for f in ordered}  # type: ignore[attr-defined]
    lead = str(ordered[0].bank_id)  # type: ignore[attr-defined]
    parts: dict[int, dict[str, Decimal]] = {int(b): {} for b in shares}
    for component in COMPONENTS:
        split = split_by_shares(totals[component], shares, lead)
        for bank, value in split.items():
            parts[int(bank)][component] = value
    return parts


# --- validation -----------------------------------------------------------------------------------


def _clean(amount: Decimal | str | int | None, serial_no: str | None) -> tuple[Decimal, str]:
    errs = ErrorCollector()
    value = rules.money(errs, "amount", amount)
    serial = rules.text(errs, "serialNo", serial_no, 64)
    errs.raise_if_any()
    assert value is not None and serial is not None
    return value, serial


# --- the use case ---------------------------------------------------------------------------------


async def post_repayment(loan_id: int, amount: Decimal | str | int | None, serial_no: str | None,
                         source: RepaymentSource, paid_at: datetime | None = None, *, actor: Actor = SYSTEM,
                         scope: DataScope = EVERYTHING, payment_id: int | None = None, channel: str = "",
                         mode: Mode = Mode.NORMAL, through: date | None = None, request_id: str = "") -> Repayment:
    """Apply `amount` received under `serial_no` to the loan; see the module notes.

    A batch of one through `core.loans.repayment_batch.post_repayments` (the one engine).
    Returns the repayment (a repeat of the serial returns the first one with `replayed = True`).
    `payment_id`: the deduction `Payment` this money settles (marked succeeded in the same
    transaction). `through`: for compensation, the last due date it covers (default: paid date).
    Raises `UserError`: NOT_FOUND (loan outside `scope`), INVALID_STATE (loan not repaying,
    nothing owed), CONFLICT (serial reused), OUT_OF_RANGE (early settlement short), STALE.
    """
    from core.loans.repayment_batch import RepaymentIn, post_repayments

    [posted] = await post_repayments([RepaymentIn(loan_id, amount, serial_no, RepaymentSource(source), paid_at,
                                                  payment_id, channel, Mode(mode), through)],
                                     actor=actor, scope=scope, request_id=request_id, prefix="")
    if posted.error is not None:
        raise posted.error
    assert posted.repayment is not None
    return posted.repayment


# --- reads ----------------------------------------------------------------------------------------


async def scoped_loan(scope: DataScope, loan_id: int, field: str = "loanId") -> Loan:
    loan = await Loan.filter(scope.products("product_id"), id=loan_id).first()
    if loan is None:
        raise not_found("Loan", field)
    return loan


async def quote_early_settlement(scope: DataScope, loan_id: int, settle_date: date | None = None
                                 ) -> tuple[Loan, SettlementQuote]:
    """What settling the loan on `settle_date` (default: today's business date) would cost."""
    loan = await scoped_loan(scope, loan_id)
    if LoanStatus(loan.status) not in REPAYING:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE,
                           f"Loan {loan.order_no} is {loan.status}; only repaying loans can be settled early")
    installments = list(await LoanInstallment.filter(loan_id=loan.id).order_by("number"))
    if not any(is_open(i) for i in installments):
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"Loan {loan.order_no} has nothing outstanding")
    return loan, quote_for(loan, installments, settle_date or clock.business_today())


async def record_repayment(actor: Actor, loan_id: int, amount: Decimal | str | None, serial_no: str | None,
                           paid_at: datetime | None = None, *, remark: str = "", request_id: str = "") -> Repayment:
    """An operator records money received offline (登记还款), within their data scope."""
    if paid_at is not None and paid_at > clock.now():
        raise UserError.of("paidAt", ErrorCode.OUT_OF_RANGE, "paidAt cannot be in the future")
    return await post_repayment(loan_id, amount, serial_no, RepaymentSource.MANUAL, paid_at, actor=actor,
                                scope=actor.scope, channel="offline", request_id=request_id)


async def record_repayments(actor: Actor, items: Sequence[Any], *, request_id: str = "") -> list[Any]:
    """A batch of money received (a lending-assist platform's or a bank's repayment file, 还款明细).

    `items` are `core.loans.repayment_batch.RepaymentIn` (source and channel as given; mode
    normal). Malformed input — a payment time in the future, more than `MAX_BATCH` rows — refuses
    the whole batch with every problem named (`items[3].paidAt`); business outcomes (a loan not
    found in the caller's scope, settled, a serial already used) come back per row with the rows
    that were posted. Returns one `Posted` per item, in order.
    """
    from core.loans.repayment_batch import MAX_BATCH, post_repayments

    errs = ErrorCollector()
    if not items:
        errs.add("items", ErrorCode.REQUIRED, "Give at least one repayment")
    if len(items) > MAX_BATCH:
        errs.add("items", ErrorCode.OUT_OF_RANGE, f"At most {MAX_BATCH} repayments per call, not {len(items)}")
    now = clock.now()
    for i, item in enumerate(items):
        if item.paid_at is not None and item.paid_at > now:
            errs.add(f"items[{i}].paidAt", ErrorCode.OUT_OF_RANGE, "paidAt cannot be in the future")
    errs.raise_if_any()
    return await post_repayments(items, actor=actor, scope=actor.scope, request_id=request_id)


def repayments_query(scope: DataScope, *, loan_id: int | None = None, product_id: int | None = None,
                     channel_id: int | None = None, source: RepaymentSource | None = None,
                     kind: RepaymentKind | None = None, serial_no: str | None = None,
                     date_from: date | None = None, date_to: date | None = None,
                     order_no: str | None = None) -> Any:
    """Repayment records within the caller's data scope (applied in SQL), filtered."""
    qs = Repayment.filter(scope.products("product_id"))
    if loan_id is not None:
        qs = qs.filter(loan_id=loan_id)
    if product_id is not None:
        qs = qs.filter(product_id=product_id)
    if channel_id is not None:
        qs = qs.filter(channel_id=channel_id)
    if source is not None:
        qs = qs.filter(source=source)
    if kind is not None:
        qs = qs.filter(kind=kind)
    if serial_no:
        qs = qs.filter(serial_no=serial_no.strip())
    if order_no:
        qs = qs.filter(loan__order_no=order_no.strip())
    if date_from is not None:
        qs = qs.filter(business_date__gte=date_from)
    if date_to is not None:
        qs = qs.filter(business_date__lte=date_to)
    return qs
