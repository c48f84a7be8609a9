"""Background jobs of payments and their follow-up checks: balance monitoring, its notices,
reconciliation, partner re-push, and the missing-repayment-plan check.

Each handler says how it stays idempotent, because delivery is at least once (see core.outbox).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from core import clock
from workers.registry import JobContext, job


@job("payments.balance_check", "Check disbursement accounts' balances against their warning line")
async def balance_check(ctx: JobContext) -> dict[str, Any]:
    """Idempotent: a breach is opened or closed by a conditional UPDATE on the account's flag; a
    repeated check only refreshes the last balance."""
    from core.payments.balance_monitor import check_balances

    return (await check_balances()).as_dict()


@job("payments.balance_notice", "Alert (and text operators) about a balance breach or its recovery")
async def balance_notice(ctx: JobContext) -> dict[str, Any]:
    """Alert once per breach and event (processed marker); SMS keyed per breach and phone (the
    notifier de-duplicates a retry)."""
    from core.payments.balance_monitor import send_notice

    return await send_notice(ctx.payload)


def _day(value: Any, default: date) -> date:
    return date.fromisoformat(str(value)) if value else default


@job("payments.reconcile", "Reconcile payment providers' statements (default: yesterday, every provider in use)")
async def reconcile(ctx: JobContext) -> dict[str, Any]:
    """Idempotent in effect: a day's result is replaced, never duplicated (a redelivery re-runs it
    and may alert again about the same mismatches)."""
    from core.payments.reconciliation import providers_in_use
    from core.payments.reconciliation import reconcile as run

    day = _day(ctx.payload.get("day"), clock.business_today() - timedelta(days=1))
    providers = [str(ctx.payload["provider"])] if ctx.payload.get("provider") else await providers_in_use(day)
    out = []
    for provider in providers:
        result = await run(provider, day)
        out.append({"provider": provider, "status": result.status.value, "mismatches": result.mismatch_count})
    return {"day": day.isoformat(), "runs": out}


@job("payments.repush", "Re-push one disbursement or repayment to partners (plugin payment-settled event)")
async def repush(ctx: JobContext) -> dict[str, Any]:
    """At least once: the event id is the outbox dedupe key, so a plugin can drop a repeat."""
    from core.payments.repush import push_one

    return await push_one(ctx.payload)


@job("loans.missing_plans", "Alert about loans disbursed yesterday that have no repayment plan")
async def missing_plans(ctx: JobContext) -> dict[str, Any]:
    """Once per day via the processed marker ``missing_plans:<day>``, committed before the alert."""
    from core.loans.plan_check import check_missing_plans

    return await check_missing_plans(_day(ctx.payload.get("day"), clock.business_today() - timedelta(days=1)))
