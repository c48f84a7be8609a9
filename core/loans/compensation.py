"""Compensation (刚兑/代偿, F-PROD-3): the guarantor pays the funders at the product's configured point.

A product with `compensation_enabled` names N days and a time of day: an installment still unpaid
N days after its due date is compensated at that time (N = 0: on the due date itself). The
credit-enhancement institution of the product pays everything outstanding on the installments due
so far (principal, interest, fee, penalty to date); they become `compensated`, the loan
`compensated` (the guarantor then pursues the borrower outside the platform's funder books).

Basis: the platform keeps one due date per installment (the front-end schedule is the bank's
schedule here), so `front_due_date` and `bank_due_date` both count from `LoanInstallment.due_date`.

Idempotent: the repayment's serial is `COMP:<order no>:<last installment number covered>`, and once
compensated the installments are closed, so a rerun finds nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from core import clock
from core.actor import SYSTEM, Actor
from core.config import current_settings
from core.errors import ErrorCode, UserError, not_found
from core.loans.models import InstallmentStatus, Loan, LoanInstallment, LoanStatus, Repayment, RepaymentSource
from core.loans.money import ZERO
from core.loans.repayment import OPEN, Mode, owed, post_repayment
from core.loans.states import REPAYING
from permissions.scope import EVERYTHING, DataScope


def point_time(value: str | None) -> time:
    try:
        hour, minute = (int(x) for x in (value or "00:00").split(":"))
        return time(hour, minute)
    except (ValueError, TypeError):
        return time(0, 0)


def cutoff(now_local: datetime, days: int, at: time) -> date:
    """The last due date whose compensation point has passed at `now_local`."""
    today = now_local.date()
    last = today - timedelta(days=days)
    return last if now_local.time() >= at else last - timedelta(days=1)


async def compensate_loan(actor: Actor, loan_id: int, *, through: date | None = None,
                          scope: DataScope = EVERYTHING, request_id: str = "") -> Repayment:
    """Compensate every installment of the loan due on or before `through` (default: today)."""
    from core.orgs.models import EnhancementInstitution
    from core.products.models import Product

    loan = await Loan.filter(scope.products("product_id"), id=loan_id).first()
    if loan is None:
        raise not_found("Loan", "loanId")
    if LoanStatus(loan.status) not in REPAYING:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"Loan {loan.order_no} is {loan.status}; "
                           "only disbursed, overdue or compensated loans can be compensated")
    product = await Product.get(id=loan.product_id)  # type: ignore[attr-defined]
    if product.enhancement_institution_id is None:  # type: ignore[attr-defined]
        raise UserError.of("loanId", ErrorCode.INVALID_STATE,
                           f"Product {product.code} has no credit-enhancement institution to compensate")
    guarantor = await EnhancementInstitution.get(id=product.enhancement_institution_id)  # type: ignore[attr-defined]
    day = through or clock.business_today()
    due = list(await LoanInstallment.filter(loan_id=loan.id, status__in=OPEN, due_date__lte=day).order_by("number"))
    if not due:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"Loan {loan.order_no} has nothing due on or before "
                           f"{day} to compensate")
    amount = sum((owed(i) for i in due), ZERO)
    serial = f"COMP:{loan.order_no}:{due[-1].number}"
    return await post_repayment(loan.id, amount, serial, RepaymentSource.COMPENSATION, clock.now(), actor=actor,
                                scope=scope, channel=guarantor.name[:50], mode=Mode.COMPENSATION, through=day,
                                request_id=request_id)


@dataclass
class CompensationReport:
    compensated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


async def run_compensation(now: datetime | None = None) -> CompensationReport:
    """Compensate, for every product with a compensation point, the loans whose point has passed."""
    from core.products.models import Product

    report = CompensationReport()
    local = (now or clock.now()).astimezone(current_settings().tz)
    products = await Product.filter(compensation_enabled=True, enhancement_institution_id__isnull=False)
    for product in products:
        last_due = cutoff(local, max(product.compensation_days or 0, 0), point_time(product.compensation_time))
        loan_ids = await (LoanInstallment.filter(
            status__in=(InstallmentStatus.PENDING, InstallmentStatus.PARTIAL, InstallmentStatus.OVERDUE),
            due_date__lte=last_due, loan__product_id=product.id, loan__status__in=list(REPAYING))
            .distinct().values_list("loan_id", flat=True))
        for loan_id in sorted(set(loan_ids)):
            try:
                repayment = await compensate_loan(SYSTEM, loan_id, through=last_due)
                report.compensated.append(repayment.serial_no)
            except UserError as exc:
                report.failed[str(loan_id)] = str(exc)
    return report
