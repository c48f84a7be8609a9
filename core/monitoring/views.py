"""Fund-control views (F-MON-5, F-MON-7): transactions, fund-flow chain, violations, totals, per-type
amounts, the offset-coefficient series, and confirming/dismissing a violation.

Why this shape:
- Every reader takes the caller's `DataScope` and applies `scope.products("product_id")` in SQL
  (F-ROLE-4); nothing is loaded and then filtered in Python. A row of another bank's product answers
  exactly like a missing row.
- "Last 7 days" (seed 000: 经办人/复核员登录默认显示 7 天内数据) means the business dates today and the
  six days before it, in the business time zone; `reset=True` drops the default window (点击重置).
  An explicit `since`/`until` replaces the default window.
- Money sums are computed in SQL over integer cents (`CAST(ROUND(col * 100) AS BIGINT)`): SQLite keeps
  tortoise decimals as TEXT, and `SUM` over TEXT would give a float; summing cents is exact on both
  backends.
- Viewer searches of a customer's data are written to the operation log (F-MON-7); see
  `core.monitoring.viewer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q, RawSQL, Subquery
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.config import current_settings
from core.errors import ErrorCode, UserError, not_found
from core.ledger import service as ledger
from core.ledger.models import TxStatus
from core.loans.models import Loan
from core.monitoring.models import (
    AccountTransaction,
    TransactionFundPart,
    TxDirection,
    Violation,
    ViolationKind,
    ViolationStatus,
)
from core.monitoring.offset import DailyLoanFunds, OffsetPoint, offset_coefficients
from core.oplog import service as oplog
from permissions.scope import DataScope

MODULE_TRANSACTIONS = "transactions"
MODULE_VIOLATIONS = "violations"
DEFAULT_DAYS = 7
"""Default window of the transaction and violation lists: today and the 6 business days before."""
MAX_SERIES_DAYS = 366
"""Longest offset-coefficient series one request may ask for (a year of daily points)."""
DEFAULT_SERIES_DAYS = 30
MAX_CHAIN_ROWS = 2000
"""Longest fund-flow chain returned at once; a longer period must be narrowed (typed error)."""
COMMENT_MAX = 200
_CENT = Decimal("0.01")


def cents_sql(column: str) -> RawSQL:
    """Exact money in integer cents for SQL aggregation on SQLite (TEXT decimals) and PostgreSQL."""
    return RawSQL(f'CAST(ROUND("{column}" * 100) AS BIGINT)')


def from_cents(value: Any) -> Decimal:
    """A SUM of cents (None when no rows) back to a Decimal amount with two places."""
    return (Decimal(int(value or 0)) / 100).quantize(_CENT)


# ---- time windows ----

def day_start(day: date) -> datetime:
    """The instant a business date starts, in UTC (see `utc`)."""
    return utc(datetime.combine(day, time.min, tzinfo=current_settings().tz))


def utc(at: datetime) -> datetime:
    """Aware UTC: SQLite compares stored times as text, so every bound must be in the stored zone (UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=current_settings().tz)
    return at.astimezone(UTC)


def business_date(at: datetime) -> date:
    return at.astimezone(current_settings().tz).date()


def default_since() -> datetime:
    """Start of the default window: 00:00 of the business date six days before today."""
    return day_start(clock.business_today() - timedelta(days=DEFAULT_DAYS - 1))


@dataclass(frozen=True)
class Window:
    """A time window [since, until) on one timestamp column; both ends optional."""

    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def resolve(cls, since: datetime | None, until: datetime | None, reset: bool) -> Window:
        """The window a list applies: explicit bounds, else the default 7 days unless `reset`."""
        if since is not None and until is not None and until <= since:
            raise UserError.of("filter.until", ErrorCode.OUT_OF_RANGE, "until must be later than since")
        if since is None and until is None and not reset:
            return cls(default_since(), None)
        return cls(utc(since) if since else None, utc(until) if until else None)

    def q(self, column: str) -> Q:
        out = Q()
        if self.since is not None:
            out &= Q(**{f"{column}__gte": self.since})
        if self.until is not None:
            out &= Q(**{f"{column}__lt": self.until})
        return out


# ---- transactions ----

@dataclass(frozen=True)
class TransactionFilter:
    customer_no: str | None = None
    order_no: str | None = None
    direction: TxDirection | None = None
    since: datetime | None = None
    until: datetime | None = None
    reset: bool = False
    product_id: int | None = None


