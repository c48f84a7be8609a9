"""Ingestion of borrowers' account transactions (F-MON-1): validate, store, trace, detect.

One call ingests one batch from one source (GraphQL batch, file import, plugin feed):

* **Validation reports every problem at once**, each naming the row and field the way the caller
  sent it (`items[3].amount` for GraphQL, `rows[7].amount` for a file whose 7th line is wrong):
  order no. must be a disbursed loan *in the caller's data scope* (a loan outside the scope is
  reported exactly like one that does not exist); the customer no. must be the loan's customer's;
  an account already monitored for another customer is refused; the time must carry a time zone;
  direction is ``in`` or ``out``; the amount is > 0 with at most two decimals.
* **All or nothing**: any row error refuses the whole batch; a stored batch is stored with its
  tracing, fund parts, violations, ledger entries and operation log in one database transaction.
* **Idempotent on serial number**: a row whose serial no. is already stored with the same content
  (order, customer, account, time, direction, amount, counterparty, channel, balance) is skipped and
  counted; the same serial no. with different content is an error. The same holds inside a batch.
* **Batch size**: at most `MAX_BATCH` (1,000) rows per call — the GraphQL mutation's documented
  limit; a file import passes ``max_rows`` (`file_import.MAX_FILE_ROWS`, 20,000) and is still one
  transaction.
* **Disbursement and repayment recognition**: an inflow is the loan's own disbursement (it becomes
  the loan's pool in tracing) when the feed flags it (``isDisbursement: true``), or — unflagged — when
  it is the first inflow of exactly the loan amount into the loan's disbursement account (or any
  account when the loan has none recorded) and no disbursement of that loan is stored yet.
  ``isDisbursement: false`` turns recognition off for a row. An outflow is a repayment of the loan
  (excluded from diversion, still consuming funds) when flagged (``isRepayment``) or when it goes to
  a repayment account of a bank funding the loan's product (`ProviderAccount`, purpose repayment).
* **Ingested ⇒ traced**: tracing (`tracing_store`) and detection (`detection`) run in the same
  transaction; detector plugins are asked before it opens.

Concurrency: two batches racing on the same serial no. — the loser's insert fails on the unique
index, its transaction rolls back and the batch is re-validated (then it finds the row and skips or
reports it). Two batches on the same account serialise on the account's tracing-state row lock; two
batches that each create a state row the other one waits for are a deadlock PostgreSQL breaks by
aborting one, which is retried the same way (up to `MAX_ATTEMPTS` tries in all).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import SimpleNamespace
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core import bulk, clock
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, UserError
from core.loans.models import Loan, LoanStatus
from core.monitoring import detection, tracing_store
from core.monitoring.detection import Candidate, LoanInfo
from core.monitoring.models import (
    AccountTransaction,
    AmlRuleSetting,
    DiversionType,
    FundTraceState,
    TxDirection,
    TxSource,
    Violation,
)
from core.monitoring.tracing import Method
from core.oplog import service as oplog
from core.payments.models import AccountPurpose, ProviderAccount
from core.products.models import Product, ProductFunder
from plugins.facade import Detections

log = logging.getLogger("lendline.monitoring")

try:  # PostgreSQL aborts one of two batches that wait for each other's new tracing-state rows
    from asyncpg.exceptions import DeadlockDetectedError, SerializationError

    _RETRYABLE: tuple[type[Exception], ...] = (DeadlockDetectedError, SerializationError)
except ImportError:  # pragma: no cover - SQLite-only installs
    _RETRYABLE = ()

MODULE = "transactions"
MAX_BATCH = 1000
MAX_ATTEMPTS = 3
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999999999.99")
DISBURSED = (LoanStatus.DISBURSED, LoanStatus.OVERDUE, LoanStatus.SETTLED, LoanStatus.COMPENSATED,
             LoanStatus.WRITTEN_OFF)

# GraphQL / file field names → (attribute, max length, required)
TEXT_FIELDS: tuple[tuple[str, str, int, bool], ...] = (
    ("orderNo", "order_no", 32, True),
    ("serialNo", "serial_no", 64, True),
    ("customerNo", "customer_no", 32, True),
    ("accountNo", "account_no", 64, True),
    ("counterpartyName", "counterparty_name", 100, False),
    ("counterpartyAccount", "counterparty_account", 64, False),
    ("counterpartyCategory", "counterparty_category", 32, False),
    ("channel", "channel", 30, False),
)
FIELDS = frozenset((*(f[0] for f in TEXT_FIELDS), "occurredAt", "direction", "amount", "balanceAfter",
                    "isDisbursement", "isRepayment"))
DIRECTIONS = {"in": TxDirection.IN, "out": TxDirection.OUT}
# What makes two rows with one serial no. "the same transaction".
CONTENT = ("order_no", "customer_no", "account_no", "occurred_at", "direction", "amount", "counterparty_name",
           "counterparty_account", "counterparty_category", "channel", "balance_after")


_UNSET_TIME = datetime.min.replace(tzinfo=UTC)
"""An invalid row's time (the batch is refused): a constant, not the clock read for every row."""


