"""Typed values exchanged between the platform and plugins.

Every hook argument and every hook result is one of these frozen dataclasses, never an ORM object,
so a plugin cannot reach into the database and a result cannot change after the platform checked it.
Constructors validate what would otherwise corrupt platform state later: money is ``Decimal`` (never
float, payments in whole cents), datetimes are timezone-aware, confidences lie in 0..1. A plugin that
builds an invalid value fails inside its own call, which the host reports as that plugin's failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

CENT = Decimal("0.01")


class Family(StrEnum):
    """Plugin families; each has its own call timeout in ``plugins.toml`` ``[timeouts]``."""

    PAYMENT = "payment"
    RISK = "risk"
    DETECTOR = "detector"
    NOTIFY = "notify"
    EVENT = "event"
    HEALTH = "health"
    LIFECYCLE = "lifecycle"


# --- validation helpers ------------------------------------------------------------------------


def require_aware(name: str, value: object) -> None:
    """Naive datetimes are ambiguous across the bank's zone and UTC, so they are refused outright."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def require_decimal(name: str, value: object, *, cents: bool = False, minimum: Decimal | None = None) -> None:
    """Money and rates are Decimals; a float here would silently lose cents."""
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite number, got {value}")
    if cents and value != value.quantize(CENT):
        raise ValueError(f"{name} must be in whole cents, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def require_text(name: str, value: object, *, max_len: int | None = None, allow_empty: bool = False) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name} must not be empty")
    if max_len is not None and len(value) > max_len:
        raise ValueError(f"{name} must be at most {max_len} characters")


def _coerce_enum(obj: object, attr: str, enum: type[StrEnum]) -> None:
    value = getattr(obj, attr)
    if not isinstance(value, enum):
        try:
            object.__setattr__(obj, attr, enum(value))
        except ValueError:
            allowed = ", ".join(m.value for m in enum)
            raise ValueError(f"{attr} must be one of {allowed}, got {value!r}") from None


def _freeze_mapping(obj: object, attr: str) -> None:
    """Store mappings read-only so a frozen result cannot be mutated after validation."""
    object.__setattr__(obj, attr, MappingProxyType(dict(getattr(obj, attr))))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- payments (F-PLG-1) ------------------------------------------------------------------------


class PaymentKind(StrEnum):
    DISBURSE = "disburse"
    DEDUCT = "deduct"


class PaymentStatus(StrEnum):
    """Outcome of a money-moving instruction as the provider reports it.

    ``UNKNOWN`` means "nobody knows yet" (gateway timeout, 5xx, lost answer): the platform must query
    the payment later and must never assume success or failure.
    """

    ACCEPTED = "accepted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def final(self) -> bool:
        return self in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED)


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    """An instruction to move ``amount`` from ``debit_account`` to ``credit_account``.

    Both accounts are virtual accounts at the provider (funds never pass through the platform).
    ``idempotency_key`` identifies the instruction: repeating it must never move money twice.
    """

    idempotency_key: str
    amount: Decimal
    debit_account: str
    credit_account: str
    reference: str = ""
    memo: str = ""
    currency: str = "CNY"

    def __post_init__(self) -> None:
        require_text("idempotency_key", self.idempotency_key, max_len=64)
        require_decimal("amount", self.amount, cents=True, minimum=CENT)
        require_text("debit_account", self.debit_account, max_len=64)
        require_text("credit_account", self.credit_account, max_len=64)
        if self.debit_account == self.credit_account:
            raise ValueError("debit_account and credit_account must differ")
        require_text("reference", self.reference, max_len=64, allow_empty=True)
        require_text("memo", self.memo, max_len=200, allow_empty=True)
        require_text("currency", self.currency, max_len=3)


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What a provider says about one instruction (identified by its idempotency key)."""

    idempotency_key: str
    status: PaymentStatus
    serial: str | None = None
    amount: Decimal | None = None
    reason: str | None = None
    reason_code: str | None = None
    completed_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        require_text("idempotency_key", self.idempotency_key, max_len=64)
        _coerce_enum(self, "status", PaymentStatus)
        if self.amount is not None:
            require_decimal("amount", self.amount, cents=True)
        if self.status is PaymentStatus.FAILED and not self.reason:
            raise ValueError("a failed payment result must carry a reason")
        if self.completed_at is not None:
            require_aware("completed_at", self.completed_at)


@dataclass(frozen=True, slots=True)
class Balance:
    account: str
    available: Decimal
    as_of: dt.datetime
    currency: str = "CNY"

    def __post_init__(self) -> None:
        require_text("account", self.account)
        require_decimal("available", self.available, cents=True)
        require_aware("as_of", self.as_of)


@dataclass(frozen=True, slots=True)
class StatementLine:
    serial: str
    idempotency_key: str
    kind: PaymentKind
    amount: Decimal
    status: PaymentStatus
    debit_account: str
    credit_account: str
    created_at: dt.datetime
    completed_at: dt.datetime | None = None
    reference: str = ""

    def __post_init__(self) -> None:
        require_text("serial", self.serial)
        _coerce_enum(self, "kind", PaymentKind)
        _coerce_enum(self, "status", PaymentStatus)
        require_decimal("amount", self.amount, cents=True)
        require_aware("created_at", self.created_at)
        if self.completed_at is not None:
            require_aware("completed_at", self.completed_at)


@dataclass(frozen=True, slots=True)
class Statement:
    """The provider's reconciliation statement for one business day (every payment of that day)."""

    day: dt.date
    lines: tuple[StatementLine, ...]
    generated_at: dt.datetime

    def __post_init__(self) -> None:
        if not isinstance(self.day, dt.date) or isinstance(self.day, dt.datetime):
            raise TypeError("day must be a date")
        object.__setattr__(self, "lines", tuple(self.lines))
        for line in self.lines:
            if not isinstance(line, StatementLine):
                raise TypeError(f"statement lines must be StatementLine, got {type(line).__name__}")
        require_aware("generated_at", self.generated_at)

    def total(self, kind: PaymentKind, status: PaymentStatus = PaymentStatus.SUCCEEDED) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.kind == kind and ln.status == status), Decimal("0"))