def transactions_query(scope: DataScope, f: TransactionFilter | None = None) -> QuerySet[AccountTransaction]:
    """All transactions within `scope`, filtered in SQL (default window: the last 7 business days)."""
    f = f or TransactionFilter()
    qs = AccountTransaction.filter(scope.products("product_id"))
    qs = qs.filter(Window.resolve(f.since, f.until, f.reset).q("occurred_at"))
    if f.customer_no:
        qs = qs.filter(customer_no=f.customer_no.strip())
    if f.order_no:
        qs = qs.filter(order_no=f.order_no.strip())
    if f.direction is not None:
        qs = qs.filter(direction=f.direction)
    if f.product_id is not None:
        qs = qs.filter(product_id=f.product_id)
    return qs


async def fund_parts_by_transaction(scope: DataScope, ids: Sequence[int]) -> dict[int, list[TransactionFundPart]]:
    """Fund parts of the given transactions (only of those within scope), in insertion order."""
    visible = AccountTransaction.filter(scope.products("product_id"), id__in=list(ids)).values("id")
    parts = await TransactionFundPart.filter(transaction_id__in=Subquery(visible)).order_by("id")
    out: dict[int, list[TransactionFundPart]] = {i: [] for i in ids}
    for p in parts:
        out[p.transaction_id].append(p)  # type: ignore[attr-defined]
    return out


async def transactions_by_id(scope: DataScope, ids: Sequence[int]) -> dict[int, AccountTransaction]:
    rows = await AccountTransaction.filter(scope.products("product_id"), id__in=list(ids))
    return {r.id: r for r in rows}


async def loans_by_id(scope: DataScope, ids: Sequence[int]) -> dict[int, Loan]:
    rows = await Loan.filter(scope.products("product_id"), id__in=list(ids)).prefetch_related("customer")
    return {r.id: r for r in rows}


async def violations_by_transaction(scope: DataScope, ids: Sequence[int]) -> dict[int, list[Violation]]:
    """Violations raised on the given transactions (all statuses), oldest first."""
    rows = await Violation.filter(scope.products("product_id"), transaction_id__in=list(ids)).order_by("id")
    out: dict[int, list[Violation]] = {i: [] for i in ids}
    for v in rows:
        out[v.transaction_id].append(v)  # type: ignore[attr-defined]
    return out


# ---- violations ----

@dataclass(frozen=True)
class ViolationFilter:
    """Violation list filters; the time window applies to `detected_at` (when the violation was raised)."""

    type_code: str | None = None
    kind: ViolationKind | None = None
    status: ViolationStatus | None = None
    customer_no: str | None = None
    order_no: str | None = None
    product_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    reset: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON form stored with a background export (rebuilt with `from_json` in the job)."""
        return {"type_code": self.type_code, "kind": self.kind.value if self.kind else None,
                "status": self.status.value if self.status else None, "customer_no": self.customer_no,
                "order_no": self.order_no, "product_id": self.product_id,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None, "reset": self.reset}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ViolationFilter:
        def at(v: str | None) -> datetime | None:
            return datetime.fromisoformat(v) if v else None

        return cls(type_code=data.get("type_code"), kind=ViolationKind(data["kind"]) if data.get("kind") else None,
                   status=ViolationStatus(data["status"]) if data.get("status") else None,
                   customer_no=data.get("customer_no"), order_no=data.get("order_no"),
                   product_id=data.get("product_id"), since=at(data.get("since")), until=at(data.get("until")),
                   reset=bool(data.get("reset")))

    def frozen(self) -> ViolationFilter:
        """The same filter with the default window made explicit (an export run later must not drift)."""
        window = Window.resolve(self.since, self.until, self.reset)
        return ViolationFilter(self.type_code, self.kind, self.status, self.customer_no, self.order_no,
                               self.product_id, window.since, window.until, True)


def violations_query(scope: DataScope, f: ViolationFilter | None = None) -> QuerySet[Violation]:
    """Violations within `scope`, filtered in SQL (default window: raised in the last 7 business days)."""
    f = f or ViolationFilter()
    qs = Violation.filter(scope.products("product_id"))
    qs = qs.filter(Window.resolve(f.since, f.until, f.reset).q("detected_at"))
    if f.type_code:
        qs = qs.filter(type_code=f.type_code.strip())
    if f.kind is not None:
        qs = qs.filter(kind=f.kind)
    if f.status is not None:
        qs = qs.filter(status=f.status)
    if f.customer_no:
        qs = qs.filter(customer_no=f.customer_no.strip())
    if f.order_no:
        qs = qs.filter(order_no=f.order_no.strip())
    if f.product_id is not None:
        qs = qs.filter(product_id=f.product_id)
    return qs


@dataclass(frozen=True)
class ViolationTotals:
    """Totals to date (截止目前), within scope. `count`/`amount`/`loan_amount` leave dismissed ones out."""

    count: int
    amount: Decimal
    loan_amount: Decimal
    open_count: int
    confirmed_count: int
    dismissed_count: int


async def violation_totals(scope: DataScope) -> ViolationTotals:
    """Totals of every violation raised so far that the caller may see (one grouped statement)."""
    rows = await (Violation.filter(scope.products("product_id"))
                  .annotate(n=Count("id"), amount_c=Sum(cents_sql("amount")),
                            loan_c=Sum(cents_sql("loan_amount")))
                  .group_by("status").values("status", "n", "amount_c", "loan_c"))
    by_status = {ViolationStatus(r["status"]): r for r in rows}
    counted = [r for s, r in by_status.items() if s is not ViolationStatus.DISMISSED]

    def n(s: ViolationStatus) -> int:
        return int(by_status[s]["n"]) if s in by_status else 0

    return ViolationTotals(
        count=sum(int(r["n"]) for r in counted),
        amount=from_cents(sum(int(r["amount_c"] or 0) for r in counted)),
        loan_amount=from_cents(sum(int(r["loan_c"] or 0) for r in counted)),
        open_count=n(ViolationStatus.OPEN), confirmed_count=n(ViolationStatus.CONFIRMED),
        dismissed_count=n(ViolationStatus.DISMISSED))


@dataclass(frozen=True)
class TypeAmount:
    """Violation amounts of one business (diversion / AML) type in a query's result."""

    kind: ViolationKind
    type_code: str
    type_name: str
    count: int
    amount: Decimal
    loan_amount: Decimal


