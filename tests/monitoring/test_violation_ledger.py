"""Violations in the ledger (privacy-protected, scoped, verifiable), the plugin event after commit, and the
`violationDetected` subscription filtered by the subscriber's data scope."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from core.actor import SYSTEM
from core.ledger import verify
from core.ledger.models import LedgerTransaction, TxStatus
from core.ledger.sealing import seal_pending
from core.monitoring.ingest import ingest
from core.monitoring.models import TxSource, Violation
from core.monitoring.rules import load_default_rules
from core.monitoring.violation_feed import violation_feed
from core.outbox.models import OutboxMessage
from core.outbox.service import deliver
from plugins import PluginDefinition, hookimpl
from schema.context import Context
from schema.schema import build_schema
from tests.monitoring.ingest_helpers import actor_for, bank_user, detectors, make_loan, make_world, tx

pytestmark = pytest.mark.asyncio


class Listener:
    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    async def lendline_on_violation_detected(self, event: Any) -> None:
        self.events.append(event)


CONFIG = {"plugins": {"category_detector": {}, "name_list_detector": {}, "listener": {}}}


async def diversion(mark: str, channel: Any = None) -> tuple[Any, Any]:
    w = await make_world(mark, channel)
    loan = await make_loan(w, "10000.00", mark=mark)
    return w, [tx(loan, f"{mark}-1", "in", "10000.00", 0),
               tx(loan, f"{mark}-2", "out", "2000.00", 1, counterpartyName="万科地产")]


async def test_each_violation_is_a_verifiable_privacy_protected_ledger_entry(db: str) -> None:
    await load_default_rules()
    w, rows = await diversion("LED")
    async with detectors((PluginDefinition("listener", Listener),), CONFIG) as host:
        result = await ingest(SYSTEM, rows, TxSource.BATCH)
        (v,) = result.violations
        entry = await LedgerTransaction.get(tx_hash=v.ledger_hash)
        assert entry.tx_type == "violation.detected" and entry.status is TxStatus.PRIVACY_PROTECTED
        assert entry.scope_product_id == w.product.id
        stored = await Violation.get(id=v.id)
        assert stored.ledger_hash == v.ledger_hash
        columns = sorted(Violation._meta.fields_db_projection)  # what ingest returned is the stored row
        assert [getattr(v, c) for c in columns] == [getattr(stored, c) for c in columns]
        assert json.loads(entry.payload)["violationId"] == v.id
        (message,) = await OutboxMessage.filter(job="monitoring.violation_detected")
        assert message.dedupe_key == f"violation:{v.id}"
        await deliver(message.id)
        await deliver(message.id)  # a repeated delivery does not tell plugins twice
        events = host.plugin("listener").events
        assert [(e.event_id, e.diversion_code, e.transaction_serial, str(e.loan_funded_amount)) for e in events] == [
            (f"violation:{v.id}", "FDC", "LED-2", "2000.00")]
    await seal_pending(force=True)
    report = await verify.verify()
    assert report.ok


async def test_nothing_is_in_the_ledger_when_the_batch_fails(db: str) -> None:
    await load_default_rules()
    _, rows = await diversion("RBK")
    rows.append(dict(rows[1], serialNo="RBK-3", orderNo="MISSING"))
    from core.errors import UserError

    async with detectors():
        with pytest.raises(UserError):
            await ingest(SYSTEM, rows, TxSource.BATCH)
    assert not await LedgerTransaction.filter(tx_type="violation.detected").exists()
    assert not await Violation.exists()


@pytest.fixture
def fast_feed() -> Iterator[None]:
    feed = violation_feed()
    interval, feed.interval = feed.interval, 0.02
    yield
    feed.interval = interval


async def test_subscribers_receive_only_violations_in_their_scope(db: str, fast_feed: None) -> None:
    await load_default_rules()
    a, rows_a = await diversion("SUA")
    _, rows_b = await diversion("SUB", a.channel)
    user = await actor_for(await bank_user("sua_user", a.bank, "sua_all"))
    stream = await build_schema().subscribe("subscription{violationDetected{typeCode orderNo customerNo}}",
                                            context_value=Context(request=None, actor=user))
    first = asyncio.ensure_future(anext(stream))  # type: ignore[arg-type]
    for _ in range(500):
        if violation_feed().queues:
            break
        await asyncio.sleep(0.01)
    async with detectors():
        await ingest(SYSTEM, rows_b, TxSource.BATCH)  # bank B first: must not reach this subscriber
        await ingest(SYSTEM, rows_a, TxSource.BATCH)
    result = await asyncio.wait_for(first, 5)
    assert result.errors is None
    assert result.data["violationDetected"]["orderNo"] == rows_a[0]["orderNo"]
    await stream.aclose()  # type: ignore[attr-defined]


async def test_subscription_needs_the_violations_page(db: str) -> None:
    stream = await build_schema().subscribe("subscription{violationDetected{typeCode}}", context_value=Context(None))
    result = await anext(stream)  # type: ignore[arg-type]
    assert result.errors and result.errors[0].extensions["code"] == "UNAUTHENTICATED"
