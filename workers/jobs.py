"""The platform's built-in jobs, registered by name (scheduled tasks' methods and outbox jobs).

Each handler says how it stays idempotent, because delivery is at least once (see core.outbox).
Balance warning (F-SYS-5), reconciliation (the bill check; fetching a bill file, e.g. from SFTP, is
the payment plugin's business), partner re-push and the missing-repayment-plan check are in
``workers.payment_jobs``. Left out on purpose: guarantee-agreement pull (no guarantor integration
yet) and funding-plan activation (plans and LPR rates take effect by date when read).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import chinese_calendar
from tortoise.transactions import in_transaction

from core import clock
from core.actor import SYSTEM
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from core.outbox.service import already_processed, dispatch_pending, mark_processed, requeue_stale
from workers.registry import JobContext, job


@job("outbox.redeliver", "Requeue lost outbox rows and dispatch pending ones")
async def outbox_redeliver(ctx: JobContext) -> dict[str, Any]:
    """Idempotent by construction: every state change is a conditional UPDATE on the row's status."""
    from workers.runtime import current_sink

    requeued = await requeue_stale()
    sink = current_sink()
    if sink is None:
        return {"requeued": requeued, "sent": 0, "note": "no dispatcher in this process"}
    report = await dispatch_pending(sink, limit=1000)
    out: dict[str, Any] = {"requeued": requeued, "sent": report.sent}
    if report.error:
        raise RuntimeError(f"{report.sent} sent, then {report.error}")
    return out


@job("ledger.seal", "Seal waiting ledger transactions into blocks")
async def ledger_seal(ctx: JobContext) -> dict[str, Any]:
    """Idempotent: sealing holds the ledger lock row and only seals transactions without a `seq`."""
    from core.ledger.sealing import seal_pending

    blocks = await seal_pending(force=bool(ctx.payload.get("force", False)))
    return {"blocks": [b.height for b in blocks]}


@job("plugins.block_sealed", "Tell plugins that a ledger block was sealed")
async def block_sealed(ctx: JobContext) -> dict[str, Any]:
    """At least once: the event id is the block height, so a plugin can drop a repeat."""
    from core.ledger.models import LedgerBlock
    from plugins.runtime import current_host
    from plugins.types import BlockSealed

    block = await LedgerBlock.get(height=int(ctx.payload["height"]))
    errors = await current_host().emit_block_sealed(BlockSealed(
        event_id=f"block:{block.height}", height=block.height, block_hash=block.block_hash,
        previous_hash=block.previous_hash, transaction_count=block.tx_count, merkle_root=block.merkle_root,
        sealed_at=block.sealed_at))
    return {"height": block.height, "plugin_errors": [str(e) for e in errors]}


@job("lpr.reminder", "Alert the LPR adjustment day (the 20th or next working day), once a month")
async def lpr_reminder(ctx: JobContext) -> dict[str, Any]:
    """Once per month via the processed marker ``lpr_reminder:YYYY-MM``, committed before the alert.

    From the adjustment day to the month's end, so a scheduler that was down on the day still reminds.
    """
    from core.products.lpr import reminder_date
    from core.system.alerts import raise_alert

    today = clock.business_today()
    due = reminder_date(today.year, today.month)
    if today < due:
        return {"today": today.isoformat(), "due": due.isoformat(), "alerted": False}
    key = f"lpr_reminder:{today:%Y-%m}"
    async with in_transaction():
        first = await mark_processed(key)
    if not first:
        return {"today": today.isoformat(), "due": due.isoformat(), "alerted": False, "already": True}
    await raise_alert("LPR_REMINDER", f"{due.isoformat()} 为本月LPR调整日：请在“LPR基础利率”页面录入最新LPR "
                      f"(LPR adjustment day {due.isoformat()}: enter the new rates)", source="task:lpr_reminder",
                      detail={"due": due.isoformat()})
    return {"today": today.isoformat(), "due": due.isoformat(), "alerted": True}


def calendar_covers(year: int) -> bool:
    """Whether the installed `chinese_calendar` knows ``year``'s official holidays."""
    try:
        chinese_calendar.is_holiday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


@job("calendar.next_year_reminder", "In December, alert that next year's holiday calendar must be checked")
async def calendar_reminder(ctx: JobContext) -> dict[str, Any]:
    """Once per year via the processed marker ``calendar_reminder:<next year>``."""
    from core.system.alerts import raise_alert

    today = clock.business_today()
    year = today.year + 1
    if today.month != 12:
        return {"year": year, "alerted": False, "note": "runs in December"}
    covered = calendar_covers(year)
    async with in_transaction():
        first = await mark_processed(f"calendar_reminder:{year}")
    if not first:
        return {"year": year, "covered": covered, "alerted": False, "already": True}
    if covered:
        message = (f"节假日日历已包含 {year} 年，请核对国务院公布的安排 "
                   f"(the holiday calendar covers {year}: check it against the State Council notice)")
    else:
        message = (f"节假日日历缺少 {year} 年：请升级 chinese-calendar 后重启 "
                   f"(no {year} holiday calendar: upgrade chinese-calendar; working days fall back to weekdays)")
    await raise_alert("CALENDAR_NEXT_YEAR", message, source="task:calendar_reminder",
                      detail={"year": year, "covered": covered})
    return {"year": year, "covered": covered, "alerted": True}


@job("system.daily_init", "Record the business-date roll (plans and LPR take effect by date)")
async def daily_init(ctx: JobContext) -> dict[str, Any]:
    """Once per business date via the processed marker ``daily_init:<date>``, in the log's transaction."""
    from core.products.lpr import rate_on
    from core.products.models import LprTerm

    today = clock.business_today()
    key = f"daily_init:{today.isoformat()}"
    if await already_processed(key):
        return {"businessDate": today.isoformat(), "already": True}
    rates = {t.value: (str(r) if (r := await rate_on(t, today)) is not None else None) for t in LprTerm}
    async with in_transaction():
        if not await mark_processed(key):
            return {"businessDate": today.isoformat(), "already": True}
        await oplog.record(SYSTEM, kind=OperatorKind.SYSTEM, module="tasks", action="daily_init",
                           summary=f"business date rolled to {today.isoformat()}",
                           detail={"businessDate": today.isoformat(), "lprInForce": rates})
    return {"businessDate": today.isoformat(), "lprInForce": rates}
