"""Posting repayments set-based: one transaction and a fixed number of statements per batch.

`post_repayments` is the engine behind every repayment — `core.loans.repayment.post_repayment` is
a batch of one — so a provider callback, a deduction result, an operator's record and a
lending-assist platform's daily repayment file (`recordRepayments`) all follow the same rules
(see `core.loans.repayment` for allocation, early settlement, compensation and funder parts).

Why set-based: posting one repayment through the ORM took ~14 statements and ~5.5 ms of Python
(query building and model objects), which capped a deduction run at ~170 repayments a second on
this machine (bench/bench_repayments.py). Here a batch of N repayments costs, on PostgreSQL:

1. one `SELECT … ORDER BY id FOR NO KEY UPDATE` locking every loan of the batch (in id order, so two
   batches sharing loans cannot deadlock), then plain-row reads of the loans (inside the caller's
   data scope), their installments, funders, products, the serials already posted and the
   deduction payments settled — each one statement for the whole batch;
2. the planning, in Python, item after item in the order given (two repayments of one loan in one
   batch: the second sees what the first paid);
3. one version-checked `UPDATE … FROM unnest(…)` of every installment touched (any row that changed
   since the read — the overdue job — restarts the whole batch on fresh rows), one INSERT of the
   repayments (`RETURNING id`), one of their lines, one of the funder parts, one UPDATE of the
   deduction payments, one version-checked UPDATE of the loans whose status stays, one INSERT of the
   operation log entries and one per outbox job;
4. per item only what is rare: a loan whose status changes goes through `states.transition` (its
   event and plugin notification), margin release for products that check margin, collection
   cases of loans in the pool.

On SQLite (development and tests) the same plan is written through the ORM row by row; both paths
run the same tests.

Outcomes are per item: an item that cannot be posted (loan not found in the caller's scope, not
repaying, nothing owed, early settlement short, serial already used for another loan or amount)
gets its typed error and writes nothing, the others are posted. A repeated serial — already stored,
or twice in the batch — answers with the first repayment, `replayed` set. Errors name their field
with `prefix` (`items[3].amount` for a GraphQL batch; plain `amount` for a single posting).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from core import clock
from core.actor import SYSTEM, Actor
from core.errors import ErrorCode, FieldError, UserError, not_found
from core.loans import callbacks, collection
from core.loans.models import (
    InstallmentStatus,
    Loan,
    LoanFunder,
    LoanInstallment,
    LoanStatus,
    Payment,
    PaymentStatus,
    Repayment,
    RepaymentFunderPart,
    RepaymentLine,
    RepaymentSource,
)
from core.loans.money import ZERO
from core.loans.repayment import (
    COMPONENTS,
    MODULE,
    OPEN,
    PAYMENT_SETTLED_JOB,
    REPAYMENT_SMS_JOB,
    Mode,
    _clean,
    _compensation_plan,
    _normal_plan,
    _Plan,
    _settlement_plan,
    business_date_of,
    funder_parts,
    is_open,
)
from core.loans.states import REPAYING, can_move, illegal, transition
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from core.outbox.service import enqueue_many
from permissions.scope import EVERYTHING, DataScope

MAX_BATCH = 1000
ATTEMPTS = 5

INSTALLMENT_FIELDS = ("id", "loan_id", "number", "start_date", "due_date", "principal", "interest", "fee", "penalty",
                      "paid_principal", "paid_interest", "paid_fee", "paid_penalty", "waived_interest", "status",
                      "settled_at", "version")
LOAN_FIELDS = ("id", "order_no", "channel_order_no", "product_id", "channel_id", "status", "version",
               "principal_outstanding", "allocation_strategy", "payment_provider", "margin_reference",
               "disbursement_date")
PRODUCT_FIELDS = ("id", "check_margin", "margin_account_id", "deduction_event_enabled", "deduction_send_sms",
                  "deduction_callback_enabled", "deduction_callback_url")


@dataclass(frozen=True)
class RepaymentIn:
    """One repayment to post: money received on a loan under a serial number (see `post_repayment`)."""

    loan_id: int
    amount: Decimal | str | int | None
    serial_no: str | None
    source: RepaymentSource = RepaymentSource.CALLBACK
    paid_at: datetime | None = None
    payment_id: int | None = None  # the deduction Payment this money settles
    channel: str = ""
    mode: Mode = Mode.NORMAL
    through: date | None = None  # compensation: the last due date it covers


@dataclass
class Posted:
    """What became of one item: its repayment (new, or the first one when `replayed`) or its error."""

    item: RepaymentIn
    repayment: Repayment | None = None
    replayed: bool = False
    error: UserError | None = None


@dataclass(slots=True)
class _Inst:
    """An installment as read for posting (plain row: a batch reads tens of thousands)."""

    id: int
    loan_id: int
    number: int
    start_date: date
    due_date: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    paid_principal: Decimal
    paid_interest: Decimal
    paid_fee: Decimal
    paid_penalty: Decimal
    waived_interest: Decimal
    status: str
    settled_at: datetime | None
    version: int
    touched: bool = False


@dataclass(frozen=True, slots=True)
class _Funder:
    """A loan's funder as `funder_parts` needs it."""

    bank_id: int
    share: Decimal
    position: int


