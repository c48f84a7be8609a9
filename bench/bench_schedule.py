"""Throughput of ``build_schedule`` for 36 monthly equal-installment periods, against a plain loop.

Run: ``.venv/bin/python bench/bench_schedule.py [--seconds 0.5]``.  Not a test: numbers depend on the
machine and its load, so read the ratio to the reference loop, which is measured in the same run.
The budget is ``build_schedule`` at >= 0.5x the reference (SPEC F-LOAN-7 calculators, batch jobs).

The reference is the bare arithmetic of an annuity schedule in Decimal (payment, then per period
interest, principal, balance into a tuple) with no dates, no validation, no result objects.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.loans.schedule import (
    RepaymentMethod,
    ScheduleRequest,
    TermUnit,
    build_schedule,
)

CENT = Decimal("0.01")
PRINCIPAL = Decimal("10000.00")
ANNUAL_RATE = Decimal("0.12")
TERM = 36
START = date(2024, 1, 31)


def reference_loop() -> list[tuple[int, Decimal, Decimal, Decimal]]:
    """A plain Decimal annuity loop: the floor any implementation is compared with."""
    r = ANNUAL_RATE / 12
    growth = (1 + r) ** TERM
    payment = (PRINCIPAL * r * growth / (growth - 1)).quantize(CENT, ROUND_HALF_UP)
    remaining = PRINCIPAL
    rows = []
    for k in range(1, TERM + 1):
        interest = (remaining * r).quantize(CENT, ROUND_HALF_UP)
        principal = payment - interest
        remaining -= principal
        rows.append((k, principal, interest, remaining))
    return rows


def _request(start: date) -> ScheduleRequest:
    return ScheduleRequest(
        principal=PRINCIPAL,
        annual_rate=ANNUAL_RATE,
        term=TERM,
        unit=TermUnit.MONTH,
        method=RepaymentMethod.EQUAL_INSTALLMENT,
        start_date=start,
    )


def _rate(func: Callable[[], object], seconds: float) -> float:
    """Best-of-5 calls per second, each repeat running about ``seconds``."""
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    number = max(1, int(number * seconds / 0.2))
    best = min(timer.repeat(repeat=5, number=number))
    return number / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="approximate duration of one repeat")
    args = parser.parse_args()

    fixed = _request(START)
    # 10,000 distinct start dates: more than the due-date cache holds, so every call recomputes dates.
    varying = [_request(START + timedelta(days=i)) for i in range(10_000)]
    cursor = iter(range(10**12))

    def build_varying() -> object:
        return build_schedule(varying[next(cursor) % len(varying)])

    cases: list[tuple[str, Callable[[], object]]] = [
        ("reference plain Decimal loop", reference_loop),
        ("build_schedule (same start date)", lambda: build_schedule(fixed)),
        ("build_schedule (start date varies, uncached)", build_varying),
        ("ScheduleRequest(...) + build_schedule", lambda: build_schedule(_request(START))),
    ]
    reference = 0.0
    print(f"{TERM} monthly periods, equal installment, {PRINCIPAL} at {ANNUAL_RATE} a year")
    for name, func in cases:
        rate = _rate(func, args.seconds)
        reference = reference or rate
        print(f"  {name:46s} {rate:>10,.0f} schedules/s   {rate / reference:5.2f}x reference")


if __name__ == "__main__":
    main()
