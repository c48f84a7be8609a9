"""Anti-money-laundering and fund-concentration rules (F-MON-3: "rules with their own shape").

Unlike diversion types (one payment, two thresholds on its loan-funded part, ``thresholds.py``), these
rules look at *patterns* across a window of one account's transactions, so each has its own parameter
dataclass and returns ``AmlHit``s naming every involved transaction and a human-readable reason.

All functions are pure: they take the window of transactions in time order (non-decreasing times;
same-time transactions keep the caller's order, which decides "before/after") and never mutate it.
Any object with the ``AmlTx`` attributes works (ORM rows, ``AmlTransaction``). Every comparison
against a threshold, ratio or time window is **inclusive** (``>=`` / ``<=``), mirroring regulatory
wording such as "5万元以上（含）". Calendar days are taken from each transaction's own ``time`` (the
caller supplies times in the business time zone).

Rules
    * ``large_cash``: a single cash-channel transaction ≥ ``single_threshold``, or a calendar day's
      cash total ≥ ``daily_threshold``. Days are totalled per direction (deposits and withdrawals
      separately) unless ``combine_directions``. A day made of one transaction that already produced a
      single-transaction hit is not reported again as a daily hit.
    * ``rapid_in_out`` (快进快出): an inflow ≥ ``min_amount`` followed, within ``window`` after it, by
      outflows whose running total reaches ``ratio`` × the inflow. The hit lists the inflow and the
      outflows up to the one that reached the ratio. Each qualifying inflow is judged on its own, so
      one outflow may appear in hits of several inflows.
    * ``fund_concentration`` (资金集中): ≥ ``min_counterparties`` small inflows (each ≤
      ``small_amount_cap``) from at least that many distinct counterparties, all within
      ``collect_window`` (first to last inflow), followed by **one** outflow ≥ ``ratio`` × their sum
      within ``outflow_window`` after the last of them. For each outflow the clusters ending at the
      latest small inflows are tried first; the first that qualifies is reported (one hit per
      outflow). Inflows without a counterparty cannot prove distinct sources and are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Protocol

from core.monitoring.tracing import Direction

__all__ = [
    "AmlHit",
    "AmlRule",
    "AmlTransaction",
    "AmlTx",
    "ConcentrationParams",
    "LargeCashParams",
    "RapidInOutParams",
    "fund_concentration",
    "large_cash",
    "rapid_in_out",
]

_ZERO = Decimal("0.00")


class AmlTx(Protocol):
    """What the rules read from a transaction."""

    @property
    def serial_no(self) -> str: ...
    @property
    def time(self) -> datetime: ...
    @property
    def direction(self) -> Direction: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def channel(self) -> str: ...
    @property
    def counterparty(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class AmlTransaction:
    """Minimal concrete ``AmlTx``: amount > 0; ``direction`` says whether money came in or went out."""

    serial_no: str
    time: datetime
    direction: Direction
    amount: Decimal
    channel: str = ""
    counterparty: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "direction", Direction(self.direction))
        if not isinstance(self.amount, Decimal) or not self.amount > 0:
            raise ValueError(f"amount of {self.serial_no} must be a positive Decimal")


class AmlRule(StrEnum):
    """Which rule produced a hit."""

    LARGE_CASH_SINGLE = "LARGE_CASH_SINGLE"
    LARGE_CASH_DAILY = "LARGE_CASH_DAILY"
    RAPID_IN_OUT = "RAPID_IN_OUT"
    FUND_CONCENTRATION = "FUND_CONCENTRATION"


@dataclass(frozen=True, slots=True)
class AmlHit:
    """One detected pattern: involved transactions (in time order), when it completed, and why."""

    rule: AmlRule
    transaction_ids: tuple[str, ...]
    time: datetime
    """Time of the transaction that completed the pattern."""
    amount: Decimal
    """The amount the rule compared: the single/daily cash amount, the outflows' total, the outflow."""
    reason: str