@dataclass(slots=True)
class _Loan:
    id: int
    order_no: str
    channel_order_no: str
    product_id: int
    channel_id: int
    status: str
    version: int
    principal_outstanding: Decimal
    allocation_strategy: str
    payment_provider: str
    margin_reference: str
    disbursement_date: date | None
    start_status: str = ""
    installments: list[_Inst] = field(default_factory=list)
    funders: list[_Funder] = field(default_factory=list)
    may_have_case: bool = False
    last_serial: str = ""
    last_day: date | None = None
    recovered: Decimal = ZERO
    touched: bool = False


@dataclass
class _Todo:
    """An item that passed validation, with its cleaned values and (after planning) its plan."""

    index: int
    item: RepaymentIn
    amount: Decimal
    serial: str
    source: RepaymentSource
    mode: Mode
    paid_at: datetime
    day: date
    plan: _Plan | None = None
    totals: dict[str, Decimal] = field(default_factory=dict)
    loan: _Loan | None = None
    status_after: str = ""  # the loan's status and outstanding principal right after this item
    outstanding_after: Decimal = ZERO


class _Stale(Exception):
    """An installment or loan changed between the read and the conditional UPDATE: redo the batch."""


def _prefixed(exc: UserError, prefix: str) -> UserError:
    if not prefix:
        return exc
    return UserError([FieldError(f"{prefix}{e.field}" if e.field else prefix.rstrip("."), e.code, e.message)
                      for e in exc.errors])


def _conflict(existing: dict[str, Any], todo: _Todo) -> UserError | None:
    if existing["loan_id"] != todo.item.loan_id or existing["amount"] != todo.amount:
        return UserError.of("serialNo", ErrorCode.CONFLICT,
                            f"Serial number {todo.serial} was already posted for {existing['amount']} on another "
                            "loan or with another amount; check the serial number")
    return None


