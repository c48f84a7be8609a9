"""The loan state machine (F-LOAN-1): which moves are legal, and the one function that makes them.

Why one function: every state change of a loan — admission, risk, review, signing, disbursement,
repayment, overdue, compensation, write-off, cancellation — goes through `transition`, which

- refuses a move the table below does not allow, with a typed `INVALID_STATE` error naming both
  states (the SPA shows it as is);
- applies it with a conditional UPDATE (`WHERE status = <from>`), so two racing callers cannot both
  move the same loan: the loser gets `INVALID_STATE` (or `STALE` when a version was expected);
- writes the `LoanEvent` (who, why, from, to) and enqueues the `plugins.loan_state_changed` outbox
  job in the caller's transaction, so integrators hear of the change after commit, exactly when it
  happened.

Call it inside `in_transaction()` together with the rows the change belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, UserError
from core.loans import events
from core.loans.models import Loan, LoanEvent, LoanStatus

S = LoanStatus

ALLOWED: Mapping[LoanStatus, frozenset[LoanStatus]] = {
    S.APPLIED: frozenset({S.RISK_CHECKING, S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.RISK_CHECKING: frozenset({S.APPROVED, S.REJECTED, S.MANUAL_REVIEW, S.CANCELLED}),
    S.MANUAL_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.APPROVED: frozenset({S.CONTRACT_SIGNED, S.CANCELLED}),
    S.REJECTED: frozenset(),
    S.CONTRACT_SIGNED: frozenset({S.DISBURSING, S.CANCELLED}),
    # A failed disbursement goes back to signed (it may be retried) — never straight to disbursed
    # without the provider's word.
    S.DISBURSING: frozenset({S.DISBURSED, S.CONTRACT_SIGNED}),
    S.DISBURSED: frozenset({S.OVERDUE, S.SETTLED, S.COMPENSATED}),
    S.OVERDUE: frozenset({S.DISBURSED, S.SETTLED, S.COMPENSATED, S.WRITTEN_OFF}),
    S.COMPENSATED: frozenset({S.SETTLED, S.WRITTEN_OFF}),
    S.SETTLED: frozenset(),
    S.WRITTEN_OFF: frozenset(),
    S.CANCELLED: frozenset(),
}

TERMINAL: frozenset[LoanStatus] = frozenset(s for s, nxt in ALLOWED.items() if not nxt)
REPAYING: frozenset[LoanStatus] = frozenset({S.DISBURSED, S.OVERDUE, S.COMPENSATED})
"""States in which a loan has money out and takes repayments."""


def can_move(from_status: LoanStatus | str, to_status: LoanStatus | str) -> bool:
    return LoanStatus(to_status) in ALLOWED[LoanStatus(from_status)]


def illegal(from_status: LoanStatus | str, to_status: LoanStatus | str) -> UserError:
    return UserError.of("status", ErrorCode.INVALID_STATE,
                        f"A loan in state {LoanStatus(from_status).value} cannot move to "
                        f"{LoanStatus(to_status).value}")


async def transition(loan: Loan, to_status: LoanStatus, *, actor: Actor | None, reason: str = "",
                     actor_label: str = "", changes: Mapping[str, Any] | None = None) -> Loan:
    """Move `loan` to `to_status` (with optional column `changes`), log it, tell plugins after commit.

    `loan.status` is the state the caller read; the UPDATE only succeeds if the row still holds it.
    The in-memory `loan` is updated to match. Raises `INVALID_STATE` for an illegal or lost move.
    """
    from_status = LoanStatus(loan.status)
    if not can_move(from_status, to_status):
        raise illegal(from_status, to_status)
    values: dict[str, Any] = dict(changes or {})
    values["status"] = to_status
    values["version"] = loan.version + 1
    values["updated_at"] = clock.now()
    updated = await Loan.filter(id=loan.id, status=from_status, version=loan.version).update(**values)
    if updated != 1:
        current = await Loan.filter(id=loan.id).values_list("status", flat=True)
        raise UserError.of("status", ErrorCode.STALE if current and current[0] == from_status
                           else ErrorCode.INVALID_STATE,
                           f"The loan changed meanwhile (now {current[0] if current else 'gone'}); reload it")
    for name, value in values.items():
        setattr(loan, name, value)
    label = actor_label or (actor.account if actor is not None else "system")
    event = await LoanEvent.create(loan_id=loan.id, from_status=from_status.value, to_status=to_status.value,
                           actor_id=actor.user_id if actor is not None and actor.user_id else None,
                           actor_label=label[:60], reason=reason[:500], created_at=clock.now())
    await events.enqueue_state_changed(loan, from_status, to_status, label, reason, event.id)
    return loan
