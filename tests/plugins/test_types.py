"""The value types refuse what would corrupt platform state later."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from plugins.testkit import make_order, make_subject, make_transaction
from plugins.types import (
    CallbackVerdict,
    Classification,
    IndicatorSpec,
    IndicatorType,
    PaymentResult,
    PaymentStatus,
    RawCallback,
)


def test_money_must_be_decimal_in_whole_cents():
    with pytest.raises(TypeError, match="Decimal"):
        make_order(amount=1000.0)
    with pytest.raises(ValueError, match="whole cents"):
        make_order(amount=Decimal("10.001"))
    with pytest.raises(ValueError, match="at least"):
        make_order(amount=Decimal("0.00"))


def test_datetimes_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        make_transaction(occurred_at=dt.datetime(2026, 1, 1, 12, 0))


def test_failed_result_needs_a_reason_and_status_is_typed():
    with pytest.raises(ValueError, match="reason"):
        PaymentResult("k1", PaymentStatus.FAILED)
    assert PaymentResult("k1", "succeeded").status is PaymentStatus.SUCCEEDED
    with pytest.raises(ValueError, match="one of"):
        PaymentResult("k1", "done")


def test_confidence_is_between_zero_and_one():
    with pytest.raises(ValueError, match="at most 1"):
        Classification("GS", Decimal("1.2"), "x")
    with pytest.raises(TypeError):
        Classification("GS", 0.9, "x")


def test_callback_verdict_shape_and_header_case():
    with pytest.raises(ValueError):
        CallbackVerdict(accepted=True)
    with pytest.raises(ValueError):
        CallbackVerdict(accepted=False)
    callback = RawCallback("post", "/cb", {"X-Sig": "abc"}, b"{}")
    assert callback.method == "POST" and callback.headers == {"x-sig": "abc"}


def test_indicator_types_and_masked_subject():
    spec = IndicatorSpec("age", IndicatorType.INTEGER)
    assert spec.accepts(30) and spec.accepts(None) and not spec.accepts(True) and not spec.accepts("30")
    text = repr(make_subject())
    assert "110101199003074518" not in text and "13800138000" not in text and "张三" not in text
    assert "4518" in text