async def post_repayments(items: Sequence[RepaymentIn], *, actor: Actor = SYSTEM, scope: DataScope = EVERYTHING,
                          request_id: str = "", prefix: str = "items[{i}].") -> list[Posted]:
    """Post `items` (at most `MAX_BATCH`) in one transaction; one `Posted` per item, in order.

    `prefix` names an item's fields in its errors (`{i}` is the item's index; "" for plain names).
    """
    if len(items) > MAX_BATCH:
        raise UserError.of("items", ErrorCode.OUT_OF_RANGE, f"At most {MAX_BATCH} repayments per batch, "
                                                            f"not {len(items)}; split the file")
    out = [Posted(item) for item in items]
    todos: list[_Todo] = []
    first_of: dict[str, int] = {}
    repeats: list[tuple[int, int]] = []  # (index, index of the first item with that serial)
    for i, item in enumerate(items):
        try:
            amount, serial = _clean(item.amount, item.serial_no)
            moment = item.paid_at or clock.now()
            todo = _Todo(i, item, amount, serial, RepaymentSource(item.source), Mode(item.mode), moment,
                         business_date_of(moment))
        except UserError as exc:
            out[i].error = _prefixed(exc, prefix.format(i=i))
            continue
        if serial in first_of:
            repeats.append((i, first_of[serial]))
            continue
        first_of[serial] = i
        todos.append(todo)
    for _ in range(ATTEMPTS):
        for todo in todos:
            out[todo.index] = Posted(todo.item)
        try:
            async with in_transaction():
                await _post(todos, out, actor, scope, request_id)
            break
        except _Stale:  # a version moved under us (the overdue job): redo on fresh rows
            continue
        except IntegrityError:
            # A concurrent posting won a serial's unique key: redo, and the serial is then found as
            # already posted and answered as a replay. Any other integrity failure is a bug: raise.
            if not await Repayment.filter(serial_no__in=[t.serial for t in todos]).exists():
                raise
            continue
    else:
        for todo in todos:
            out[todo.index] = Posted(todo.item, error=UserError.of(
                "loanId", ErrorCode.STALE, "The loan is changing under heavy load; try again"))
    for todo in todos:
        if out[todo.index].error is not None:
            out[todo.index].error = _prefixed(out[todo.index].error, prefix.format(i=todo.index))  # type: ignore[arg-type]
    for i, first in repeats:
        done = out[first]
        amount = _clean(items[i].amount, items[i].serial_no)[0]
        if done.repayment is None:
            out[i].error = done.error
        elif done.repayment.loan_id != items[i].loan_id or done.repayment.amount != amount:  # type: ignore[attr-defined]
            out[i].error = _prefixed(UserError.of("serialNo", ErrorCode.CONFLICT, (
                f"Serial number {done.repayment.serial_no} appears twice in the batch with another loan or amount")),
                prefix.format(i=i))
        else:
            out[i] = Posted(items[i], done.repayment, replayed=True)
    return out