def _positive(value: Decimal, label: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise ValueError(f"{label} must be a positive Decimal, got {value!r}")


def _ratio(value: Decimal, label: str) -> None:
    if not isinstance(value, Decimal) or not 0 < value <= 1:
        raise ValueError(f"{label} must be a Decimal in (0, 1], got {value!r}")


def _window(value: timedelta, label: str) -> None:
    if value < timedelta(0):
        raise ValueError(f"{label} cannot be negative")


def _ordered(transactions: Iterable[AmlTx]) -> Sequence[AmlTx]:
    txs = transactions if isinstance(transactions, Sequence) else list(transactions)
    for prev, cur in pairwise(txs):
        if cur.time < prev.time:
            raise ValueError(f"transactions must be in time order: {cur.serial_no} precedes {prev.serial_no}")
    return txs


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _pct(value: Decimal) -> str:
    return f"{(value * 100).normalize():f}%"


@dataclass(frozen=True, slots=True)
class LargeCashParams:
    """Large-cash thresholds; ``cash_channels`` are compared case-insensitively."""

    single_threshold: Decimal
    daily_threshold: Decimal
    cash_channels: frozenset[str] = frozenset({"CASH"})
    combine_directions: bool = False

    def __post_init__(self) -> None:
        _positive(self.single_threshold, "single_threshold")
        _positive(self.daily_threshold, "daily_threshold")
        object.__setattr__(self, "cash_channels", frozenset(c.upper() for c in self.cash_channels))


def large_cash(transactions: Iterable[AmlTx], params: LargeCashParams) -> list[AmlHit]:
    """Single cash transactions ≥ the single threshold, and cash days ≥ the daily threshold."""
    txs = _ordered(transactions)
    hits: list[AmlHit] = []
    days: dict[tuple[date, Direction | None], list[AmlTx]] = {}
    single_ids: set[str] = set()
    for tx in txs:
        if (tx.channel or "").upper() not in params.cash_channels:
            continue
        if tx.amount >= params.single_threshold:
            single_ids.add(tx.serial_no)
            kind = "deposit" if tx.direction is Direction.IN else "withdrawal"
            hits.append(
                AmlHit(
                    AmlRule.LARGE_CASH_SINGLE,
                    (tx.serial_no,),
                    tx.time,
                    tx.amount,
                    f"cash {kind} {_money(tx.amount)} ≥ {_money(params.single_threshold)}",
                )
            )
        key = (tx.time.date(), None if params.combine_directions else tx.direction)
        days.setdefault(key, []).append(tx)
    for (day, direction), group in days.items():
        total = sum((t.amount for t in group), _ZERO)
        if total < params.daily_threshold:
            continue
        if len(group) == 1 and group[0].serial_no in single_ids:
            continue
        what = {None: "cash transactions", Direction.IN: "cash deposits", Direction.OUT: "cash withdrawals"}
        hits.append(
            AmlHit(
                AmlRule.LARGE_CASH_DAILY,
                tuple(t.serial_no for t in group),
                group[-1].time,
                total,
                f"{what[direction]} on {day.isoformat()} total {_money(total)} "
                f"≥ {_money(params.daily_threshold)} ({len(group)} transactions)",
            )
        )
    hits.sort(key=lambda h: h.time)
    return hits


@dataclass(frozen=True, slots=True)
class RapidInOutParams:
    """快进快出: inflows ≥ ``min_amount`` whose ``ratio`` (e.g. 0.9) leaves within ``window``."""

    window: timedelta
    ratio: Decimal
    min_amount: Decimal

    def __post_init__(self) -> None:
        _window(self.window, "window")
        _ratio(self.ratio, "ratio")
        _positive(self.min_amount, "min_amount")


def rapid_in_out(transactions: Iterable[AmlTx], params: RapidInOutParams) -> list[AmlHit]:
    """One hit per inflow whose money (by ``ratio``) went out again within the window."""
    txs = _ordered(transactions)
    hits: list[AmlHit] = []
    n = len(txs)
    for i, inflow in enumerate(txs):
        if inflow.direction is not Direction.IN or inflow.amount < params.min_amount:
            continue
        end = inflow.time + params.window
        target = params.ratio * inflow.amount
        total = _ZERO
        ids = [inflow.serial_no]
        for j in range(i + 1, n):
            tx = txs[j]
            if tx.time > end:
                break
            if tx.direction is not Direction.OUT:
                continue
            total += tx.amount
            ids.append(tx.serial_no)
            if total >= target:
                hits.append(
                    AmlHit(
                        AmlRule.RAPID_IN_OUT,
                        tuple(ids),
                        tx.time,
                        total,
                        f"inflow {_money(inflow.amount)} followed within {tx.time - inflow.time} by "
                        f"{len(ids) - 1} outflow(s) totalling {_money(total)} ≥ {_pct(params.ratio)} "
                        f"(window {params.window})",
                    )
                )
                break
    return hits


@dataclass(frozen=True, slots=True)
class ConcentrationParams:
    """资金集中: many small inflows from distinct counterparties, then one large outflow."""

    min_counterparties: int
    small_amount_cap: Decimal
    collect_window: timedelta
    outflow_window: timedelta
    ratio: Decimal

    def __post_init__(self) -> None:
        if self.min_counterparties < 2:
            raise ValueError("min_counterparties must be at least 2 for a concentration pattern")
        _positive(self.small_amount_cap, "small_amount_cap")
        _window(self.collect_window, "collect_window")
        _window(self.outflow_window, "outflow_window")
        _ratio(self.ratio, "ratio")


def fund_concentration(transactions: Iterable[AmlTx], params: ConcentrationParams) -> list[AmlHit]:
    """One hit per outflow that drains a qualifying cluster of small inflows (see module docstring)."""
    txs = _ordered(transactions)
    small = [
        i
        for i, t in enumerate(txs)
        if t.direction is Direction.IN and t.amount <= params.small_amount_cap and t.counterparty
    ]
    hits: list[AmlHit] = []
    first_small = 0  # index into `small` of the first inflow that can still anchor (time-based)
    for j, out in enumerate(txs):
        if out.direction is not Direction.OUT:
            continue
        earliest_anchor = out.time - params.outflow_window
        while first_small < len(small) and txs[small[first_small]].time < earliest_anchor:
            first_small += 1
        # Candidate anchors (last inflow of a cluster): small inflows before `out`, latest first.
        k_end = first_small
        while k_end < len(small) and small[k_end] < j:
            k_end += 1
        for k in range(k_end - 1, first_small - 1, -1):
            anchor = txs[small[k]]
            start = anchor.time - params.collect_window
            cluster = []
            for m in range(k, -1, -1):
                t = txs[small[m]]
                if t.time < start:
                    break
                cluster.append(t)
            counterparties = {t.counterparty for t in cluster}
            if len(counterparties) < params.min_counterparties:
                continue
            total = sum((t.amount for t in cluster), _ZERO)
            if out.amount < params.ratio * total:
                continue
            cluster.reverse()
            hits.append(
                AmlHit(
                    AmlRule.FUND_CONCENTRATION,
                    (*(t.serial_no for t in cluster), out.serial_no),
                    out.time,
                    out.amount,
                    f"{len(cluster)} inflows ≤ {_money(params.small_amount_cap)} from "
                    f"{len(counterparties)} counterparties totalling {_money(total)} within "
                    f"{cluster[-1].time - cluster[0].time}, then outflow {_money(out.amount)} "
                    f"≥ {_pct(params.ratio)} of it after {out.time - anchor.time}",
                )
            )
            break
    return hits
