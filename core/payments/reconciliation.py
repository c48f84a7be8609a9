"""Daily reconciliation (seed 004 对账, seed 001 bill tasks): a provider's statement against our records.

:func:`reconcile` fetches ``current_host().statement(provider, day)`` (how the provider delivers it —
API, SFTP bill file — is the plugin's business) and matches its lines against the platform's
records of that business day at that provider:
- ``Payment`` rows of kind disbursement or deduction (``provider``, ``business_date``);
- ``Repayment`` rows collected through the provider without a platform instruction (callbacks:
  ``deduction_channel`` = provider, no ``payment``); repayments made by a deduction are covered by
  their ``Payment``.

A line matches a record by serial number, else by idempotency key. Each disagreement becomes a
``ReconciliationItem``: missing on the platform (a line we have no record of), missing at the
provider (a record we consider sent — succeeded, accepted or unknown — that the statement lacks;
pending and failed records moved no money), amount mismatch, status mismatch (both sides differ and
at least one is final; "accepted"/"unknown" on both sides is a payment still in flight).

Re-running a day replaces its result: one ``ReconciliationRun`` per (provider, day), its items
deleted and rewritten in one transaction under a version check, so two concurrent re-runs cannot
interleave their items. Each run with mismatches raises ONE system alert summarising them. A
statement that cannot be fetched is a plugin alert from the facade and a run in status ``failed``
without items (the day was not reconciled; re-run it later).

Data scope: items are tagged with the product of the platform record, or — for a line we do not
know — with the bank whose provider account the line debits or credits (see ``core.payments.models``).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import SYSTEM, Actor
from core.errors import ErrorCode, UserError, not_found
from core.loans.models import Payment, PaymentKind, PaymentStatus, Repayment
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from core.orgs.models import PaymentPlatform
from core.payments.models import (
    ProviderAccount,
    ReconciliationItem,
    ReconciliationItemKind,
    ReconciliationRun,
    ReconciliationStatus,
)
from core.products.models import Product
from permissions.scope import DataScope

log = logging.getLogger("lendline.payments")

MODULE = "reconciliation"
ZERO = Decimal("0.00")
SENT = {PaymentStatus.SUCCEEDED.value, PaymentStatus.ACCEPTED.value, PaymentStatus.UNKNOWN.value}
IN_FLIGHT = {"accepted", "unknown"}
ALERT_SAMPLES = 5
ATTEMPTS = 3


@dataclass(frozen=True)
class Record:
    """A platform record of the day at the provider, as reconciliation compares it."""

    record: str  # disbursement / deduction / repayment
    serial_no: str
    idempotency_key: str
    amount: Decimal
    status: str
    product_id: int
    payment_id: int | None = None
    repayment_id: int | None = None


async def platform_records(provider: str, day: date) -> list[Record]:
    out: list[Record] = []
    payments = await Payment.filter(provider=provider, business_date=day,
                                    kind__in=[PaymentKind.DISBURSEMENT, PaymentKind.DEDUCTION]).order_by("id").values(
        "id", "kind", "serial_no", "idempotency_key", "amount", "status", "product_id")
    for p in payments:
        out.append(Record(str(p["kind"]), p["serial_no"] or "", p["idempotency_key"], Decimal(p["amount"]),
                          str(p["status"]), p["product_id"], payment_id=p["id"]))
    repayments = await Repayment.filter(deduction_channel=provider, business_date=day,
                                        payment_id__isnull=True).order_by("id").values(
        "id", "serial_no", "amount", "product_id")
    for r in repayments:
        out.append(Record("repayment", r["serial_no"], "", Decimal(r["amount"]), PaymentStatus.SUCCEEDED.value,
                          r["product_id"], repayment_id=r["id"]))
    return out


def _status(value: Any) -> str:
    return str(getattr(value, "value", value))


def compare(records: list[Record], lines: list[Any], bank_of_account: dict[str, int]
            ) -> tuple[list[dict[str, Any]], int]:
    """The items of a day and how many lines matched cleanly (pure: statement lines vs records)."""
    by_serial = {r.serial_no: r for r in records if r.serial_no}
    by_key = {r.idempotency_key: r for r in records if r.idempotency_key}
    seen: set[int] = set()
    items: list[dict[str, Any]] = []
    clean = 0

    def item(kind: ReconciliationItemKind, r: Record | None, line: Any | None, note: str) -> dict[str, Any]:
        bank = None
        if r is None and line is not None:
            bank = bank_of_account.get(line.debit_account) or bank_of_account.get(line.credit_account)
        return {"kind": kind, "record": r.record if r else _line_record(line),
                "serial_no": (line.serial if line is not None else r.serial_no if r else "")[:64],
                "idempotency_key": ((line.idempotency_key if line is not None else "") or (r.idempotency_key if r
                                                                                           else ""))[:128],
                "platform_amount": r.amount if r else None, "platform_status": r.status if r else "",
                "provider_amount": line.amount if line is not None else None,
                "provider_status": _status(line.status) if line is not None else "",
                "payment_id": r.payment_id if r else None, "repayment_id": r.repayment_id if r else None,
                "scope_product_id": r.product_id if r else None, "scope_bank_id": bank, "note": note[:200]}

    for line in lines:
        r = by_serial.get(line.serial) or (by_key.get(line.idempotency_key) if line.idempotency_key else None)
        if r is None or id(r) in seen:
            items.append(item(ReconciliationItemKind.MISSING_ON_PLATFORM, None, line,
                              "the provider lists a payment the platform has no record of"))
            continue
        seen.add(id(r))
        ok = True
        if r.amount != line.amount:
            ok = False
            items.append(item(ReconciliationItemKind.AMOUNT_MISMATCH, r, line,
                              f"platform {r.amount}, provider {line.amount}"))
        provider_status = _status(line.status)
        if r.status != provider_status and not (r.status in IN_FLIGHT and provider_status in IN_FLIGHT):
            ok = False
            items.append(item(ReconciliationItemKind.STATUS_MISMATCH, r, line,
                              f"platform {r.status}, provider {provider_status}"))
        clean += ok
    for r in records:
        if id(r) not in seen and r.status in SENT:
            items.append(item(ReconciliationItemKind.MISSING_AT_PROVIDER, r, None,
                              f"the platform records a {r.status} {r.record} the statement does not list"))
    return items, clean


def _line_record(line: Any) -> str:
    kind = _status(line.kind) if line is not None else ""
    return {"disburse": "disbursement", "deduct": "deduction"}.get(kind, kind)


async def _bank_accounts(provider: str) -> dict[str, int]:
    rows = await ProviderAccount.filter(payment_platform__identifier=provider).values("account_no", "bank_id")
    return {r["account_no"]: r["bank_id"] for r in rows}


async def providers_in_use(day: date) -> list[str]:
    """Platforms a product or a bank account uses, plus any provider with records on ``day``."""
    used = set(await PaymentPlatform.filter(
        Q(id__in=Subquery(Product.filter(payment_platform_id__isnull=False).values("payment_platform_id")))
        | Q(id__in=Subquery(ProviderAccount.all().values("payment_platform_id")))).values_list("identifier", flat=True))
    used |= set(await Payment.filter(business_date=day).distinct().values_list("provider", flat=True))
    used |= set(await Repayment.filter(business_date=day, payment_id__isnull=True).exclude(deduction_channel="")
                .distinct().values_list("deduction_channel", flat=True))
    return sorted(p for p in used if p and p != "offline")


async def reconcile(provider: str, day: date, *, actor: Actor = SYSTEM, request_id: str = "") -> ReconciliationRun:
    """Reconcile ``provider``'s statement for ``day``, replacing any earlier result of that day."""
    from core.system.alerts import raise_alert
    from plugins.errors import PluginError
    from plugins.runtime import announce_alert, current_host

    values: dict[str, Any]
    items: list[dict[str, Any]] = []
    try:
        statement = await current_host().statement(provider, day)
    except PluginError as exc:  # the facade raised the plugin alert
        values = {"status": ReconciliationStatus.FAILED, "platform_count": 0, "provider_count": 0,
                  "matched_count": 0, "mismatch_count": 0, "platform_total": ZERO, "provider_total": ZERO,
                  "error": f"statement not available: {exc}"[:500]}
    else:
        records = await platform_records(provider, day)
        items, clean = compare(records, list(statement.lines), await _bank_accounts(provider))
        provider_total = sum((ln.amount for ln in statement.lines if _status(ln.status) == "succeeded"), ZERO)
        platform_total = sum((r.amount for r in records if r.status == PaymentStatus.SUCCEEDED.value), ZERO)
        values = {"status": ReconciliationStatus.MISMATCHED if items else ReconciliationStatus.MATCHED,
                  "platform_count": len(records), "provider_count": len(statement.lines), "matched_count": clean,
                  "mismatch_count": len(items), "platform_total": platform_total, "provider_total": provider_total,
                  "error": ""}
    run = await _store(provider, day, values, items, actor, request_id)
    if items:
        counts = Counter(i["kind"].value for i in items)
        samples = ", ".join(f"{i['kind'].value}:{i['serial_no'] or i['idempotency_key']}"
                            for i in items[:ALERT_SAMPLES])
        message = (f"对账不一致 {provider} {day.isoformat()}: {len(items)} 笔 ("
                   + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) + f") e.g. {samples}")
        announce_alert(await raise_alert("RECONCILIATION_MISMATCH", message, source=f"reconciliation:{provider}"[:60],
                                         detail={"provider": provider, "day": day.isoformat(), "runId": run.id,
                                                 "counts": dict(counts)}))
    return run