@dataclass(frozen=True, slots=True)
class RawCallback:
    """A provider's notification exactly as received over HTTP; headers are stored lower-cased."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    received_at: dt.datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "headers", MappingProxyType({k.lower(): v for k, v in self.headers.items()}))
        if not isinstance(self.body, bytes):
            raise TypeError("body must be bytes")
        require_aware("received_at", self.received_at)


@dataclass(frozen=True, slots=True)
class CallbackVerdict:
    """Result of verifying a callback: either accepted with the payment it reports, or rejected."""

    accepted: bool
    payment: PaymentResult | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.accepted and not isinstance(self.payment, PaymentResult):
            raise ValueError("an accepted callback must carry the PaymentResult it reports")
        if not self.accepted and not self.reason:
            raise ValueError("a rejected callback must carry a reason")

    @classmethod
    def ok(cls, payment: PaymentResult) -> CallbackVerdict:
        return cls(accepted=True, payment=payment)

    @classmethod
    def rejected(cls, reason: str) -> CallbackVerdict:
        return cls(accepted=False, reason=reason)


# --- risk data sources (F-PLG-2) ---------------------------------------------------------------


class IndicatorType(StrEnum):
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    STRING = "string"


IndicatorValue = int | Decimal | bool | str | None


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """An indicator a source can supply, and what one call for it costs (0 for free sources)."""

    name: str
    type: IndicatorType
    cost_per_call: Decimal = Decimal("0")
    description: str = ""

    def __post_init__(self) -> None:
        require_text("name", self.name, max_len=64)
        _coerce_enum(self, "type", IndicatorType)
        require_decimal("cost_per_call", self.cost_per_call, minimum=Decimal("0"))

    def accepts(self, value: object) -> bool:
        """``None`` always fits: it means "the source has no data for this subject"."""
        if value is None:
            return True
        if self.type is IndicatorType.BOOLEAN:
            return isinstance(value, bool)
        if self.type is IndicatorType.INTEGER:
            return isinstance(value, int) and not isinstance(value, bool)
        if self.type is IndicatorType.DECIMAL:
            return isinstance(value, Decimal) and value.is_finite()
        return isinstance(value, str)


def _mask(value: str, keep: int = 4) -> str:
    return "*" * max(len(value) - keep, 0) + value[-keep:] if value else ""


@dataclass(frozen=True, slots=True)
class RiskSubject:
    """Who the indicators are about. Sources map what they need (id number, phone, …) from here.

    ``repr`` masks the personal fields so a subject logged by accident leaks nothing useful.
    """

    customer_no: str
    id_number: str = ""
    name: str = ""
    phone: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_text("customer_no", self.customer_no, max_len=64)
        _freeze_mapping(self, "extra")

    def __repr__(self) -> str:
        return (
            f"RiskSubject(customer_no={self.customer_no!r}, id_number={_mask(self.id_number)!r}, "
            f"name={_mask(self.name, 1)!r}, phone={_mask(self.phone)!r}, extra=<{len(self.extra)} keys>)"
        )


@dataclass(frozen=True, slots=True)
class RiskRequest:
    """What the risk engine asks one source for. ``amount`` is the amount the subject applies for
    (credit limit or drawdown), when the scene has one; sources that price risk by amount read it."""

    subject: RiskSubject
    indicators: tuple[str, ...]
    scene: str = ""
    requested_at: dt.datetime = field(default_factory=utcnow)
    amount: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "indicators", tuple(self.indicators))
        if not self.indicators:
            raise ValueError("a risk request names at least one indicator")
        require_aware("requested_at", self.requested_at)
        if self.amount is not None:
            require_decimal("amount", self.amount, cents=True, minimum=Decimal("0"))


@dataclass(frozen=True, slots=True)
class RiskFetchResult:
    """Values per indicator (``None`` = no data) and the cost this call incurred."""

    values: Mapping[str, IndicatorValue]
    cost: Decimal = Decimal("0")
    detail: str = ""

    def __post_init__(self) -> None:
        _freeze_mapping(self, "values")
        require_decimal("cost", self.cost, minimum=Decimal("0"))


# --- diversion detectors (F-PLG-3) -------------------------------------------------------------


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class Transaction:
    """One transaction of a borrower's account (F-MON-1), as detectors see it."""

    serial_no: str
    customer_no: str
    occurred_at: dt.datetime
    direction: Direction
    amount: Decimal
    counterparty_name: str = ""
    counterparty_account: str = ""
    counterparty_category: str = ""
    channel: str = ""
    order_no: str = ""
    memo: str = ""
    currency: str = "CNY"

    def __post_init__(self) -> None:
        require_text("serial_no", self.serial_no, max_len=64)
        require_text("customer_no", self.customer_no, max_len=64)
        require_aware("occurred_at", self.occurred_at)
        _coerce_enum(self, "direction", Direction)
        require_decimal("amount", self.amount, cents=True, minimum=Decimal("0"))


