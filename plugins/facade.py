"""``PluginHost``: the only way the rest of Lendline calls plugins.

Each public method wraps one hook with its routing rule, its family's timeout, and a check that the
answer has the documented type, and turns every misbehaviour into a ``PluginError`` (see
:mod:`plugins.invoke`). The platform installs ``host.on_failure`` to turn incidents into system
alerts. Payment providers are addressed by *identifier* (F-ORG-6) through a registry built at start
from ``lendline_payment_identifier``: a plugin only ever receives calls meant for it, so it does not
have to filter on an identifier argument, and a provider that answers for everybody cannot hijack
another's payments (which ``firstresult`` + "return None if not mine" would allow). Notifiers are
routed the same way, by channel (``lendline_notify_channels``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pluggy import HookImpl

from plugins.config import Timeouts
from plugins.definition import families_of
from plugins.errors import PluginConfigError, PluginError, PluginIncident, PluginUnavailable
from plugins.invoke import BadResult, Invoker, Validator, expect_type
from plugins.manager import PluginSet
from plugins.redaction import scrub, secret_values
from plugins.types import (
    SMS,
    AlertRaised,
    Balance,
    BlockSealed,
    CallbackVerdict,
    Classification,
    Detection,
    Family,
    FeedTransaction,
    HealthReport,
    HealthState,
    IndicatorSpec,
    LoanStateChanged,
    Notification,
    NotifyResult,
    PaymentOrder,
    PaymentResult,
    PaymentSettled,
    PluginStatus,
    RawCallback,
    RiskFetchResult,
    RiskRequest,
    Statement,
    Transaction,
    ViolationDetected,
    utcnow,
)

log = logging.getLogger("lendline.plugins")

T = TypeVar("T")
FailureCallback = Callable[[PluginIncident], object]


@dataclass(frozen=True, slots=True)
class Detections:
    """All detectors' answers for one transaction, plus the detectors that failed to answer.

    ``complete`` is False when a detector failed: the platform should retry detection later rather
    than conclude "no diversion".
    """

    items: tuple[Detection, ...]
    errors: tuple[PluginError, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {d.classification.code for d in self.items}


def _payment_result_for(key: str) -> Validator[PaymentResult]:
    def check(result: object) -> PaymentResult:
        payment = expect_type(PaymentResult)(result)
        if payment.idempotency_key != key:
            raise BadResult("PaymentResult is for another idempotency key")
        return payment

    return check


def _identifier(result: object) -> str:
    if not isinstance(result, str) or not result.strip() or len(result) > 50:
        raise BadResult("expected a non-empty identifier string of at most 50 characters")
    return result


def _channels(result: object) -> tuple[str, ...]:
    if isinstance(result, str) or not isinstance(result, list | tuple) or not result:
        raise BadResult("expected a non-empty list of channel names")
    for channel in result:
        if not isinstance(channel, str) or not channel.strip() or len(channel) > 20:
            raise BadResult("channel names must be non-empty strings of at most 20 characters")
    return tuple(result)


def _notify_result_for(key: str) -> Validator[NotifyResult]:
    def check(result: object) -> NotifyResult:
        answer = expect_type(NotifyResult)(result)
        if answer.idempotency_key != key:
            raise BadResult("NotifyResult is for another idempotency key")
        return answer

    return check


def _indicator_specs(result: object) -> tuple[IndicatorSpec, ...]:
    if not isinstance(result, list | tuple) or not all(isinstance(s, IndicatorSpec) for s in result):
        raise BadResult("expected a list of IndicatorSpec")
    names = [s.name for s in result]
    if len(set(names)) != len(names):
        raise BadResult("indicator names must be unique within a source")
    return tuple(result)


def _optional_classification(result: object) -> Classification | None:
    if result is not None and not isinstance(result, Classification):
        raise BadResult(f"expected Classification or None, got {type(result).__name__}")
    return result


SINGLE_HOOK = "lendline_detect_diversion"
BATCH_HOOK = "lendline_detect_diversion_batch"


def _classifications(n: int) -> Validator[list[Classification | None]]:
    """Checks a batch detector's answer: exactly `n` items, each a Classification or None."""

    def check(result: object) -> list[Classification | None]:
        if isinstance(result, str | bytes) or not isinstance(result, Iterable):
            raise BadResult(f"expected a sequence of Classification or None, got {type(result).__name__}")
        items = [_optional_classification(item) for item in result]
        if len(items) != n:
            raise BadResult(f"expected {n} answers (one per transaction, in order), got {len(items)}")
        return items

    return check


