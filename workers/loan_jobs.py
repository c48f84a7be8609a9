"""Background jobs of the loan domain (plugin events; more loan jobs register here).

Each handler says how it stays idempotent, because delivery is at least once (see core.outbox).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.loans.events import STATE_CHANGED_JOB
from workers.registry import JobContext, job


@job(STATE_CHANGED_JOB, "Tell plugins that a loan changed state")
async def loan_state_changed(ctx: JobContext) -> dict[str, Any]:
    """At least once: `event_id` is the loan event's id, so a plugin can drop a repeat."""
    from plugins.runtime import current_host
    from plugins.types import LoanStateChanged

    p = ctx.payload
    errors = await current_host().emit_loan_state_changed(LoanStateChanged(
        event_id=p["event_id"], loan_no=p["loan_no"], previous_state=p["previous_state"],
        new_state=p["new_state"], occurred_at=datetime.fromisoformat(p["occurred_at"]), actor=p.get("actor", ""),
        reason=p.get("reason", "")))
    return {"event_id": p["event_id"], "plugin_errors": [str(e) for e in errors]}
