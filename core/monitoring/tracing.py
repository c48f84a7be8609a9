"""Loan-fund tracing: how much of each outgoing payment was paid with loan money (F-MON-2).

Money in a bank account is fungible, so "which money paid for this?" has no physical answer; it is a
*convention*. Post-loan fund control needs a convention that is stated, deterministic and testable,
because a diversion violation (``thresholds.py``) is decided on the loan-funded part of a payment.
This module implements two conventions over one borrower account's time-ordered transactions:

``Method.PRO_RATA`` (default)
    The balance is a set of *pools*: one per loan (keyed by the loan's order number, created by its
    disbursement) and one for own funds (every other inflow). Each outflow takes from every pool in
    proportion to the pools' balances just before the payment, i.e. the payment has the same
    composition as the balance. The share of loan money therefore "runs": it is diluted by own inflows
    and concentrated by new disbursements.

``Method.FIFO``
    Every inflow is a *lot*; an outflow consumes the earliest lots first (money leaves in the order it
    arrived). Consecutive lots from the same source are merged, which changes nothing observable.

Assumptions and rules (both methods)
    * Amounts are ``Decimal`` with at most two decimal places (cents) and strictly positive; they are
      normalised to exactly two places so every output is in cents. Floats are rejected.
    * Transactions are applied in the given order and their times must not decrease (same-time
      transactions keep the caller's order). All times must be consistently naive or aware.
    * Only an inflow with ``source=Source.LOAN`` and an ``order_no`` is loan money. Everything else that
      comes in is own funds, including interest, fee refunds, salary, transfers from the borrower's
      other accounts and transfers from third parties.
    * Repayments of the loan itself are ordinary outflows: they consume funds like any payment (the
      money is gone). The caller can mark them ``excluded=True``; the flag is carried into the result
      so the diversion checks can skip them, but it does not change the arithmetic.
    * Overdraft: when an outflow is larger than the whole balance, all pools are emptied and the
      uncovered part is counted as **own funds** (reported separately as ``uncovered``). Rationale: the
      shortfall was paid by money the monitor never saw (an unknown opening balance, a credit line,
      missing feed data) — it cannot be loan money, because every disbursement is traced. The balance
      never goes negative: the shortfall is treated as an untracked own deposit made just before the
      payment, so later inflows are *not* used to "repay" it. Hence the conservation law is
      ``opening + inflows + uncovered - outflows == closing balance`` (``uncovered`` is 0 without
      overdraft).
    * Rounding (pro-rata only; FIFO never divides): each pool's part is its exact proportional share
      rounded half-up to the cent. The rounding difference (at most half a cent per pool) is absorbed
      by the largest pool; on a tie the pool that comes last in pool order (loans in order of first
      disbursement, then own funds) absorbs it, so in a loan/own tie the loan part stays the plain
      half-up rounding of its exact share. A part is clamped to ``[0, pool balance]``; if the clamp
      leaves a residue it goes to the next largest pool. Parts therefore always sum exactly to the
      payment, and no pool ever goes negative.
    * Arithmetic: divisions and rounding use one module-level ``decimal.Context`` (60 digits,
      ROUND_HALF_UP), so results do not depend on the caller's thread-local context and no context is
      created per transaction. Additions of cent amounts are exact below 10^26.

Incremental use
    ``FundTracer`` keeps the pools in memory; ``FundTracer.state`` is an immutable ``TracingState``
    snapshot which round-trips through ``to_dict``/``from_dict`` (plain JSON-ready dict of strings), so
    the platform can persist it per account and trace new transactions without replaying history.
    Resuming from a persisted state gives results identical to an uninterrupted run.

Display
    ``TraceResult.fund_structure()`` gives the "资金结构" column (share percentages of the payment,
    e.g. ``("30%", "70%")``), rounded for display with the same largest-absorbs rule so they add up to
    100%; ``TraceResult.fund_source()`` gives the "资金来源" column (signed amounts, e.g.
    ``(Decimal("-2000.00"), Decimal("-5000.00"))``). The underlying parts are always exact cents.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from enum import StrEnum
from typing import Any

__all__ = [
    "CENT",
    "SHARE_QUANTUM",
    "Direction",
    "FundComponent",
    "FundTracer",
    "Method",
    "Source",
    "TraceResult",
    "TracingState",
    "Transaction",
    "allocate",
    "trace",
]

CENT = Decimal("0.01")
"""Money quantum."""
SHARE_QUANTUM = Decimal("0.000001")
"""Quantum of ratios (shares of a payment), 6 places = 0.0001 %."""

_ZERO = Decimal("0.00")
_CTX = Context(prec=60, rounding=ROUND_HALF_UP)
"""Shared context for divisions/rounding: created once, independent of the caller's context."""
_STATE_VERSION = "2"
"""Version 2 lists the loan pools as ``[order_no, amount]`` pairs; version 1 (still read) had an object,
whose key order, and so the pool order, PostgreSQL's ``jsonb`` does not keep."""


