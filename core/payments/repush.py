"""Re-push disbursement / repayment data to partners (SPEC F-SYS-2), through the outbox.

A partner (a traffic platform, a guarantor, the bank's own systems) that lost data asks for a date
range again. :func:`repush` writes one outbox row per record in the range — final disbursements
(``Payment`` of kind disbursement, succeeded or failed) or repayments (``Repayment``) — in one
transaction with its operation-log entry; each row's job (``payments.repush``) delivers the record
as the plugin event ``lendline_on_payment_settled`` (``PaymentSettled``), the hook integrators
already implement for live payments.

Dedupe key ``repush:<request>:<kind>:<id>``: one request pushes each record once however often the
outbox redelivers; a second request is a second push, on purpose. ``event_id`` carries the same key,
and ``idempotency_key`` is the record's own (the payment's key, ``repayment:<serial>`` for a
repayment), which is what a partner de-duplicates the business record by.

Only records in the caller's data scope are pushed (filtered in SQL). A range is at most
``MAX_DAYS`` days and ``MAX_ROWS`` records, so one click cannot flood the queue.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise.transactions import in_transaction

from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, UserError
from core.loans.models import Payment, PaymentKind, PaymentStatus, Repayment
from core.oplog import service as oplog
from core.outbox.service import enqueue
from permissions.scope import DataScope

JOB = "payments.repush"
MAX_DAYS = 31
MAX_ROWS = 5000


class RepushKind(StrEnum):
    DISBURSEMENT = "disbursement"
    REPAYMENT = "repayment"


def _check(kind: RepushKind | str | None, day_from: date | None, day_to: date | None) -> RepushKind:
    errs = ErrorCollector()
    try:
        chosen = RepushKind(getattr(kind, "value", kind))
    except ValueError:
        errs.add("kind", ErrorCode.INVALID, "kind must be disbursement or repayment")
        chosen = RepushKind.DISBURSEMENT
    if day_from is None:
        errs.add("from", ErrorCode.REQUIRED, "from is required (first business date)")
    if day_to is None:
        errs.add("to", ErrorCode.REQUIRED, "to is required (last business date)")
    if day_from and day_to:
        if day_to < day_from:
            errs.add("to", ErrorCode.INVALID, "to must not be before from")
        elif (day_to - day_from).days + 1 > MAX_DAYS:
            errs.add("to", ErrorCode.OUT_OF_RANGE, f"a re-push covers at most {MAX_DAYS} days; split the range")
    errs.raise_if_any()
    return chosen


async def repush(actor: Actor, scope: DataScope, kind: RepushKind | str, day_from: date | None,
                 day_to: date | None, *, request_id: str = "") -> int:
    """Enqueue one push per record of ``kind`` with a business date in [from, to]; returns how many."""
    chosen = _check(kind, day_from, day_to)
    request = request_id or secrets.token_hex(8)
    if chosen is RepushKind.DISBURSEMENT:
        ids = await (Payment.filter(scope.products("product_id"), kind=PaymentKind.DISBURSEMENT,
                                    status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.FAILED],
                                    business_date__gte=day_from, business_date__lte=day_to)
                     .order_by("id").limit(MAX_ROWS + 1).values_list("id", flat=True))
    else:
        ids = await (Repayment.filter(scope.products("product_id"), business_date__gte=day_from,
                                      business_date__lte=day_to)
                     .order_by("id").limit(MAX_ROWS + 1).values_list("id", flat=True))
    if len(ids) > MAX_ROWS:
        raise UserError.of("to", ErrorCode.OUT_OF_RANGE,
                           f"more than {MAX_ROWS} records in the range; choose a shorter range")
    async with in_transaction():
        for pk in ids:
            key = f"repush:{request}:{chosen.value}:{pk}"[:200]
            await enqueue(JOB, {"kind": chosen.value, "id": int(pk), "eventId": key[:120]}, key)
        await oplog.record(actor, kind=actor.kind(), module="reconciliation", action="repush",
                           summary=f"re-pushed {len(ids)} {chosen.value} record(s) "
                                   f"{day_from.isoformat()}..{day_to.isoformat()} to partners",  # type: ignore[union-attr]
                           detail={"kind": chosen.value, "from": day_from.isoformat(),  # type: ignore[union-attr]
                                   "to": day_to.isoformat(), "count": len(ids), "request": request},  # type: ignore[union-attr]
                           request_id=request_id)
    return len(ids)


async def push_one(payload: dict[str, Any]) -> dict[str, Any]:
    """The job: deliver one record as ``PaymentSettled`` to every event plugin (at least once)."""
    from plugins.runtime import current_host
    from plugins.types import PaymentKind as PluginKind
    from plugins.types import PaymentSettled
    from plugins.types import PaymentStatus as PluginStatus

    kind, pk, event_id = payload["kind"], int(payload["id"]), str(payload["eventId"])
    if kind == RepushKind.DISBURSEMENT.value:
        p = await Payment.filter(id=pk).select_related("loan").first()
        if p is None:
            return {"id": pk, "skipped": "the payment no longer exists"}
        event = PaymentSettled(event_id=event_id, provider=p.provider, idempotency_key=p.idempotency_key,
                               kind=PluginKind.DISBURSE, amount=Decimal(p.amount),
                               status=PluginStatus(p.status.value), settled_at=_aware(p.settled_at or p.requested_at),
                               serial=p.serial_no or "", reference=p.loan.order_no)
    else:
        r = await Repayment.filter(id=pk).select_related("loan", "payment").first()
        if r is None:
            return {"id": pk, "skipped": "the repayment no longer exists"}
        key = r.payment.idempotency_key if r.payment is not None else f"repayment:{r.serial_no}"
        event = PaymentSettled(event_id=event_id, provider=r.deduction_channel or "offline", idempotency_key=key,
                               kind=PluginKind.DEDUCT, amount=Decimal(r.amount), status=PluginStatus.SUCCEEDED,
                               settled_at=_aware(r.paid_at), serial=r.serial_no, reference=r.loan.order_no)
    errors = await current_host().emit_payment_settled(event)
    return {"id": pk, "kind": kind, "eventId": event_id, "plugin_errors": [str(e) for e in errors]}


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
