"""The collection pool (催收, F-LOAN-5): cases by stage, assignment, contact records, collection rates.

Pool rules:
- A loan is in the pool while an installment is unpaid within the reminder window (S0/M0: two days
  before its due date through the due date) or past due; the stage follows the oldest unpaid
  installment's days past due (`core.loans.penalty.collection_stage`: S-stages for day products,
  M-stages for month products).
- The daily overdue job (`refresh_cases`) opens, moves and closes cases set-based for a business
  date. Moving to another stage ("re-entering a stage") unassigns the case: each stage is worked by
  its own team.
- A repayment that leaves nothing due closes the case at once (`record_recoveries`), so a paid case
  leaves the pool without waiting for the night.
- Statistics: per stage and period, the cases that entered the stage, the overdue amount at entry
  and what was recovered while in that stage; rate = recovered ÷ overdue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.loans.collection_models import (
    CloseReason,
    CollectionCase,
    CollectionRecord,
    CollectionStageEntry,
    CollectionStatus,
    ContactResult,
)
from core.loans.models import InstallmentStatus, Loan, LoanInstallment, LoanStatus
from core.loans.money import ZERO
from core.loans.penalty import CollectionStage, collection_stage
from core.loans.schedule import TermUnit
from core.oplog import service as oplog
from core.orgs import rules
from permissions.scope import DataScope

MODULE = "collection"
REMINDER_DAYS = 2
OPEN_STATUSES = (InstallmentStatus.PENDING, InstallmentStatus.PARTIAL, InstallmentStatus.OVERDUE)
CHUNK = 1000


def unit_of(loan_term_unit: str) -> TermUnit:
    return TermUnit(str(loan_term_unit).upper())


def _owed(row: dict[str, Any]) -> Decimal:
    return (max(row["principal"] - row["paid_principal"], ZERO)
            + max(row["interest"] - row["paid_interest"] - row["waived_interest"], ZERO)
            + max(row["fee"] - row["paid_fee"], ZERO) + max(row["penalty"] - row["paid_penalty"], ZERO))


def _close_reason(status: str) -> CloseReason:
    return {LoanStatus.SETTLED: CloseReason.SETTLED, LoanStatus.COMPENSATED: CloseReason.COMPENSATED,
            LoanStatus.WRITTEN_OFF: CloseReason.WRITTEN_OFF}.get(LoanStatus(status), CloseReason.PAID)


# --- after a repayment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recovery:
    """Money posted on one loan by one batch of repayments, as the collection pool needs it."""

    loan_id: int
    loan_status: str  # after the repayments
    installments: Sequence[Any]  # the loan's installments after the repayments (status, due_date)
    amount: Decimal
    day: date  # business date of the (last) repayment


async def record_recoveries(recoveries: Sequence[Recovery]) -> None:
    """Count the money as recovered on each loan's open case; close a case when nothing is due.

    Called inside the repayments' transaction (their loan rows are locked, so no two repayments of
    one loan race here; the nightly refresh uses versions). Pass only loans that may have a case:
    a case is only ever open while something is due within the reminder window or the loan is
    overdue, so the caller skips the others (`may_have_case` in `core.loans.repayment_batch`).
    Two reads whatever the number of loans; one UPDATE per case found (cases are the minority).
    """
    if not recoveries:
        return
    by_loan = {r.loan_id: r for r in recoveries}
    cases = await CollectionCase.filter(loan_id__in=list(by_loan), status=CollectionStatus.OPEN).values(
        "id", "loan_id", "recovered_amount", "version")
    if not cases:
        return
    entries = {e["case_id"]: e for e in await CollectionStageEntry.filter(
        case_id__in=[c["id"] for c in cases], left_on__isnull=True).values("id", "case_id", "recovered_amount")}
    now = clock.now()
    for case in cases:
        r = by_loan[case["loan_id"]]
        horizon = r.day + timedelta(days=REMINDER_DAYS)
        still_due = any(InstallmentStatus(i.status) in OPEN_STATUSES and i.due_date <= horizon
                        for i in r.installments)
        values: dict[str, Any] = {"recovered_amount": case["recovered_amount"] + r.amount,
                                  "version": case["version"] + 1, "updated_at": now}
        if not still_due:
            values.update(status=CollectionStatus.CLOSED, closed_on=r.day,
                          close_reason=_close_reason(r.loan_status).value)
        await CollectionCase.filter(id=case["id"]).update(**values)
        entry = entries.get(case["id"])
        if entry is not None:
            changes: dict[str, Any] = {"recovered_amount": entry["recovered_amount"] + r.amount}
            if not still_due:
                changes["left_on"] = r.day
            await CollectionStageEntry.filter(id=entry["id"]).update(**changes)


# --- the nightly refresh --------------------------------------------------------------------------


@dataclass
class RefreshReport:
    opened: int = 0
    moved: int = 0
    closed: int = 0
    unchanged: int = 0


async def _candidates(day: date) -> dict[int, tuple[date, Decimal]]:
    """Loan id → (oldest unpaid due date within the window, amount owed on installments due so far)."""
    horizon = day + timedelta(days=REMINDER_DAYS)
    out: dict[int, tuple[date, Decimal]] = {}
    last = 0
    fields = ("id", "loan_id", "due_date", "principal", "interest", "fee", "penalty", "paid_principal",
              "paid_interest", "paid_fee", "paid_penalty", "waived_interest")
    while True:
        rows = await (LoanInstallment.filter(status__in=OPEN_STATUSES, due_date__lte=horizon, id__gt=last)
                      .order_by("id").limit(5000).values(*fields))
        if not rows:
            return out
        last = rows[-1]["id"]
        for row in rows:
            loan_id = row["loan_id"]
            amount = _owed(row) if row["due_date"] <= day else ZERO
            first, total = out.get(loan_id, (row["due_date"], ZERO))
            out[loan_id] = (min(first, row["due_date"]), total + amount)


async def _loans(ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    wanted = list(ids)
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), CHUNK):
        for row in await Loan.filter(id__in=wanted[start:start + CHUNK]).values("id", "product_id", "term_unit",
                                                                                   "status"):
            found[row["id"]] = row
    return found


async def refresh_cases(day: date) -> RefreshReport:
    """Open, move and close collection cases for business date `day` (idempotent for a day)."""
    report = RefreshReport()
    candidates = await _candidates(day)
    loans = await _loans(candidates)
    wanted: dict[int, tuple[CollectionStage, int, Decimal]] = {}
    for loan_id, (first_due, amount) in candidates.items():
        loan = loans.get(loan_id)
        if loan is None or LoanStatus(loan["status"]) not in (LoanStatus.DISBURSED, LoanStatus.OVERDUE,
                                                               LoanStatus.COMPENSATED):
            continue
        days = (day - first_due).days
        stage = collection_stage(days, unit_of(loan["term_unit"]), reminder_days=REMINDER_DAYS)
        if stage is not None:
            wanted[loan_id] = (stage, days, amount)
    open_cases = {c.loan_id: c for c in await CollectionCase.filter(status=CollectionStatus.OPEN)}  # type: ignore[attr-defined]
    now = clock.now()
    new_cases: list[CollectionCase] = []
    moved: list[CollectionCase] = []
    touched: list[CollectionCase] = []
    closing: list[CollectionCase] = []
    for loan_id, (stage, days, amount) in wanted.items():
        case = open_cases.get(loan_id)
        if case is None:
            new_cases.append(CollectionCase(loan_id=loan_id, product_id=loans[loan_id]["product_id"],
                                            stage=stage.value, stage_entered_on=day, days_past_due=days,
                                            overdue_amount=amount, status=CollectionStatus.OPEN, opened_on=day))
        elif case.stage != stage.value:
            case.stage, case.stage_entered_on, case.days_past_due, case.overdue_amount = stage.value, day, days, amount
            case.assignee_id, case.assigned_at = None, None  # type: ignore[attr-defined]
            case.version += 1
            case.updated_at = now
            moved.append(case)
        elif case.days_past_due != days or case.overdue_amount != amount:
            case.days_past_due, case.overdue_amount = days, amount
            case.version += 1
            case.updated_at = now
            touched.append(case)
        else:
            report.unchanged += 1
    gone = [c for lid, c in open_cases.items() if lid not in wanted]
    if gone:
        statuses = await _loans(c.loan_id for c in gone)  # type: ignore[attr-defined]
        for case in gone:
            status = LoanStatus(statuses[case.loan_id]["status"])  # type: ignore[attr-defined]
            case.status, case.closed_on = CollectionStatus.CLOSED, day
            case.close_reason = _close_reason(status).value
            case.version += 1
            case.updated_at = now
            closing.append(case)
    async with in_transaction():
        if new_cases:
            await CollectionCase.bulk_create(new_cases, batch_size=1000)
            created = await CollectionCase.filter(status=CollectionStatus.OPEN, opened_on=day).values(
                "id", "loan_id", "product_id", "stage", "overdue_amount")
            have = set(await CollectionStageEntry.filter(entered_on=day).values_list("case_id", flat=True))
            await CollectionStageEntry.bulk_create([
                CollectionStageEntry(case_id=c["id"], loan_id=c["loan_id"], product_id=c["product_id"],
                                     stage=c["stage"], entered_on=day, overdue_amount=c["overdue_amount"])
                for c in created if c["id"] not in have], batch_size=1000)
        if moved:
            await CollectionCase.bulk_update(moved, fields=["stage", "stage_entered_on", "days_past_due",
                                                            "overdue_amount", "assignee_id", "assigned_at",
                                                            "version", "updated_at"], batch_size=500)
            ids = [c.id for c in moved]
            for start in range(0, len(ids), CHUNK):
                await CollectionStageEntry.filter(case_id__in=ids[start:start + CHUNK], left_on__isnull=True).update(
                    left_on=day)
            await CollectionStageEntry.bulk_create([
                CollectionStageEntry(case_id=c.id, loan_id=c.loan_id, product_id=c.product_id,  # type: ignore[attr-defined]
                                     stage=c.stage, entered_on=day, overdue_amount=c.overdue_amount) for c in moved],
                batch_size=1000)
        if touched:
            await CollectionCase.bulk_update(touched, fields=["days_past_due", "overdue_amount", "version",
                                                              "updated_at"], batch_size=500)
        if closing:
            await CollectionCase.bulk_update(closing, fields=["status", "closed_on", "close_reason", "version",
                                                              "updated_at"], batch_size=500)
            ids = [c.id for c in closing]
            for start in range(0, len(ids), CHUNK):
                await CollectionStageEntry.filter(case_id__in=ids[start:start + CHUNK], left_on__isnull=True).update(
                    left_on=day)
    report.opened, report.moved, report.closed = len(new_cases), len(moved), len(closing)
    report.unchanged += len(touched)
    return report


# --- pool, assignment and records -----------------------------------------------------------------


def cases_query(scope: DataScope, *, status: CollectionStatus | None = CollectionStatus.OPEN, stage: str | None = None,
                assignee_id: int | None = None, unassigned: bool | None = None, loan_id: int | None = None) -> Any:
    """Collection cases within the caller's data scope (SQL); the pool is the open ones."""
    qs = CollectionCase.filter(scope.products("product_id"))
    if status is not None:
        qs = qs.filter(status=status)
    if stage:
        qs = qs.filter(stage=stage)
    if assignee_id is not None:
        qs = qs.filter(assignee_id=assignee_id)
    if unassigned is True:
        qs = qs.filter(assignee_id__isnull=True)
    elif unassigned is False:
        qs = qs.filter(assignee_id__isnull=False)
    if loan_id is not None:
        qs = qs.filter(loan_id=loan_id)
    return qs


