"""One place for "now": aware UTC instants and the bank's business date.

Why: tests move time (lockouts, token expiry, next-day rules) without sleeping, and business dates
must be computed in the bank's zone, not the server's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from core.config import current_settings

_offset = [timedelta(0)]


def now() -> datetime:
    """Current instant, timezone-aware UTC (shifted in tests by `travel`)."""
    return datetime.now(UTC) + _offset[0]


def business_today() -> date:
    """Today's date in the business time zone (Asia/Shanghai by default)."""
    return now().astimezone(current_settings().tz).date()


def travel(delta: timedelta) -> None:
    """Shift the clock (tests only)."""
    _offset[0] += delta


def reset() -> None:
    _offset[0] = timedelta(0)
