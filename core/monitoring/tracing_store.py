"""Fund tracing on the database: per account, resume the stored state and trace new transactions.

Runs inside the ingestion transaction, so "ingested ⇒ traced" always holds:

1. `lock_states` makes sure every account of the batch has a `FundTraceState` row (INSERT … ON
   CONFLICT DO NOTHING, so two batches that open the same new account do not collide) and locks the
   rows with ``SELECT … FOR UPDATE`` in account order (no deadlock between two batches). On SQLite the
   whole write transaction is serialised by the database, which gives the same guarantee.
2. `trace` resumes each account's `TracingState` and applies the new transactions in time order
   (same-time transactions keep their batch order) with `core.monitoring.tracing.FundTracer`.
3. `save_states` writes the states back with a version check (``WHERE version = read version``) in
   one statement on PostgreSQL; a mismatch (impossible while the lock is held, but cheap to check)
   aborts the batch with a conflict that the caller retries.

Method (pro-rata or FIFO) is fixed per account when its state is created, from the product of the
first transaction seen on it: FIFO for the products whose codes are listed in the system parameter
``MON_TRACING_FIFO_PRODUCTS`` (comma-separated product codes), pro-rata otherwise. Products have no
column for it on purpose: the convention is a bank-wide policy choice, changed rarely, and an account
keeps the method it started with (its state cannot be converted).

Out-of-order arrival: a transaction older than the last one applied to its account makes the
account be **re-traced from its first transaction** with the stored ones and the new ones merged in
time order (stored ones first at equal times). The stored transactions' parts and fund-part rows are
rewritten. Violations already raised stay (they are in the ledger); detection runs again only for
the new transactions. Re-tracing reads the account's whole history, so it is slower, and is logged.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from tortoise import connections

from core.bulk import COPY_MIN_ROWS, copy_lines, copy_text, insert_unnest, postgres, select_dicts
from core.monitoring.models import AccountTransaction, FundTraceState, TransactionFundPart, TxDirection
from core.monitoring.state_cache import STATES
from core.monitoring.tracing import FundTracer, Method, Source, TraceResult, TracingState, Transaction

log = logging.getLogger("lendline.monitoring")

FIFO_PARAMETER = "MON_TRACING_FIFO_PRODUCTS"
SHARE = Decimal("0.000001")


class Traceable(Protocol):
    """What tracing reads from an ingested row."""

    serial_no: str
    account_no: str
    customer_no: str
    occurred_at: datetime
    direction: TxDirection
    amount: Decimal
    order_no: str
    is_disbursement: bool
    is_repayment: bool


class StateConflict(Exception):
    """A state row changed under us (the caller retries the whole batch)."""


@dataclass
class Traced:
    """The outcome of tracing one batch (before the new rows have ids)."""

    results: dict[str, TraceResult] = field(default_factory=dict)  # by serial no., outflows only
    states: dict[str, tuple[StateRow, TracingState]] = field(default_factory=dict)
    retraced: dict[str, list[tuple[int, TraceResult]]] = field(default_factory=dict)  # stored rows re-traced
    last_serial: dict[str, str] = field(default_factory=dict)  # account -> serial of its last transaction


async def fifo_products() -> frozenset[str]:
    from core.system.parameters import parameter

    raw = await parameter(FIFO_PARAMETER, "")
    return frozenset(code.strip() for code in str(raw or "").split(",") if code.strip())


@dataclass
class StateRow:
    """A locked `FundTraceState` row as tracing needs it (no ORM object: see `core.bulk`)."""

    id: int
    account_no: str
    customer_no: str
    method: str
    state: TracingState
    version: int


_STATE_COLUMNS = "id, account_no, customer_no, method, state, version"


async def _locked(accounts: list[str]) -> list[StateRow]:
    if not accounts:
        return []
    if postgres():
        rows = await select_dicts(f"SELECT {_STATE_COLUMNS} FROM fund_trace_state WHERE account_no = ANY($1::text[]) "
                                  "ORDER BY account_no FOR UPDATE", [accounts])
    else:
        rows = await FundTraceState.filter(account_no__in=accounts).order_by("account_no").values(
            "id", "account_no", "customer_no", "method", "state", "version")
    parse = STATES.parse  # asyncpg hands jsonb back as text, the cache's key; SQLite a decoded dict
    return [StateRow(r["id"], r["account_no"], r["customer_no"], r["method"], parse(r["state"]), r["version"])
            for r in rows]


async def lock_states(first_of_account: dict[str, tuple[str, Method]]) -> dict[str, StateRow]:
    """Ensure and lock the state rows of the accounts (account -> (customer no., method for new rows))."""
    accounts = sorted(first_of_account)
    found = {s.account_no: s for s in await _locked(accounts)}
    missing = [a for a in accounts if a not in found]
    if missing:
        now = datetime.now(UTC)
        fresh = [(a, first_of_account[a][0], first_of_account[a][1].value, TracingState(method=first_of_account[a][1]))
                 for a in missing]
        if postgres():
            await insert_unnest("fund_trace_state", (("account_no", "text"), ("customer_no", "text"),
                                                     ("method", "text"), ("state", "jsonb"), ("version", "int"),
                                                     ("updated_at", "timestamptz")),
                                [(a, c, m, STATES.encode(st), 1, now) for a, c, m, st in fresh],
                                conflict="ON CONFLICT (account_no) DO NOTHING")
        else:
            await FundTraceState.bulk_create([FundTraceState(account_no=a, customer_no=c, method=m, state=st.to_dict(),
                                                             version=1) for a, c, m, st in fresh],
                                             ignore_conflicts=True)
        found.update({s.account_no: s for s in await _locked(missing)})
    return found


def _tracer_tx(row: Traceable) -> Transaction:
    loan_in = row.direction is TxDirection.IN and row.is_disbursement
    return Transaction(serial_no=row.serial_no, time=row.occurred_at,
                       direction="IN" if row.direction is TxDirection.IN else "OUT",  # type: ignore[arg-type]
                       amount=row.amount, source=Source.LOAN if loan_in else Source.OWN,
                       order_no=row.order_no if loan_in else None, excluded=row.is_repayment)


async def trace(rows: Sequence[Traceable], states: dict[str, StateRow]) -> Traced:
    """Trace the batch's rows account by account (see the module docstring for out-of-order rows)."""
    by_account: dict[str, list[Traceable]] = defaultdict(list)
    for r in rows:
        by_account[r.account_no].append(r)
    out = Traced()
    for account, new in by_account.items():
        new.sort(key=lambda r: r.occurred_at)
        row = states[account]
        state = row.state
        if state.last_time is not None and new[0].occurred_at < state.last_time:
            await _retrace(account, row, new, out)
            continue
        tracer = FundTracer.resume(state)
        for r in new:
            result = tracer.apply(_tracer_tx(r))
            if result is not None:
                out.results[r.serial_no] = result
        out.states[account] = (row, tracer.state)
        out.last_serial[account] = new[-1].serial_no
    return out


