"""``sandbox_sms``: an in-process SMS notifier for development, demos and tests.

It behaves like a carrier's SMS API, without sending anything:

* templates by key (``templates`` setting; ``{name}`` placeholders): an unknown key or a missing
  parameter is a ``failed`` result, exactly as a carrier refuses an unregistered template;
* recipients must be mainland mobile numbers (11 digits starting with 1; ``+86`` is accepted), others
  fail with ``INVALID_RECIPIENT``; ``decline_recipients`` fail with ``CARRIER_DECLINED``;
* honest idempotency: a repeated key — even many concurrent repeats — sends once and replays the
  first result; the same key with a different message is refused (a caller bug);
* failure injection, repeatable with ``seed``: ``fail_rate`` (carrier declines) and ``timeout_rate``
  (the message *is* sent, then the answer hangs ``hang_seconds`` so the host times out — a retry with
  the same key must not send it twice); ``force_next(...)`` scripts the next outcomes for tests.

Sent messages are recorded in memory, per process (``sent``, ``sent_to(recipient)``, ``clear()``), at
most ``keep`` of them: it is a sandbox, restarting forgets everything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import string
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from plugins.builtin.sandbox_pay import IdempotencyConflict
from plugins.definition import PluginDefinition
from plugins.markers import hookimpl
from plugins.settings import SettingsError
from plugins.types import SMS, HealthReport, HealthState, Notification, NotifyResult, NotifyStatus, utcnow

DEFAULT_TEMPLATES = {
    "balance_low": "【Lendline】账户{account}余额{balance}元，低于预警线{threshold}元，请及时处理。",
    "loan_disbursed": "【Lendline】尊敬的{name}，您的借款{loan_no}已放款{amount}元，请注意查收。",
    "repayment_due": "【Lendline】尊敬的{name}，您的借款{loan_no}将于{due_date}到期，应还{amount}元。",
    "repayment_succeeded": "【Lendline】尊敬的{name}，您的借款{loan_no}已成功还款{amount}元。",
    "repayment_overdue": "【Lendline】尊敬的{name}，您的借款{loan_no}已逾期{days}天，应还{amount}元，请尽快还款。",
}


class SmsOutcome(StrEnum):
    NORMAL = "normal"
    DECLINE = "decline"
    TIMEOUT = "timeout"


@dataclass
class SandboxSmsSettings:
    channels: tuple[str, ...] = (SMS,)
    latency_ms: int = 0
    fail_rate: float = 0.0
    timeout_rate: float = 0.0
    hang_seconds: float = 30.0
    seed: int | None = None
    decline_recipients: tuple[str, ...] = ()
    templates: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    keep: int = 1000

    def __post_init__(self) -> None:
        if not self.channels or any(not c or len(c) > 20 for c in self.channels):
            raise SettingsError("channels", "must list 1 to 20 character channel names")
        for key in ("fail_rate", "timeout_rate"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise SettingsError(key, "must be between 0 and 1")
        if self.fail_rate + self.timeout_rate > 1.0:
            raise SettingsError("fail_rate", "fail_rate + timeout_rate must not exceed 1")
        if self.latency_ms < 0:
            raise SettingsError("latency_ms", "must not be negative")
        if self.hang_seconds <= 0:
            raise SettingsError("hang_seconds", "must be positive")
        if self.keep < 1:
            raise SettingsError("keep", "must be at least 1")
        for key, template in self.templates.items():
            try:
                _placeholders(template)
            except ValueError as exc:
                raise SettingsError(f"templates.{key}", f"is not a valid template: {exc}") from None


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def mobile(recipient: str) -> str | None:
    """The 11-digit mainland mobile number in ``recipient``, or None."""
    number = recipient.replace(" ", "").replace("-", "")
    for prefix in ("+86", "0086"):
        number = number.removeprefix(prefix)
    return number if len(number) == 11 and number.isdigit() and number[0] == "1" and number[1] in "3456789" \
        else None


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What the sandbox "delivered": the rendered text is what the recipient would read."""

    message_id: str
    channel: str
    recipient: str
    template: str
    params: Mapping[str, str]
    text: str
    idempotency_key: str
    sent_at: dt.datetime