def records_query(scope: DataScope, *, case_id: int | None = None, loan_id: int | None = None) -> Any:
    qs = CollectionRecord.filter(scope.products("product_id"))
    if case_id is not None:
        qs = qs.filter(case_id=case_id)
    if loan_id is not None:
        qs = qs.filter(loan_id=loan_id)
    return qs


async def assign(actor: Actor, case_ids: Sequence[int], assignee_id: int | None, *, request_id: str = ""
                 ) -> list[CollectionCase]:
    """Assign open cases (single or batch; reassignment allowed) to a user, or unassign with None."""
    from core.accounts.models import User

    errs = ErrorCollector()
    if not case_ids:
        errs.add("caseIds", ErrorCode.REQUIRED, "caseIds is required: choose at least one case")
    elif len(case_ids) > 500:
        errs.add("caseIds", ErrorCode.OUT_OF_RANGE, "at most 500 cases per assignment")
    user = None
    if assignee_id is not None:
        user = await User.filter(id=assignee_id, enabled=True).first()
        if user is None:
            errs.add("assigneeId", ErrorCode.NOT_FOUND, "The assignee does not exist or is disabled")
    errs.raise_if_any()
    unique = sorted(set(case_ids))
    async with in_transaction():
        cases = list(await CollectionCase.filter(actor.scope.products("product_id"), id__in=unique))
        found = {c.id for c in cases}
        for index, cid in enumerate(case_ids):
            if cid not in found:
                raise UserError.of(f"caseIds[{index}]", ErrorCode.NOT_FOUND, "Collection case not found")
        now = clock.now()
        for case in cases:
            if CollectionStatus(case.status) is not CollectionStatus.OPEN:
                raise UserError.of(f"caseIds[{list(case_ids).index(case.id)}]", ErrorCode.INVALID_STATE,
                                   "The case is closed; it has left the pool")
            updated = await CollectionCase.filter(id=case.id, version=case.version).update(
                assignee_id=assignee_id, assigned_at=now if assignee_id else None, version=F("version") + 1,
                updated_at=now)
            if updated != 1:
                raise UserError.of("caseIds", ErrorCode.STALE, "A case changed meanwhile; reload the pool")
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="assign",
                           summary=f"assigned {len(cases)} collection case(s) to "
                                   f"{user.account if user else 'nobody'}",
                           detail={"caseIds": unique, "assigneeId": assignee_id}, request_id=request_id,
                           scope_product_id=cases[0].product_id if len(  # type: ignore[attr-defined]
                               {c.product_id for c in cases}) == 1 else None)  # type: ignore[attr-defined]
    return list(await CollectionCase.filter(id__in=unique).order_by("id"))


