"""Collecting repayments through the payment provider (代扣) and applying provider callbacks.

Life of a deduction:
1. `deduct` checks the console "payments" switch, works out the amount (everything due so far, one
   installment, an amount, or the early-settlement quote) and writes a `Payment` (kind deduction,
   status pending) with the idempotency key `deduct:<order no>:<installment or 0>:<YYYYMMDD>`
   (`settle:` for an early settlement) — committed BEFORE the provider is called. A second request
   for the same installment on the same day finds that row and answers with it (one attempt per
   installment per business day; a failed one may be retried the next day).
2. The provider is called outside any DB transaction (`current_host().deduct`): the debit is the
   borrower's account (`Loan.disbursement_account`), the credit the lead funder's repayment
   account at the product's payment platform (`ProviderAccount`, purpose repayment). A plugin error
   or timeout means *unknown*: money may have moved.
3. `apply_result` applies the provider's word in one transaction: succeeded → `post_repayment`
   (the payment marked succeeded with it); failed → recorded with the reason; unknown/accepted →
   recorded, and the outbox job `repayments.resolve_deduction` asks `payment_status` later (retried
   with backoff while the provider still does not know — never guessed).
4. Provider callbacks (`handle_callback`, route `POST /callbacks/payments/{provider}`) are verified
   by the provider's plugin; an accepted one for a deduction goes through `apply_result` too, so a
   callback, the status job and the original call may all report the same success: the serial
   number makes it post once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from core import clock
from core.actor import SYSTEM, Actor
from core.errors import ErrorCode, ErrorCollector, UserError
from core.loans.models import (
    Loan,
    LoanFunder,
    LoanInstallment,
    LoanStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Repayment,
    RepaymentSource,
)
from core.loans.money import ZERO
from core.loans.repayment import Mode, is_open, owed, post_repayment, quote_for, scoped_loan
from core.loans.states import REPAYING
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from core.orgs import rules
from core.outbox.service import enqueue
from core.system.switches import SwitchKey, require_switch
from permissions.scope import DataScope

log = logging.getLogger("lendline.repayments")

MODULE = "repayments"
RESOLVE_JOB = "repayments.resolve_deduction"


@dataclass(frozen=True)
class Target:
    amount: Decimal
    number: int  # installment number, 0 for "everything due"
    settle: bool


async def _target(loan: Loan, installment_number: int | None, amount: Decimal | str | None, settle: bool,
                  day: date) -> Target:
    installments = list(await LoanInstallment.filter(loan_id=loan.id).order_by("number"))
    open_ = [i for i in installments if is_open(i)]
    if not open_:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"Loan {loan.order_no} has nothing outstanding")
    if settle:
        return Target(quote_for(loan, installments, day).total, 0, True)
    if installment_number is not None:
        inst = next((i for i in installments if i.number == installment_number), None)
        if inst is None:
            raise UserError.of("installment", ErrorCode.NOT_FOUND, f"Loan {loan.order_no} has no installment "
                               f"{installment_number}")
        if not is_open(inst):
            raise UserError.of("installment", ErrorCode.INVALID_STATE,
                               f"Installment {installment_number} is already {inst.status}")
        return Target(owed(inst), installment_number, False)
    if amount not in (None, ""):
        errs = ErrorCollector()
        value = rules.money(errs, "amount", amount)
        errs.raise_if_any()
        assert value is not None
        return Target(value, 0, False)
    due = sum((owed(i) for i in open_ if i.due_date <= day), ZERO)
    if not due:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE,
                           f"Nothing is due on loan {loan.order_no} yet; give an installment or an amount to prepay")
    return Target(due, 0, False)


async def _accounts(loan: Loan) -> tuple[str, str, str]:
    """(provider identifier, debit account, credit account) for a deduction on `loan`."""
    from core.orgs.models import PaymentPlatform
    from core.payments.models import AccountPurpose, ProviderAccount
    from core.products.models import Product

    product = await Product.get(id=loan.product_id)  # type: ignore[attr-defined]
    if product.payment_platform_id is None:  # type: ignore[attr-defined]
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"Product {product.code} has no payment platform")
    platform = await PaymentPlatform.get(id=product.payment_platform_id)  # type: ignore[attr-defined]
    lead = await LoanFunder.filter(loan_id=loan.id).order_by("position").first()
    if lead is None:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"Loan {loan.order_no} has no funder")
    account = await ProviderAccount.filter(bank_id=lead.bank_id, payment_platform_id=platform.id,  # type: ignore[attr-defined]
                                           purpose=AccountPurpose.REPAYMENT, enabled=True).first()
    if account is None:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE,
                           f"The lead funder has no enabled repayment account at {platform.name}; add one first")
    if not loan.disbursement_account:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"Loan {loan.order_no} has no borrower account")
    return loan.payment_provider or platform.identifier, loan.disbursement_account, account.account_no


def idempotency_key(loan: Loan, target: Target, day: date) -> str:
    return f"{'settle' if target.settle else 'deduct'}:{loan.order_no}:{target.number}:{day:%Y%m%d}"


async def deduct(actor: Actor, loan_id: int, *, installment_number: int | None = None,
                 amount: Decimal | str | None = None, settle: bool = False, scope: DataScope | None = None,
                 request_id: str = "") -> Payment:
    """Ask the provider to collect; returns the Payment with its outcome (succeeded, failed, unknown)."""
    from plugins.errors import PluginError
    from plugins.runtime import current_host
    from plugins.types import PaymentOrder, PaymentResult
    from plugins.types import PaymentStatus as ProviderStatus

    await require_switch(SwitchKey.PAYMENTS, "loanId")
    loan = await scoped_loan(scope if scope is not None else actor.scope, loan_id)
    if LoanStatus(loan.status) not in REPAYING:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"Loan {loan.order_no} is {loan.status}; only "
                           "repaying loans can be deducted")
    day = clock.business_today()
    target = await _target(loan, installment_number, amount, settle, day)
    provider, debit, credit = await _accounts(loan)
    key = idempotency_key(loan, target, day)
    try:
        async with in_transaction():
            payment = await Payment.create(
                kind=PaymentKind.DEDUCTION, loan_id=loan.id, product_id=loan.product_id,  # type: ignore[attr-defined]
                idempotency_key=key, provider=provider, debit_account=debit, credit_account=credit,
                amount=target.amount, status=PaymentStatus.PENDING,
                business_date=day, requested_at=clock.now(), attempts=1)
            await oplog.record(actor, kind=actor.kind() if actor.user_id else OperatorKind.SYSTEM, module=MODULE,
                               action="deduct", summary=f"deduction {key} of {target.amount} requested",
                               detail={"loan": loan.order_no, "key": key, "amount": target.amount,
                                       "installment": target.number, "settle": target.settle},
                               request_id=request_id, scope_product_id=loan.product_id)  # type: ignore[attr-defined]
    except IntegrityError:
        existing = await Payment.get(idempotency_key=key)
        if existing.amount != target.amount:
            raise UserError.of("loanId", ErrorCode.CONFLICT,
                               f"A deduction of {existing.amount} was already requested today ({key}); it is "
                               f"{existing.status}") from None
        return existing
    order = PaymentOrder(idempotency_key=key, amount=target.amount, debit_account=debit, credit_account=credit,
                         reference=loan.order_no, memo=f"repayment {loan.order_no}")
    try:
        result = await current_host().deduct(provider, order)
    except PluginError as exc:  # timeout, crash, bad answer: money may have moved
        result = PaymentResult(key, ProviderStatus.UNKNOWN, reason=f"provider call failed: {exc}"[:200])
    return await apply_result(payment.id, result)


async def apply_result(payment_id: int, result: Any, *, actor: Actor = SYSTEM) -> Payment:
    """Apply a provider's answer (`plugins.types.PaymentResult`) to a deduction payment."""
    from core.system.alerts import raise_alert
    from plugins.types import PaymentStatus as ProviderStatus

    payment = await Payment.get(id=payment_id)
    status = ProviderStatus(result.status)
    if PaymentStatus(payment.status) in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED):
        return payment  # already final: a late callback or job repeats what we know
    if status is ProviderStatus.SUCCEEDED:
        if result.amount is not None and result.amount != payment.amount:
            await raise_alert("DEDUCTION_AMOUNT_MISMATCH",
                              f"代扣金额不符 {payment.idempotency_key}: asked {payment.amount}, provider says "
                              f"{result.amount}", source="repayments",
                              detail={"paymentId": payment.id, "asked": str(payment.amount),
                                      "reported": str(result.amount)})
        amount = result.amount if result.amount is not None else payment.amount
        serial = result.serial or payment.idempotency_key
        paid_at: datetime = result.completed_at or clock.now()
        mode = Mode.EARLY_SETTLEMENT if payment.idempotency_key.startswith("settle:") else Mode.NORMAL
        try:
            await post_repayment(payment.loan_id, amount, serial, RepaymentSource.DEDUCTION, paid_at,  # type: ignore[attr-defined]
                                 actor=actor, payment_id=payment.id, channel=payment.provider, mode=mode)
        except UserError as exc:
            if mode is not Mode.EARLY_SETTLEMENT or exc.code is not ErrorCode.OUT_OF_RANGE:
                raise
            # The settlement amount no longer covers the quote (resolved days later): the money is
            # still the borrower's repayment, applied normally; operations see the alert.
            await raise_alert("SETTLEMENT_SHORT", f"提前结清金额不足 {payment.idempotency_key}: {exc}",
                              source="repayments", detail={"paymentId": payment.id})
            await post_repayment(payment.loan_id, amount, serial, RepaymentSource.DEDUCTION, paid_at,  # type: ignore[attr-defined]
                                 actor=actor, payment_id=payment.id, channel=payment.provider)
    elif status is ProviderStatus.FAILED:
        async with in_transaction():
            await Payment.filter(id=payment.id, status__in=[PaymentStatus.PENDING, PaymentStatus.ACCEPTED,
                                                            PaymentStatus.UNKNOWN]).update(
                status=PaymentStatus.FAILED, failure_reason=(result.reason or "failed")[:500],
                provider_reference=(result.serial or "")[:100], settled_at=clock.now(), version=F("version") + 1)
            await oplog.record(actor, kind=OperatorKind.SYSTEM, module=MODULE, action="deduct_failed",
                               summary=f"deduction {payment.idempotency_key} failed: {result.reason}",
                               detail={"paymentId": payment.id, "reason": result.reason,
                                       "code": result.reason_code},
                               scope_product_id=payment.product_id)  # type: ignore[attr-defined]
    else:
        new = PaymentStatus.ACCEPTED if status is ProviderStatus.ACCEPTED else PaymentStatus.UNKNOWN
        async with in_transaction():
            await Payment.filter(id=payment.id, status__in=[PaymentStatus.PENDING, PaymentStatus.ACCEPTED,
                                                            PaymentStatus.UNKNOWN]).update(
                status=new, failure_reason=(result.reason or "")[:500], version=F("version") + 1)
            await enqueue(RESOLVE_JOB, {"paymentId": payment.id}, dedupe_key=f"resolve-deduction:{payment.id}")
    return await Payment.get(id=payment.id)


