"""The daily overdue run (F-LOAN-5): mark overdue installments, accrue penalty, move loans and cases.

`run_overdue(day)` for a business date D:

1. every open installment due before D is (or becomes) `overdue` with `overdue_since` = the first
   overdue day (due date + 1); its penalty is brought up to D. Penalty is posted per *span*: a span
   starts on the first overdue day, or on the day after a change of base (a repayment of overdue
   principal) or rate; `penalty = penalty_span_opening + accrue_penalty(base, rate, days in span)`
   is rounded once per span (`core.loans.penalty` explains why nightly rounding would drift).
   `penalty_through = D` makes a rerun for the same date a no-op — the job is idempotent per date
   and a missed night is caught up by the next run (the span covers every day through D).
2. loans with an overdue installment move disbursed → overdue through the state machine.
3. collection cases are refreshed for D (`core.loans.collection.refresh_cases`).

Set-based and batched: installments are read in keyset batches (`BATCH` rows) of open installments
due before D whose penalty is not yet through D, locked (`FOR UPDATE` on PostgreSQL, so a
concurrent repayment waits and then retries on fresh versions), computed in Python Decimal and
written back with one bulk UPDATE per batch (tortoise `bulk_update`: CASE … WHEN per column), each
batch in its own short transaction.

The daily penalty rate and its base are the product's (`Product.penalty_daily_rate`,
`penalty_base`, reviewed with the rest of the product); a product that leaves them empty uses the
system parameters `loan.penalty_daily_rate` (default 0.0005, 万分之五) and `loan.penalty_base`
(PRINCIPAL or PRINCIPAL_AND_INTEREST, default PRINCIPAL). Terms are read once per run; a change of
rate starts a new penalty span on the next run, so earlier days keep the rate they accrued at.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from core import clock
from core.db import is_postgres
from core.errors import UserError
from core.loans import collection
from core.loans.models import InstallmentStatus, Loan, LoanInstallment, LoanStatus
from core.loans.money import ZERO
from core.loans.penalty import PenaltyBase, accrue_penalty, penalty_base
from core.loans.states import transition
from core.system.parameters import parameter, parameter_decimal

BATCH = 2000
TRANSITION_BATCH = 200
DEFAULT_RATE = Decimal("0.0005")
OPEN = (InstallmentStatus.PENDING, InstallmentStatus.PARTIAL, InstallmentStatus.OVERDUE)
UPDATED_FIELDS = ["status", "overdue_since", "penalty", "penalty_through", "penalty_span_start",
                  "penalty_span_base", "penalty_span_rate", "penalty_span_opening", "version"]


@dataclass
class OverdueReport:
    business_date: date
    installments: int = 0
    newly_overdue: int = 0
    penalty_added: Decimal = ZERO
    loans_overdue: int = 0
    cases: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"businessDate": self.business_date.isoformat(), "installments": self.installments,
                "newlyOverdue": self.newly_overdue, "penaltyAdded": str(self.penalty_added),
                "loansOverdue": self.loans_overdue, "cases": self.cases, "seconds": round(self.seconds, 3)}


async def penalty_settings() -> tuple[Decimal, PenaltyBase]:
    """The platform default terms (system parameters), for products that set none."""
    rate = await parameter_decimal("loan.penalty_daily_rate", DEFAULT_RATE)
    if rate < 0 or rate >= 1:
        rate = DEFAULT_RATE
    raw = (await parameter("loan.penalty_base", "") or "").strip().upper()
    basis = PenaltyBase(raw) if raw in PenaltyBase.__members__ else PenaltyBase.PRINCIPAL
    return rate, basis


@dataclass(frozen=True)
class PenaltyTerms:
    """Penalty terms by product for one run: each product's own, else the platform default."""

    default: tuple[Decimal, PenaltyBase]
    by_product: dict[int, tuple[Decimal, PenaltyBase]]

    def of(self, product_id: int) -> tuple[Decimal, PenaltyBase]:
        return self.by_product.get(product_id, self.default)


async def penalty_terms() -> PenaltyTerms:
    from core.products.models import Product

    default = await penalty_settings()
    by_product: dict[int, tuple[Decimal, PenaltyBase]] = {}
    rows = await Product.filter(Q(penalty_daily_rate__isnull=False) | Q(penalty_base__isnull=False)).values_list(
        "id", "penalty_daily_rate", "penalty_base")
    for pid, rate, base in rows:
        by_product[pid] = (default[0] if rate is None else Decimal(rate),
                           PenaltyBase(base) if base in PenaltyBase.__members__ else default[1])
    return PenaltyTerms(default, by_product)