async def _store(provider: str, day: date, values: dict[str, Any], items: list[dict[str, Any]], actor: Actor,
                 request_id: str) -> ReconciliationRun:
    """Replace the day's run and items in one transaction (version-checked; retried on a race)."""
    for _ in range(ATTEMPTS):
        now = clock.now()
        existing = await ReconciliationRun.get_or_none(provider=provider, day=day)
        try:
            async with in_transaction():
                if existing is None:
                    run = await ReconciliationRun.create(provider=provider, day=day, ran_at=now, **values)
                else:
                    updated = await ReconciliationRun.filter(id=existing.id, version=existing.version).update(
                        ran_at=now, runs=existing.runs + 1, version=existing.version + 1, **values)
                    if not updated:
                        raise _Raced
                    await ReconciliationItem.filter(run_id=existing.id).delete()
                    run = existing
                if items:
                    await ReconciliationItem.bulk_create([ReconciliationItem(run_id=run.id, **i) for i in items])
                summary = (f"reconciled {provider} {day.isoformat()}: {values['status'].value}, "
                           f"{values['mismatch_count']} mismatch(es)")
                await oplog.record(actor, kind=actor.kind() if actor.user_id else OperatorKind.SYSTEM,
                                   module=MODULE, action="run", summary=summary,
                                   detail={"provider": provider, "day": day.isoformat(),
                                           "status": values["status"].value, "mismatches": values["mismatch_count"],
                                           "rerun": existing is not None}, request_id=request_id)
        except (_Raced, IntegrityError):
            continue  # another run of the same day committed in between: redo on its row
        await run.refresh_from_db()
        return run
    raise UserError.of("day", ErrorCode.CONFLICT, f"{provider} {day.isoformat()} is being reconciled right now; "
                                                  "try again in a moment")