class StillUnknown(RuntimeError):
    """The provider does not know yet; the outbox retries the job with backoff."""


async def resolve(payment_id: int) -> Payment:
    """Ask the provider for the outcome of an unknown or accepted deduction and apply it."""
    from plugins.runtime import current_host
    from plugins.types import PaymentStatus as ProviderStatus

    payment = await Payment.get(id=payment_id)
    if PaymentStatus(payment.status) in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED):
        return payment
    result = await current_host().payment_status(payment.provider, payment.idempotency_key)
    if ProviderStatus(result.status) is ProviderStatus.UNKNOWN and result.reason_code == "NOT_FOUND" and \
            PaymentStatus(payment.status) is PaymentStatus.PENDING:
        # Never reached the provider (we crashed before sending): nothing moved, it failed.
        from plugins.types import PaymentResult

        result = PaymentResult(payment.idempotency_key, ProviderStatus.FAILED, reason="never reached the provider")
    payment = await apply_result(payment.id, result)
    if PaymentStatus(payment.status) in (PaymentStatus.UNKNOWN, PaymentStatus.ACCEPTED):
        raise StillUnknown(f"deduction {payment.idempotency_key} is still {payment.status} at the provider")
    return payment


STALE_PENDING = timedelta(minutes=10)


async def sweep_stale(now: datetime | None = None) -> list[int]:
    """The safety net for a crash between writing a deduction and hearing the provider: a payment
    still `pending` after `STALE_PENDING` (far beyond the provider call's timeout) gets the
    status-query job, which applies what the provider knows (or fails it when the provider never
    received it). Idempotent: the job is de-duplicated per payment."""
    cutoff = (now or clock.now()) - STALE_PENDING
    ids = await Payment.filter(kind=PaymentKind.DEDUCTION, status=PaymentStatus.PENDING,
                               requested_at__lt=cutoff).order_by("id").limit(1000).values_list("id", flat=True)
    for payment_id in ids:
        async with in_transaction():
            await enqueue(RESOLVE_JOB, {"paymentId": payment_id}, dedupe_key=f"resolve-deduction:{payment_id}")
    return list(ids)


