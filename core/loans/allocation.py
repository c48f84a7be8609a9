"""Allocating repayments over outstanding installments, and early-settlement quotes (SPEC F-LOAN-4).

A repayment rarely matches what is owed: customers pay part of an overdue installment, or more than
is due.  Which component a cent pays off matters -- to the customer (penalty keeps accruing on unpaid
principal), to the funders (interest and principal may belong to different parties) and to the
accounts.  The allocation is therefore an explicit, named strategy, and the result always
reconciles: allocated parts plus the leftover equal the amount paid, to the cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import pairwise

from core.loans.money import CENT, MONEY_CONTEXT, ZERO, is_cents, require_decimal
from core.loans.schedule import Schedule

__all__ = [
    "COMPONENTS",
    "AllocationResult",
    "AllocationStrategy",
    "InstallmentAllocation",
    "OutstandingInstallment",
    "SettlementLine",
    "SettlementPosition",
    "SettlementQuote",
    "allocate_repayment",
    "early_settlement_quote",
    "outstanding_from_schedule",
]

COMPONENTS: tuple[str, ...] = ("penalty", "fee", "interest", "principal")
"""The components of an installment balance, in the default (oldest-debt-cost-first) order."""


class AllocationStrategy(StrEnum):
    """Named repayment allocation orders (冲账顺序); installments are always taken oldest first."""

    PENALTY_FEE_INTEREST_PRINCIPAL = "PENALTY_FEE_INTEREST_PRINCIPAL"
    """Default, installment by installment (逐期冲账): clear the oldest installment's penalty, fee,
    interest, then principal before touching the next one.  Matches SPEC F-LOAN-4 and the statutory
    default order for debts (costs, then interest, then principal)."""
    COMPONENT_FIRST = "COMPONENT_FIRST"
    """Component by component across all given installments (横向冲账): every penalty (oldest
    first), then every fee, every interest, and only then principal.  Maximises income recognised
    first; some funders' contracts require it when several installments are overdue."""
    PRINCIPAL_FIRST = "PRINCIPAL_FIRST"
    """Installment by installment, principal, interest, fee, then penalty.  Stops penalty accruing
    on overdue principal as fast as possible; used for hardship plans and some regulated products."""


_ORDER_WITHIN_INSTALLMENT: dict[AllocationStrategy, tuple[str, ...]] = {
    AllocationStrategy.PENALTY_FEE_INTEREST_PRINCIPAL: COMPONENTS,
    AllocationStrategy.PRINCIPAL_FIRST: ("principal", "interest", "fee", "penalty"),
}


def _money(value: object, name: str) -> Decimal:
    amount = require_decimal(value, name)
    if not is_cents(amount) or amount < 0:
        raise ValueError(f"{name} {amount} must be a non-negative amount in whole cents")
    return amount


@dataclass(frozen=True, slots=True)
class OutstandingInstallment:
    """What is still unpaid on one installment (its balances, not the scheduled amounts)."""

    number: int
    principal: Decimal
    interest: Decimal
    fee: Decimal = ZERO
    penalty: Decimal = ZERO

    def __post_init__(self) -> None:
        if isinstance(self.number, bool) or not isinstance(self.number, int) or self.number < 1:
            raise ValueError(f"installment number {self.number!r} must be a positive integer")
        for name in COMPONENTS:
            _money(getattr(self, name), f"installment {self.number} {name}")

    @property
    def total(self) -> Decimal:
        """Everything still owed on this installment."""
        return self.penalty + self.fee + self.interest + self.principal


@dataclass(frozen=True, slots=True)
class InstallmentAllocation:
    """How much of a repayment went to each component of one installment."""

    number: int
    penalty: Decimal
    fee: Decimal
    interest: Decimal
    principal: Decimal
    settled: bool
    """True when this allocation clears everything that was outstanding on the installment."""

    @property
    def total(self) -> Decimal:
        return self.penalty + self.fee + self.interest + self.principal


@dataclass(frozen=True, slots=True)
class AllocationResult:
    """The outcome of one allocation; ``allocated + leftover == amount`` always holds.

    ``lines`` has one entry per outstanding installment given, oldest first, including those that
    received nothing, so callers can zip it with their input.  ``leftover`` is an overpayment the
    caller must refund, hold in suspense, or apply as a prepayment -- a policy outside this module.
    """

    strategy: AllocationStrategy
    amount: Decimal
    lines: tuple[InstallmentAllocation, ...]
    leftover: Decimal

    @property
    def allocated(self) -> Decimal:
        return self.amount - self.leftover

    def component_total(self, component: str) -> Decimal:
        """Sum of one component (``"penalty"``, ``"fee"``, ``"interest"``, ``"principal"``)."""
        if component not in COMPONENTS:
            raise ValueError(f"unknown component {component!r}; expected one of {COMPONENTS}")
        return sum((getattr(line, component) for line in self.lines), ZERO)