async def _retrace(account: str, row: StateRow, new: list[Traceable], out: Traced) -> None:
    stored = await AccountTransaction.filter(account_no=account).order_by("occurred_at", "id")
    log.info("re-tracing account %s from the start: %d stored, %d new (out-of-order arrival)",
             account, len(stored), len(new))
    merged: list[tuple[int | None, Traceable]] = [(t.id, t) for t in stored]  # type: ignore[misc]
    merged += [(None, r) for r in new]
    merged.sort(key=lambda item: item[1].occurred_at)  # stable: stored first at equal times
    tracer = FundTracer(Method(row.method))
    rewritten: list[tuple[int, TraceResult]] = []
    for tx_id, r in merged:
        result = tracer.apply(_tracer_tx(r))
        if result is None:
            continue
        if tx_id is None:
            out.results[r.serial_no] = result
        else:
            rewritten.append((tx_id, result))
    out.retraced[account] = rewritten
    out.states[account] = (row, tracer.state)
    out.last_serial[account] = merged[-1][1].serial_no


PartRow = tuple[int, int | None, str, Decimal, Decimal]
"""A fund part to insert: (transaction id, loan id or None for own funds, order no., amount, share)."""


def fund_parts(tx_id: int, result: TraceResult, loan_ids: dict[str, int]) -> list[PartRow]:
    """One row per contributing loan plus one for own funds (when > 0)."""
    parts: list[PartRow] = [(tx_id, loan_ids.get(order_no), order_no, amount, (amount / result.amount).quantize(SHARE))
                            for order_no, amount in result.loan_parts.items()]
    if result.own_part:
        parts.append((tx_id, None, "", result.own_part, (result.own_part / result.amount).quantize(SHARE)))
    return parts


