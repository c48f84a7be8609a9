"""After-commit events about loans for integrators (`lendline_on_loan_state_changed`).

Why through the outbox: the event must reach plugins only if the state change committed, and must
not be lost if the process dies right after the commit. `transition` enqueues the job in the same
transaction; the job (in `workers.loan_jobs`) carries the event as it was, with the loan event's
id as `event_id`, so a plugin that sees a redelivery can drop it.
"""

from __future__ import annotations

from core import clock
from core.loans.models import Loan, LoanStatus
from core.outbox.service import enqueue

STATE_CHANGED_JOB = "plugins.loan_state_changed"


async def enqueue_state_changed(loan: Loan, from_status: LoanStatus, to_status: LoanStatus, actor_label: str,
                                reason: str, event_id: int) -> None:
    await enqueue(STATE_CHANGED_JOB, {
        "event_id": f"loan_event:{event_id}", "loan_no": loan.order_no, "previous_state": from_status.value,
        "new_state": to_status.value, "occurred_at": clock.now().isoformat(), "actor": actor_label,
        "reason": reason,
    }, dedupe_key=f"loan_event:{event_id}")