@dataclass(slots=True)
class Row:
    """One validated input row, then resolved against its loan."""

    label: str
    serial_no: str = ""
    order_no: str = ""
    customer_no: str = ""
    account_no: str = ""
    occurred_at: datetime = _UNSET_TIME  # always set when the row is valid
    direction: TxDirection = TxDirection.IN
    amount: Decimal = Decimal("0.00")
    counterparty_name: str = ""
    counterparty_account: str = ""
    counterparty_category: str = ""
    channel: str = ""
    balance_after: Decimal | None = None
    flag_disbursement: bool | None = None
    flag_repayment: bool | None = None
    loan: LoanInfo | None = None
    is_disbursement: bool = False
    is_repayment: bool = False

    def content(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in CONTENT)


@dataclass
class IngestResult:
    inserted: int = 0
    skipped: int = 0
    violations: list[Violation] = field(default_factory=list)
    detection_pending: int = 0
    retraced_accounts: list[str] = field(default_factory=list)


def _label(labels: Sequence[str] | None, i: int) -> str:
    return labels[i] if labels is not None else f"items[{i}]"


def _decimal(errs: ErrorCollector, where: str, value: Any, *, positive: bool) -> Decimal | None:
    if isinstance(value, float):
        value = repr(value)
    try:
        d = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        errs.add(where, ErrorCode.INVALID, f"{where} must be an amount such as 1200.50, got {value!r}")
        return None
    if not d.is_finite() or d != d.quantize(CENT, rounding=ROUND_HALF_UP):
        errs.add(where, ErrorCode.INVALID, f"{where} must have at most 2 decimals, got {value!r}")
        return None
    if positive and d <= 0:
        errs.add(where, ErrorCode.OUT_OF_RANGE, f"{where} must be greater than 0 (the direction says in or out)")
        return None
    if abs(d) > MAX_AMOUNT:
        errs.add(where, ErrorCode.OUT_OF_RANGE, f"{where} is too large")
        return None
    return d.quantize(CENT)