@dataclass(frozen=True, slots=True)
class FeedTransaction:
    """One transaction a feed plugin delivers (F-MON-1 plugin feed): what the platform ingests.

    ``is_disbursement`` / ``is_repayment``: ``True``/``False`` when the source knows, ``None`` to let
    the platform recognise them (see ``core.monitoring.ingest``).
    """

    order_no: str
    serial_no: str
    customer_no: str
    account_no: str
    occurred_at: dt.datetime
    direction: Direction
    amount: Decimal
    counterparty_name: str = ""
    counterparty_account: str = ""
    counterparty_category: str = ""
    channel: str = ""
    balance_after: Decimal | None = None
    is_disbursement: bool | None = None
    is_repayment: bool | None = None

    def __post_init__(self) -> None:
        require_text("serial_no", self.serial_no, max_len=64)
        require_text("order_no", self.order_no, max_len=32)
        require_text("account_no", self.account_no, max_len=64)
        require_aware("occurred_at", self.occurred_at)
        _coerce_enum(self, "direction", Direction)
        require_decimal("amount", self.amount, cents=True, minimum=Decimal("0"))


@dataclass(frozen=True, slots=True)
class Classification:
    """A detector's answer: diversion type code (e.g. ``GS``), confidence in 0..1, and why."""

    code: str
    confidence: Decimal
    reason: str

    def __post_init__(self) -> None:
        require_text("code", self.code, max_len=16)
        require_decimal("confidence", self.confidence, minimum=Decimal("0"))
        if self.confidence > 1:
            raise ValueError(f"confidence must be at most 1, got {self.confidence}")
        require_text("reason", self.reason, max_len=500)


@dataclass(frozen=True, slots=True)
class Detection:
    """A classification together with the detector plugin that made it (added by the host)."""

    detector: str
    classification: Classification


# --- notifications (SMS and other channels) ---------------------------------------------------


SMS = "sms"
"""The channel name of text messages; other channels (``email``, ``wecom``, …) are plain strings."""