async def amounts_by_type(scope: DataScope, f: ViolationFilter | None = None) -> list[TypeAmount]:
    """各业务类型违规金额统计 of the filtered result, grouped by type in SQL, largest loan amount first."""
    rows = await (violations_query(scope, f)
                  .annotate(n=Count("id"), amount_c=Sum(cents_sql("amount")), loan_c=Sum(cents_sql("loan_amount")))
                  .group_by("kind", "type_code", "type_name")
                  .values("kind", "type_code", "type_name", "n", "amount_c", "loan_c"))
    out = [TypeAmount(ViolationKind(r["kind"]), r["type_code"], r["type_name"], int(r["n"]),
                      from_cents(r["amount_c"]), from_cents(r["loan_c"])) for r in rows]
    return sorted(out, key=lambda t: (-t.loan_amount, t.type_code, t.type_name))


async def get_violation(scope: DataScope, violation_id: int) -> Violation | None:
    return await Violation.filter(scope.products("product_id"), id=violation_id).first()


async def handle_violation(actor: Actor, violation_id: int, decision: ViolationStatus, comment: str | None,
                           request_id: str = "") -> Violation:
    """Confirm (已确认) or dismiss (已排除) an open violation, once.

    One transaction: a conditional UPDATE from `open` (two people deciding at once: one wins, the
    other gets CONFLICT), a privacy-protected ledger entry (the decision is part of the violation's
    audit trail, like the violation itself) and the operation log. Dismissing needs a comment (why
    the payment was not a diversion).
    """
    text = (comment or "").strip()
    if decision is ViolationStatus.OPEN:
        raise UserError.of("decision", ErrorCode.INVALID, "decision must be CONFIRMED or DISMISSED")
    if len(text) > COMMENT_MAX:
        raise UserError.of("comment", ErrorCode.TOO_LONG, f"comment must be at most {COMMENT_MAX} characters")
    if decision is ViolationStatus.DISMISSED and not text:
        raise UserError.of("comment", ErrorCode.REQUIRED, "Say why the violation is dismissed")
    async with in_transaction():
        row = await get_violation(actor.scope, violation_id)
        if row is None:
            raise not_found("Violation")
        if row.status is not ViolationStatus.OPEN:
            raise UserError.of("id", ErrorCode.INVALID_STATE, f"The violation is already {row.status.value}")
        at = clock.now()
        changed = await Violation.filter(id=row.id, status=ViolationStatus.OPEN).update(
            status=decision, handled_by_id=actor.user_id or None, handled_at=at, handle_comment=text)
        if changed != 1:
            raise UserError.of("id", ErrorCode.CONFLICT, "Someone else handled this violation at the same moment")
        product_id: int = row.product_id  # type: ignore[attr-defined]
        payload = {"violationId": row.id, "decision": decision.value, "comment": text, "typeCode": row.type_code,
                   "orderNo": row.order_no, "customerNo": row.customer_no, "loanAmount": str(row.loan_amount),
                   "violationLedgerHash": row.ledger_hash}
        await ledger.append("violation.handle", payload, initiator=actor, status=TxStatus.PRIVACY_PROTECTED,
                            source=("Violation", row.id), scope_product_id=product_id)
        await oplog.record(actor, kind=actor.kind(reviewing=True), module=MODULE_VIOLATIONS,
                           action="handleViolation",
                           summary=f"{decision.value} violation {row.id} ({row.type_name}, order {row.order_no})",
                           detail=payload, request_id=request_id, scope_product_id=product_id)
        await row.refresh_from_db()
    return row


