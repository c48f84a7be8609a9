"""``sandbox_pay``: an in-process payment provider for development, demos and tests.

It behaves like a real virtual-account provider (seed 004: every party has a virtual account at the
provider, funds never pool at the platform, the platform only instructs):

* balances per virtual account, seeded from settings (``balances``); credits open accounts;
* honest idempotency: a repeated key — even 50 concurrent repeats — executes once and replays the
  first response (an ``asyncio.Lock`` per key); the same key with different parameters is refused;
* failure injection, deterministic with ``seed``: ``fail_rate`` (declines), ``unknown_rate`` (the
  payment executes but the answer says ``unknown``), ``timeout_rate`` (the payment executes, then the
  answer hangs ``hang_seconds`` so the host times out), ``decline_accounts``; ``force_next(...)``
  scripts the next outcomes for tests;
* ``settle_delay_ms`` > 0 answers ``accepted`` and settles later (on query, statement or callback);
* query resolves an ``unknown`` payment to its true outcome; daily statements list every payment;
* final outcomes produce HMAC-signed callbacks (:mod:`plugins.builtin.signing`), collected with
  ``drain_callbacks()`` and verified by ``lendline_payment_verify_callback``.

State lives in memory, per process: it is a sandbox. Restarting forgets every payment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from plugins.builtin.bases import InstructingProvider
from plugins.builtin.signing import NonceCache, signed_headers, verify
from plugins.definition import PluginDefinition
from plugins.markers import hookimpl
from plugins.settings import Secret, SettingsError
from plugins.types import (
    CENT,
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
    utcnow,
)


class SandboxOutcome(StrEnum):
    NORMAL = "normal"
    DECLINE = "decline"
    UNKNOWN = "unknown"
    TIMEOUT = "timeout"


class IdempotencyConflict(ValueError):
    """The idempotency key was already used for a different instruction (a caller bug)."""


@dataclass
class SandboxPaySettings:
    identifier: str = "sandbox"
    latency_ms: int = 0
    fail_rate: float = 0.0
    unknown_rate: float = 0.0
    timeout_rate: float = 0.0
    hang_seconds: float = 30.0
    decline_accounts: tuple[str, ...] = ()
    seed: int | None = None
    balances: dict[str, Decimal] = field(
        # The demo banks' accounts (core/payments/demo.py), so the embedded default needs no plugins.toml.
        default_factory=lambda: {"DISB-001": Decimal("10000000.00"), "REPAY-001": Decimal("0.00"),
                                 "DISB-002": Decimal("3000000.00"), "REPAY-002": Decimal("0.00")})
    settle_delay_ms: int = 0
    callback_secret: Secret = field(default_factory=lambda: Secret("sandbox-callback-secret"))
    callback_window_seconds: int = 300
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if not self.identifier or len(self.identifier) > 50:
            raise SettingsError("identifier", "must be 1 to 50 characters")
        for key in ("fail_rate", "unknown_rate", "timeout_rate"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise SettingsError(key, "must be between 0 and 1")
        if self.fail_rate + self.unknown_rate + self.timeout_rate > 1.0:
            raise SettingsError("fail_rate", "fail_rate + unknown_rate + timeout_rate must not exceed 1")
        for key in ("latency_ms", "settle_delay_ms"):
            if getattr(self, key) < 0:
                raise SettingsError(key, "must not be negative")
        if self.hang_seconds <= 0:
            raise SettingsError("hang_seconds", "must be positive")
        if self.callback_window_seconds <= 0:
            raise SettingsError("callback_window_seconds", "must be positive")
        for account, amount in self.balances.items():
            if amount < 0 or amount != amount.quantize(CENT):
                raise SettingsError(f"balances.{account}", "must be a non-negative amount in whole cents")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError("timezone", f"unknown time zone {self.timezone!r}") from None


@dataclass
class _Payment:
    serial: str
    kind: PaymentKind
    order: PaymentOrder
    status: PaymentStatus
    created_at: dt.datetime
    reason: str | None = None
    reason_code: str | None = None
    completed_at: dt.datetime | None = None
    settle_at: dt.datetime | None = None
    response: PaymentResult | None = None

    def result(self) -> PaymentResult:
        return PaymentResult(idempotency_key=self.order.idempotency_key, status=self.status, serial=self.serial,
                             amount=self.order.amount, reason=self.reason, reason_code=self.reason_code,
                             completed_at=self.completed_at)


class SandboxPay(InstructingProvider):
    """The sandbox provider. Test helpers: ``force_next``, ``deposit``, ``drain_callbacks``, ``clock``."""

    def __init__(self, settings: SandboxPaySettings) -> None:
        self.settings = settings
        self.clock: Callable[[], dt.datetime] = utcnow
        self._tz = ZoneInfo(settings.timezone)
        self._rng = random.Random(settings.seed)
        self._forced: deque[SandboxOutcome] = deque()
        self._balances: dict[str, Decimal] = dict(settings.balances)
        self._payments: dict[str, _Payment] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._counter = 0
        self._outbox: list[RawCallback] = []
        self._nonces = NonceCache(settings.callback_window_seconds)

    # --- test and demo helpers ---------------------------------------------------------------

    def force_next(self, *outcomes: SandboxOutcome | str) -> None:
        """Script the outcomes of the next instructions (before the random injection applies)."""
        self._forced.extend(SandboxOutcome(o) for o in outcomes)

    def deposit(self, account: str, amount: Decimal) -> None:
        """Money arriving from outside the provider (e.g. a borrower topping up their account)."""
        self._balances[account] = self._balances.get(account, Decimal("0.00")) + amount

    def drain_callbacks(self) -> list[RawCallback]:
        """Signed notifications produced since the last call, as the platform would receive them."""
        out, self._outbox = self._outbox, []
        return out

    @property
    def callback_path(self) -> str:
        return f"/callbacks/payments/{self.settings.identifier}"  # the platform's route (schema/callbacks.py)

    # --- internals -----------------------------------------------------------------------------

    def _next_outcome(self) -> SandboxOutcome:
        if self._forced:
            return self._forced.popleft()
        s, roll = self.settings, self._rng.random()
        for outcome, rate in ((SandboxOutcome.TIMEOUT, s.timeout_rate), (SandboxOutcome.UNKNOWN, s.unknown_rate),
                              (SandboxOutcome.DECLINE, s.fail_rate)):
            if roll < rate:
                return outcome
            roll -= rate
        return SandboxOutcome.NORMAL

    def _settle(self, payment: _Payment, at: dt.datetime) -> None:
        self._balances[payment.order.credit_account] = (
            self._balances.get(payment.order.credit_account, Decimal("0.00")) + payment.order.amount)
        payment.status, payment.completed_at, payment.settle_at = PaymentStatus.SUCCEEDED, at, None
        self._emit_callback(payment)

    def _refresh(self, payment: _Payment) -> None:
        if payment.settle_at is not None and payment.settle_at <= self.clock():
            self._settle(payment, payment.settle_at)

    def _fail(self, payment: _Payment, code: str, reason: str) -> None:
        payment.status, payment.reason_code, payment.reason = PaymentStatus.FAILED, code, reason
        payment.completed_at = payment.created_at
        self._emit_callback(payment)

    def _process(self, kind: PaymentKind, order: PaymentOrder, outcome: SandboxOutcome) -> _Payment:
        now = self.clock()
        self._counter += 1
        serial = f"SBX{now.astimezone(self._tz):%Y%m%d}{self._counter:08d}"
        payment = _Payment(serial, kind, order, PaymentStatus.ACCEPTED, now)
        declined = set(self.settings.decline_accounts) & {order.debit_account, order.credit_account}
        available = self._balances.get(order.debit_account, Decimal("0.00"))
        if outcome is SandboxOutcome.DECLINE:
            self._fail(payment, "DECLINED", "declined by the provider (sandbox injected failure)")
        elif declined:
            self._fail(payment, "ACCOUNT_DECLINED", f"account {sorted(declined)[0]} is declined by the provider")
        elif available < order.amount:
            self._fail(payment, "INSUFFICIENT_FUNDS", f"insufficient balance in account {order.debit_account}")
        else:
            self._balances[order.debit_account] = available - order.amount
            if self.settings.settle_delay_ms:
                payment.settle_at = now + dt.timedelta(milliseconds=self.settings.settle_delay_ms)
            else:
                self._settle(payment, now)
        return payment

    async def _instruct(self, kind: PaymentKind, order: PaymentOrder) -> PaymentResult:
        key = order.idempotency_key
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            existing = self._payments.get(key)
            if existing is not None:
                if (existing.kind, existing.order) != (kind, order):
                    raise IdempotencyConflict(f"idempotency key {key!r} was used for a different instruction")
                assert existing.response is not None
                return existing.response
            if self.settings.latency_ms:
                await asyncio.sleep(self.settings.latency_ms / 1000)
            outcome = self._next_outcome()
            payment = self._process(kind, order, outcome)
            true_result = payment.result()
            payment.response = true_result
            if outcome is SandboxOutcome.UNKNOWN:
                payment.response = PaymentResult(key, PaymentStatus.UNKNOWN, reason="outcome withheld (sandbox)")
            self._payments[key] = payment
        if outcome is SandboxOutcome.TIMEOUT:
            await asyncio.sleep(self.settings.hang_seconds)  # executed, but the answer is "lost"
        return payment.response

    def _emit_callback(self, payment: _Payment) -> None:
        result = payment.result()
        body = json.dumps({
            "identifier": self.settings.identifier, "serial": payment.serial, "kind": payment.kind.value,
            "idempotency_key": result.idempotency_key, "status": result.status.value,
            "amount": str(result.amount), "reason": result.reason, "reason_code": result.reason_code,
            "completed_at": result.completed_at.isoformat() if result.completed_at else None,
        }, sort_keys=True, ensure_ascii=False).encode()
        now = self.clock()
        headers = signed_headers(self.settings.callback_secret.reveal(), "POST", self.callback_path, body,
                                 timestamp=int(now.timestamp()))
        self._outbox.append(RawCallback("POST", self.callback_path, headers, body, received_at=now))

    # --- hooks ---------------------------------------------------------------------------------

    @hookimpl
    async def lendline_payment_query(self, idempotency_key: str) -> PaymentResult:
        payment = self._payments.get(idempotency_key)
        if payment is None:
            return PaymentResult(idempotency_key, PaymentStatus.UNKNOWN, reason="the provider has no record "
                                 "of this instruction", reason_code="NOT_FOUND")
        self._refresh(payment)
        return payment.result()

    @hookimpl
    async def lendline_payment_balance(self, account: str) -> Balance:
        for payment in list(self._payments.values()):
            self._refresh(payment)
        if account not in self._balances:
            raise LookupError(f"no virtual account {account!r} at the sandbox provider")
        return Balance(account=account, available=self._balances[account], as_of=self.clock())

    @hookimpl
    async def lendline_payment_statement(self, day: dt.date) -> Statement:
        lines = []
        for payment in self._payments.values():
            self._refresh(payment)
            if payment.created_at.astimezone(self._tz).date() != day:
                continue
            lines.append(StatementLine(
                serial=payment.serial, idempotency_key=payment.order.idempotency_key, kind=payment.kind,
                amount=payment.order.amount, status=payment.status, debit_account=payment.order.debit_account,
                credit_account=payment.order.credit_account, created_at=payment.created_at,
                completed_at=payment.completed_at, reference=payment.order.reference))
        lines.sort(key=lambda line: line.serial)
        return Statement(day=day, lines=tuple(lines), generated_at=self.clock())

    @hookimpl
    async def lendline_payment_verify_callback(self, callback: RawCallback) -> CallbackVerdict:
        reason = verify(self.settings.callback_secret.reveal(), callback.method, callback.path, callback.headers,
                        callback.body, now=callback.received_at.timestamp(),
                        window=self.settings.callback_window_seconds, nonces=self._nonces)
        if reason is not None:
            return CallbackVerdict.rejected(reason)
        try:
            data = json.loads(callback.body)
            if data.get("identifier") != self.settings.identifier:
                return CallbackVerdict.rejected("callback is for another provider")
            completed = data.get("completed_at")
            return CallbackVerdict.ok(PaymentResult(
                idempotency_key=data["idempotency_key"], status=PaymentStatus(data["status"]),
                serial=data["serial"], amount=Decimal(data["amount"]), reason=data.get("reason"),
                reason_code=data.get("reason_code"),
                completed_at=dt.datetime.fromisoformat(completed) if completed else None))
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            return CallbackVerdict.rejected(f"malformed body ({type(exc).__name__})")

    @hookimpl
    def lendline_health(self) -> HealthReport:
        return HealthReport(HealthState.OK, f"sandbox: {len(self._payments)} payments, "
                                            f"{len(self._balances)} virtual accounts (in memory)")


plugin = PluginDefinition(
    name="sandbox_pay",
    factory=SandboxPay,
    settings=SandboxPaySettings,
    description="In-process sandbox payment provider with virtual accounts and failure injection.",
)