class Direction(StrEnum):
    """Direction of a transaction seen from the borrower's account."""

    IN = "IN"
    OUT = "OUT"


class Source(StrEnum):
    """Kind of an inflow: a loan disbursement or anything else (own funds)."""

    LOAN = "LOAN"
    OWN = "OWN"


class Method(StrEnum):
    """Tracing convention; see the module docstring."""

    PRO_RATA = "PRO_RATA"
    FIFO = "FIFO"


def _cents(value: Decimal, what: str, whose: object = None) -> Decimal:
    """Validate a money amount and normalise it to exactly two places.

    Rejecting sub-cent amounts (instead of rounding them) keeps the conservation law exact. The
    error names ``what`` (followed by ``whose`` when given): passing the parts instead of a
    formatted name keeps the message from being built for every valid amount, which was a
    noticeable part of resuming an account's state.
    """
    if not isinstance(value, Decimal):
        raise TypeError(f"{_what(what, whose)} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{_what(what, whose)} must be finite, got {value}")
    q = value.quantize(CENT, context=_CTX)
    if q != value:
        raise ValueError(f"{_what(what, whose)} must be a whole number of cents, got {value}")
    return q


def _what(what: str, whose: object) -> str:
    return what if whose is None else f"{what} {whose}"


@dataclass(frozen=True, slots=True)
class Transaction:
    """One transaction of the traced account.

    ``source``/``order_no`` matter only for inflows: ``Source.LOAN`` with the loan's order number marks a
    disbursement. ``excluded`` marks outflows (e.g. repayments of the loan) that consume funds but must
    not be judged as diversion; it is passed through to the ``TraceResult``.
    """

    serial_no: str
    time: datetime
    direction: Direction
    amount: Decimal
    source: Source = Source.OWN
    order_no: str | None = None
    excluded: bool = False

    def __post_init__(self) -> None:
        # Coerce plain strings ("IN", "LOAN") so the tracer can compare enum members by identity.
        object.__setattr__(self, "direction", Direction(self.direction))
        object.__setattr__(self, "source", Source(self.source))
        amount = _cents(self.amount, "amount of", self.serial_no)
        if amount <= 0:
            raise ValueError(f"amount of {self.serial_no} must be > 0, got {self.amount}")
        object.__setattr__(self, "amount", amount)
        if self.direction is Direction.IN and self.source is Source.LOAN and not self.order_no:
            raise ValueError(f"loan inflow {self.serial_no} needs the loan's order_no")
        if self.direction is Direction.OUT and self.source is Source.LOAN:
            raise ValueError(f"outflow {self.serial_no} cannot have source LOAN; sources describe inflows")


