"""Background jobs of post-loan fund control: violation events, re-detection, the transaction feed.

Each handler says how it stays idempotent, because delivery is at least once (see core.outbox).
"""

from __future__ import annotations

from typing import Any

from core.monitoring.detection import VIOLATION_JOB
from workers.registry import JobContext, job


@job(VIOLATION_JOB, "Tell plugins that a violation was detected")
async def violation_detected(ctx: JobContext) -> dict[str, Any]:
    """At least once: `event_id` is ``violation:<id>``, so a plugin can drop a repeat."""
    from core.monitoring.models import AccountTransaction, Violation
    from plugins.runtime import current_host
    from plugins.types import ViolationDetected

    v = await Violation.get(id=int(ctx.payload["violation_id"]))
    serial = ""
    if v.transaction_id is not None:  # type: ignore[attr-defined]
        serial = await AccountTransaction.filter(id=v.transaction_id).first().values_list(  # type: ignore[attr-defined]
            "serial_no", flat=True) or ""
    errors = await current_host().emit_violation_detected(ViolationDetected(
        event_id=f"violation:{v.id}", violation_id=str(v.id), transaction_serial=str(serial),
        customer_no=v.customer_no, diversion_code=v.type_code, amount=v.amount, loan_funded_amount=v.loan_amount,
        detected_at=v.detected_at, loan_no=v.order_no))
    return {"violation_id": v.id, "plugin_errors": [str(e) for e in errors]}


@job("monitoring.redetect", "Run the detectors again on transactions a detector failed on")
async def redetect(ctx: JobContext) -> dict[str, Any]:
    """Idempotent: violations are deduplicated per transaction, type and loan; the mark is cleared last."""
    from core.monitoring.detection import redetect as run

    return await run(int(ctx.payload.get("limit", 500)))


@job("monitoring.pull_feed", "Ingest new account transactions from feed plugins")
async def pull_feed(ctx: JobContext) -> dict[str, Any]:
    """Idempotent: ingestion skips serial numbers already stored; the watermark overlaps by a day."""
    from core.monitoring.feed import pull_feed as run

    return await run()
