"""The plugin transaction feed: a feed plugin's rows are ingested as source=feed, bad rows are dropped
with an alert, repeats are skipped, and the watermark overlaps."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from core.monitoring.feed import OVERLAP, pull_feed
from core.monitoring.models import AccountTransaction, TxSource
from core.monitoring.rules import load_default_rules
from core.system.models import SystemAlert
from plugins import PluginDefinition, hookimpl
from plugins.types import Direction, FeedTransaction
from tests.monitoring.ingest_helpers import T0, detectors, make_loan, make_world
from workers.registry import JobContext, get

pytestmark = pytest.mark.asyncio


class Feed:
    rows: ClassVar[list[FeedTransaction]] = []

    def __init__(self) -> None:
        self.asked: list[Any] = []

    @hookimpl
    async def lendline_fetch_transactions(self, since: Any) -> list[FeedTransaction]:
        self.asked.append(since)
        return list(Feed.rows)


class BrokenFeed:
    @hookimpl
    def lendline_fetch_transactions(self, since: Any) -> Any:
        return "not a list"


CONFIG = {"plugins": {"category_detector": {}, "name_list_detector": {}, "bank_feed": {}, "broken_feed": {}}}
EXTRA = (PluginDefinition("bank_feed", Feed), PluginDefinition("broken_feed", BrokenFeed))


async def test_feed_rows_are_ingested_bad_ones_alerted_and_repeats_skipped(db: str) -> None:
    await load_default_rules()
    w = await make_world("FED")
    loan = await make_loan(w, "10000.00")
    c = loan.customer.customer_no

    def row(serial: str, direction: Direction, amount: str, minutes: int, **kw: Any) -> FeedTransaction:
        return FeedTransaction(order_no=kw.pop("order_no", loan.order_no), serial_no=serial, customer_no=c,
                               account_no="ACC-F", occurred_at=T0 + timedelta(minutes=minutes), direction=direction,
                               amount=Decimal(amount), **kw)

    Feed.rows = [row("P1", Direction.IN, "10000.00", 0, is_disbursement=True),
                 row("P2", Direction.OUT, "3000.00", 1, counterparty_name="万科地产"),
                 row("P3", Direction.OUT, "5.00", 2, order_no="UNKNOWN")]
    async with detectors(EXTRA, CONFIG) as host:
        report = await get("monitoring.pull_feed").handler(JobContext("monitoring.pull_feed"))  # type: ignore[union-attr]
        assert report["plugins"]["bank_feed"] == {"fetched": 3, "inserted": 2, "skipped": 0, "violations": 1,
                                                  "refused": 1}
        assert "error" in report["plugins"]["broken_feed"]
        assert sorted(await AccountTransaction.filter(source=TxSource.FEED).values_list("serial_no", flat=True)) == [
            "P1", "P2"]
        alert = await SystemAlert.get(code="MON_FEED_ROWS_REFUSED")
        assert "P3" in alert.message
        again = await pull_feed()
        assert again["plugins"]["bank_feed"]["skipped"] == 2 and again["plugins"]["bank_feed"]["inserted"] == 0
        feed = host.plugin("bank_feed")
        assert feed.asked[0] is None and feed.asked[1] == T0 + timedelta(minutes=1) - OVERLAP