async def add_record(actor: Actor, case_id: int, *, contact_result: ContactResult | str | None,
                     contacted_at: datetime | None = None, promise_amount: Decimal | str | None = None,
                     promise_date: date | None = None, remark: str | None = None,
                     request_id: str = "") -> CollectionRecord:
    """Write one collection contact on a case within the caller's scope."""
    case = await CollectionCase.filter(actor.scope.products("product_id"), id=case_id).first()
    if case is None:
        raise not_found("Collection case", "caseId")
    errs = ErrorCollector()
    result: ContactResult | None = None
    try:
        result = ContactResult(contact_result) if contact_result is not None else None
    except ValueError:
        errs.add("contactResult", ErrorCode.INVALID,
                 f"contactResult must be one of {', '.join(r.value for r in ContactResult)}")
    if result is None and not errs.has("contactResult"):
        errs.add("contactResult", ErrorCode.REQUIRED, "contactResult is required")
    amount = rules.money(errs, "promiseAmount", promise_amount) if promise_amount not in (None, "") else None
    if result is ContactResult.PROMISED and (amount is None or promise_date is None):
        errs.add("promiseDate" if amount is not None else "promiseAmount", ErrorCode.REQUIRED,
                 "A promise to pay needs promiseAmount and promiseDate")
    today = clock.business_today()
    if promise_date is not None and promise_date < today:
        errs.add("promiseDate", ErrorCode.OUT_OF_RANGE, "promiseDate cannot be in the past")
    when = contacted_at or clock.now()
    if when > clock.now() + timedelta(minutes=5):
        errs.add("contactedAt", ErrorCode.OUT_OF_RANGE, "contactedAt cannot be in the future")
    note = rules.text(errs, "remark", remark, 500, required=False)
    errs.raise_if_any()
    assert result is not None
    async with in_transaction():
        record = await CollectionRecord.create(
            case_id=case.id, loan_id=case.loan_id, product_id=case.product_id,  # type: ignore[attr-defined]
            collector_id=actor.user_id or None, collector_name=actor.name[:40], stage=case.stage,
            contacted_at=when, contact_result=result, promise_amount=amount, promise_date=promise_date,
            remark=note or "")
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="add_record",
                           summary=f"collection record on case {case.id} ({result.value})",
                           detail={"caseId": case.id, "result": result.value, "promiseAmount": amount,
                                   "promiseDate": promise_date.isoformat() if promise_date else None},
                           request_id=request_id, scope_product_id=case.product_id)  # type: ignore[attr-defined]
    return record


