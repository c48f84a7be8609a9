"""Missing repayment plans (SPEC F-SYS-2 built-in task): loans disbursed yesterday without installments.

Why a check at all: disbursement builds and stores the schedule in the transaction that marks the
loan disbursed, so a gap means a bug or a manual repair; found the next morning, it is fixed before
the first due date. One alert per business day lists the orders (idempotent: the processed marker
``missing_plans:<day>`` commits before the alert, so re-runs and redeliveries of the day stay silent).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from core import clock
from core.loans.models import Loan, LoanInstallment
from core.outbox.service import mark_processed

LISTED = 50  # order numbers named in the alert; the count covers the rest


async def loans_without_plan(day: date) -> list[tuple[int, str]]:
    """(id, order number) of loans disbursed on business date ``day`` that have no installment (one query)."""
    with_plan = LoanInstallment.filter(loan__disbursement_date=day).values("loan_id")
    rows = await (Loan.filter(disbursement_date=day).exclude(id__in=Subquery(with_plan)).order_by("id")
                  .values_list("id", "order_no"))
    return [(int(i), str(n)) for i, n in rows]


async def check_missing_plans(day: date | None = None) -> dict[str, Any]:
    """Alert once about ``day``'s (default: yesterday's) disbursed loans without a repayment plan."""
    from core.system.alerts import raise_alert
    from plugins.runtime import announce_alert

    day = day or clock.business_today() - timedelta(days=1)
    missing = await loans_without_plan(day)
    out: dict[str, Any] = {"day": day.isoformat(), "missing": len(missing), "alerted": False}
    if not missing:
        return out
    async with in_transaction():
        first = await mark_processed(f"missing_plans:{day.isoformat()}")
    if not first:
        return out | {"already": True}
    listed = ", ".join(n for _, n in missing[:LISTED]) + (f" … (+{len(missing) - LISTED})" if len(missing) > LISTED
                                                          else "")
    alert = await raise_alert("REPAYMENT_PLAN_MISSING",
                              f"{day.isoformat()} 放款的 {len(missing)} 笔借款没有还款计划 (loans disbursed without a "
                              f"repayment plan): {listed}", source="task:missing_plans",
                              detail={"day": day.isoformat(), "loanIds": [i for i, _ in missing[:500]],
                                      "count": len(missing)})
    announce_alert(alert)
    return out | {"alerted": True, "orders": [n for _, n in missing[:LISTED]]}