@dataclass(frozen=True, slots=True)
class FundComponent:
    """One source of a payment: a loan (``order_no`` set) or own funds."""

    source: Source
    order_no: str | None
    amount: Decimal
    share: Decimal
    """Fraction of the payment (0..1, 6 places, half-up); display percentages come from fund_structure."""

    @property
    def signed_amount(self) -> Decimal:
        """The amount as the 资金来源 column shows it: negative, because the money left the account."""
        return -self.amount if self.amount else _ZERO


@dataclass(frozen=True, slots=True)
class TraceResult:
    """Where the money of one outgoing payment came from, and the account state right after it.

    ``own_part`` includes ``uncovered`` (overdraft, see module docstring). ``loan_parts`` lists only
    loans that contributed (> 0), in pool order; ``loan_balances_after`` lists every loan known to the
    state, including exhausted ones (0.00).
    """

    serial_no: str
    time: datetime
    amount: Decimal
    loan_part: Decimal
    own_part: Decimal
    uncovered: Decimal
    loan_parts: dict[str, Decimal]
    loan_balances_after: dict[str, Decimal]
    own_balance_after: Decimal
    excluded: bool = False

    @property
    def loan_balance_after(self) -> Decimal:
        """Unspent loan money left in the account after this payment (all loans)."""
        return sum(self.loan_balances_after.values(), _ZERO)

    @property
    def balance_after(self) -> Decimal:
        """Account balance after this payment as tracked by the tracer (never negative)."""
        return self.loan_balance_after + self.own_balance_after

    @property
    def loan_share(self) -> Decimal:
        """Loan-funded fraction of the payment (6 places, half-up)."""
        return _ratio(self.loan_part, self.amount)

    @property
    def own_share(self) -> Decimal:
        """Own-funded fraction of the payment; ``1 - loan_share`` exactly (shares are complementary)."""
        return Decimal(1) - self.loan_share

    def components(self, per_loan: bool = False) -> tuple[FundComponent, ...]:
        """The payment's sources in display order: loan(s) first, own funds last.

        Aggregated (default): exactly two components, LOAN and OWN (either may be 0). With
        ``per_loan=True``: one component per contributing loan, then OWN.
        """
        if per_loan:
            parts: list[tuple[Source, str | None, Decimal]] = [
                (Source.LOAN, order_no, part) for order_no, part in self.loan_parts.items()
            ]
        else:
            parts = [(Source.LOAN, None, self.loan_part)]
        parts.append((Source.OWN, None, self.own_part))
        return tuple(FundComponent(s, o, a, _ratio(a, self.amount)) for s, o, a in parts)

    def fund_structure(self, per_loan: bool = False, places: int = 0) -> tuple[str, ...]:
        """The 资金结构 column: percentages of the payment per component, e.g. ``("30%", "70%")``.

        Percentages are rounded half-up to ``places`` decimals with the largest-absorbs rule, so they
        always add up to exactly 100 (a display convenience; the money parts themselves are exact).
        """
        comps = self.components(per_loan)
        quantum = Decimal(1).scaleb(-places)
        pct = allocate(Decimal(100), [c.amount for c in comps], self.amount, quantum, capped=False)
        return tuple(f"{p:.{places}f}%" for p in pct)

    def fund_source(self, per_loan: bool = False) -> tuple[Decimal, ...]:
        """The 资金来源 column: signed amounts per component, e.g. ``(Decimal("-2000.00"), ...)``."""
        return tuple(c.signed_amount for c in self.components(per_loan))


def _ratio(part: Decimal, whole: Decimal) -> Decimal:
    return _CTX.divide(part, whole).quantize(SHARE_QUANTUM, context=_CTX)


