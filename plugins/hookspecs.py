"""Lendline hook specifications — the plugin author's reference.

Every hook is optional: a plugin implements the ones of its family (decorate methods with
``plugins.hookimpl``). Any implementation may be ``async def`` or a plain ``def``: the host awaits
coroutines under a timeout and runs plain functions in a worker thread, so blocking I/O in a sync
hook cannot stall the platform. Arguments and results are the frozen dataclasses of
``plugins.types``; returning anything else is reported as a malformed result.

How results combine:

* **routed** — the host calls exactly one plugin: the payment provider whose identifier the caller
  named, the notifier serving the channel the caller named, or the risk source the caller named.
  (These specs are ``firstresult``: one answer.)
* **collected** — every enabled plugin is called concurrently and all answers are kept.
* **broadcast** — events: every plugin is called, results are ignored.

Errors: raise freely. An exception, a timeout or a wrong result type becomes a typed ``PluginError``
for the caller and a ``PluginIncident`` for the platform's alerting; it never crashes a request. For
money-moving hooks prefer returning ``PaymentResult(status=UNKNOWN)`` over raising when you cannot
tell what happened — the platform queries unknown payments later and never guesses.

The sections of ``docs/plugins.md`` between the ``hooks`` markers are generated from this module
(``python -m plugins.docgen --write``); a test fails when they drift.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from plugins.markers import hookspec
from plugins.types import (
    AlertRaised,
    Balance,
    BlockSealed,
    CallbackVerdict,
    Classification,
    Family,
    FeedTransaction,
    HealthReport,
    IndicatorSpec,
    LoanStateChanged,
    Notification,
    NotifyResult,
    PaymentOrder,
    PaymentResult,
    PaymentSettled,
    RawCallback,
    RiskFetchResult,
    RiskRequest,
    Statement,
    Transaction,
    ViolationDetected,
)

# --- lifecycle and health ----------------------------------------------------------------------


@hookspec
def lendline_startup() -> None:
    """Called once when the host starts, before any other hook, with no arguments.

    Open long-lived resources here (HTTP clients, connection pools). Returns nothing. A failure is
    reported as an incident; the plugin stays registered and its later calls may fail on their own.
    Family: lifecycle (timeout ``[timeouts] lifecycle``). Broadcast.
    """


@hookspec
def lendline_shutdown() -> None:
    """Called once when the host closes, with no arguments.

    Close what ``lendline_startup`` opened. Returns nothing; failures are reported, never raised.
    Family: lifecycle. Broadcast.
    """


@hookspec(firstresult=True)
def lendline_health() -> HealthReport:
    """Called when the platform lists plugins (admin page, health checks), with no arguments.

    Return a ``HealthReport(state=ok|degraded|down, detail=...)``, cheaply: no paid calls, no
    money movement. Not implementing it shows the plugin with no health information. A failure or
    timeout shows the plugin as ``down``. Family: health (timeout ``[timeouts] health``). Routed to
    each plugin in turn.
    """


# --- payment providers (F-PLG-1) ---------------------------------------------------------------


@hookspec(firstresult=True)
def lendline_payment_identifier() -> str:
    """Called once at start-up to learn which payment platform this provider serves.

    Return the identifier (≤ 50 characters) that the platform's payment-platform records use
    (F-ORG-6), usually taken from your settings (``identifier = "sandbox"``). Implementing this hook
    is what makes a plugin a payment provider; all later payment calls for that identifier are routed
    to this plugin only. Two enabled providers returning the same identifier stop start-up.
    Family: payment. Routed.
    """


@hookspec(firstresult=True)
def lendline_payment_disburse(order: PaymentOrder) -> PaymentResult:
    """Called to pay out a loan: move ``order.amount`` from the lender's disbursement virtual
    account (``order.debit_account``) to the borrower's (``order.credit_account``).

    Gets the ``PaymentOrder``. Must be idempotent on ``order.idempotency_key``: a repeat (even
    concurrent) must not move money again and should return the first result. Return a
    ``PaymentResult`` for the same idempotency key: ``accepted`` (will settle later), ``succeeded``,
    ``failed`` (with ``reason``, no money moved) or ``unknown`` (cannot tell — e.g. gateway timeout).
    Funds stay in the provider's accounts; the platform only instructs. Family: payment. Routed.
    """


@hookspec(firstresult=True)
def lendline_payment_deduct(order: PaymentOrder) -> PaymentResult:
    """Called to collect a repayment: move ``order.amount`` from the borrower's virtual account
    (``order.debit_account``) to the repayment collection account (``order.credit_account``).

    Gets the ``PaymentOrder``. Same contract as ``lendline_payment_disburse``: idempotent on the
    key; returns a ``PaymentResult`` for that key, ``failed`` only when certainly nothing moved
    (e.g. insufficient balance), ``unknown`` when unsure.
    Family: payment. Routed.
    """


@hookspec(firstresult=True)
def lendline_payment_query(idempotency_key: str) -> PaymentResult:
    """Called to learn the current state of an earlier instruction (after ``unknown`` or
    ``accepted``, on reconciliation, or when a callback is overdue).

    Gets the instruction's idempotency key. Return its ``PaymentResult`` as the provider knows it
    now; ``unknown`` with a reason (e.g. ``reason_code="NOT_FOUND"``) if the provider has no record.
    Family: payment. Routed.
    """


@hookspec(firstresult=True)
def lendline_payment_balance(account: str) -> Balance:
    """Called to read a virtual account's balance (e.g. every 5 minutes for disbursement accounts,
    F-SYS-5).

    Gets the account identifier. Return a ``Balance`` for that same account with an aware ``as_of``.
    Raise if the account does not exist. Family: payment. Routed.
    """


@hookspec(firstresult=True)
def lendline_payment_verify_callback(callback: RawCallback) -> CallbackVerdict:
    """Called when the provider's HTTP notification reaches the platform, before the platform
    trusts anything in it.

    Gets the ``RawCallback`` (method, path, lower-cased headers, raw body bytes, receipt time).
    Verify the signature, the timestamp window and that the nonce was not seen before; return
    ``CallbackVerdict.ok(PaymentResult)`` for a genuine notification or
    ``CallbackVerdict.rejected(reason)`` for a forged, stale, replayed or malformed one. Do not raise
    for bad input: rejection is an answer, not a failure. Family: payment. Routed.
    """


@hookspec(firstresult=True)
def lendline_payment_statement(day: dt.date) -> Statement:
    """Called by daily reconciliation for the business day ``day`` (bank's time zone).

    Return a ``Statement`` for that day listing every instruction the provider received that day,
    with serial, idempotency key, kind, amount and current status. Family: payment. Routed.
    """


# --- risk data sources (F-PLG-2) ---------------------------------------------------------------


@hookspec
def lendline_risk_indicators() -> Sequence[IndicatorSpec]:
    """Called at start-up (and when the catalogue is refreshed) to learn what this source supplies.

    Return the ``IndicatorSpec`` list: name (unique within the source), type (integer, decimal,
    boolean, string) and ``cost_per_call`` as a Decimal (0 for free data). The risk engine refers to
    an indicator as (source plugin name, indicator name). Family: risk. Collected.
    """


@hookspec(firstresult=True)
def lendline_risk_fetch(request: RiskRequest) -> RiskFetchResult:
    """Called when the risk engine evaluates a rule that needs this source's indicators.

    Gets a ``RiskRequest``: the subject (customer number, id number, name, phone, extra keys — map
    what your provider needs), the indicator names wanted (all declared by you), the scene and time.
    Return ``RiskFetchResult(values={name: value or None}, cost=<Decimal incurred by this call>)``;
    each value must match the declared type. ``None`` means "no data". Sources over the platform's
    own database implement this hook too (cost 0). Family: risk. Routed by source name.
    """


# --- diversion detectors (F-PLG-3) -------------------------------------------------------------


@hookspec
def lendline_detect_diversion(transaction: Transaction) -> Classification | None:
    """Called for each ingested account transaction (F-MON-1) to decide whether it diverts loan
    funds into a forbidden use.

    Gets the ``Transaction``. Return ``Classification(code, confidence, reason)`` — ``code`` is a
    diversion type code (``LS`` bond market, ``GS`` stock market, ``JJCF`` funds/wealth, ``QH``
    futures, ``GJS`` precious metals, ``XNB`` virtual currency, ``FDC`` real estate, or a code the
    bank configured), ``confidence`` a Decimal in 0..1, ``reason`` a sentence a reviewer can check —
    or ``None`` to abstain. Whether a classification is a violation is decided by the platform's
    rules (amount and share thresholds), not by the detector. Family: detector. Collected: every
    detector is asked and all classifications are returned.
    """


@hookspec
def lendline_detect_diversion_batch(transactions: Sequence[Transaction]) -> Sequence[Classification | None]:
    """Called instead of ``lendline_detect_diversion`` with many transactions at once, for
    detectors that can answer a batch: a local lookup (no per-call overhead) or a remote service
    with a bulk endpoint (one request instead of hundreds).

    Gets the ``Transaction``s of one ingestion chunk (at most a few hundred). Return one answer per
    transaction, in the same order: a ``Classification`` or ``None`` to abstain, exactly as the
    single form would. A detector implementing this hook is asked only through it (its single form,
    if it has one, is not called as well). The detector timeout covers the whole call; when the
    call fails, times out or returns the wrong number of answers, every transaction of the chunk
    counts this detector as failed (their detection stays pending, as for a failed single call).
    Family: detector. Collected: every detector is asked.
    """


@hookspec
def lendline_fetch_transactions(since: dt.datetime | None) -> Sequence[FeedTransaction]:
    """Called by the scheduled task ``monitoring.pull_feed`` to fetch borrowers' account
    transactions from a bank system or data provider (F-MON-1 plugin feed).

    Gets ``since``: the time of the newest transaction already ingested from feeds minus an overlap
    (one day), or ``None`` on the first pull. Return ``FeedTransaction``s that occurred at or after
    it (at most a few thousand per call; the next run continues). Returning a transaction again is
    harmless: ingestion is idempotent on the serial number. Rows the platform refuses (unknown order,
    wrong customer) are skipped with an alert; the others are ingested. Family: detector (its
    timeout). Collected: every feed plugin is asked.
    """


# --- notifications: SMS and other channels ------------------------------------------------------


@hookspec(firstresult=True)
def lendline_notify_channels() -> Sequence[str]:
    """Called once at start-up to learn which channels this notifier delivers, e.g. ``["sms"]``.

    Return the channel names (each ≤ 20 characters; ``plugins.types.SMS`` is ``"sms"``).
    Implementing this hook is what makes a plugin a notifier; every later notification for one of
    these channels is routed to this plugin only. Two enabled notifiers claiming one channel stop
    start-up. Family: notify (timeout ``[timeouts] notify``). Routed.
    """


@hookspec(firstresult=True)
def lendline_notify_send(notification: Notification) -> NotifyResult:
    """Called to send one message, e.g. a low-balance warning to an operator (F-SYS-5) or a
    repayment reminder to a borrower.

    Gets a ``Notification``: idempotency key, channel, recipient (a mobile number for ``sms``),
    template key and string parameters — never free text, so only approved templates are sent; map
    the key to your carrier's template id in your settings. Must be idempotent on
    ``notification.idempotency_key``: the platform retries after a timeout or an error with the same
    key, and a repeat must not send the message again (return the first result). Return a
    ``NotifyResult`` for that key: ``accepted`` (handed to the carrier, with your ``message_id``) or
    ``failed`` with a ``reason`` (certainly not sent: unknown template, invalid recipient, carrier
    refusal). Raise when you cannot tell. Family: notify. Routed by channel.
    """


# --- events for integrators --------------------------------------------------------------------


@hookspec
def lendline_on_loan_state_changed(event: LoanStateChanged) -> None:
    """Called after the transaction that changed a loan's state has committed.

    Gets a ``LoanStateChanged`` (loan number, previous and new state, actor, time). Return nothing.
    Delivery happens after commit, so an event never describes a rolled-back change; use
    ``event.event_id`` to de-duplicate. Family: event. Broadcast.
    """


@hookspec
def lendline_on_payment_settled(event: PaymentSettled) -> None:
    """Called after a disbursement or repayment reached a final status (succeeded or failed) and the
    platform committed it.

    Gets a ``PaymentSettled``. Return nothing. Family: event. Broadcast.
    """


@hookspec
def lendline_on_violation_detected(event: ViolationDetected) -> None:
    """Called after a diversion violation has been recorded (and written to the ledger).

    Gets a ``ViolationDetected`` (transaction serial, customer, diversion code, amounts).
    Return nothing. Family: event. Broadcast.
    """


@hookspec
def lendline_on_block_sealed(event: BlockSealed) -> None:
    """Called after a ledger block has been sealed and committed.

    Gets a ``BlockSealed`` (height, hashes, Merkle root, transaction count). Return nothing.
    Family: event. Broadcast.
    """


@hookspec
def lendline_on_alert_raised(event: AlertRaised) -> None:
    """Called after a system alert has been stored (F-SYS-6), e.g. to forward it to a pager or SMS.

    Gets an ``AlertRaised``. Return nothing. Alerts raised about plugin incidents are delivered too,
    so do not raise an alert from this hook. Family: event. Broadcast.
    """


HOOK_FAMILIES: dict[str, Family] = {
    "lendline_startup": Family.LIFECYCLE,
    "lendline_shutdown": Family.LIFECYCLE,
    "lendline_health": Family.HEALTH,
    "lendline_payment_identifier": Family.PAYMENT,
    "lendline_payment_disburse": Family.PAYMENT,
    "lendline_payment_deduct": Family.PAYMENT,
    "lendline_payment_query": Family.PAYMENT,
    "lendline_payment_balance": Family.PAYMENT,
    "lendline_payment_verify_callback": Family.PAYMENT,
    "lendline_payment_statement": Family.PAYMENT,
    "lendline_risk_indicators": Family.RISK,
    "lendline_risk_fetch": Family.RISK,
    "lendline_detect_diversion": Family.DETECTOR,
    "lendline_detect_diversion_batch": Family.DETECTOR,
    "lendline_fetch_transactions": Family.DETECTOR,
    "lendline_notify_channels": Family.NOTIFY,
    "lendline_notify_send": Family.NOTIFY,
    "lendline_on_loan_state_changed": Family.EVENT,
    "lendline_on_payment_settled": Family.EVENT,
    "lendline_on_violation_detected": Family.EVENT,
    "lendline_on_block_sealed": Family.EVENT,
    "lendline_on_alert_raised": Family.EVENT,
}