def accrue(inst: LoanInstallment, day: date, rate: Decimal, basis: PenaltyBase) -> Decimal:
    """Bring one open installment due before `day` up to `day` in place; returns the penalty added."""
    before = inst.penalty
    if InstallmentStatus(inst.status) is not InstallmentStatus.OVERDUE:
        inst.status = InstallmentStatus.OVERDUE
    if inst.overdue_since is None:
        inst.overdue_since = inst.due_date + timedelta(days=1)
    base = penalty_base(max(inst.principal - inst.paid_principal, ZERO),
                        max(inst.interest - inst.paid_interest - inst.waived_interest, ZERO), basis)
    if inst.penalty_span_start is None:
        inst.penalty_span_start = inst.due_date + timedelta(days=1)
        inst.penalty_span_opening = inst.penalty
        inst.penalty_span_base, inst.penalty_span_rate = base, rate
    elif base != inst.penalty_span_base or rate != inst.penalty_span_rate:
        # Close the span at the last day accrued and open the next one with the new base or rate.
        inst.penalty_span_start = (inst.penalty_through or inst.due_date) + timedelta(days=1)
        inst.penalty_span_opening = inst.penalty
        inst.penalty_span_base, inst.penalty_span_rate = base, rate
    days = (day - inst.penalty_span_start).days + 1
    if days > 0:
        inst.penalty = inst.penalty_span_opening + accrue_penalty(inst.penalty_span_base, inst.penalty_span_rate,
                                                                  days)
    inst.penalty_through = day
    inst.version += 1
    return inst.penalty - before


def _update_sql(postgres: bool) -> str:
    marks = [f"${i}" for i in range(1, len(UPDATED_FIELDS) + 2)] if postgres else ["?"] * (len(UPDATED_FIELDS) + 1)
    sets = ", ".join(f'"{name}" = {mark}' for name, mark in zip(UPDATED_FIELDS, marks, strict=False))
    return f'UPDATE "loan_installment" SET {sets} WHERE "id" = {marks[-1]}'


def _row(inst: LoanInstallment, postgres: bool) -> list[Any]:
    values: list[Any] = [getattr(inst, name) for name in UPDATED_FIELDS] + [inst.id]
    values[0] = InstallmentStatus(values[0]).value
    if postgres:
        return values
    # SQLite: tortoise keeps decimals as text and dates as ISO strings
    return [v.isoformat() if isinstance(v, date) else str(v) if isinstance(v, Decimal) else v for v in values]


async def _batch(day: date, after: int, terms: PenaltyTerms) -> tuple[int, int, int, Decimal, set[int]]:
    """One locked batch: returns (last id, rows, newly overdue, penalty added, loan ids newly overdue).

    The write-back is one prepared UPDATE per row sent as a batch (`executemany`, pipelined by the
    driver): unlike a CASE-per-column bulk UPDATE its cost is linear in the batch size.
    """
    postgres = is_postgres()
    async with in_transaction() as conn:
        qs = (LoanInstallment.filter(status__in=OPEN, due_date__lt=day, id__gt=after)
              .filter(Q(penalty_through__isnull=True) | Q(penalty_through__lt=day)).order_by("id").limit(BATCH))
        if postgres:
            qs = qs.select_for_update()
        rows = list(await qs)
        if not rows:
            return after, 0, 0, ZERO, set()
        newly, added, loans = 0, ZERO, set()
        product_of: dict[int, int] = {}
        if terms.by_product:  # which product each loan is of (one read), only when products differ
            product_of = dict(await Loan.filter(id__in=list({i.loan_id for i in rows}))  # type: ignore[attr-defined]
                              .values_list("id", "product_id"))
        for inst in rows:
            rate, basis = terms.of(product_of.get(inst.loan_id, 0)) if product_of else terms.default  # type: ignore[attr-defined]
            if InstallmentStatus(inst.status) is not InstallmentStatus.OVERDUE:
                newly += 1
                loans.add(inst.loan_id)  # type: ignore[attr-defined]
            added += accrue(inst, day, rate, basis)
        await conn.execute_many(_update_sql(postgres), [_row(inst, postgres) for inst in rows])
    return rows[-1].id, len(rows), newly, added, loans


async def mark_loans_overdue(reason_day: date) -> int:
    """Move every disbursed loan that has an overdue installment to `overdue` (state machine)."""
    moved = 0
    last = 0
    while True:
        ids = await (Loan.filter(status=LoanStatus.DISBURSED, id__gt=last,
                                 installments__status=InstallmentStatus.OVERDUE)
                     .distinct().order_by("id").limit(TRANSITION_BATCH).values_list("id", flat=True))
        if not ids:
            return moved
        last = ids[-1]
        async with in_transaction():
            for loan in await Loan.filter(id__in=list(ids), status=LoanStatus.DISBURSED).order_by("id"):
                try:
                    await transition(loan, LoanStatus.OVERDUE, actor=None, actor_label="system:overdue",
                                     reason=f"installment unpaid after its due date (business date {reason_day})")
                except UserError:
                    continue  # a repayment changed the loan meanwhile; the next run looks again
                moved += 1


async def run_overdue(day: date | None = None) -> OverdueReport:
    """The whole daily run for business date `day` (default: today's); safe to rerun."""
    started = time.perf_counter()
    today = day or clock.business_today()
    report = OverdueReport(today)
    terms = await penalty_terms()
    last = 0
    while True:
        last, count, newly, added, _ = await _batch(today, last, terms)
        if not count:
            break
        report.installments += count
        report.newly_overdue += newly
        report.penalty_added += added
    report.loans_overdue = await mark_loans_overdue(today)
    refreshed = await collection.refresh_cases(today)
    report.cases = {"opened": refreshed.opened, "moved": refreshed.moved, "closed": refreshed.closed,
                    "unchanged": refreshed.unchanged}
    report.seconds = time.perf_counter() - started
    return report
