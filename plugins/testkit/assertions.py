"""Assertions that state what a plugin must guarantee, in the words of the hook contracts."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from plugins.errors import PluginUnavailable
from plugins.facade import PluginHost
from plugins.types import Detection, PaymentKind, PaymentOrder, PaymentResult, Transaction


async def assert_idempotent(host: PluginHost, provider: str, order: PaymentOrder, *,
                            kind: PaymentKind = PaymentKind.DISBURSE, repeats: int = 50,
                            timezone: str = "Asia/Shanghai") -> PaymentResult:
    """Fire ``repeats`` concurrent identical instructions and check they made one payment.

    Checks: every answer equals the first; a status query reports the same serial; and, when the
    provider has statements, today's statement lists the key exactly once. Returns the answer.
    """
    call = host.disburse if kind is PaymentKind.DISBURSE else host.deduct
    results = await asyncio.gather(*(call(provider, order) for _ in range(repeats)))
    first = results[0]
    differing = [r for r in results if r != first]
    assert not differing, f"{len(differing)} of {repeats} repeats answered differently: {differing[0]} != {first}"
    status = await host.payment_status(provider, order.idempotency_key)
    if first.serial is not None:
        assert status.serial == first.serial, f"query reports serial {status.serial}, first answer {first.serial}"
    try:
        statement = await host.statement(provider, dt.datetime.now(ZoneInfo(timezone)).date())
    except PluginUnavailable:
        return first
    lines = [ln for ln in statement.lines if ln.idempotency_key == order.idempotency_key]
    assert len(lines) == 1, f"statement lists idempotency key {order.idempotency_key} {len(lines)} times"
    return first


async def assert_classifies(host: PluginHost, transaction: Transaction, code: str, *, detector: str | None = None,
                            min_confidence: Decimal = Decimal("0")) -> Detection:
    """Some detector (or the named one) classifies ``transaction`` as ``code`` with enough confidence."""
    detections = await host.classify(transaction)
    assert detections.complete, f"detectors failed: {[str(e) for e in detections.errors]}"
    answers = [d for d in detections.items if detector is None or d.detector == detector]
    hits = [d for d in answers if d.classification.code == code and d.classification.confidence >= min_confidence]
    assert hits, (f"expected {code} (confidence ≥ {min_confidence}) from {detector or 'any detector'} for "
                  f"{transaction.counterparty_name!r}/{transaction.counterparty_category!r}; got "
                  f"{[(d.detector, d.classification.code, str(d.classification.confidence)) for d in answers]}")
    return hits[0]


async def assert_abstains(host: PluginHost, transaction: Transaction, *, detector: str | None = None) -> None:
    """No detector (or not the named one) classifies ``transaction``."""
    detections = await host.classify(transaction)
    assert detections.complete, f"detectors failed: {[str(e) for e in detections.errors]}"
    answers = [d for d in detections.items if detector is None or d.detector == detector]
    assert not answers, f"expected no classification, got {[(d.detector, d.classification) for d in answers]}"
