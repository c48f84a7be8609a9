"""``example_pay``: a toy payment provider written with plain (sync) hooks.

Sync hooks are run by the host in worker threads, several at once, so shared state needs a
``threading.Lock``; in exchange, blocking client libraries (a bank's SDK, say) are fine here.
Idempotency: the first answer for a key is stored and replayed; the lock makes concurrent repeats
wait for it instead of paying twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from decimal import Decimal

from plugins import PluginDefinition, Secret, SettingsError, hookimpl
from plugins.types import (
    Balance,
    CallbackVerdict,
    HealthReport,
    HealthState,
    PaymentKind,
    PaymentOrder,
    PaymentResult,
    PaymentStatus,
    RawCallback,
    Statement,
    StatementLine,
)

SIGNATURE_HEADER = "x-example-signature"
TIMESTAMP_HEADER = "x-example-timestamp"


@dataclass
class ExamplePaySettings:
    identifier: str = "example"
    callback_secret: Secret = field(default_factory=lambda: Secret("example-secret"))
    opening_balances: dict[str, Decimal] = field(default_factory=lambda: {"DISB-001": Decimal("500000.00")})
    max_amount: Decimal = Decimal("200000.00")

    def __post_init__(self) -> None:
        if self.max_amount <= 0:
            raise SettingsError("max_amount", "must be positive")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class ExamplePay:
    def __init__(self, settings: ExamplePaySettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._balances = dict(settings.opening_balances)
        self._results: dict[str, tuple[PaymentKind, PaymentOrder, PaymentResult, dt.datetime]] = {}

    def _instruct(self, kind: PaymentKind, order: PaymentOrder) -> PaymentResult:
        with self._lock:
            if order.idempotency_key in self._results:
                return self._results[order.idempotency_key][2]
            now = dt.datetime.now(dt.UTC)
            serial = f"EX{len(self._results) + 1:08d}"
            available = self._balances.get(order.debit_account, Decimal("0.00"))
            if order.amount > self.settings.max_amount:
                result = PaymentResult(order.idempotency_key, PaymentStatus.FAILED, serial, order.amount,
                                       reason="amount above the provider's limit", reason_code="LIMIT")
            elif available < order.amount:
                result = PaymentResult(order.idempotency_key, PaymentStatus.FAILED, serial, order.amount,
                                       reason="insufficient balance", reason_code="INSUFFICIENT_FUNDS")
            else:
                self._balances[order.debit_account] = available - order.amount
                self._balances[order.credit_account] = (
                    self._balances.get(order.credit_account, Decimal("0.00")) + order.amount)
                result = PaymentResult(order.idempotency_key, PaymentStatus.SUCCEEDED, serial, order.amount,
                                       completed_at=now)
            self._results[order.idempotency_key] = (kind, order, result, now)
            return result

    @hookimpl
    def lendline_payment_identifier(self) -> str:
        return self.settings.identifier

    @hookimpl
    def lendline_payment_disburse(self, order: PaymentOrder) -> PaymentResult:
        return self._instruct(PaymentKind.DISBURSE, order)

    @hookimpl
    def lendline_payment_deduct(self, order: PaymentOrder) -> PaymentResult:
        return self._instruct(PaymentKind.DEDUCT, order)

    @hookimpl
    def lendline_payment_query(self, idempotency_key: str) -> PaymentResult:
        with self._lock:
            found = self._results.get(idempotency_key)
        if found is None:
            return PaymentResult(idempotency_key, PaymentStatus.UNKNOWN, reason="no such payment",
                                 reason_code="NOT_FOUND")
        return found[2]

    @hookimpl
    def lendline_payment_balance(self, account: str) -> Balance:
        with self._lock:
            if account not in self._balances:
                raise LookupError(f"no account {account}")
            return Balance(account, self._balances[account], dt.datetime.now(dt.UTC))

    @hookimpl
    def lendline_payment_statement(self, day: dt.date) -> Statement:
        shanghai = dt.timezone(dt.timedelta(hours=8))
        with self._lock:
            lines = tuple(
                StatementLine(result.serial or "", key, kind, order.amount, result.status, order.debit_account,
                              order.credit_account, created, result.completed_at, order.reference)
                for key, (kind, order, result, created) in self._results.items()
                if created.astimezone(shanghai).date() == day)
        return Statement(day, lines, dt.datetime.now(dt.UTC))

    @hookimpl
    def lendline_payment_verify_callback(self, callback: RawCallback) -> CallbackVerdict:
        timestamp = callback.headers.get(TIMESTAMP_HEADER, "")
        signature = callback.headers.get(SIGNATURE_HEADER, "")
        expected = sign(self.settings.callback_secret.reveal(), timestamp, callback.body)
        if not hmac.compare_digest(expected, signature):
            return CallbackVerdict.rejected("bad signature")
        if not timestamp.isdigit() or abs(callback.received_at.timestamp() - int(timestamp)) > 300:
            return CallbackVerdict.rejected("stale timestamp")
        data = json.loads(callback.body)
        return CallbackVerdict.ok(PaymentResult(data["idempotency_key"], PaymentStatus(data["status"]),
                                                data.get("serial"), Decimal(data["amount"])))

    @hookimpl
    def lendline_health(self) -> HealthReport:
        return HealthReport(HealthState.OK, f"{len(self._results)} payments")


plugin = PluginDefinition(
    name="example_pay",
    factory=ExamplePay,
    settings=ExamplePaySettings,
    description="Example payment provider (sync hooks, in-memory).",
)
