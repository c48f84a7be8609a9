"""Background job of product callbacks: POST the event to the traffic platform's address.

Idempotent for the receiver: every delivery of one event carries the same `Idempotency-Key`
(the event id) — see core.loans.callbacks.
"""

from __future__ import annotations

from typing import Any

from core.loans.callbacks import CALLBACK_JOB, send
from workers.registry import JobContext, job


@job(CALLBACK_JOB, "Call the product's callback address about a disbursement or a repayment")
async def product_callback(ctx: JobContext) -> dict[str, Any]:
    """Raises on anything but a 2xx answer, so the outbox retries with backoff and alerts at the end."""
    return await send(ctx.payload)