def _sorted_unique(outstanding: Sequence[OutstandingInstallment]) -> list[OutstandingInstallment]:
    ordered = sorted(outstanding, key=lambda inst: inst.number)
    for earlier, later in pairwise(ordered):
        if earlier.number == later.number:
            raise ValueError(f"installment {later.number} appears more than once")
    return ordered


def allocate_repayment(
    outstanding: Sequence[OutstandingInstallment],
    amount: Decimal,
    strategy: AllocationStrategy = AllocationStrategy.PENALTY_FEE_INTEREST_PRINCIPAL,
) -> AllocationResult:
    """Allocate ``amount`` over ``outstanding`` using ``strategy`` (installments oldest first).

    Pass the installments the payment may be applied to: usually those due on or before the payment
    date; include future ones to let an overpayment prepay them.  Input order does not matter.

    Raises:
        ValueError: ``amount`` negative or not whole cents; duplicate installment numbers.
    """
    amount = _money(amount, "amount")
    strategy = AllocationStrategy(strategy)
    ordered = _sorted_unique(outstanding)
    paid: list[dict[str, Decimal]] = [dict.fromkeys(COMPONENTS, ZERO) for _ in ordered]
    left = amount
    if strategy is AllocationStrategy.COMPONENT_FIRST:
        steps = [(i, c) for c in COMPONENTS for i in range(len(ordered))]
    else:
        within = _ORDER_WITHIN_INSTALLMENT[strategy]
        steps = [(i, c) for i in range(len(ordered)) for c in within]
    for index, component in steps:  # greedy: each slot takes all it is owed, or all that is left
        if not left:
            break
        due: Decimal = getattr(ordered[index], component)
        part = min(due, left)
        paid[index][component] = part
        left -= part

    lines = tuple(
        InstallmentAllocation(
            number=inst.number,
            penalty=parts["penalty"],
            fee=parts["fee"],
            interest=parts["interest"],
            principal=parts["principal"],
            settled=all(parts[c] == getattr(inst, c) for c in COMPONENTS),
        )
        for inst, parts in zip(ordered, paid, strict=True)
    )
    return AllocationResult(strategy=strategy, amount=amount, lines=lines, leftover=left)


# --------------------------------------------------------------------------- early settlement


class SettlementPosition(StrEnum):
    """Where an installment stands relative to the settlement date."""

    PAST_DUE = "PAST_DUE"
    """Due before the settlement date and still (partly) unpaid: owed in full, like any arrears."""
    CURRENT = "CURRENT"
    """The period containing the settlement date (due on or after it): interest pro-rated."""
    FUTURE = "FUTURE"
    """Later periods: principal only; their interest and fees are waived."""


@dataclass(frozen=True, slots=True)
class SettlementLine:
    """What the settlement charges (and waives) for one installment."""

    number: int
    due_date: date
    position: SettlementPosition
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    waived_interest: Decimal
    waived_fee: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fee + self.penalty


@dataclass(frozen=True, slots=True)
class SettlementQuote:
    """An early-settlement (提前结清) quote.  ``total == principal + interest + fee + penalty``.

    Each component equals the sum of the same component over ``lines`` (one line per installment
    with something outstanding).  ``settled_installments`` are the current and later installments,
    which the settlement marks settled (SPEC F-LOAN-4); past-due ones are simply paid off.
    """

    settle_date: date
    lines: tuple[SettlementLine, ...]
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    total: Decimal
    waived_interest: Decimal
    waived_fee: Decimal
    current_installment: int | None
    settled_installments: tuple[int, ...]


def outstanding_from_schedule(schedule: Schedule) -> tuple[OutstandingInstallment, ...]:
    """Balances of a schedule on which nothing has been paid yet (no penalties)."""
    return tuple(
        OutstandingInstallment(inst.number, inst.principal, inst.interest, inst.fee) for inst in schedule.installments
    )


