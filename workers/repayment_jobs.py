"""Background jobs of repayments, overdue and compensation.

Each handler says how it stays idempotent, because delivery is at least once (see core.outbox).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from workers.registry import JobContext, job


@job("repayments.resolve_deduction", "Ask the provider for the outcome of an unknown deduction")
async def resolve_deduction(ctx: JobContext) -> dict[str, Any]:
    """Idempotent: a final payment is left alone; a success posts once (unique serial number).
    Raises while the provider still does not know, so the outbox retries with backoff."""
    from core.loans.deduction import resolve

    payment = await resolve(int(ctx.payload["paymentId"]))
    return {"paymentId": payment.id, "status": str(payment.status)}


@job("repayments.send_sms", "Text the borrower that a repayment was received")
async def send_repayment_sms(ctx: JobContext) -> dict[str, Any]:
    """The notifier de-duplicates on the idempotency key `repayment-sms:<id>` (one text per repayment);
    a send that was not accepted raises, so the outbox retries it."""
    from core.loans.models import Customer, Loan, Repayment
    from plugins.runtime import current_host
    from plugins.types import NotifyStatus

    repayment = await Repayment.get(id=int(ctx.payload["repaymentId"]))
    loan = await Loan.get(id=repayment.loan_id)  # type: ignore[attr-defined]
    customer = await Customer.get(id=loan.customer_id)  # type: ignore[attr-defined]
    result = await current_host().send_sms(
        customer.phone, "repayment_succeeded",
        {"name": customer.name, "loan_no": loan.order_no, "amount": str(repayment.amount)},
        idempotency_key=f"repayment-sms:{repayment.id}")
    if result.status is not NotifyStatus.ACCEPTED:
        raise RuntimeError(f"repayment SMS for {repayment.serial_no} not accepted: {result.reason}")
    return {"repaymentId": repayment.id, "messageId": result.message_id}


@job("loans.overdue_daily", "Mark overdue installments, accrue penalty, move collection stages")
async def overdue_daily(ctx: JobContext) -> dict[str, Any]:
    """Idempotent per business date: installments already accrued through the date are skipped.
    `params.date` (ISO) runs it for another business date (catch-up)."""
    from core.loans.overdue import run_overdue

    day = date.fromisoformat(ctx.payload["date"]) if ctx.payload.get("date") else None
    return (await run_overdue(day)).as_dict()


@job("loans.compensation", "Compensate loans whose product compensation point has passed")
async def compensation(ctx: JobContext) -> dict[str, Any]:
    """Idempotent: compensated installments are closed and the serial is per last installment covered."""
    from core.loans.compensation import run_compensation

    report = await run_compensation()
    return {"compensated": report.compensated, "failed": report.failed}


@job("repayments.sweep_deductions", "Resolve deductions left pending by a crash before the provider answered")
async def sweep_deductions(ctx: JobContext) -> dict[str, Any]:
    """Idempotent: the resolve job it enqueues is de-duplicated per payment."""
    from core.loans.deduction import sweep_stale

    return {"resolving": await sweep_stale()}