class SandboxSms:
    """The sandbox notifier. Test helpers: ``force_next``, ``sent``, ``sent_to``, ``clear``, ``clock``."""

    def __init__(self, settings: SandboxSmsSettings) -> None:
        self.settings = settings
        self.clock: Callable[[], dt.datetime] = utcnow
        self._rng = random.Random(settings.seed)
        self._forced: deque[SmsOutcome] = deque()
        self._sent: deque[SentMessage] = deque(maxlen=settings.keep)
        self._answers: OrderedDict[str, tuple[Notification, NotifyResult]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._counter = 0
        self._declined = {mobile(r) or r for r in settings.decline_recipients}

    # --- test and demo helpers ---------------------------------------------------------------

    def force_next(self, *outcomes: SmsOutcome | str) -> None:
        """Script the outcomes of the next new messages (before the random injection applies)."""
        self._forced.extend(SmsOutcome(o) for o in outcomes)

    @property
    def sent(self) -> list[SentMessage]:
        """Messages sent by this process, oldest first."""
        return list(self._sent)

    def sent_to(self, recipient: str) -> list[SentMessage]:
        number = mobile(recipient) or recipient
        return [m for m in self._sent if m.recipient == number]

    def clear(self) -> None:
        self._sent.clear()
        self._answers.clear()
        self._locks.clear()

    # --- internals -----------------------------------------------------------------------------

    def _next_outcome(self) -> SmsOutcome:
        if self._forced:
            return self._forced.popleft()
        roll = self._rng.random()
        if roll < self.settings.timeout_rate:
            return SmsOutcome.TIMEOUT
        if roll < self.settings.timeout_rate + self.settings.fail_rate:
            return SmsOutcome.DECLINE
        return SmsOutcome.NORMAL

    def _failed(self, key: str, code: str, reason: str) -> NotifyResult:
        return NotifyResult(key, NotifyStatus.FAILED, reason=reason, reason_code=code)

    def _send(self, notification: Notification, outcome: SmsOutcome) -> NotifyResult:
        key = notification.idempotency_key
        number = mobile(notification.recipient) if notification.channel == SMS else notification.recipient
        template = self.settings.templates.get(notification.template)
        if number is None:
            return self._failed(key, "INVALID_RECIPIENT", "the recipient is not a mainland mobile number")
        if template is None:
            return self._failed(key, "UNKNOWN_TEMPLATE", f"template {notification.template!r} is not registered "
                                                         f"(known: {', '.join(sorted(self.settings.templates))})")
        missing = sorted(_placeholders(template) - set(notification.params))
        if missing:
            return self._failed(key, "TEMPLATE_PARAMS", f"template {notification.template!r} needs "
                                                        f"{', '.join(missing)}")
        if outcome is SmsOutcome.DECLINE:
            return self._failed(key, "CARRIER_DECLINED", "declined by the carrier (sandbox injected failure)")
        if number in self._declined:
            return self._failed(key, "CARRIER_DECLINED", "the carrier refuses this recipient")
        now = self.clock()
        self._counter += 1
        message_id = f"SMS{now:%Y%m%d}{self._counter:08d}"
        self._sent.append(SentMessage(message_id, notification.channel, number, notification.template,
                                      dict(notification.params), template.format_map(notification.params), key, now))
        return NotifyResult(key, NotifyStatus.ACCEPTED, message_id=message_id, accepted_at=now)

    def _remember(self, notification: Notification, result: NotifyResult) -> None:
        self._answers[notification.idempotency_key] = (notification, result)
        while len(self._answers) > self.settings.keep * 10:  # bounded, but far longer than any retry
            old, _ = self._answers.popitem(last=False)
            self._locks.pop(old, None)

    # --- hooks ---------------------------------------------------------------------------------

    @hookimpl
    def lendline_notify_channels(self) -> list[str]:
        return list(self.settings.channels)

    @hookimpl
    async def lendline_notify_send(self, notification: Notification) -> NotifyResult:
        key = notification.idempotency_key
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            known = self._answers.get(key)
            if known is not None:
                if known[0] != notification:
                    raise IdempotencyConflict(f"idempotency key {key!r} was used for a different notification")
                return known[1]
            if self.settings.latency_ms:
                await asyncio.sleep(self.settings.latency_ms / 1000)
            outcome = self._next_outcome()
            result = self._send(notification, outcome)
            self._remember(notification, result)
        if outcome is SmsOutcome.TIMEOUT:
            await asyncio.sleep(self.settings.hang_seconds)  # sent, but the answer is "lost"
        return result

    @hookimpl
    def lendline_health(self) -> HealthReport:
        return HealthReport(HealthState.OK, f"sandbox: {self._counter} messages sent since start (in memory), "
                                            f"channels {', '.join(self.settings.channels)}")


plugin = PluginDefinition(
    name="sandbox_sms",
    factory=SandboxSms,
    settings=SandboxSmsSettings,
    description="In-process sandbox SMS notifier: templates, idempotency, failure injection, sent-message log.",
)
