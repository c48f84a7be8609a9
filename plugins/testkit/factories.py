"""Factories for the values plugins receive, with realistic defaults and keyword overrides."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from decimal import Decimal
from typing import Any

from plugins.types import Direction, PaymentOrder, RiskSubject, Transaction

SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def make_order(**overrides: Any) -> PaymentOrder:
    """A disbursement order of 1,000.00 from ``DISB-001`` to ``BORROWER-0001`` with a fresh key."""
    values: dict[str, Any] = {
        "idempotency_key": f"test-{uuid.uuid4().hex}",
        "amount": Decimal("1000.00"),
        "debit_account": "DISB-001",
        "credit_account": "BORROWER-0001",
        "reference": "LN20260101000001",
    }
    values.update(overrides)
    return PaymentOrder(**values)


class TransactionFactory:
    """Makes outgoing transactions with unique serial numbers; override any field per call."""

    def __init__(self, customer_no: str = "100013503") -> None:
        self.customer_no = customer_no
        self._serials = itertools.count(1)

    def __call__(self, **overrides: Any) -> Transaction:
        n = next(self._serials)
        values: dict[str, Any] = {
            "serial_no": f"K99041004{n:06d}",
            "customer_no": self.customer_no,
            "occurred_at": dt.datetime(2026, 3, 2, 15, 0, tzinfo=SHANGHAI) + dt.timedelta(minutes=n),
            "direction": Direction.OUT,
            "amount": Decimal("2000.00"),
            "counterparty_name": "星巴克咖啡",
            "counterparty_category": "5814",
            "channel": "mobile",
            "order_no": "4100620100075973",
        }
        values.update(overrides)
        return Transaction(**values)


make_transaction = TransactionFactory()


def make_subject(**overrides: Any) -> RiskSubject:
    values: dict[str, Any] = {"customer_no": "100013503", "id_number": "110101199003074518",
                              "name": "张三", "phone": "13800138000"}
    values.update(overrides)
    return RiskSubject(**values)