def allocate(
    amount: Decimal,
    weights: Sequence[Decimal],
    total: Decimal,
    quantum: Decimal = CENT,
    capped: bool = True,
) -> list[Decimal]:
    """Split ``amount`` proportionally to ``weights`` (whose sum is ``total``), exactly, in ``quantum``s.

    Each part is the exact share rounded half-up to ``quantum``; the difference to ``amount`` goes to
    the largest weight (ties: the last one), clamped to ``[0, weight]`` when ``capped`` (a pool cannot
    give more than it holds) or to ``[0, amount]`` otherwise, with any residue passed to the next
    largest. Requires ``0 <= amount <= total`` when capped, and ``total > 0``.
    """
    parts = [
        _CTX.divide(_CTX.multiply(amount, w), total).quantize(quantum, context=_CTX) if w else _ZERO for w in weights
    ]
    diff = amount - sum(parts, _ZERO)
    if diff:
        order = sorted(range(len(weights)), key=lambda i: (weights[i], i), reverse=True)
        for i in order:
            new = parts[i] + diff
            cap = weights[i] if capped else amount
            if new < 0:
                parts[i], diff = _ZERO, new
            elif new > cap:
                parts[i], diff = cap, new - cap
            else:
                parts[i] = new
                break
        else:  # pragma: no cover - impossible when the preconditions hold
            raise ValueError(f"cannot allocate {amount} over weights totalling {total}")
    return parts