# ---- fund-flow chain ----

STEP_LOAN_FUNDS = "loan_funds"  # 贷款资金: the disbursement
STEP_INCOMING = "incoming"  # 进项资金: any other inflow
STEP_DIVERTED = "diverted"  # 异化资金: an outflow with a (not dismissed) diversion violation
STEP_REPAYMENT = "repayment"  # 还款: repays the loan itself
STEP_SPENDING = "spending"  # 消费资金: any other outflow


@dataclass(frozen=True)
class ChainStep:
    """One link of the chain: the transaction, how it moved the balance and its loan/own composition."""

    transaction: AccountTransaction
    kind: str
    signed_amount: Decimal
    loan_part: Decimal
    own_part: Decimal
    balance: Decimal
    loan_balance: Decimal
    own_balance: Decimal
    traced: bool
    violation_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class FundFlowChain:
    customer_no: str
    since: datetime | None
    until: datetime | None
    opening_balance: Decimal
    steps: list[ChainStep] = field(default_factory=list)
    started_at_disbursement: bool = False


async def fund_flow_chain(scope: DataScope, customer_no: str, since: datetime | None = None,
                          until: datetime | None = None, account_no: str | None = None) -> FundFlowChain:
    """资金流水链: a customer's transactions for a period, oldest first, with running balances.

    The chain starts at the disbursement (seed 000's diagram): at the latest loan disbursement at or
    before `since` when there is one, otherwise at `since`; without `since`, at the customer's first
    disbursement (or their first transaction). The opening balance is the bank's `balance_after` of the
    customer's last transaction before the start (0 if unknown), counted as own funds. Each step's
    balance is the bank's `balance_after` when the feed gave it, else the running sum. The loan
    balance is loan money received in the chain minus loan-funded spending (from fund tracing); own
    balance is floored at 0 (tracing counts an overdraft as own money the monitor never saw).
    """
    no = (customer_no or "").strip()
    if not no:
        raise UserError.of("customerNo", ErrorCode.REQUIRED, "Give the customer number")
    if since is not None and until is not None and until <= since:
        raise UserError.of("to", ErrorCode.OUT_OF_RANGE, "to must be later than from")
    since, until = (utc(since) if since else None), (utc(until) if until else None)
    base = AccountTransaction.filter(scope.products("product_id"), customer_no=no)
    if account_no:
        base = base.filter(account_no=account_no.strip())
    disb = base.filter(is_disbursement=True, direction=TxDirection.IN)
    if since is not None:
        start_tx = await disb.filter(occurred_at__lte=since).order_by("-occurred_at", "-id").first()
    else:
        start_tx = await disb.order_by("occurred_at", "id").first()
    start = start_tx.occurred_at if start_tx is not None else since
    qs = base
    if start is not None:
        qs = qs.filter(occurred_at__gte=start)
    if until is not None:
        qs = qs.filter(occurred_at__lt=until)
    if await qs.count() > MAX_CHAIN_ROWS:
        raise UserError.of("from", ErrorCode.OUT_OF_RANGE,
                           f"The period holds more than {MAX_CHAIN_ROWS} transactions; choose a shorter one")
    rows = await qs.order_by("occurred_at", "id")
    opening = Decimal("0.00")
    if start is not None:
        before = await base.filter(occurred_at__lt=start).order_by("-occurred_at", "-id").first()
        if before is not None and before.balance_after is not None:
            opening = Decimal(before.balance_after).quantize(_CENT)
    flags = await violations_by_transaction(scope, [r.id for r in rows if r.direction is TxDirection.OUT])
    balance, loan_bal, own_bal = opening, Decimal("0.00"), opening
    steps: list[ChainStep] = []
    for tx in rows:
        amount = Decimal(tx.amount).quantize(_CENT)
        types: tuple[str, ...] = ()
        traced = True
        if tx.direction is TxDirection.IN:
            signed = amount
            lp, op = (amount, Decimal("0.00")) if tx.is_disbursement else (Decimal("0.00"), amount)
            loan_bal += lp
            own_bal += op
            kind = STEP_LOAN_FUNDS if tx.is_disbursement else STEP_INCOMING
        else:
            signed = -amount
            traced = tx.loan_part is not None
            lp = min(Decimal(tx.loan_part or 0).quantize(_CENT), loan_bal)
            op = amount - lp
            loan_bal -= lp
            own_bal = max(own_bal - op, Decimal("0.00"))
            live = [v for v in flags.get(tx.id, []) if v.status is not ViolationStatus.DISMISSED]
            types = tuple(v.type_name for v in live)
            kind = (STEP_REPAYMENT if tx.is_repayment else
                    STEP_DIVERTED if any(v.kind is ViolationKind.DIVERSION for v in live) else STEP_SPENDING)
        balance = Decimal(tx.balance_after).quantize(_CENT) if tx.balance_after is not None else balance + signed
        steps.append(ChainStep(tx, kind, signed, lp, op, balance, loan_bal, own_bal, traced, types))
    return FundFlowChain(no, start, until, opening, steps, start_tx is not None)