@dataclass(frozen=True)
class CallbackOutcome:
    http_status: int
    message: str
    repayment_serial: str = ""


async def handle_callback(provider: str, method: str, path: str, headers: dict[str, str], body: bytes
                          ) -> CallbackOutcome:
    """Verify a provider notification and apply it; forged or unknown ones are refused, never a 500."""
    from plugins.errors import PluginError, PluginUnavailable
    from plugins.runtime import PluginHostMissing, current_host
    from plugins.types import RawCallback

    try:
        host = current_host()
    except PluginHostMissing:
        return CallbackOutcome(503, "payment plugins are not running")
    try:
        verdict = await host.verify_callback(provider, RawCallback(method, path, headers, body,
                                                                   received_at=clock.now()))
    except PluginUnavailable:
        return CallbackOutcome(404, f"no payment provider {provider!r}")
    except PluginError:
        return CallbackOutcome(503, "the provider's plugin could not verify the callback; send it again")
    if not verdict.accepted or verdict.payment is None:
        log.warning("callback from %s refused: %s", provider, verdict.reason)
        return CallbackOutcome(401, f"callback refused: {verdict.reason}")
    result = verdict.payment
    payment = await Payment.get_or_none(idempotency_key=result.idempotency_key, provider=provider)
    if payment is None:
        return CallbackOutcome(404, "no payment with that idempotency key from this provider")
    if PaymentKind(payment.kind) is PaymentKind.DISBURSEMENT:
        from core.loans import disbursement

        try:
            outcome = await disbursement.apply_result(payment.id, result)
        except UserError as exc:
            return CallbackOutcome(409, str(exc))
        return CallbackOutcome(200, f"disbursement {outcome.payment.status}")
    if PaymentKind(payment.kind) is not PaymentKind.DEDUCTION:
        return CallbackOutcome(202, f"{payment.kind} payments are not applied from callbacks")
    try:
        applied = await apply_result(payment.id, result)
    except UserError as exc:
        return CallbackOutcome(409, str(exc))
    serial = ""
    if PaymentStatus(applied.status) is PaymentStatus.SUCCEEDED:
        repayment = await Repayment.filter(payment_id=applied.id).first()
        serial = repayment.serial_no if repayment else ""
    return CallbackOutcome(200, f"payment {applied.status}", serial)


async def settle_early(actor: Actor, loan_id: int, *, collect: bool = False, amount: Decimal | str | None = None,
                       serial_no: str | None = None, paid_at: datetime | None = None,
                       scope: DataScope | None = None, request_id: str = "") -> Payment | Repayment:
    """Early settlement (提前结清): deduct the quote through the provider (`collect=True`), or record
    a payment received (`amount` + `serial_no`). Interest is charged to the payment date only."""
    if collect:
        return await deduct(actor, loan_id, settle=True, scope=scope, request_id=request_id)
    if paid_at is not None and paid_at > clock.now():
        raise UserError.of("paidAt", ErrorCode.OUT_OF_RANGE, "paidAt cannot be in the future")
    return await post_repayment(loan_id, amount, serial_no, RepaymentSource.MANUAL, paid_at, actor=actor,
                                scope=scope if scope is not None else actor.scope, channel="offline",
                                mode=Mode.EARLY_SETTLEMENT, request_id=request_id)