async def _post(todos: list[_Todo], out: list[Posted], actor: Actor, scope: DataScope, request_id: str) -> None:
    if not todos:
        return
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    loan_ids = sorted({t.item.loan_id for t in todos})
    if postgres:  # lock first, in id order; the scoped read below decides what the caller may see
        await conn.execute_query("SELECT id FROM loan WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE",
                                 [loan_ids])
    loans = {r["id"]: _Loan(**r) for r in await Loan.filter(scope.products("product_id"), id__in=loan_ids)
             .values(*LOAN_FIELDS)}
    existing = {r["serial_no"]: r for r in await Repayment.filter(serial_no__in=[t.serial for t in todos])
                .values("id", "serial_no", "loan_id", "amount")}
    # Only open installments matter, except to an early settlement (its quote reads the whole schedule).
    full = [t.item.loan_id for t in todos if t.mode is Mode.EARLY_SETTLEMENT]
    wanted = Q(status__in=OPEN) | Q(loan_id__in=full) if full else Q(status__in=OPEN)
    for row in await LoanInstallment.filter(wanted, loan_id__in=list(loans)).order_by("loan_id", "number").values(
            *INSTALLMENT_FIELDS):
        loans[row["loan_id"]].installments.append(_Inst(**row))
    for loan_id, bank_id, share, position in await LoanFunder.filter(loan_id__in=list(loans)).order_by(
            "position", "id").values_list("loan_id", "bank_id", "share", "position"):
        loans[loan_id].funders.append(_Funder(bank_id, share, position))
    for loan in loans.values():
        loan.start_status = loan.status

    posted: list[_Todo] = []
    replays: dict[int, int] = {}  # item index → existing repayment id
    for todo in todos:
        if todo.serial in existing:
            conflict = _conflict(existing[todo.serial], todo)
            if conflict is not None:
                out[todo.index].error = conflict
            else:
                replays[todo.index] = existing[todo.serial]["id"]
            continue
        loan = loans.get(todo.item.loan_id)
        try:
            if loan is None:
                raise not_found("Loan", "loanId")
            _plan(todo, loan)
        except UserError as exc:
            out[todo.index].error = exc
            continue
        posted.append(todo)
    if replays:
        found = {r.id: r for r in await Repayment.filter(id__in=list(replays.values()))}
        for index, rid in replays.items():
            found[rid].replayed = True  # type: ignore[attr-defined]
            out[index].repayment, out[index].replayed = found[rid], True
    if not posted:
        return

    now = clock.now()
    touched = [inst for loan in loans.values() for inst in loan.installments if inst.touched]
    await _update_installments(touched, postgres)
    products = {p["id"]: p for p in await _products({t.loan.product_id for t in posted if t.loan})}
    payment_keys = dict(await Payment.filter(id__in=[t.item.payment_id for t in posted if t.item.payment_id])
                        .values_list("id", "idempotency_key")) if any(t.item.payment_id for t in posted) else {}
    repayments = await _insert_repayments(posted, datetime.now(UTC), postgres)  # created_at: as auto_now_add
    await _insert_lines_and_parts(posted, repayments, postgres)
    await _settle_payments([t for t in posted if t.item.payment_id], postgres)
    await _update_loans([loan for loan in loans.values() if loan.touched], actor, now, postgres)
    await _release_margins(posted, repayments, products, actor, request_id)
    await collection.record_recoveries([
        collection.Recovery(loan.id, loan.status, loan.installments, loan.recovered, loan.last_day or now.date())
        for loan in loans.values() if loan.touched and loan.may_have_case])
    await oplog.record_many(actor, kind=actor.kind() if actor.user_id else OperatorKind.SYSTEM, module=MODULE,
                            request_id=request_id, entries=[_log_entry(t) for t in posted])
    await enqueue_many(PAYMENT_SETTLED_JOB, [(
        {"event_id": f"repayment:{repayments[t.serial].id}", "provider": repayments[t.serial].deduction_channel,
         "idempotency_key": payment_keys.get(t.item.payment_id, f"repayment:{t.serial}"), "kind": "deduct",
         "amount": str(t.amount), "status": "succeeded", "settled_at": t.paid_at.isoformat(), "serial": t.serial,
         "reference": t.loan.order_no}, f"repayment:{repayments[t.serial].id}") for t in posted if t.loan])
    await enqueue_many(REPAYMENT_SMS_JOB, [
        ({"repaymentId": repayments[t.serial].id}, f"repayment-sms:{repayments[t.serial].id}") for t in posted
        if t.loan and products[t.loan.product_id]["deduction_event_enabled"]
        and products[t.loan.product_id]["deduction_send_sms"] and t.source is not RepaymentSource.COMPENSATION])
    await enqueue_many(callbacks.CALLBACK_JOB, [_callback(t, repayments[t.serial], products[t.loan.product_id])
                                                for t in posted if t.loan and callbacks.wanted(
                                                    products[t.loan.product_id]["deduction_callback_enabled"],
                                                    products[t.loan.product_id]["deduction_callback_url"])])
    for t in posted:
        repayment = repayments[t.serial]
        repayment.replayed = False  # type: ignore[attr-defined]
        out[t.index].repayment = repayment


# --- planning (pure, in memory) -------------------------------------------------------------------


