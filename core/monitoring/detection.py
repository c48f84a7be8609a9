"""Detection: traced payments → violations (F-MON-3), written to the ledger and announced.

Diversion (per payment)
    Every traced outflow that is not a repayment of the loan is shown to the enabled detector plugins
    (`PluginHost.classify`, run *before* the ingestion transaction opens so a slow plugin never holds
    database locks). For each classification into a diversion type whose rule is in force on the
    payment's business date (`rules.diversion_rule_on`), the thresholds are evaluated on the part of the
    payment funded by each loan (`thresholds.evaluate`; a payment funded by two loans is judged per
    loan, against that loan's principal). A pass is a violation, deduplicated per
    transaction + type + loan (`dedupe_key`). When two detectors classify a payment into the same type
    the more confident one is recorded.

AML / concentration (per account, over a window)
    After a batch is stored, each of its accounts' transactions around the new ones (the widest rule
    window before and after) are run through `aml.large_cash`, `aml.rapid_in_out` and
    `aml.fund_concentration` with the parameters in force today (when detection runs; the pattern
    spans several days, so there is no single transaction date to pick a version by). Only hits
    completed by or involving a new transaction count; each is one violation keyed by what completed
    it (the transaction, the inflow, or the account and day for daily cash totals), so re-ingesting or
    a later batch does not raise it twice.

A detector failure
    The facade turns it into a typed `PluginError` and raises a system alert. The transaction is
    stored and traced as usual; what the other detectors found is still judged, and the transaction is
    marked `detection_pending`, so the `monitoring.redetect` job classifies it again later (violations
    are deduplicated, so a repeat finds only what is new).

Every violation is appended to the ledger (`violation.detected`, privacy-protected because the payload
carries the customer number, tagged with the product for scope) in the same transaction; its hash is
stored on the row, and the `monitoring.violation_detected` outbox job tells plugins after commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from core import clock
from core.actor import Actor
from core.bulk import insert_unnest, next_ids, postgres, rows_per_key, rows_where_any
from core.config import current_settings
from core.ledger import service as ledger
from core.ledger.models import TxStatus
from core.monitoring import aml
from core.monitoring.models import (
    AccountTransaction,
    AmlRuleKind,
    AmlRuleSetting,
    DiversionType,
    TxDirection,
    Violation,
    ViolationKind,
    ViolationStatus,
)
from core.monitoring.rules import AmlRuleVersion, aml_rule_on, diversion_rule_on
from core.monitoring.thresholds import evaluate
from core.monitoring.tracing import Direction, TraceResult
from core.outbox.service import enqueue_many
from plugins.facade import Detections
from plugins.types import Detection
from plugins.types import Direction as PluginDirection
from plugins.types import Transaction as PluginTransaction

VIOLATION_JOB = "monitoring.violation_detected"
LEDGER_TYPE = "violation.detected"
CLASSIFY_CONCURRENCY = 200
"""Payments per `classify_many` call: the chunk a batch detector gets, and the bound on concurrent single calls."""
SHARE = Decimal("0.000001")
_ZERO = Decimal("0.00")
PREFILTER_MIN_ACCOUNTS = 20
"""Below this many accounts the AML windows are read directly: the prefilter's two queries would cost
more round trips than the windows they spare (the rules' own `_may_hit` check gives the same result)."""


@dataclass(frozen=True)
class LoanInfo:
    id: int
    order_no: str
    product_id: int
    customer_no: str
    principal: Decimal


@dataclass
class Candidate:
    """A violation to store (before it has an id and a ledger hash)."""

    kind: ViolationKind
    type_code: str
    type_name: str
    transaction_id: int | None
    loan: LoanInfo | None
    product_id: int
    order_no: str
    customer_no: str
    amount: Decimal
    loan_amount: Decimal
    loan_share: Decimal
    confidence: Decimal | None
    detector: str
    reason: str
    occurred_at: datetime
    dedupe_key: str


def business_date(moment: datetime) -> date:
    return moment.astimezone(current_settings().tz).date()


# ---- classification (outside the database transaction) ----

def plugin_transaction(row: Any) -> PluginTransaction:
    return PluginTransaction(
        serial_no=row.serial_no, customer_no=row.customer_no, occurred_at=row.occurred_at,
        direction=PluginDirection.OUT if row.direction is TxDirection.OUT else PluginDirection.IN,
        amount=row.amount, counterparty_name=row.counterparty_name, counterparty_account=row.counterparty_account,
        counterparty_category=row.counterparty_category, channel=row.channel, order_no=row.order_no)


async def classify_all(rows: Iterable[Any]) -> dict[str, Detections]:
    """Ask the detector plugins about every outflow that is not a repayment (concurrently, bounded)."""
    from plugins.runtime import current_host

    wanted = [r for r in rows if r.direction is TxDirection.OUT and not r.is_repayment]
    if not wanted:
        return {}
    host = current_host()
    out: dict[str, Detections] = {}
    for start in range(0, len(wanted), CLASSIFY_CONCURRENCY):
        chunk = wanted[start:start + CLASSIFY_CONCURRENCY]
        answers = await host.classify_many([plugin_transaction(r) for r in chunk])
        out.update({r.serial_no: a for r, a in zip(chunk, answers, strict=True)})
    return out


def _best(items: Iterable[Detection]) -> dict[str, Detection]:
    """Per diversion code the most confident detection (ties: first detector answering)."""
    best: dict[str, Detection] = {}
    for d in items:
        have = best.get(d.classification.code)
        if have is None or d.classification.confidence > have.classification.confidence:
            best[d.classification.code] = d
    return best


def diversion_candidates(
    tx_id: int, row: Any, result: TraceResult, detections: Detections | None,
    types: Mapping[str, DiversionType], loans: Mapping[str, LoanInfo],
) -> list[Candidate]:
    """Violations of one traced outflow (see the module docstring)."""
    if detections is None or result.excluded or not result.loan_parts:
        return []
    day = business_date(row.occurred_at)
    out: list[Candidate] = []
    for code, d in _best(detections.items).items():
        dtype = types.get(code)
        rule = diversion_rule_on(dtype, day) if dtype is not None else None
        if rule is None:
            continue
        for order_no, part in result.loan_parts.items():
            loan = loans[order_no]
            ev = evaluate(rule, part, loan.principal, order_no=order_no, serial_no=row.serial_no)
            if not ev.violation:
                continue
            out.append(Candidate(
                kind=ViolationKind.DIVERSION, type_code=code, type_name=rule.name, transaction_id=tx_id, loan=loan,
                product_id=loan.product_id, order_no=order_no, customer_no=row.customer_no, amount=row.amount,
                loan_amount=part, loan_share=ev.loan_share, confidence=d.classification.confidence,
                detector=d.detector, reason=f"{d.classification.reason}; {ev.reason}"[:500],
                occurred_at=row.occurred_at, dedupe_key=f"div:{tx_id}:{code}:{loan.id}"))
    return out


# ---- AML / concentration (inside the transaction, after the batch is stored) ----

_WINDOW_FIELDS = ("id", "serial_no", "account_no", "order_no", "customer_no", "product_id", "occurred_at", "direction",
                  "amount", "channel", "counterparty_account", "counterparty_name", "loan_part")


@dataclass(frozen=True, slots=True)
class _WindowRow:
    """A stored transaction in an AML window (read as values, not ORM objects)."""

    id: int
    serial_no: str
    account_no: str
    order_no: str
    customer_no: str
    product_id: int
    occurred_at: datetime
    direction: str
    amount: Decimal
    channel: str
    counterparty_account: str
    counterparty_name: str
    loan_part: Decimal | None


@dataclass(frozen=True, slots=True)
class _AmlTx:
    serial_no: str
    time: datetime
    direction: Direction
    amount: Decimal
    channel: str
    counterparty: str | None
    row: _WindowRow


def _window(version: AmlRuleVersion) -> timedelta:
    p = version.params
    if isinstance(p, aml.RapidInOutParams):
        return p.window
    if isinstance(p, aml.ConcentrationParams):
        return p.collect_window + p.outflow_window
    return timedelta(days=1)


async def _accounts_worth_checking(new_rows: Sequence[Any], versions: Mapping[AmlRuleKind, AmlRuleVersion],
                                   earliest: datetime, latest: datetime) -> list[str]:
    """Accounts where some rule *can* produce a hit involving a new transaction (PostgreSQL prefilter).

    Each test is a necessary condition of a hit (see `aml`): a new cash transaction (large cash); an
    inflow ≥ the minimum in reach (rapid in-out); enough distinct small-inflow counterparties in reach
    (concentration). Accounts failing all of them are not loaded at all.
    """
    need: set[str] = set()
    accounts = sorted({r.account_no for r in new_rows})
    cash = versions.get(AmlRuleKind.LARGE_CASH)
    if cash is not None:
        channels = cash.params.cash_channels  # type: ignore[union-attr]
        need |= {r.account_no for r in new_rows if (r.channel or "").upper() in channels}
    rapid = versions.get(AmlRuleKind.RAPID_IN_OUT)
    if rapid is not None:
        p = rapid.params
        reach = p.window + timedelta(days=1)  # type: ignore[union-attr]
        need |= {r["account_no"] for r in await rows_per_key(
            "account_transaction", ("DISTINCT account_no",), "account_no", accounts, "text",
            "occurred_at >= $3 AND occurred_at <= $4 AND direction = 'in' AND amount >= $2",
            (p.min_amount, earliest - reach, latest + reach))}  # type: ignore[union-attr]
    conc = versions.get(AmlRuleKind.CONCENTRATION)
    if conc is not None:
        q = conc.params
        reach = q.collect_window + q.outflow_window + timedelta(days=1)  # type: ignore[union-attr]
        need |= {r["account_no"] for r in await rows_per_key(
            "account_transaction", ("account_no",), "account_no", accounts, "text",
            "occurred_at >= $3 AND occurred_at <= $4 AND direction = 'in' AND amount <= $2 "
            "AND (counterparty_account <> '' OR counterparty_name <> '')",
            (q.small_amount_cap, earliest - reach, latest + reach, q.min_counterparties),  # type: ignore[union-attr]
            "GROUP BY account_no "
            "HAVING count(DISTINCT COALESCE(NULLIF(counterparty_account, ''), counterparty_name)) >= $5")}
    return sorted(need)


async def aml_candidates(new_rows: Sequence[Any], settings: Sequence[AmlRuleSetting],
                         loans: Mapping[str, LoanInfo]) -> list[Candidate]:
    """Pattern hits around the batch's transactions that involve at least one new transaction."""
    today = clock.business_today()
    versions = {s.kind: v for s in settings if (v := aml_rule_on(s, today)) is not None}
    if not versions or not new_rows:
        return []
    new_serials = {r.serial_no for r in new_rows}
    earliest = min(r.occurred_at for r in new_rows)
    latest = max(r.occurred_at for r in new_rows)
    reach = max(_window(v) for v in versions.values()) + timedelta(days=1)
    accounts = sorted({r.account_no for r in new_rows})
    if postgres() and len(accounts) >= PREFILTER_MIN_ACCOUNTS:
        accounts = await _accounts_worth_checking(new_rows, versions, earliest, latest)
        if not accounts:
            return []
    if postgres():
        rows = await rows_per_key("account_transaction", _WINDOW_FIELDS, "account_no", accounts, "text",
                                  "occurred_at >= $2 AND occurred_at <= $3", (earliest - reach, latest + reach),
                                  "ORDER BY occurred_at, id")
    else:
        rows = await AccountTransaction.filter(account_no__in=accounts, occurred_at__gte=earliest - reach,
                                               occurred_at__lte=latest + reach).order_by("occurred_at", "id").values(
            *_WINDOW_FIELDS)
    per_account: dict[str, list[_AmlTx]] = defaultdict(list)
    tz = current_settings().tz
    for r in rows:
        per_account[r["account_no"]].append(_AmlTx(
            r["serial_no"], r["occurred_at"].astimezone(tz),
            Direction.IN if r["direction"] == TxDirection.IN else Direction.OUT, Decimal(r["amount"]), r["channel"],
            (r["counterparty_account"] or r["counterparty_name"]) or None, _WindowRow(**r)))
    out: list[Candidate] = []
    for account, txs in per_account.items():
        by_serial = {t.serial_no: t for t in txs}
        for kind, version in versions.items():
            for hit in _run_rule(kind, version, txs):
                if not new_serials.intersection(hit.transaction_ids):
                    continue
                out.append(_aml_candidate(kind, version, hit, by_serial, account, loans))
    return out


def _may_hit(version: AmlRuleVersion, txs: list[_AmlTx]) -> bool:
    """A cheap necessary condition for a hit, so most accounts skip the rule (same results)."""
    p = version.params
    if isinstance(p, aml.LargeCashParams):
        return any((t.channel or "").upper() in p.cash_channels for t in txs)
    if isinstance(p, aml.RapidInOutParams):
        return any(t.direction is Direction.IN and t.amount >= p.min_amount for t in txs)
    small = {t.counterparty for t in txs if t.direction is Direction.IN and t.counterparty
             and t.amount <= p.small_amount_cap}
    return len(small) >= p.min_counterparties


def _run_rule(kind: AmlRuleKind, version: AmlRuleVersion, txs: list[_AmlTx]) -> list[aml.AmlHit]:
    if not _may_hit(version, txs):
        return []
    if kind is AmlRuleKind.LARGE_CASH:
        return aml.large_cash(txs, version.params)  # type: ignore[arg-type]
    if kind is AmlRuleKind.RAPID_IN_OUT:
        return aml.rapid_in_out(txs, version.params)  # type: ignore[arg-type]
    return aml.fund_concentration(txs, version.params)  # type: ignore[arg-type]


def _aml_candidate(kind: AmlRuleKind, version: AmlRuleVersion, hit: aml.AmlHit, by_serial: dict[str, _AmlTx],
                   account: str, loans: Mapping[str, LoanInfo]) -> Candidate:
    completing = by_serial[hit.transaction_ids[-1]].row
    if hit.rule is aml.AmlRule.LARGE_CASH_DAILY:
        key = f"aml:{hit.rule.value}:{account}:{hit.time.date().isoformat()}:{TxDirection(completing.direction).value}"
    elif hit.rule is aml.AmlRule.RAPID_IN_OUT:
        key = f"aml:{hit.rule.value}:{hit.transaction_ids[0]}"  # one per inflow
    else:
        key = f"aml:{hit.rule.value}:{completing.serial_no}"
    loan = loans.get(completing.order_no)
    loan_amount = Decimal(completing.loan_part) if completing.loan_part is not None else _ZERO
    share = (loan_amount / loan.principal).quantize(SHARE) if loan and loan.principal else Decimal(0)
    return Candidate(
        kind=ViolationKind.CONCENTRATION if kind is AmlRuleKind.CONCENTRATION else ViolationKind.AML,
        type_code=kind.value, type_name=version.name, transaction_id=completing.id, loan=loan,
        product_id=completing.product_id,
        order_no=completing.order_no, customer_no=completing.customer_no, amount=hit.amount,
        loan_amount=loan_amount, loan_share=share, confidence=None, detector=f"rule:{hit.rule.value}",
        reason=f"{hit.reason} [{', '.join(hit.transaction_ids)}]"[:500], occurred_at=completing.occurred_at,
        dedupe_key=key[:160])


# ---- storing: rows, ledger, outbox ----

def _ledger_payload(c: Candidate, violation_id: int, serial: str) -> dict[str, Any]:
    return {"violationId": violation_id, "kind": c.kind.value, "typeCode": c.type_code, "typeName": c.type_name,
            "transactionSerial": serial, "orderNo": c.order_no, "customerNo": c.customer_no,
            "amount": str(c.amount), "loanAmount": str(c.loan_amount), "loanShare": str(c.loan_share),
            "detector": c.detector, "reason": c.reason, "occurredAt": c.occurred_at.isoformat()}


async def store_violations(candidates: Sequence[Candidate], serials: Mapping[int, str],
                           initiator: Actor | None) -> list[Violation]:
    """Insert the new violations (skipping keys already raised), ledger them, enqueue their events.

    Call inside the ingestion transaction. `serials` maps transaction ids to serial numbers for the
    ledger payload.
    """
    if not candidates:
        return []
    unique: dict[str, Candidate] = {}
    for c in candidates:
        unique.setdefault(c.dedupe_key, c)
    if postgres():
        existing = {r["dedupe_key"] for r in await rows_where_any("violation", ("dedupe_key",), "dedupe_key",
                                                                   list(unique), "text")}
    else:
        existing = set(await Violation.filter(dedupe_key__in=list(unique)).values_list("dedupe_key", flat=True))
    fresh = [c for k, c in unique.items() if k not in existing]
    if not fresh:
        return []
    now = clock.now()
    if postgres():
        stored = await _store_pg(fresh, serials, initiator, now)
        await _enqueue_events(stored)
        return stored
    await Violation.bulk_create([Violation(
        kind=c.kind, type_code=c.type_code, type_name=c.type_name, transaction_id=c.transaction_id,
        loan_id=c.loan.id if c.loan else None, product_id=c.product_id, order_no=c.order_no,
        customer_no=c.customer_no, amount=c.amount, loan_amount=c.loan_amount, loan_share=c.loan_share,
        confidence=c.confidence, detector=c.detector, reason=c.reason, occurred_at=c.occurred_at,
        detected_at=now, dedupe_key=c.dedupe_key) for c in fresh])
    rows = {v.dedupe_key: v for v in await Violation.filter(dedupe_key__in=[c.dedupe_key for c in fresh])}
    stored = [rows[c.dedupe_key] for c in fresh]
    hashes = await ledger.append_many([ledger.Entry(
        LEDGER_TYPE, _ledger_payload(c, v.id, serials.get(c.transaction_id or 0, "")), initiator=initiator,
        status=TxStatus.PRIVACY_PROTECTED, source=("Violation", v.id), scope_product_id=c.product_id)
        for c, v in zip(fresh, stored, strict=True)])
    for v, h in zip(stored, hashes, strict=True):
        v.ledger_hash = h
    await Violation.bulk_update(stored, fields=["ledger_hash"], batch_size=500)
    await _enqueue_events(stored)
    return stored


_VIOLATION_COLUMNS = (("id", "bigint"), ("kind", "text"), ("type_code", "text"), ("type_name", "text"),
                      ("transaction_id", "bigint"), ("loan_id", "bigint"), ("product_id", "int"), ("order_no", "text"),
                      ("customer_no", "text"), ("amount", "numeric"), ("loan_amount", "numeric"),
                      ("loan_share", "numeric"), ("confidence", "numeric"), ("detector", "text"), ("reason", "text"),
                      ("status", "text"), ("occurred_at", "timestamptz"), ("detected_at", "timestamptz"),
                      ("ledger_hash", "text"), ("dedupe_key", "text"), ("handle_comment", "text"))


async def _store_pg(fresh: Sequence[Candidate], serials: Mapping[int, str], initiator: Actor | None,
                    now: datetime) -> list[Violation]:
    """`store_violations` on PostgreSQL: ids drawn first, so each row is written once, with its hash.

    The ORM path inserts, reads the rows back for their ids (the ledger payload names them), then
    updates every row with its ledger hash: three statements and two sets of model objects where
    drawing the ids lets the ledger entries be hashed before the one INSERT. ``RETURNING *`` gives
    the stored rows, as the ORM path's read-back does.
    """
    ids = await next_ids("violation_id_seq", len(fresh))
    hashes = await ledger.append_many([ledger.Entry(
        LEDGER_TYPE, _ledger_payload(c, vid, serials.get(c.transaction_id or 0, "")), initiator=initiator,
        status=TxStatus.PRIVACY_PROTECTED, source=("Violation", vid), scope_product_id=c.product_id)
        for c, vid in zip(fresh, ids, strict=True)])
    rows = await insert_unnest("violation", _VIOLATION_COLUMNS, [
        (vid, c.kind.value, c.type_code, c.type_name, c.transaction_id, c.loan.id if c.loan else None, c.product_id,
         c.order_no, c.customer_no, c.amount, c.loan_amount, c.loan_share, c.confidence, c.detector, c.reason,
         ViolationStatus.OPEN.value, c.occurred_at, now, h, c.dedupe_key, "")
        for c, vid, h in zip(fresh, ids, hashes, strict=True)], returning="*")
    by_id = {r["id"]: Violation._init_from_db(**r) for r in rows}
    return [by_id[vid] for vid in ids]


# ---- re-detection of transactions a detector failed on ----

@dataclass(frozen=True)
class _StoredTrace:
    """The parts of a stored outflow, shaped like the `TraceResult` fields detection reads."""

    loan_parts: dict[str, Decimal]
    excluded: bool = False


async def redetect(limit: int = 500) -> dict[str, int]:
    """Classify again the transactions marked `detection_pending`, raise what is new, clear the mark.

    A transaction whose detectors fail again keeps the mark (and the facade alerts again, folded into
    one alert per quiet period). Idempotent: violations are deduplicated by key.
    """
    from tortoise.transactions import in_transaction

    from core.actor import SYSTEM
    from core.monitoring.models import TransactionFundPart

    rows = await AccountTransaction.filter(detection_pending=True).order_by("id").limit(limit)
    if not rows:
        return {"checked": 0, "completed": 0, "violations": 0}
    detections = await classify_all(rows)
    parts: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for p in await TransactionFundPart.filter(transaction_id__in=[r.id for r in rows], loan_id__not_isnull=True):
        parts[p.transaction_id][p.order_no] = Decimal(p.amount)  # type: ignore[attr-defined]
    orders = sorted({o for ps in parts.values() for o in ps})
    loans = {lr["order_no"]: LoanInfo(lr["id"], lr["order_no"], lr["product_id"], lr["customer__customer_no"],
                                      Decimal(lr["amount"]))
             for lr in await _loan_values(orders)}
    types = {t.code: t for t in await DiversionType.all()}
    done = [r.id for r in rows if (d := detections.get(r.serial_no)) is None or d.complete]
    candidates: list[Candidate] = []
    for r in rows:
        candidates += diversion_candidates(r.id, r, _StoredTrace(parts.get(r.id, {}), r.is_repayment),  # type: ignore[arg-type]
                                           detections.get(r.serial_no), types, loans)
    async with in_transaction():
        stored = await store_violations(candidates, {r.id: r.serial_no for r in rows}, SYSTEM)
        if done:
            await AccountTransaction.filter(id__in=done).update(detection_pending=False)
    return {"checked": len(rows), "completed": len(done), "violations": len(stored)}


async def _loan_values(orders: list[str]) -> list[dict[str, Any]]:
    from core.loans.models import Loan

    if not orders:
        return []
    return await Loan.filter(order_no__in=orders).values("id", "order_no", "product_id", "amount",
                                                         "customer__customer_no")


async def _enqueue_events(stored: Sequence[Violation]) -> None:
    """The `violation_detected` outbox rows of new violations, in one INSERT (`enqueue_many`): a batch
    of transactions can raise dozens of violations. Dedupe key ``violation:<id>``."""
    await enqueue_many(VIOLATION_JOB, [({"violation_id": v.id}, f"violation:{v.id}") for v in stored])