class _Raced(Exception):
    """The day's run changed between our read and our update."""


# --- reads -----------------------------------------------------------------------------------------


def runs(provider: str | None = None, day_from: date | None = None, day_to: date | None = None,
         status: ReconciliationStatus | None = None) -> QuerySet[ReconciliationRun]:
    """Runs (one per provider and day). A run itself is platform data: provider, day and status."""
    qs = ReconciliationRun.all()
    if provider:
        qs = qs.filter(provider=provider.strip())
    if day_from:
        qs = qs.filter(day__gte=day_from)
    if day_to:
        qs = qs.filter(day__lte=day_to)
    if status is not None:
        qs = qs.filter(status=status)
    return qs


def item_scope(scope: DataScope) -> Q:
    """Items the caller may see: by product tag, else by bank tag; untagged ones only when unrestricted."""
    if scope.unrestricted:
        return Q()
    by_product = Q(Q(scope_product_id__isnull=False), scope.products("scope_product_id"))
    by_bank = Q(Q(scope_product_id__isnull=True, scope_bank_id__isnull=False), scope.banks("scope_bank_id"))
    return Q(by_product, by_bank, join_type="OR")


def items(scope: DataScope, run_ids: list[int] | None = None,
          kind: ReconciliationItemKind | None = None) -> QuerySet[ReconciliationItem]:
    qs = ReconciliationItem.filter(item_scope(scope))
    if run_ids is not None:
        qs = qs.filter(run_id__in=run_ids)
    if kind is not None:
        qs = qs.filter(kind=kind)
    return qs


async def get_run(run_id: int, field: str = "id") -> ReconciliationRun:
    run = await ReconciliationRun.get_or_none(id=run_id)
    if run is None:
        raise not_found("Reconciliation run", field)
    return run


def check_day(day: date, field: str = "day") -> date:
    """A business day that has ended or is today (a statement of a future day cannot exist)."""
    if day > clock.business_today():
        raise UserError.of(field, ErrorCode.OUT_OF_RANGE, "day must not be in the future")
    return day


async def check_provider(provider: str, field: str = "provider") -> str:
    """A provider identifier a payment platform is registered with (re-runs name real providers only)."""
    cleaned = (provider or "").strip()
    if not cleaned:
        raise UserError.of(field, ErrorCode.REQUIRED, "provider is required: a payment platform identifier")
    if not await PaymentPlatform.filter(identifier=cleaned).exists():
        raise UserError.of(field, ErrorCode.NOT_FOUND,
                           f"No payment platform has identifier {cleaned!r}; see paymentPlatforms")
    return cleaned