# ---- diversion offset coefficient ----

def series_range(start: date | None, end: date | None) -> tuple[date, date]:
    """The requested days (default: the last 30 business days), at most a year."""
    end = end or clock.business_today()
    start = start or end - timedelta(days=DEFAULT_SERIES_DAYS - 1)
    if end < start:
        raise UserError.of("to", ErrorCode.OUT_OF_RANGE, "to must not be before from")
    if (end - start).days + 1 > MAX_SERIES_DAYS:
        raise UserError.of("from", ErrorCode.OUT_OF_RANGE, f"Ask for at most {MAX_SERIES_DAYS} days at once")
    return start, end


async def offset_series(scope: DataScope, product_id: int | None, start: date | None = None,
                        end: date | None = None) -> list[OffsetPoint]:
    """The diversion offset coefficient per day (core.monitoring.offset), within scope.

    Diverted = loan-funded parts of diversion violations not dismissed, by the business date of the
    payment; disbursed = principal of loans by disbursement date. Totals before `start` are summed in
    SQL (cents); the days in range come grouped by date for loans, and as (time, amount) pairs for
    violations (bucketed by business date in Python, because the time zone conversion differs per
    database).
    """
    start, end = series_range(start, end)
    vq = Violation.filter(scope.products("product_id"), kind=ViolationKind.DIVERSION).exclude(
        status=ViolationStatus.DISMISSED)
    lq = Loan.filter(scope.products("product_id"), disbursement_date__isnull=False)
    if product_id is not None:
        vq, lq = vq.filter(product_id=product_id), lq.filter(product_id=product_id)
    start_at, end_at = day_start(start), day_start(end + timedelta(days=1))
    opening_div = await vq.filter(occurred_at__lt=start_at).annotate(c=Sum(cents_sql("loan_amount"))).values("c")
    opening_disb = await lq.filter(disbursement_date__lt=start).annotate(c=Sum(cents_sql("amount"))).values("c")
    diverted = await vq.filter(occurred_at__gte=start_at, occurred_at__lt=end_at).values_list(
        "occurred_at", "loan_amount")
    disbursed = await (lq.filter(disbursement_date__gte=start, disbursement_date__lte=end)
                       .annotate(c=Sum(cents_sql("amount"))).group_by("disbursement_date")
                       .values("disbursement_date", "c"))
    data = [DailyLoanFunds(business_date(at), Decimal(amount).quantize(_CENT), Decimal("0.00"))
            for at, amount in diverted]
    data += [DailyLoanFunds(r["disbursement_date"], Decimal("0.00"), from_cents(r["c"])) for r in disbursed]
    return offset_coefficients(data, start, end, opening_diverted=from_cents(opening_div[0]["c"] if opening_div
                                                                              else 0),
                               opening_disbursed=from_cents(opening_disb[0]["c"] if opening_disb else 0))