def _flag(errs: ErrorCollector, where: str, value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    errs.add(where, ErrorCode.INVALID, f"{where} must be true or false")
    return None


def parse_row(errs: ErrorCollector, label: str, raw: Mapping[str, Any]) -> Row:
    """Shape-check one row (camelCase keys); problems go to `errs` as `<label>.<field>`."""
    row = Row(label)
    for key in raw:
        if key not in FIELDS:
            errs.add(f"{label}.{key}", ErrorCode.INVALID, f"unknown field {key}")
    for key, attr, max_len, required in TEXT_FIELDS:
        value = raw.get(key)
        text = "" if value is None else str(value).strip()
        if (required and not text) or len(text) > max_len:  # the field's name is only formatted for an error
            where = f"{label}.{key}"
            if required and not text:
                errs.add(where, ErrorCode.REQUIRED, f"{where} is required")
            else:
                errs.add(where, ErrorCode.TOO_LONG, f"{where} must be at most {max_len} characters")
        setattr(row, attr, text)
    when = raw.get("occurredAt")
    where = f"{label}.occurredAt"
    if isinstance(when, str) and when.strip():
        try:
            when = datetime.fromisoformat(when.strip())
        except ValueError:
            errs.add(where, ErrorCode.INVALID, f"{where} must be an ISO 8601 time with zone, e.g. "
                     "2026-03-01T09:30:00+08:00")
            when = None
    if when is None or when == "":
        if not errs.has(where):
            errs.add(where, ErrorCode.REQUIRED, f"{where} is required")
    elif not isinstance(when, datetime):
        errs.add(where, ErrorCode.INVALID, f"{where} must be a time")
    elif when.tzinfo is None or when.utcoffset() is None:
        errs.add(where, ErrorCode.INVALID, f"{where} must include a time zone, e.g. +08:00")
    else:
        row.occurred_at = when
    direction = str(raw.get("direction") or "").strip().lower()
    where = f"{label}.direction"
    if not direction:
        errs.add(where, ErrorCode.REQUIRED, f"{where} is required (in or out)")
    elif direction not in DIRECTIONS:
        errs.add(where, ErrorCode.INVALID, f"{where} must be in or out, got {raw.get('direction')!r}")
    else:
        row.direction = DIRECTIONS[direction]
    amount = raw.get("amount")
    where = f"{label}.amount"
    if amount is None or str(amount).strip() == "":
        errs.add(where, ErrorCode.REQUIRED, f"{where} is required")
    else:
        row.amount = _decimal(errs, where, amount, positive=True) or Decimal("0.00")
    balance = raw.get("balanceAfter")
    if balance is not None and str(balance).strip() != "":
        row.balance_after = _decimal(errs, f"{label}.balanceAfter", balance, positive=False)
    row.flag_disbursement = _flag(errs, f"{label}.isDisbursement", raw.get("isDisbursement"))
    row.flag_repayment = _flag(errs, f"{label}.isRepayment", raw.get("isRepayment"))
    if row.flag_disbursement and row.direction is TxDirection.OUT and not errs.has(f"{label}.direction"):
        errs.add(f"{label}.isDisbursement", ErrorCode.INVALID, "a disbursement is money coming in (direction in)")
    if row.flag_repayment and row.direction is TxDirection.IN and not errs.has(f"{label}.direction"):
        errs.add(f"{label}.isRepayment", ErrorCode.INVALID, "a repayment is money going out (direction out)")
    return row


async def _outside_scope(actor: Actor, product_ids: set[int]) -> set[int]:
    if not product_ids:
        return set()
    visible = set(await Product.filter(actor.scope.products("id"), id__in=sorted(product_ids))
                  .values_list("id", flat=True))
    return product_ids - visible


async def _stored(serials: list[str]) -> dict[str, Any]:
    """Stored transactions with these serial numbers (their content columns), by serial no."""
    columns = ("serial_no", "product_id", *CONTENT)
    if bulk.postgres():
        found = await bulk.rows_where_any("account_transaction", columns, "serial_no", serials, "text")
    else:
        found = await AccountTransaction.filter(serial_no__in=serials).values(*columns)
    return {f["serial_no"]: SimpleNamespace(**f) for f in found}


def _same(row: Row, stored: Any) -> list[str]:
    """Which content fields differ between a new row and the stored transaction with its serial no."""
    diffs = []
    for attr in CONTENT:
        a, b = getattr(row, attr), getattr(stored, attr)
        if attr == "occurred_at":
            same = a == b
        elif attr in ("amount", "balance_after"):
            same = (a is None and b is None) or (a is not None and b is not None and Decimal(a) == Decimal(b))
        else:
            same = (a or "") == (b or "")
        if not same:
            diffs.append(attr)
    return diffs


_CAMEL = {attr: key for key, attr, _, _ in TEXT_FIELDS} | {"occurred_at": "occurredAt", "direction": "direction",
                                                           "amount": "amount", "balance_after": "balanceAfter"}


async def _resolve(actor: Actor, rows: list[Row], errs: ErrorCollector, result: IngestResult) -> list[Row]:
    """Loans, customers, accounts, duplicates; returns the rows to store (duplicates dropped)."""
    # Duplicates inside the batch.
    first: dict[str, Row] = {}
    unique: list[Row] = []
    for r in rows:
        seen = first.get(r.serial_no)
        if seen is None:
            first[r.serial_no] = r
            unique.append(r)
        elif seen.content() == r.content():
            result.skipped += 1
        else:
            errs.add(f"{r.label}.serialNo", ErrorCode.NOT_UNIQUE,
                     f"serial no. {r.serial_no} appears twice in this batch with different content "
                     f"(also at {seen.label})")
    # Already stored.
    stored = await _stored(list(first))
    foreign = await _outside_scope(actor, {t.product_id for t in stored.values()})
    fresh: list[Row] = []
    for r in unique:
        t = stored.get(r.serial_no)
        if t is None:
            fresh.append(r)
            continue
        diffs = _same(r, t)
        if diffs and t.product_id in foreign:  # say nothing about another bank's transaction
            errs.add(f"{r.label}.serialNo", ErrorCode.NOT_UNIQUE, f"serial no. {r.serial_no} is already used")
        elif diffs:
            errs.add(f"{r.label}.serialNo", ErrorCode.CONFLICT,
                     f"serial no. {r.serial_no} was already imported with different "
                     f"{', '.join(_CAMEL[d] for d in diffs)}; a transaction cannot be changed by importing it again")
        else:
            result.skipped += 1
    # Loans in the caller's scope.
    orders = sorted({r.order_no for r in fresh if r.order_no})
    loan_rows = await Loan.filter(actor.scope.products("product_id"), order_no__in=orders).values(
        "id", "order_no", "product_id", "amount", "status", "disbursement_account", "customer__customer_no")
    loans = {lr["order_no"]: lr for lr in loan_rows}
    infos: dict[str, LoanInfo] = {}
    for r in fresh:
        lr = loans.get(r.order_no)
        if r.order_no and lr is None:
            errs.add(f"{r.label}.orderNo", ErrorCode.NOT_FOUND,
                     f"no loan with order no. {r.order_no} in your data scope")
            continue
        if lr is None:
            continue
        if LoanStatus(lr["status"]) not in DISBURSED:
            errs.add(f"{r.label}.orderNo", ErrorCode.INVALID_STATE,
                     f"loan {r.order_no} has not been disbursed; its account is not monitored yet")
            continue
        if r.customer_no and r.customer_no != lr["customer__customer_no"]:
            errs.add(f"{r.label}.customerNo", ErrorCode.INVALID,
                     f"customer no. {r.customer_no} is not the borrower of loan {r.order_no}")
            continue
        info = infos.get(r.order_no)
        if info is None:  # one (immutable) LoanInfo per loan, shared by its rows
            info = infos[r.order_no] = LoanInfo(lr["id"], lr["order_no"], lr["product_id"],
                                                lr["customer__customer_no"], Decimal(lr["amount"]))
        r.loan = info
    # An account belongs to one customer.
    owners: dict[str, tuple[str, str]] = {}
    accounts = sorted({r.account_no for r in fresh})
    if bulk.postgres():
        states = await bulk.rows_where_any("fund_trace_state", ("account_no", "customer_no"), "account_no", accounts,
                                           "text")
    else:
        states = await FundTraceState.filter(account_no__in=accounts).values("account_no", "customer_no")
    for s in states:
        owners[s["account_no"]] = (s["customer_no"], "a stored transaction")
    for r in fresh:
        if r.loan is None:  # already reported
            continue
        owner = owners.setdefault(r.account_no, (r.customer_no, r.label))
        if r.customer_no and owner[0] != r.customer_no:
            errs.add(f"{r.label}.accountNo", ErrorCode.CONFLICT,
                     f"account {r.account_no} belongs to another customer (see {owner[1]})")
    errs.raise_if_any()
    await _recognise(fresh, loans)
    return fresh


async def _recognise(rows: list[Row], loans: Mapping[str, Mapping[str, Any]]) -> None:
    """Mark disbursements and repayments (see the module docstring).

    Only the rows recognition has to guess about are looked up (an unflagged inflow needs its loan's
    stored disbursement, an unflagged outflow to a counterparty account the funding banks' repayment
    accounts): most feeds flag their rows or send no counterparty account, and each lookup skipped
    is a round trip less on a single-transaction call.
    """
    guessed_in = sorted({r.loan.id for r in rows if r.loan and r.direction is TxDirection.IN
                         and r.flag_disbursement is None})
    disbursed: set[int] = set()
    if guessed_in and bulk.postgres():
        disbursed = {r["loan_id"] for r in await bulk.rows_where_any(
            "account_transaction", ("loan_id",), "loan_id", guessed_in, "bigint", "is_disbursement")}
    elif guessed_in:
        disbursed = set(await AccountTransaction.filter(loan_id__in=guessed_in, is_disbursement=True)
                        .values_list("loan_id", flat=True))
    product_ids = sorted({r.loan.product_id for r in rows if r.loan and r.direction is TxDirection.OUT
                          and r.flag_repayment is None and r.counterparty_account})
    banks_of: dict[int, set[int]] = defaultdict(set)
    repay_accounts: dict[int, set[str]] = defaultdict(set)
    if product_ids:
        for pf in await ProductFunder.filter(product_id__in=product_ids).values("product_id", "bank_id"):
            banks_of[pf["product_id"]].add(pf["bank_id"])
        all_banks = sorted({b for bs in banks_of.values() for b in bs})
        for pa in await ProviderAccount.filter(bank_id__in=all_banks, purpose=AccountPurpose.REPAYMENT).values(
                "bank_id", "account_no"):
            repay_accounts[pa["bank_id"]].add(pa["account_no"])
    for r in rows:
        loan = r.loan
        assert loan is not None
        if r.direction is TxDirection.IN:
            if r.flag_disbursement is not None:
                r.is_disbursement = r.flag_disbursement
            else:
                account = loans[r.order_no]["disbursement_account"]
                r.is_disbursement = (loan.id not in disbursed and r.amount == loan.principal
                                     and (not account or account == r.account_no))
            if r.is_disbursement:
                disbursed.add(loan.id)
        else:
            if r.flag_repayment is not None:
                r.is_repayment = r.flag_repayment
            else:
                targets = set().union(*(repay_accounts[b] for b in banks_of.get(loan.product_id, ())))
                r.is_repayment = bool(r.counterparty_account) and r.counterparty_account in targets


def validate(raw_rows: Sequence[Mapping[str, Any]], labels: Sequence[str] | None = None,
             max_rows: int = MAX_BATCH) -> list[Row]:
    """Shape-check a batch (no database); raises UserError with every problem."""
    errs = ErrorCollector()
    if not raw_rows:
        raise UserError.of("items", ErrorCode.REQUIRED, "Send at least one transaction")
    if len(raw_rows) > max_rows:
        raise UserError.of("items", ErrorCode.OUT_OF_RANGE,
                           f"At most {max_rows} transactions per batch; split the batch")
    rows = [parse_row(errs, _label(labels, i), raw) for i, raw in enumerate(raw_rows)]
    errs.raise_if_any()
    return rows


async def ingest(actor: Actor, raw_rows: Sequence[Mapping[str, Any]], source: TxSource, *,
                 labels: Sequence[str] | None = None, max_rows: int = MAX_BATCH, request_id: str = "",
                 detail: Mapping[str, Any] | None = None) -> IngestResult:
    """Ingest one batch all-or-nothing; see the module docstring. Raises UserError listing every problem."""
    rows = validate(raw_rows, labels, max_rows)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = IngestResult()
        errs = ErrorCollector()
        fresh = await _resolve(actor, rows, errs, result)
        detections = await detection.classify_all(fresh)
        try:
            await _store(actor, fresh, detections, source, result, request_id, dict(detail or {}))
            return result
        except (IntegrityError, tracing_store.StateConflict, *_RETRYABLE) as exc:
            if attempt == MAX_ATTEMPTS:
                raise UserError.of(None, ErrorCode.CONFLICT, "Another import of the same transactions ran at the "
                                   "same time; send the batch again") from exc
            log.info("ingest attempt %d collided (%s); re-validating", attempt, exc)
    raise AssertionError("unreachable")  # pragma: no cover


async def _methods(rows: Sequence[Row]) -> dict[str, tuple[str, Method]]:
    """Per new account, its customer and the tracing method of its first row's product."""
    fifo_codes = await tracing_store.fifo_products()
    fifo_ids: set[int] = set()
    if fifo_codes:
        fifo_ids = set(await Product.filter(code__in=sorted(fifo_codes)).values_list("id", flat=True))
    out: dict[str, tuple[str, Method]] = {}
    for r in sorted(rows, key=lambda r: r.occurred_at):
        if r.account_no not in out:
            fifo = r.loan is not None and r.loan.product_id in fifo_ids
            out[r.account_no] = (r.customer_no, Method.FIFO if fifo else Method.PRO_RATA)
    return out


async def _pool_loans(results: Sequence[Any], known: Mapping[str, LoanInfo]) -> dict[str, LoanInfo]:
    """Loan info for every loan pool that funded an outflow (pools can come from earlier batches)."""
    wanted = {o for res in results for o in res.loan_parts} - set(known)
    out = dict(known)
    if wanted:
        for lr in await Loan.filter(order_no__in=sorted(wanted)).values("id", "order_no", "product_id", "amount",
                                                                        "customer__customer_no"):
            out[lr["order_no"]] = LoanInfo(lr["id"], lr["order_no"], lr["product_id"], lr["customer__customer_no"],
                                           Decimal(lr["amount"]))
    return out


async def _store(actor: Actor, rows: list[Row], detections: Mapping[str, Detections], source: TxSource,
                 result: IngestResult, request_id: str, detail: dict[str, Any]) -> None:
    now = clock.now()
    # Diversion types matter only when a detector classified something (most payments: nothing).
    types = ({t.code: t for t in await DiversionType.all()} if any(d.items for d in detections.values()) else {})
    settings = list(await AmlRuleSetting.all())
    methods = await _methods(rows)
    async with in_transaction():
        if rows:
            states = await tracing_store.lock_states(methods)
            traced = await tracing_store.trace(rows, states)
            known = {r.order_no: r.loan for r in rows if r.loan}
            loans = await _pool_loans([*traced.results.values(),
                                       *(res for lst in traced.retraced.values() for _, res in lst)], known)
            pending = {s for s, d in detections.items() if not d.complete}
            ids = await _insert(rows, traced.results, pending, source, now)
            loan_ids = {o: li.id for o, li in loans.items()}
            parts = [p for r in rows if (res := traced.results.get(r.serial_no)) is not None
                     for p in tracing_store.fund_parts(ids[r.serial_no], res, loan_ids)]
            parts += await tracing_store.rewrite_retraced(traced, loan_ids, now)
            await tracing_store.insert_parts(parts)
            await tracing_store.save_states(traced, ids)
            candidates: list[Candidate] = []
            for r in rows:
                res = traced.results.get(r.serial_no)
                if res is not None:
                    candidates += detection.diversion_candidates(ids[r.serial_no], r, res,
                                                                 detections.get(r.serial_no), types, loans)
            candidates += await detection.aml_candidates(rows, settings, loans)
            serials = {v: k for k, v in ids.items()}
            for c in candidates:
                if c.transaction_id is not None and c.transaction_id not in serials:
                    serials[c.transaction_id] = ""
            missing = [i for i, s in serials.items() if not s]
            if missing:
                serials.update({i: s for s, i in await AccountTransaction.filter(id__in=missing)
                                .values_list("serial_no", "id")})
            result.violations = await detection.store_violations(candidates, serials, actor)
            result.inserted = len(rows)
            result.detection_pending = len(pending)
            result.retraced_accounts = sorted(traced.retraced)
        await _log(actor, rows, source, result, request_id, detail)


_TX_COLUMNS = (("serial_no", "text"), ("order_no", "text"), ("loan_id", "bigint"), ("product_id", "int"),
               ("customer_no", "text"), ("account_no", "text"), ("occurred_at", "timestamptz"), ("direction", "text"),
               ("amount", "numeric"), ("counterparty_name", "text"), ("counterparty_account", "text"),
               ("counterparty_category", "text"), ("channel", "text"), ("balance_after", "numeric"),
               ("is_disbursement", "bool"), ("is_repayment", "bool"), ("source", "text"), ("loan_part", "numeric"),
               ("own_part", "numeric"), ("traced_at", "timestamptz"), ("detection_pending", "bool"),
               ("ingested_at", "timestamptz"))


async def _insert(rows: Sequence[Row], results: Mapping[str, Any], pending: set[str], source: TxSource,
                  now: datetime) -> dict[str, int]:
    """Store the batch's transactions with their tracing result; returns serial no. -> id."""
    names = [c for c, _ in _TX_COLUMNS]
    if bulk.postgres() and len(rows) >= bulk.COPY_MIN_ROWS:
        ids = await bulk.next_ids("account_transaction_id_seq", len(rows))
        await bulk.copy_lines("account_transaction", ("id", *names), _copy_lines(ids, rows, results, pending, source,
                                                                                 now))
        return {r.serial_no: i for r, i in zip(rows, ids, strict=True)}
    values = []
    for r in rows:
        res = results.get(r.serial_no)
        assert r.loan is not None
        values.append((r.serial_no, r.order_no, r.loan.id, r.loan.product_id, r.customer_no, r.account_no,
                       r.occurred_at, r.direction.value, r.amount, r.counterparty_name, r.counterparty_account,
                       r.counterparty_category, r.channel, r.balance_after, r.is_disbursement, r.is_repayment,
                       source.value, res.loan_part if res else None, res.own_part if res else None, now,
                       r.serial_no in pending, now))
    if bulk.postgres():
        returned = await bulk.insert_unnest("account_transaction", _TX_COLUMNS, values, returning="id, serial_no")
        return {x["serial_no"]: x["id"] for x in returned}
    await AccountTransaction.bulk_create([AccountTransaction(**dict(zip(names, v, strict=True))) for v in values],
                                         batch_size=MAX_BATCH)
    return dict(await AccountTransaction.filter(serial_no__in=[r.serial_no for r in rows])
                .values_list("serial_no", "id"))


def _copy_lines(ids: Sequence[int], rows: Sequence[Row], results: Mapping[str, Any], pending: set[str],
                source: TxSource, now: datetime) -> str:
    """The rows of `_insert` (id first, then `_TX_COLUMNS`) in COPY text format, one f-string each.

    The fields' types are fixed here, so only text goes through `bulk.copy_text` and optional values
    through `bulk.copy_value`; enums are written by value, booleans as t/f.
    """
    text, value = bulk.copy_text, bulk.copy_value
    at = now.isoformat()
    tail = f"\t{source.value}"
    lines = []
    for tx_id, r in zip(ids, rows, strict=True):
        loan = r.loan
        assert loan is not None
        res = results.get(r.serial_no)
        traced = f"{res.loan_part}\t{res.own_part}" if res else "\\N\t\\N"
        lines.append(
            f"{tx_id}\t{text(r.serial_no)}\t{text(r.order_no)}\t{loan.id}\t{loan.product_id}\t{text(r.customer_no)}\t"
            f"{text(r.account_no)}\t{r.occurred_at.isoformat()}\t{r.direction.value}\t{r.amount}\t"
            f"{text(r.counterparty_name)}\t{text(r.counterparty_account)}\t{text(r.counterparty_category)}\t"
            f"{text(r.channel)}\t{value(r.balance_after)}\t{'t' if r.is_disbursement else 'f'}\t"
            f"{'t' if r.is_repayment else 'f'}{tail}\t{traced}\t{at}\t{'t' if r.serial_no in pending else 'f'}\t{at}\n")
    return "".join(lines)


async def _log(actor: Actor, rows: Sequence[Row], source: TxSource, result: IngestResult, request_id: str,
               detail: dict[str, Any]) -> None:
    """One operation-log entry per product touched (so each is tagged for scope), or one when none was."""
    per_product: dict[int | None, list[Row]] = defaultdict(list)
    for r in rows:
        per_product[r.loan.product_id if r.loan else None].append(r)
    if not per_product:
        per_product[None] = []
    violations_of: dict[int, int] = defaultdict(int)
    for v in result.violations:
        violations_of[v.product_id] += 1  # type: ignore[attr-defined]
    for product_id, group in per_product.items():
        summary = (f"imported {len(group)} transaction(s) from {source.value}"
                   + (f", {result.skipped} already imported skipped" if result.skipped else "")
                   + (f", {violations_of[product_id or 0]} violation(s)" if violations_of.get(product_id or 0) else ""))
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="ingest", summary=summary,
                           detail=detail | {"source": source.value, "inserted": len(group), "skipped": result.skipped,
                                            "serials": [r.serial_no for r in group[:50]],
                                            "retracedAccounts": result.retraced_accounts,
                                            "detectionPending": result.detection_pending},
                           request_id=request_id, scope_product_id=product_id)