@dataclass(frozen=True)
class StageStats:
    stage: str
    cases_entered: int
    overdue_amount: Decimal
    recovered_amount: Decimal
    recovered_cases: int

    @property
    def rate(self) -> Decimal:
        """Recovered ÷ overdue, to four places (0 when nothing was overdue)."""
        if not self.overdue_amount:
            return Decimal("0.0000")
        return (self.recovered_amount / self.overdue_amount).quantize(Decimal("0.0001"), ROUND_HALF_UP)


async def stats(scope: DataScope, date_from: date, date_to: date, product_id: int | None = None
                ) -> list[StageStats]:
    """Collection rates per stage for stage entries in [date_from, date_to], within the caller's scope."""
    if date_to < date_from:
        raise UserError.of("dateTo", ErrorCode.OUT_OF_RANGE, "dateTo must not be before dateFrom")
    if (date_to - date_from).days > 366:
        raise UserError.of("dateTo", ErrorCode.OUT_OF_RANGE, "at most one year per query")
    qs = CollectionStageEntry.filter(scope.products("product_id"), entered_on__gte=date_from,
                                     entered_on__lte=date_to)
    if product_id is not None:
        qs = qs.filter(product_id=product_id)
    sums: dict[str, list[Any]] = defaultdict(lambda: [0, ZERO, ZERO, 0])
    for stage, overdue, recovered in await qs.values_list("stage", "overdue_amount", "recovered_amount"):
        s = sums[stage]
        s[0] += 1
        s[1] += overdue
        s[2] += recovered
        s[3] += 1 if recovered > 0 else 0
    order = [s.value for s in CollectionStage]
    return [StageStats(stage, *sums[stage]) for stage in order if stage in sums]