def _plan(todo: _Todo, loan: _Loan) -> None:
    """Plan `todo` on `loan` as it stands after the batch's earlier items, and apply it in memory."""
    if LoanStatus(loan.status) not in REPAYING:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE,
                           f"Loan {loan.order_no} is {loan.status}; only disbursed, overdue or compensated loans "
                           "take repayments")
    installments = loan.installments
    open_ = [i for i in installments if is_open(i)]  # type: ignore[arg-type]
    if not open_:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"Loan {loan.order_no} has nothing outstanding")
    day = todo.day
    horizon = day + timedelta(days=collection.REMINDER_DAYS)
    if LoanStatus(loan.status) is not LoanStatus.DISBURSED or any(i.due_date <= horizon for i in open_):
        loan.may_have_case = True
    if todo.mode is Mode.EARLY_SETTLEMENT:
        plan = _settlement_plan(loan, installments, todo.amount, day)  # type: ignore[arg-type]
    elif todo.mode is Mode.COMPENSATION:
        plan = _compensation_plan(open_, todo.amount, todo.item.through or day)  # type: ignore[arg-type]
    else:
        plan = _normal_plan(loan, open_, todo.amount, day)  # type: ignore[arg-type]
    totals = {c: sum((getattr(line, c) for line in plan.lines), ZERO) for c in COMPONENTS}
    for line in plan.lines:
        inst = line.inst
        inst.paid_principal += line.principal
        inst.paid_interest += line.interest
        inst.paid_fee += line.fee
        inst.paid_penalty += line.penalty
        inst.waived_interest += line.waived_interest
        if line.status is not None:
            inst.status = line.status.value
            if line.status not in OPEN:
                inst.settled_at = todo.paid_at
        inst.touched = True
    loan.principal_outstanding = max(loan.principal_outstanding - totals["principal"], ZERO)
    status = LoanStatus(loan.status)
    still_open = [i for i in installments if is_open(i)]  # type: ignore[arg-type]
    if todo.mode is Mode.COMPENSATION:
        status = LoanStatus.COMPENSATED
    elif not still_open:
        status = LoanStatus.SETTLED
    elif status is LoanStatus.OVERDUE and not any(
            InstallmentStatus(i.status) is InstallmentStatus.OVERDUE for i in still_open):
        status = LoanStatus.DISBURSED
    loan.status = status.value
    loan.touched = True
    loan.last_serial = todo.serial
    loan.last_day = day
    loan.recovered += todo.amount
    todo.plan, todo.totals, todo.loan = plan, totals, loan
    todo.status_after, todo.outstanding_after = loan.status, loan.principal_outstanding