@dataclass(frozen=True, slots=True)
class TracingState:
    """Immutable, persistable snapshot of an account's pools.

    ``loans`` keeps pool order (order of first disbursement), which the rounding tie-break depends on.
    ``lots`` is used by FIFO only: the unconsumed inflow lots, oldest first (``order_no`` None = own).
    ``last_time`` lets a resumed tracer keep enforcing time order across batches.
    """

    method: Method = Method.PRO_RATA
    own: Decimal = _ZERO
    loans: tuple[tuple[str, Decimal], ...] = ()
    lots: tuple[tuple[str | None, Decimal], ...] = ()
    last_time: datetime | None = None
    uncovered_total: Decimal = _ZERO
    """Cumulative overdraft counted as own funds; kept so the conservation law can be audited."""

    def __post_init__(self) -> None:
        own = _cents(self.own, "own balance")
        if own < 0:
            raise ValueError("own balance cannot be negative")
        loans = tuple([(o, _cents(a, "balance of loan", o)) for o, a in self.loans])
        if any(a < 0 for _, a in loans) or len({o for o, _ in loans}) != len(loans):
            raise ValueError("loan balances must be non-negative with unique order numbers")
        lots = tuple([(o, _cents(a, "lot amount")) for o, a in self.lots]) if self.lots else ()
        if self.method is Method.FIFO:
            by_key: dict[str | None, Decimal] = {}
            for o, a in lots:
                if a <= 0:
                    raise ValueError("FIFO lots must be > 0")
                by_key[o] = by_key.get(o, _ZERO) + a
            expected = {o: a for o, a in loans if a}
            if own:
                expected[None] = own
            if by_key != expected:
                raise ValueError("FIFO lots do not add up to the pool balances")
        elif lots:
            raise ValueError("lots are only used by the FIFO method")
        object.__setattr__(self, "own", own)
        object.__setattr__(self, "loans", loans)
        object.__setattr__(self, "lots", lots)
        object.__setattr__(self, "uncovered_total", _cents(self.uncovered_total, "uncovered total"))

    @classmethod
    def opening(
        cls,
        method: Method = Method.PRO_RATA,
        own: Decimal = _ZERO,
        loans: Mapping[str, Decimal] | None = None,
    ) -> TracingState:
        """State for an account whose tracing starts with a known balance split.

        For FIFO the opening own funds are assumed older than the opening loan money (savings usually
        predate a loan), so the lots are: own first, then loans in the mapping's order.
        """
        loan_items = tuple((loans or {}).items())
        lots: tuple[tuple[str | None, Decimal], ...] = ()
        if method is Method.FIFO:
            own_lots: list[tuple[str | None, Decimal]] = [(None, own)] if own > 0 else []
            lots = (*own_lots, *((o, a) for o, a in loan_items if a > 0))
        return cls(method=method, own=own, loans=loan_items, lots=lots)

    @property
    def loan_balance(self) -> Decimal:
        """Unspent loan money, all loans."""
        return sum((a for _, a in self.loans), _ZERO)

    @property
    def balance(self) -> Decimal:
        """Tracked account balance."""
        return self.own + self.loan_balance

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict whose leaves are all strings (Decimals as exact strings, time as ISO 8601).

        Everything whose order matters is a list (pools in pool order, lots oldest first): a stored
        JSON object's key order is not kept by PostgreSQL. Keys are written in the order ``jsonb``
        prints them back (shorter first, then by bytes), so the stored text equals ``json.dumps``
        of this dict, which `core.monitoring.state_cache` relies on to recognise a state it wrote.
        """
        return {
            "own": str(self.own),
            "lots": [{"amount": str(a), "order_no": o or ""} for o, a in self.lots],
            "loans": [[o, str(a)] for o, a in self.loans],
            "method": self.method.value,
            "version": _STATE_VERSION,
            "last_time": self.last_time.isoformat() if self.last_time else "",
            "uncovered_total": str(self.uncovered_total),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TracingState:
        """Inverse of ``to_dict``; validates the payload (pool/lot consistency, version)."""
        version = data.get("version")
        if version not in (_STATE_VERSION, "1"):
            raise ValueError(f"unsupported tracing state version {version!r}")
        loans = data.get("loans", [] if version == _STATE_VERSION else {})
        lots = data.get("lots", [])
        if version == "1" and isinstance(loans, Mapping):
            loans = list(loans.items())  # pool order as stored: on PostgreSQL, jsonb's key order
        if not isinstance(loans, list) or not isinstance(lots, list) or any(len(p) != 2 for p in loans):
            raise ValueError("malformed tracing state")
        last = str(data.get("last_time") or "")
        return cls(
            method=Method(str(data["method"])),
            own=Decimal(str(data.get("own", "0.00"))),
            loans=tuple((str(o), Decimal(str(a))) for o, a in loans),
            lots=tuple((str(lot["order_no"]) or None, Decimal(str(lot["amount"]))) for lot in lots),
            last_time=datetime.fromisoformat(last) if last else None,
            uncovered_total=Decimal(str(data.get("uncovered_total", "0.00"))),
        )


class FundTracer:
    """Stateful tracer for one account. Feed transactions in time order with ``apply``/``trace``.

    The hot path mutates a few Decimals in a dict (and a deque for FIFO); it does not copy state
    except the small per-loan balance dict that goes into each result.
    """

    __slots__ = ("_last_time", "_loans", "_lots", "_method", "_own", "_uncovered_total")

    def __init__(self, method: Method = Method.PRO_RATA, state: TracingState | None = None) -> None:
        if state is None:
            state = TracingState(method=method)
        elif state.method is not method:
            raise ValueError(f"state was traced with {state.method}, cannot continue with {method}")
        self._method = method
        self._own = state.own
        self._loans: dict[str, Decimal] = dict(state.loans)
        self._lots: deque[list[Any]] = deque([o, a] for o, a in state.lots)
        self._last_time = state.last_time
        self._uncovered_total = state.uncovered_total

    @classmethod
    def resume(cls, state: TracingState) -> FundTracer:
        """Continue tracing from a (persisted) state with the state's own method."""
        return cls(state.method, state)

    @property
    def method(self) -> Method:
        """The convention this tracer applies (fixed for the lifetime of the account's state)."""
        return self._method

    @property
    def state(self) -> TracingState:
        """Immutable snapshot of the current pools (for persistence).

        Built without `TracingState`'s validation: the tracer keeps those invariants by construction
        (its inputs were validated, each step conserves money), and ingestion snapshots every
        account it touches, so re-checking each amount was a tenth of a batch's tracing time. The
        property tests check that every snapshot passes the validation.
        """
        snapshot = object.__new__(TracingState)
        for name, value in (("method", self._method), ("own", self._own), ("loans", tuple(self._loans.items())),
                            ("lots", tuple((o, a) for o, a in self._lots)), ("last_time", self._last_time),
                            ("uncovered_total", self._uncovered_total)):
            object.__setattr__(snapshot, name, value)
        return snapshot

    def trace(self, transactions: Iterable[Transaction]) -> list[TraceResult]:
        """Apply a batch; return one result per outflow, in order."""
        apply = self.apply
        return [r for r in map(apply, transactions) if r is not None]

    def apply(self, tx: Transaction) -> TraceResult | None:
        """Apply one transaction; an inflow updates the pools and returns None."""
        last = self._last_time
        if last is not None and tx.time < last:
            raise ValueError(f"transaction {tx.serial_no} at {tx.time} is earlier than {last}")
        self._last_time = tx.time
        amount = tx.amount
        if tx.direction is Direction.IN:
            key = tx.order_no if tx.source is Source.LOAN else None
            if key is None:
                self._own += amount
            else:
                self._loans[key] = self._loans.get(key, _ZERO) + amount
            if self._method is Method.FIFO:
                lots = self._lots
                if lots and lots[-1][0] == key:
                    lots[-1][1] += amount
                else:
                    lots.append([key, amount])
            return None
        if self._method is Method.FIFO:
            loan_parts, own_part, uncovered = self._out_fifo(amount)
        else:
            loan_parts, own_part, uncovered = self._out_pro_rata(amount)
        if uncovered:
            self._uncovered_total += uncovered
        loan_part = sum(loan_parts.values(), _ZERO)
        return TraceResult(
            tx.serial_no,
            tx.time,
            amount,
            loan_part,
            own_part,
            uncovered,
            loan_parts,
            dict(self._loans),
            self._own,
            tx.excluded,
        )

    def _out_pro_rata(self, amount: Decimal) -> tuple[dict[str, Decimal], Decimal, Decimal]:
        loans = self._loans
        own = self._own
        keys = [k for k, v in loans.items() if v]
        if not keys:  # common case: no loan money in the account
            if amount > own:
                self._own = _ZERO
                return {}, amount, amount - own
            self._own = own - amount
            return {}, amount, _ZERO
        total = own + sum((loans[k] for k in keys), _ZERO)
        if amount >= total:  # everything goes, the rest is overdraft (own funds)
            parts = {k: loans[k] for k in keys}
            for k in keys:
                loans[k] = _ZERO
            self._own = _ZERO
            uncovered = amount - total
            return parts, own + uncovered, uncovered
        weights = [loans[k] for k in keys]
        weights.append(own)
        split = allocate(amount, weights, total)
        parts = {}
        for k, p in zip(keys, split, strict=False):
            if p:
                parts[k] = p
                loans[k] -= p
        own_part = split[-1]
        self._own = own - own_part
        return parts, own_part, _ZERO

    def _out_fifo(self, amount: Decimal) -> tuple[dict[str, Decimal], Decimal, Decimal]:
        lots = self._lots
        loans = self._loans
        parts: dict[str, Decimal] = {}
        own_part = _ZERO
        remaining = amount
        while remaining and lots:
            lot = lots[0]
            key, available = lot
            take = available if available <= remaining else remaining
            if key is None:
                own_part += take
                self._own -= take
            else:
                parts[key] = parts.get(key, _ZERO) + take
                loans[key] -= take
            remaining -= take
            if take == available:
                lots.popleft()
            else:
                lot[1] = available - take
        return parts, own_part + remaining, remaining


def trace(
    transactions: Iterable[Transaction],
    method: Method = Method.PRO_RATA,
    state: TracingState | None = None,
) -> tuple[list[TraceResult], TracingState]:
    """Trace a batch from ``state`` (default: empty account) and return results plus the new state."""
    tracer = FundTracer(method, state)
    results = tracer.trace(transactions)
    return results, tracer.state