def _detections(answers: Iterable[tuple[str, Classification | PluginError | None]]) -> Detections:
    """One transaction's detector answers (plugin, classification, abstention or error) as `Detections`."""
    pairs = list(answers)
    return Detections(tuple(Detection(p, a) for p, a in pairs if isinstance(a, Classification)),
                      tuple(a for _, a in pairs if isinstance(a, PluginError)))


def _ignore(result: object) -> None:
    return None


class PluginHost:
    """Typed facade over the registered plugins. Create with ``plugins.manager.create_host``."""

    def __init__(self, plugin_set: PluginSet) -> None:
        self._set = plugin_set
        self._pm = plugin_set.pm
        self.on_failure: FailureCallback | None = None
        self._invoker = Invoker(plugin_set.config.timeouts, self._report)
        self._start_lock = asyncio.Lock()
        self._started = False
        self._closed = False
        self._providers: dict[str, str] = {}
        self._channels: dict[str, str] = {}
        self._catalogue: dict[str, tuple[IndicatorSpec, ...]] = {}
        self._health_reports: dict[str, tuple[HealthReport | None, dt.datetime, float]] = {}

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def timeouts(self) -> Timeouts:
        return self._set.config.timeouts

    @property
    def closed(self) -> bool:
        return self._closed

    def plugin(self, name: str) -> object:
        """The registered instance of an enabled plugin (for tests and admin tooling)."""
        try:
            return self._set.loaded[name].instance
        except KeyError:
            raise LookupError(f"plugin {name!r} is not enabled (enabled: {sorted(self._set.loaded)})") from None

    def enabled_plugins(self) -> list[str]:
        """Plugins that are enabled in the configuration, not blocked, and registered."""
        return list(self._set.loaded)

    def known_plugins(self) -> list[str]:
        """Every plugin name the host knows: built-in, installed or named in the configuration."""
        return sorted(set(self._set.candidates) | set(self._set.config.plugins))

    def secret_values(self, name: str) -> frozenset[str]:
        """The revealed ``Secret`` settings of an enabled plugin, so that whoever reports on the plugin
        (alerts, logs) can scrub them from messages the plugin produced (exception texts)."""
        loaded = self._set.loaded.get(name)
        return secret_values(loaded.settings) if loaded is not None else frozenset()

    async def start(self) -> None:
        """Run start-up hooks, build the payment routing table and the risk catalogue. Idempotent."""
        async with self._start_lock:
            if self._closed:
                raise RuntimeError("PluginHost is closed")
            if self._started:
                return
            await self._broadcast("lendline_startup", Family.LIFECYCLE, {})
            try:
                await self._build_provider_registry()
                await self._build_channel_registry()
            except PluginConfigError:
                await self._shutdown()
                raise
            await self.risk_catalogue(refresh=True)
            self._started = True

    async def aclose(self) -> None:
        async with self._start_lock:
            if not self._closed:
                await self._shutdown()

    async def _shutdown(self) -> None:
        self._closed = True
        await self._broadcast("lendline_shutdown", Family.LIFECYCLE, {})
        self._invoker.shutdown()

    async def __aenter__(self) -> PluginHost:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _ensure_started(self) -> None:
        if not self._started:
            await self.start()

    # --- plumbing ----------------------------------------------------------------------------

    def _impls(self, hook: str) -> list[HookImpl]:
        return list(getattr(self._pm.hook, hook).get_hookimpls())

    def _impl(self, hook: str, plugin: str) -> HookImpl | None:
        return next((i for i in self._impls(hook) if i.plugin_name == plugin), None)

    async def _report(self, incident: PluginIncident) -> None:
        log.warning("plugin incident: %s %s %s: %s", incident.plugin, incident.hook, incident.kind,
                    incident.message)
        callback = self.on_failure
        if callback is None:
            return
        try:
            outcome = callback(incident)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # the alerting path must not turn one failure into two
            log.exception("plugin failure callback raised")

    async def _unavailable(self, plugin: str, hook: str, family: Family, message: str) -> PluginUnavailable:
        error = PluginUnavailable(plugin, hook, message)
        await self._report(PluginIncident.from_error(error, family))
        return error

    async def _routed(self, plugin: str, hook: str, family: Family, kwargs: dict[str, Any],
                      validate: Validator[T]) -> T:
        impl = self._impl(hook, plugin)
        if impl is None:
            raise await self._unavailable(plugin, hook, family, "the plugin does not implement this hook")
        return await self._invoker.call(impl, hook, family, kwargs, validate)

    async def _collect(self, hook: str, family: Family, kwargs: dict[str, Any],
                       validate: Validator[T]) -> list[tuple[str, T | PluginError]]:
        impls = self._impls(hook)
        answers = await asyncio.gather(
            *(self._invoker.call_quietly(i, hook, family, kwargs, validate) for i in impls))
        return [(i.plugin_name, a) for i, a in zip(impls, answers, strict=True)]

    async def _broadcast(self, hook: str, family: Family, kwargs: dict[str, Any]) -> tuple[PluginError, ...]:
        answers = await self._collect(hook, family, kwargs, _ignore)
        return tuple(a for _, a in answers if isinstance(a, PluginError))

    # --- payment providers -------------------------------------------------------------------

    async def _build_registry(self, identify: str, family: Family, validate: Validator[tuple[str, ...]],
                              prefix: str, what: str) -> dict[str, str]:
        """Key → plugin from every answer to ``identify``; a key claimed twice, or a plugin that
        implements ``prefix*`` hooks without ``identify`` (so nothing could reach it), stops start-up."""
        registry: dict[str, str] = {}
        for plugin, answer in await self._collect(identify, family, {}, validate):
            if isinstance(answer, PluginError):
                continue  # reported; its calls answer "unavailable" until the plugin is fixed
            for key in answer:
                if registry.get(key, plugin) != plugin:
                    raise PluginConfigError(f"{what} {key!r} is already served by plugin '{registry[key]}'",
                                            plugin=plugin, source=self._set.config.source)
                registry[key] = plugin
        family_hooks = {h for h in self._pm.hook.__dict__ if h.startswith(prefix)}
        routed = set(registry.values())
        for name, loaded in self._set.loaded.items():
            hooks = {c.name for c in self._pm.get_hookcallers(loaded.instance) or []}
            if name not in routed and hooks & family_hooks and identify not in hooks:
                raise PluginConfigError(f"implements {prefix}* hooks but not {identify}, so nothing can be "
                                        "routed to it", plugin=name, source=self._set.config.source)
        return registry

    async def _build_provider_registry(self) -> None:
        self._providers = await self._build_registry(
            "lendline_payment_identifier", Family.PAYMENT, lambda r: (_identifier(r),), "lendline_payment_",
            "payment identifier")

    async def _build_channel_registry(self) -> None:
        self._channels = await self._build_registry(
            "lendline_notify_channels", Family.NOTIFY, _channels, "lendline_notify_", "notification channel")

    def payment_providers(self) -> dict[str, str]:
        """Payment identifier → plugin name, for every routable provider (after start)."""
        return dict(self._providers)

    async def _provider(self, identifier: str, hook: str) -> str:
        await self._ensure_started()
        plugin = self._providers.get(identifier)
        if plugin is None:
            known = ", ".join(sorted(self._providers)) or "none"
            raise await self._unavailable(identifier, hook, Family.PAYMENT,
                                          f"no enabled payment provider has identifier {identifier!r} "
                                          f"(enabled: {known})")
        return plugin

    async def _money(self, hook: str, provider: str, order: PaymentOrder) -> PaymentResult:
        if not isinstance(order, PaymentOrder):
            raise TypeError(f"order must be a PaymentOrder, got {type(order).__name__}")
        plugin = await self._provider(provider, hook)
        return await self._routed(plugin, hook, Family.PAYMENT, {"order": order},
                                  _payment_result_for(order.idempotency_key))

    async def disburse(self, provider: str, order: PaymentOrder) -> PaymentResult:
        """Instruct ``provider`` to pay out a loan. ``PluginError`` means *unknown*: query later."""
        return await self._money("lendline_payment_disburse", provider, order)

    async def deduct(self, provider: str, order: PaymentOrder) -> PaymentResult:
        """Instruct ``provider`` to collect a repayment. ``PluginError`` means *unknown*: query later."""
        return await self._money("lendline_payment_deduct", provider, order)

    async def payment_status(self, provider: str, idempotency_key: str) -> PaymentResult:
        hook = "lendline_payment_query"
        plugin = await self._provider(provider, hook)
        return await self._routed(plugin, hook, Family.PAYMENT, {"idempotency_key": idempotency_key},
                                  _payment_result_for(idempotency_key))

    async def balance(self, provider: str, account: str) -> Balance:
        hook = "lendline_payment_balance"
        plugin = await self._provider(provider, hook)

        def check(result: object) -> Balance:
            balance = expect_type(Balance)(result)
            if balance.account != account:
                raise BadResult("Balance is for another account")
            return balance

        return await self._routed(plugin, hook, Family.PAYMENT, {"account": account}, check)

    async def verify_callback(self, provider: str, callback: RawCallback) -> CallbackVerdict:
        """Verify a provider notification; only an ``accepted`` verdict may change platform state."""
        hook = "lendline_payment_verify_callback"
        plugin = await self._provider(provider, hook)
        return await self._routed(plugin, hook, Family.PAYMENT, {"callback": callback},
                                  expect_type(CallbackVerdict))

    async def statement(self, provider: str, day: dt.date) -> Statement:
        hook = "lendline_payment_statement"
        plugin = await self._provider(provider, hook)

        def check(result: object) -> Statement:
            statement = expect_type(Statement)(result)
            if statement.day != day:
                raise BadResult("Statement is for another day")
            return statement

        return await self._routed(plugin, hook, Family.PAYMENT, {"day": day}, check)

    # --- notifications -----------------------------------------------------------------------

    def notification_channels(self) -> dict[str, str]:
        """Channel → plugin name, for every routable notifier (after start)."""
        return dict(self._channels)

    async def notify(self, notification: Notification) -> NotifyResult:
        """Send one notification through the notifier serving its channel.

        ``NotifyResult`` says accepted or failed (certainly not sent). ``PluginError`` means the
        outcome is unknown: retry later with the same idempotency key (notifiers must de-duplicate).
        """
        if not isinstance(notification, Notification):
            raise TypeError(f"notification must be a Notification, got {type(notification).__name__}")
        hook = "lendline_notify_send"
        await self._ensure_started()
        plugin = self._channels.get(notification.channel)
        if plugin is None:
            known = ", ".join(sorted(self._channels)) or "none"
            raise await self._unavailable(notification.channel, hook, Family.NOTIFY,
                                          f"no enabled notifier serves channel {notification.channel!r} "
                                          f"(enabled: {known})")
        return await self._routed(plugin, hook, Family.NOTIFY, {"notification": notification},
                                  _notify_result_for(notification.idempotency_key))

    async def send_sms(self, recipient: str, template: str, params: Mapping[str, str] | None = None, *,
                       idempotency_key: str) -> NotifyResult:
        """Text ``recipient`` (a mobile number) with ``template``; see :meth:`notify`."""
        return await self.notify(Notification(idempotency_key=idempotency_key, channel=SMS, recipient=recipient,
                                              template=template, params=dict(params or {})))

    # --- risk data sources -------------------------------------------------------------------

    def risk_sources(self) -> list[str]:
        return [i.plugin_name for i in self._impls("lendline_risk_fetch")]

    async def _declare(self, sources: list[str]) -> None:
        hook = "lendline_risk_indicators"
        impls = [i for i in self._impls(hook) if i.plugin_name in sources]
        answers = await asyncio.gather(
            *(self._invoker.call_quietly(i, hook, Family.RISK, {}, _indicator_specs) for i in impls))
        for impl, answer in zip(impls, answers, strict=True):
            if not isinstance(answer, PluginError):
                self._catalogue[impl.plugin_name] = answer

    async def risk_catalogue(self, *, refresh: bool = False) -> dict[str, tuple[IndicatorSpec, ...]]:
        """Indicators per source plugin; sources whose declaration failed are asked again."""
        sources = self.risk_sources()
        await self._declare([s for s in sources if refresh or s not in self._catalogue])
        return {s: self._catalogue[s] for s in sources if s in self._catalogue}

    async def fetch_risk(self, source: str, request: RiskRequest) -> RiskFetchResult:
        """Fetch indicator values from one source; missing values come back as ``None``."""
        hook = "lendline_risk_fetch"
        await self._ensure_started()
        if source not in self._catalogue:
            await self._declare([source])
        specs = {s.name: s for s in self._catalogue.get(source, ())}
        unknown = [n for n in request.indicators if n not in specs]
        if unknown:
            raise await self._unavailable(source, hook, Family.RISK,
                                          f"source does not declare indicator(s): {', '.join(unknown)}")

        def check(result: object) -> RiskFetchResult:
            fetched = expect_type(RiskFetchResult)(result)
            extra = set(fetched.values) - set(request.indicators)
            if extra:
                raise BadResult(f"values for indicators not requested: {', '.join(sorted(extra))}")
            for name, value in fetched.values.items():
                if not specs[name].accepts(value):
                    raise BadResult(f"indicator {name!r} must be {specs[name].type.value}, "
                                    f"got {type(value).__name__}")
            return replace(fetched, values={n: fetched.values.get(n) for n in request.indicators})

        return await self._routed(source, hook, Family.RISK, {"request": request}, check)

    # --- diversion detectors -----------------------------------------------------------------

    async def classify(self, transaction: Transaction) -> Detections:
        """Ask every detector; return all classifications (and which detectors failed)."""
        return (await self.classify_many([transaction]))[0]

    async def classify_many(self, transactions: Sequence[Transaction]) -> list[Detections]:
        """Every detector's answer for each transaction, in order (callers bound how many at once).

        A detector implementing ``lendline_detect_diversion_batch`` gets one call for all of them;
        the others get one ``lendline_detect_diversion`` call per transaction, all in one
        ``gather``. Why: ingestion classifies every payment of a batch, and the asyncio bookkeeping
        of one guarded call per payment (task, timeout, error conversion) costs about fifteen times
        what the built-in detectors themselves spend on 600 payments; a batch call pays it once.
        Answers are listed in the detectors' registration order, whichever hook they answer by, so
        ties between detectors break the same way for every transaction.
        """
        await self._ensure_started()
        n = len(transactions)
        if not n:
            return []
        batch_impls = self._impls(BATCH_HOOK)
        batched = {i.plugin_name for i in batch_impls}
        single_impls = [i for i in self._impls(SINGLE_HOOK) if i.plugin_name not in batched]
        invoker = self._invoker
        batch = tuple(transactions)  # one immutable sequence shared by every batch detector
        calls = [invoker.call_quietly(i, BATCH_HOOK, Family.DETECTOR, {"transactions": batch},
                                      _classifications(n)) for i in batch_impls]
        calls += [invoker.call_quietly(i, SINGLE_HOOK, Family.DETECTOR, {"transaction": t}, _optional_classification)
                  for i in single_impls for t in transactions]
        answers = await asyncio.gather(*calls)
        per_detector: dict[str, Sequence[Classification | PluginError | None]] = {}
        for k, impl in enumerate(batch_impls):
            answer = answers[k]
            per_detector[impl.plugin_name] = [answer] * n if isinstance(answer, PluginError) else answer
        offset = len(batch_impls)
        for k, impl in enumerate(single_impls):
            per_detector[impl.plugin_name] = answers[offset + k * n:offset + (k + 1) * n]
        order = [name for name in self._set.loaded if name in per_detector]
        order += [name for name in per_detector if name not in self._set.loaded]
        return [_detections((name, per_detector[name][j]) for name in order) for j in range(n)]

    async def fetch_transactions(self, since: dt.datetime | None
                                 ) -> dict[str, tuple[FeedTransaction, ...] | PluginError]:
        """Ask every feed plugin for transactions since ``since``; per plugin its rows or its error."""
        await self._ensure_started()

        def check(result: object) -> tuple[FeedTransaction, ...]:
            if isinstance(result, str | bytes) or not isinstance(result, Iterable):
                raise BadResult(f"expected a sequence of FeedTransaction, got {type(result).__name__}")
            rows = tuple(result)
            for row in rows:
                if not isinstance(row, FeedTransaction):
                    raise BadResult(f"expected FeedTransaction items, got {type(row).__name__}")
            return rows

        answers = await self._collect("lendline_fetch_transactions", Family.DETECTOR, {"since": since}, check)
        return dict(answers)

    # --- events (call after the platform's transaction commits) ------------------------------

    async def _emit(self, hook: str, event: object, event_type: type) -> tuple[PluginError, ...]:
        if not isinstance(event, event_type):
            raise TypeError(f"{hook} takes a {event_type.__name__}, got {type(event).__name__}")
        await self._ensure_started()
        return await self._broadcast(hook, Family.EVENT, {"event": event})

    async def emit_loan_state_changed(self, event: LoanStateChanged) -> tuple[PluginError, ...]:
        return await self._emit("lendline_on_loan_state_changed", event, LoanStateChanged)

    async def emit_payment_settled(self, event: PaymentSettled) -> tuple[PluginError, ...]:
        return await self._emit("lendline_on_payment_settled", event, PaymentSettled)

    async def emit_violation_detected(self, event: ViolationDetected) -> tuple[PluginError, ...]:
        return await self._emit("lendline_on_violation_detected", event, ViolationDetected)

    async def emit_block_sealed(self, event: BlockSealed) -> tuple[PluginError, ...]:
        return await self._emit("lendline_on_block_sealed", event, BlockSealed)

    async def emit_alert_raised(self, event: AlertRaised) -> tuple[PluginError, ...]:
        return await self._emit("lendline_on_alert_raised", event, AlertRaised)

    # --- status and health -------------------------------------------------------------------

    async def _health(self, name: str) -> HealthReport | None:
        impl = self._impl("lendline_health", name)
        if impl is None:
            report = None
        else:
            answer = await self._invoker.call_quietly(impl, "lendline_health", Family.HEALTH, {},
                                                      expect_type(HealthReport))
            report = answer
            if isinstance(answer, PluginError):  # shown on the admin page: no secrets from exception texts
                reason = scrub(answer.message, self.secret_values(name))
                report = HealthReport(HealthState.DOWN, f"health check {answer.kind}: {reason}")
        self._health_reports[name] = (report, utcnow(), time.monotonic())
        return report

    def _hooks_of(self, name: str) -> list[str]:
        loaded = self._set.loaded.get(name)
        if loaded is not None:
            return [c.name for c in self._pm.get_hookcallers(loaded.instance) or []]
        candidate = self._set.candidates.get(name)
        return candidate.definition.declared_hooks() if candidate and candidate.definition else []

    async def plugin_statuses(self, *, max_age: float | None = None,
                              only: Iterable[str] | None = None) -> list[PluginStatus]:
        """Every known or configured plugin: version, families, enabled/blocked state and health.

        ``max_age=None`` asks every enabled plugin's health hook now; with ``max_age`` (seconds) a
        report younger than that is reused, so a polled admin page does not hammer plugins (and a
        failing health check does not raise an alert on every poll). ``only`` limits the list.
        """
        wanted = set(only) if only is not None else None
        names = [n for n in self.known_plugins() if wanted is None or n in wanted]
        now = time.monotonic()
        stale = [n for n in names if n in self._set.loaded and
                 (max_age is None or n not in self._health_reports or now - self._health_reports[n][2] > max_age)]
        await asyncio.gather(*(self._health(n) for n in stale))
        identifiers = {plugin: ident for ident, plugin in self._providers.items()}
        channels: dict[str, list[str]] = {}
        for channel, plugin in sorted(self._channels.items()):
            channels.setdefault(plugin, []).append(channel)
        statuses = []
        for name in names:
            candidate = self._set.candidates.get(name)
            entry = self._set.config.plugins.get(name)
            definition = candidate.definition if candidate else None
            health, checked_at = None, None
            if name in self._set.loaded and name in self._health_reports:
                health, checked_at, _ = self._health_reports[name]
            statuses.append(PluginStatus(
                name=name,
                version=candidate.version if candidate else "",
                source=candidate.source if candidate else "not installed",
                families=families_of(self._hooks_of(name)),
                enabled=bool(entry and entry.enabled),
                blocked=name in self._set.blocked,
                installed=candidate is not None,
                health=health,
                description=definition.description if definition else "",
                payment_identifier=identifiers.get(name),
                notify_channels=tuple(channels.get(name, ())),
                health_checked_at=checked_at,
            ))
        return statuses