def _callback(t: _Todo, repayment: Repayment, product: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The product's repayment callback (`core.loans.callbacks`): what was paid and where the loan stands."""
    assert t.loan is not None and t.plan is not None
    return callbacks.callback_message("loan.repaid", f"repayment:{repayment.id}", product["deduction_callback_url"], {
        "orderNo": t.loan.order_no, "channelOrderNo": t.loan.channel_order_no, "serialNo": t.serial,
        "amount": str(t.amount), **{k: str(v) for k, v in t.totals.items()}, "leftover": str(t.plan.leftover),
        "kind": t.plan.kind.value, "paidAt": t.paid_at.isoformat(), "businessDate": t.day.isoformat(),
        "loanStatus": LoanStatus(t.status_after).value, "principalOutstanding": str(t.outstanding_after)})


def _log_entry(t: _Todo) -> oplog.Entry:
    assert t.plan is not None and t.loan is not None
    return oplog.Entry(
        action=f"post_{t.source.value}",
        summary=f"repayment {t.serial} of {t.amount} on loan {t.loan.order_no} ({t.plan.kind.value})",
        detail={"loan": t.loan.order_no, "serialNo": t.serial, "amount": t.amount, "kind": t.plan.kind.value,
                "source": t.source.value, **t.totals, "leftover": t.plan.leftover,
                "installments": [line.inst.number for line in t.plan.lines]},
        scope_product_id=t.loan.product_id)


# --- writing --------------------------------------------------------------------------------------


async def _products(ids: set[int]) -> list[dict[str, Any]]:
    from core.products.models import Product

    return list(await Product.filter(id__in=list(ids)).values(*PRODUCT_FIELDS))


async def _update_installments(rows: list[_Inst], postgres: bool) -> None:
    """Every touched installment, only if its version is still the one read (else `_Stale`)."""
    if not rows:
        return
    if postgres:
        matched, _ = await connections.get("default").execute_query(
            "UPDATE loan_installment AS i SET paid_principal = u.pp, paid_interest = u.pi, paid_fee = u.pf, "
            "paid_penalty = u.pn, waived_interest = u.wi, status = u.st, settled_at = u.sa, version = u.v + 1 "
            "FROM unnest($1::bigint[], $2::int[], $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[], "
            "$7::numeric[], $8::text[], $9::timestamptz[]) AS u(id, v, pp, pi, pf, pn, wi, st, sa) "
            "WHERE i.id = u.id AND i.version = u.v",
            [[r.id for r in rows], [r.version for r in rows], [r.paid_principal for r in rows],
             [r.paid_interest for r in rows], [r.paid_fee for r in rows], [r.paid_penalty for r in rows],
             [r.waived_interest for r in rows], [r.status for r in rows], [r.settled_at for r in rows]])
        if matched != len(rows):
            raise _Stale
        return
    for r in rows:
        updated = await LoanInstallment.filter(id=r.id, version=r.version).update(
            paid_principal=r.paid_principal, paid_interest=r.paid_interest, paid_fee=r.paid_fee,
            paid_penalty=r.paid_penalty, waived_interest=r.waived_interest, status=r.status, settled_at=r.settled_at,
            version=r.version + 1)
        if updated != 1:
            raise _Stale


REPAYMENT_COLUMNS = (("loan_id", "bigint"), ("product_id", "bigint"), ("channel_id", "bigint"),
                     ("payment_id", "bigint"), ("serial_no", "text"), ("source", "text"), ("kind", "text"),
                     ("deduction_channel", "text"),
                     ("paid_at", "timestamptz"), ("business_date", "date"), ("amount", "numeric"),
                     ("principal", "numeric"), ("interest", "numeric"), ("fee", "numeric"), ("penalty", "numeric"),
                     ("leftover", "numeric"), ("margin_released", "numeric"), ("created_at", "timestamptz"))


async def _insert_repayments(posted: list[_Todo], now: datetime, postgres: bool) -> dict[str, Repayment]:
    """The repayment rows, one INSERT; returns them by serial (with ids) as model objects for the callers."""
    values: list[dict[str, Any]] = []
    for t in posted:
        assert t.loan is not None and t.plan is not None
        values.append({
            "loan_id": t.loan.id, "product_id": t.loan.product_id, "channel_id": t.loan.channel_id,
            "payment_id": t.item.payment_id, "serial_no": t.serial, "source": t.source.value,
            "kind": t.plan.kind.value,
            "deduction_channel": (t.item.channel or t.loan.payment_provider or t.source.value)[:50],
            "paid_at": t.paid_at, "business_date": t.day, "amount": t.amount, **t.totals,
            "leftover": t.plan.leftover, "margin_released": ZERO})
    if postgres:
        from core.bulk import insert_unnest

        for v in values:
            v["created_at"] = now
        rows = await insert_unnest("repayment", REPAYMENT_COLUMNS,
                                   [tuple(v[name] for name, _ in REPAYMENT_COLUMNS) for v in values], returning="*")
        # the stored rows as tortoise builds models from a SELECT (no per-field __setattr__ checks)
        return {r["serial_no"]: Repayment._init_from_db(**r) for r in rows}
    out = {}
    for v in values:
        out[v["serial_no"]] = await Repayment.create(**v)
    return out


async def _insert_lines_and_parts(posted: list[_Todo], repayments: dict[str, Repayment], postgres: bool) -> None:
    lines: list[tuple[Any, ...]] = []
    parts: list[tuple[Any, ...]] = []
    for t in posted:
        assert t.plan is not None and t.loan is not None
        rid = repayments[t.serial].id
        lines += [(rid, line.inst.id, line.principal, line.interest, line.fee, line.penalty) for line in t.plan.lines]
        parts += [(rid, bank, v["principal"], v["interest"], v["fee"], v["penalty"])
                  for bank, v in funder_parts(t.loan.funders, t.totals).items()]
    if postgres:
        from core.bulk import insert_unnest

        money = (("principal", "numeric"), ("interest", "numeric"), ("fee", "numeric"), ("penalty", "numeric"))
        await insert_unnest("repayment_line", (("repayment_id", "bigint"), ("installment_id", "bigint"), *money), lines)
        await insert_unnest("repayment_funder_part", (("repayment_id", "bigint"), ("bank_id", "bigint"), *money),
                            parts)
        return
    await RepaymentLine.bulk_create([RepaymentLine(repayment_id=r, installment_id=i, principal=p, interest=n, fee=f,
                                                   penalty=pen) for r, i, p, n, f, pen in lines])
    await RepaymentFunderPart.bulk_create([RepaymentFunderPart(repayment_id=r, bank_id=b, principal=p, interest=n,
                                                               fee=f, penalty=pen) for r, b, p, n, f, pen in parts])


async def _settle_payments(todos: list[_Todo], postgres: bool) -> None:
    """The deduction payments this money settles become succeeded (unless they already are)."""
    if not todos:
        return
    if postgres:
        await connections.get("default").execute_query(
            "UPDATE payment AS p SET status = $1, serial_no = u.serial, settled_at = u.at, version = p.version + 1 "
            "FROM unnest($2::bigint[], $3::text[], $4::timestamptz[]) AS u(id, serial, at) "
            "WHERE p.id = u.id AND p.status <> $1",
            [PaymentStatus.SUCCEEDED.value, [t.item.payment_id for t in todos], [t.serial for t in todos],
             [t.paid_at for t in todos]])
        return
    from tortoise.expressions import F

    for t in todos:
        await Payment.filter(id=t.item.payment_id).exclude(status=PaymentStatus.SUCCEEDED).update(
            status=PaymentStatus.SUCCEEDED, serial_no=t.serial, settled_at=t.paid_at, version=F("version") + 1)


async def _update_loans(loans: list[_Loan], actor: Actor, now: datetime, postgres: bool) -> None:
    """Outstanding principal of every loan posted on; a loan whose status moves goes through the state machine."""
    moving = [loan for loan in loans if loan.status != loan.start_status]
    staying = [loan for loan in loans if loan.status == loan.start_status]
    if staying:
        if postgres:
            matched, _ = await connections.get("default").execute_query(
                "UPDATE loan AS l SET principal_outstanding = u.po, version = u.v + 1, updated_at = $1 "
                "FROM unnest($2::bigint[], $3::int[], $4::numeric[]) AS u(id, v, po) "
                "WHERE l.id = u.id AND l.version = u.v",
                [now, [x.id for x in staying], [x.version for x in staying],
                 [x.principal_outstanding for x in staying]])
            if matched != len(staying):
                raise _Stale
        else:
            for x in staying:
                if await Loan.filter(id=x.id, version=x.version).update(
                        principal_outstanding=x.principal_outstanding, version=x.version + 1, updated_at=now) != 1:
                    raise _Stale
    if not moving:
        return
    models = {m.id: m for m in await Loan.filter(id__in=[x.id for x in moving])}
    label = actor.account if actor.user_id else "system:repayment"
    for x in moving:
        model = models[x.id]
        target = LoanStatus(x.status)
        if not can_move(x.start_status, target):
            raise illegal(x.start_status, target)
        changes: dict[str, Any] = {"principal_outstanding": x.principal_outstanding}
        if target is LoanStatus.SETTLED:
            changes["settled_at"] = now
        try:
            await transition(model, target, actor=actor if actor.user_id else None, actor_label=label,
                             reason=f"repayment {x.last_serial}", changes=changes)
        except UserError as exc:
            if exc.code is ErrorCode.STALE:
                raise _Stale from exc
            raise


async def _release_margins(posted: list[_Todo], repayments: dict[str, Repayment], products: dict[int, dict[str, Any]],
                           actor: Actor, request_id: str) -> None:
    """Margin released in proportion for products that check margin (per item: each is its own movement)."""
    from core.orgs import margins

    for t in posted:
        assert t.loan is not None
        product = products[t.loan.product_id]
        if not (product["check_margin"] and product["margin_account_id"] and t.totals["principal"] > 0):
            continue
        movement = await margins.release(product["margin_account_id"], t.totals["principal"],
                                         t.loan.margin_reference or t.loan.order_no, actor, repayment_ref=t.serial,
                                         request_id=request_id)
        if movement is not None and movement.amount:
            repayment = repayments[t.serial]
            repayment.margin_released = movement.amount
            await Repayment.filter(id=repayment.id).update(margin_released=movement.amount)