def early_settlement_quote(
    schedule: Schedule,
    start_date: date,
    settle_date: date,
    outstanding: Sequence[OutstandingInstallment] | None = None,
) -> SettlementQuote:
    """Quote what settling the loan on ``settle_date`` costs.

    Rules (SPEC F-LOAN-4, a bank's usual 提前结清 terms):

    * all outstanding principal, past, current and future, is repaid;
    * past-due installments (due before ``settle_date``) are owed in full: interest, fees, penalty;
    * the current installment's interest is pro-rated: scheduled interest x days since the previous
      due date (``start_date`` for the first) / days in the period, rounded half up; whatever part of
      that interest was already paid is deducted (never below zero); the rest is waived;
    * later installments' interest and fees, and the current installment's fee, are waived;
    * penalties are always charged: they only exist on overdue amounts.

    The pro-rating uses the period's actual days rather than ``annual_rate / day_count``, so a
    settlement on a due date costs exactly the scheduled interest; that is why no rate is needed here.

    Args:
        schedule: the loan's contractual schedule (due dates and scheduled interest).
        start_date: disbursement date, i.e. the start of the first period.
        settle_date: the day the settlement amount is paid.
        outstanding: unpaid balances per installment; installments missing from it are fully paid.
            ``None`` means nothing has been paid yet.

    Raises:
        ValueError: ``settle_date`` before ``start_date``; an outstanding installment that is not in
            the schedule, duplicated, or shows more interest outstanding than was scheduled.
    """
    if settle_date < start_date:
        raise ValueError(f"settle_date {settle_date} is before the loan start {start_date}")
    rows = outstanding_from_schedule(schedule) if outstanding is None else outstanding
    by_number = {inst.number: inst for inst in _sorted_unique(rows)}
    scheduled = {inst.number: inst for inst in schedule.installments}
    unknown = sorted(set(by_number) - set(scheduled))
    if unknown:
        raise ValueError(f"installments {unknown} are not in the schedule")

    lines: list[SettlementLine] = []
    current: int | None = None
    period_start = start_date
    for inst in schedule.installments:
        owed = by_number.get(inst.number)
        previous_due, period_start = period_start, inst.due_date
        if inst.due_date < settle_date:
            position = SettlementPosition.PAST_DUE
        elif current is None:
            position = SettlementPosition.CURRENT
            current = inst.number
        else:
            position = SettlementPosition.FUTURE
        if owed is None:
            continue
        if owed.interest > inst.interest:
            raise ValueError(
                f"installment {inst.number} shows {owed.interest} interest outstanding "
                f"but only {inst.interest} was scheduled"
            )
        if position is SettlementPosition.PAST_DUE:
            interest, fee = owed.interest, owed.fee
        elif position is SettlementPosition.CURRENT:
            interest = _accrued_interest(inst.interest, owed.interest, previous_due, inst.due_date, settle_date)
            fee = ZERO
        else:
            interest, fee = ZERO, ZERO
        lines.append(
            SettlementLine(
                number=inst.number,
                due_date=inst.due_date,
                position=position,
                principal=owed.principal,
                interest=interest,
                fee=fee,
                penalty=owed.penalty,
                waived_interest=owed.interest - interest,
                waived_fee=owed.fee - fee,
            )
        )

    def total_of(component: str) -> Decimal:
        return sum((getattr(line, component) for line in lines), ZERO)

    principal, interest, fee, penalty = (total_of(c) for c in ("principal", "interest", "fee", "penalty"))
    return SettlementQuote(
        settle_date=settle_date,
        lines=tuple(lines),
        principal=principal,
        interest=interest,
        fee=fee,
        penalty=penalty,
        total=principal + interest + fee + penalty,
        waived_interest=total_of("waived_interest"),
        waived_fee=total_of("waived_fee"),
        current_installment=current,
        settled_installments=tuple(n for n in sorted(scheduled) if current is not None and n >= current),
    )


def _accrued_interest(scheduled: Decimal, unpaid: Decimal, period_start: date, due: date, settle_date: date) -> Decimal:
    """Current-period interest accrued to ``settle_date``, less what was already paid of it."""
    period_days = (due - period_start).days
    elapsed = min(max((settle_date - period_start).days, 0), period_days)
    if period_days <= 0:
        accrued = scheduled
    else:
        exact = MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(scheduled, elapsed), period_days)
        accrued = exact.quantize(CENT, ROUND_HALF_UP, MONEY_CONTEXT)
    already_paid = scheduled - unpaid
    return max(accrued - already_paid, ZERO)