class NotifyStatus(StrEnum):
    """``ACCEPTED``: the channel took the message for delivery. ``FAILED``: certainly not sent (with a
    reason). "Cannot tell" is not a status: raise or time out, and the platform retries with the same
    idempotency key, which a notifier must honour."""

    ACCEPTED = "accepted"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one recipient: a template key plus its parameters, never free text, so every
    message a bank sends is one its compliance team approved (SMS templates are registered with the
    carrier in China). ``repr`` masks the recipient and hides parameter values (they may be amounts
    or names)."""

    idempotency_key: str
    channel: str
    recipient: str
    template: str
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_text("idempotency_key", self.idempotency_key, max_len=64)
        require_text("channel", self.channel, max_len=20)
        require_text("recipient", self.recipient, max_len=200)
        require_text("template", self.template, max_len=64)
        for key, value in dict(self.params).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("notification params must map strings to strings (format amounts first)")
        _freeze_mapping(self, "params")

    def __repr__(self) -> str:
        return (f"Notification(idempotency_key={self.idempotency_key!r}, channel={self.channel!r}, "
                f"recipient={_mask(self.recipient)!r}, template={self.template!r}, "
                f"params=<{', '.join(sorted(self.params))}>)")


@dataclass(frozen=True, slots=True)
class NotifyResult:
    """What the notifier says about one notification (identified by its idempotency key)."""

    idempotency_key: str
    status: NotifyStatus
    message_id: str | None = None
    reason: str | None = None
    reason_code: str | None = None
    accepted_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        require_text("idempotency_key", self.idempotency_key, max_len=64)
        _coerce_enum(self, "status", NotifyStatus)
        if self.status is NotifyStatus.FAILED and not self.reason:
            raise ValueError("a failed notification result must carry a reason")
        if self.accepted_at is not None:
            require_aware("accepted_at", self.accepted_at)


# --- events for integrators --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoanStateChanged:
    event_id: str
    loan_no: str
    previous_state: str
    new_state: str
    occurred_at: dt.datetime
    actor: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        require_aware("occurred_at", self.occurred_at)


@dataclass(frozen=True, slots=True)
class PaymentSettled:
    event_id: str
    provider: str
    idempotency_key: str
    kind: PaymentKind
    amount: Decimal
    status: PaymentStatus
    settled_at: dt.datetime
    serial: str = ""
    reference: str = ""

    def __post_init__(self) -> None:
        _coerce_enum(self, "kind", PaymentKind)
        _coerce_enum(self, "status", PaymentStatus)
        require_decimal("amount", self.amount, cents=True)
        require_aware("settled_at", self.settled_at)


@dataclass(frozen=True, slots=True)
class ViolationDetected:
    event_id: str
    violation_id: str
    transaction_serial: str
    customer_no: str
    diversion_code: str
    amount: Decimal
    loan_funded_amount: Decimal
    detected_at: dt.datetime
    loan_no: str = ""

    def __post_init__(self) -> None:
        require_decimal("amount", self.amount, cents=True)
        require_decimal("loan_funded_amount", self.loan_funded_amount, cents=True)
        require_aware("detected_at", self.detected_at)


@dataclass(frozen=True, slots=True)
class BlockSealed:
    event_id: str
    height: int
    block_hash: str
    previous_hash: str
    transaction_count: int
    merkle_root: str
    sealed_at: dt.datetime

    def __post_init__(self) -> None:
        require_aware("sealed_at", self.sealed_at)


@dataclass(frozen=True, slots=True)
class AlertRaised:
    event_id: str
    alert_no: str
    error_code: str
    message: str
    raised_at: dt.datetime

    def __post_init__(self) -> None:
        require_aware("raised_at", self.raised_at)


Event = LoanStateChanged | PaymentSettled | ViolationDetected | BlockSealed | AlertRaised


# --- health and status -------------------------------------------------------------------------


class HealthState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class HealthReport:
    state: HealthState
    detail: str = ""

    def __post_init__(self) -> None:
        _coerce_enum(self, "state", HealthState)


@dataclass(frozen=True, slots=True)
class PluginStatus:
    """One row of the host's plugin list (for the admin API and system health)."""

    name: str
    version: str
    source: str
    families: tuple[Family, ...]
    enabled: bool
    blocked: bool
    installed: bool
    health: HealthReport | None = None
    description: str = ""
    payment_identifier: str | None = None
    notify_channels: tuple[str, ...] = ()
    health_checked_at: dt.datetime | None = None
