"""Background jobs of disbursement: resolving unanswered payments, and telling plugins after commit.

Each handler says how it stays idempotent, because delivery is at least once (see core.outbox).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from core.loans.disbursement import (
    DISBURSED_EVENT_JOB,
    OPEN,
    PAYMENT_SETTLED_JOB,
    RESOLVE_JOB,
    PaymentStillUnknown,
    resolve_payment,
)
from workers.registry import JobContext, job


@job(RESOLVE_JOB, "Ask the payment provider what became of an open disbursement and apply it")
async def resolve_disbursement(ctx: JobContext) -> dict[str, Any]:
    """Idempotent: a final outcome is applied once (conditional UPDATE on the payment's version);
    a payment already final is left alone. Still unknown: raises, so the outbox retries it with
    backoff (and alerts when the retries run out) — the outcome is never guessed."""
    outcome = await resolve_payment(int(ctx.payload["paymentId"]))
    if outcome.status in OPEN:
        raise PaymentStillUnknown(f"payment {outcome.payment.idempotency_key} is still {outcome.status.value} "
                                  "at the provider")
    return {"payment": outcome.payment.idempotency_key, "status": outcome.status.value,
            "loan": outcome.loan.order_no, "loanStatus": str(outcome.loan.status)}


@job(PAYMENT_SETTLED_JOB, "Tell plugins that a payment reached its final outcome")
async def payment_settled(ctx: JobContext) -> dict[str, Any]:
    """At least once: `event_id` names the payment (or repayment), so a plugin can drop a repeat.

    Payload (self-contained, any payment kind may enqueue it): event_id, provider, idempotency_key,
    kind ("disburse" / "deduct"), amount (decimal string), status, settled_at (ISO), serial, reference.
    """
    from plugins.runtime import current_host
    from plugins.types import PaymentSettled

    p = ctx.payload
    errors = await current_host().emit_payment_settled(PaymentSettled(
        event_id=p["event_id"], provider=p["provider"], idempotency_key=p["idempotency_key"], kind=p["kind"],
        amount=Decimal(p["amount"]), status=p["status"], settled_at=datetime.fromisoformat(p["settled_at"]),
        serial=p.get("serial", ""), reference=p.get("reference", "")))
    return {"event_id": p["event_id"], "plugin_errors": [str(e) for e in errors]}


@job(DISBURSED_EVENT_JOB, "The product's disbursement event: text the borrower that the loan was paid out")
async def disbursement_event(ctx: JobContext) -> dict[str, Any]:
    """At least once: the SMS carries the idempotency key `disbursed:<loan id>`, which notifiers
    de-duplicate. A failed or unknown send raises, so the outbox retries it."""
    from core.loans.models import Customer, Loan
    from plugins.runtime import current_host
    from plugins.types import NotifyStatus

    loan = await Loan.get(id=int(ctx.payload["loanId"]))
    customer = await Customer.get(id=loan.customer_id)  # type: ignore[attr-defined]
    result = await current_host().send_sms(customer.phone, "loan_disbursed", {
        "name": customer.name, "loan_no": loan.order_no, "amount": f"{loan.amount:.2f}"},
        idempotency_key=f"disbursed:{loan.id}")
    if result.status is NotifyStatus.FAILED:
        raise RuntimeError(f"disbursement SMS for {loan.order_no} refused: {result.reason}")
    return {"loan": loan.order_no, "sms": "accepted"}