async def insert_parts(parts: Sequence[PartRow]) -> None:
    if not parts:
        return
    if postgres() and len(parts) >= COPY_MIN_ROWS:  # one f-string per row: see `bulk.copy_lines`
        null = "\\N"
        await copy_lines("transaction_fund_part", ("transaction_id", "loan_id", "order_no", "amount", "share"),
                         "".join(f"{t}\t{null if loan is None else loan}\t{copy_text(o)}\t{a}\t{sh}\n"
                                 for t, loan, o, a, sh in parts))
        return
    if postgres():
        columns = (("transaction_id", "bigint"), ("loan_id", "bigint"), ("order_no", "text"), ("amount", "numeric"),
                   ("share", "numeric"))
        await insert_unnest("transaction_fund_part", columns, parts)
        return
    await TransactionFundPart.bulk_create([TransactionFundPart(transaction_id=t, loan_id=loan, order_no=o, amount=a,
                                                               share=sh) for t, loan, o, a, sh in parts],
                                          batch_size=2000)


async def rewrite_retraced(traced: Traced, loan_ids: dict[str, int], now: datetime) -> list[PartRow]:
    """Update stored rows that were re-traced; returns their new fund parts (the caller inserts them)."""
    parts: list[PartRow] = []
    for rewritten in traced.retraced.values():
        ids = [tx_id for tx_id, _ in rewritten]
        if ids:
            await TransactionFundPart.filter(transaction_id__in=ids).delete()
        for tx_id, result in rewritten:
            await AccountTransaction.filter(id=tx_id).update(loan_part=result.loan_part, own_part=result.own_part,
                                                             traced_at=now)
            parts.extend(fund_parts(tx_id, result, loan_ids))
    return parts


async def save_states(traced: Traced, ids_by_serial: dict[str, int]) -> None:
    """Write every traced account's state back, version-checked; StateConflict when one moved."""
    if not traced.states:
        return
    if postgres():
        encode = STATES.encode
        await _save_pg([(row.id, row.version, encode(state), state.last_time, ids_by_serial.get(traced.last_serial[a]))
                        for a, (row, state) in traced.states.items()])
        return
    for a, (row, state) in traced.states.items():
        n = await FundTraceState.filter(id=row.id, version=row.version).update(
            state=state.to_dict(), last_occurred_at=state.last_time,
            last_transaction_id=ids_by_serial.get(traced.last_serial[a]), version=row.version + 1)
        if n != 1:
            raise StateConflict(f"tracing state {row.id} changed concurrently")


async def _save_pg(updates: Iterable[tuple[int, int, str, datetime | None, int | None]]) -> None:
    """One UPDATE … FROM unnest(…) for the whole batch; the affected-row count tells whether all matched."""
    rows = list(updates)
    ids, versions, states, lasts, last_ids = (list(c) for c in zip(*rows, strict=True))
    sql = ("UPDATE fund_trace_state AS s SET state = v.state, last_occurred_at = v.last_at, "
           "last_transaction_id = v.last_id, version = s.version + 1, updated_at = now() "
           "FROM unnest($1::bigint[], $2::int[], $3::jsonb[], $4::timestamptz[], $5::bigint[]) "
           "AS v(id, version, state, last_at, last_id) WHERE s.id = v.id AND s.version = v.version")
    conn = connections.get("default")
    matched, _ = await conn.execute_query(sql, [ids, versions, states, lasts, last_ids])
    if matched != len(rows):
        raise StateConflict(f"{len(rows) - matched} tracing state(s) changed concurrently")
