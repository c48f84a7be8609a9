"""Disbursing a signed loan through the product's payment provider, exactly once (SPEC §4, F-PLG-1).

The life of one disbursement::

    tx 1 ─ contract_signed → disbursing (conditional UPDATE: of N concurrent calls one proceeds,
           the others get INVALID_STATE) · margin frozen when the product checks margin (refused
           here, before any money moves, when free margin is short) · Payment row `pending` with
           the idempotency key · a delayed `loans.resolve_payment` safety-net job · oplog
    ── provider call, outside any transaction (PaymentOrder with the idempotency key)
    tx 2 ─ the answer applied (a conditional UPDATE on the payment's version: applied once even if
           the direct call and the resolve job race):
           succeeded → rate fixed (LPR in force on the disbursement business date + spread),
                       schedule persisted with every funder's part, loan → disbursed,
                       principal outstanding set, ledger `loan.disbursed`, plugin
                       `payment_settled` event (+ the product's disbursement event) via outbox
           failed    → loan → contract_signed with the reason, margin released (it may be retried)
           unknown / accepted / timeout / plugin error → the payment stays unknown, the loan
                       disbursing; `loans.resolve_payment` asks the provider (`payment_status`)
                       with backoff until it knows — the outcome is never guessed. When the
                       outbox's retries run out the job fails with a system alert and the payment
                       stays unknown until `resolveLoanPayment` (or a later job) resolves it.

Choices, documented:
- **Repeated calls.** A call for a loan already disbursing (or disbursed) is refused with
  INVALID_STATE naming the payment; `resolveLoanPayment` is the way to chase an open payment.
- **Idempotency key** `disb:<order_no>` for the first attempt. A *definitively failed* attempt
  puts the loan back to contract_signed; a later attempt is a new instruction, so it gets
  `disb:<order_no>:<n>` (the provider would replay the first failure for the old key). Keys of
  unanswered instructions are never replaced: they are re-sent as they were (same key, same
  accounts — the Payment row keeps them) when the provider has no record of them.
- **Joint lending.** One instruction, from the lead funder's disbursement account at the product's
  payment platform, for the whole amount; the funders' parts are the loan's `LoanFunder.amount`s
  (they sum to the amount exactly, remainder to the lead) and are written in the ledger entry and
  the schedule's funder parts, so each funder reconciles to the cent. One instruction means the
  borrower is paid in full or not at all — never half a loan from one funder.
- **Margin reference.** The freeze is keyed by reference; the first attempt uses the order number,
  the n-th `<order_no>#<n>` (stored in `Loan.margin_reference`, which repayments release against).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from core import clock
from core.actor import SYSTEM, Actor
from core.config import current_settings
from core.contracts.models import Contract
from core.contracts.signing import rate_on, schedule_request
from core.errors import ErrorCode, UserError, not_found
from core.ledger import service as ledger
from core.loans import callbacks, states
from core.loans.models import Loan, LoanFunder, LoanStatus, Payment, PaymentKind, PaymentStatus
from core.loans.schedule import build_schedule
from core.loans.schedules import Funder, LoanSchedule, persist_schedule
from core.oplog import service as oplog
from core.orgs import margins
from core.outbox.models import OutboxMessage
from core.outbox.service import enqueue
from core.payments.models import AccountPurpose, ProviderAccount
from core.products.models import Product
from core.system.alerts import raise_alert
from core.system.switches import SwitchKey, require_switch, switch
from permissions.scope import EVERYTHING, DataScope

RESOLVE_JOB = "loans.resolve_payment"
PAYMENT_SETTLED_JOB = "plugins.payment_settled"
DISBURSED_EVENT_JOB = "loans.disbursement_event"
SAFETY_NET_DELAY = timedelta(seconds=60)  # the resolve job also covers a crash right after tx 1
OPEN = (PaymentStatus.PENDING, PaymentStatus.ACCEPTED, PaymentStatus.UNKNOWN)


class PaymentStillUnknown(RuntimeError):
    """The provider does not know the outcome yet: the resolve job raises it to be retried with backoff."""


@dataclass(frozen=True)
class DisbursementOutcome:
    loan: Loan
    payment: Payment

    @property
    def status(self) -> PaymentStatus:
        return PaymentStatus(self.payment.status)


def payment_key(order_no: str, attempt: int) -> str:
    return f"disb:{order_no}" if attempt == 1 else f"disb:{order_no}:{attempt}"


def margin_reference(order_no: str, attempt: int) -> str:
    return order_no if attempt == 1 else f"{order_no}#{attempt}"


def business_date_of(moment: datetime | None) -> date:
    """The business date (bank zone) of a provider's completion time; today when it gave none."""
    if moment is None:
        return clock.business_today()
    return moment.astimezone(current_settings().tz).date()


async def _loan(scope: DataScope, loan_id: int) -> Loan:
    loan = await Loan.filter(scope.products("product_id"), id=loan_id).first()
    if loan is None:
        raise not_found("Loan", "loanId")
    return loan


async def _lead(loan: Loan) -> LoanFunder:
    funders = await LoanFunder.filter(loan_id=loan.id).order_by("position", "id")
    if not funders:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, "The loan has no funder")
    return funders[0]


async def disburse(actor: Actor, loan_id: int, *, scope: DataScope = EVERYTHING,
                   request_id: str = "") -> DisbursementOutcome:
    """Pay out a signed loan (see the module docstring); returns the loan and its payment as they ended."""
    await require_switch(SwitchKey.PAYMENTS, "loanId")
    loan = await _loan(scope, loan_id)
    if loan.status in (LoanStatus.DISBURSING, LoanStatus.DISBURSED):
        open_payment = await Payment.filter(loan_id=loan.id, kind=PaymentKind.DISBURSEMENT).order_by("-id").first()
        state = f" (payment {open_payment.idempotency_key} is {open_payment.status})" if open_payment else ""
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"The loan is already {loan.status}{state}; "
                           "use resolveLoanPayment to chase an open payment")
    if loan.status != LoanStatus.CONTRACT_SIGNED:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE,
                           f"Only a signed loan can be disbursed; this one is {LoanStatus(loan.status).value}")
    product = await Product.get(id=loan.product_id).select_related("payment_platform")  # type: ignore[attr-defined]
    if product.payment_platform is None:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"Product {product.code} has no payment platform; "
                           "set one on the product")
    if product.check_margin and product.margin_account_id is None:  # type: ignore[attr-defined]
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"Product {product.code} checks margin but has no "
                           "margin account; set one on the product")
    lead = await _lead(loan)
    debit = await ProviderAccount.filter(bank_id=lead.bank_id, payment_platform_id=product.payment_platform.id,  # type: ignore[attr-defined]
                                         purpose=AccountPurpose.DISBURSEMENT, enabled=True).first()
    if debit is None:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, "The lead funder has no enabled disbursement account "
                           f"at {product.payment_platform.name}; add it on the disbursement accounts page")
    if not loan.disbursement_account.strip():
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, "The borrower gave no receiving account")
    provider = product.payment_platform.identifier
    await _require_provider(provider)
    attempt = await Payment.filter(loan_id=loan.id, kind=PaymentKind.DISBURSEMENT).count() + 1
    key, reference = payment_key(loan.order_no, attempt), margin_reference(loan.order_no, attempt)
    now = clock.now()
    async with in_transaction():
        await states.transition(loan, LoanStatus.DISBURSING, actor=actor, reason=f"disbursement {key} requested",
                                changes={"payment_provider": provider, "margin_reference": reference})
        if product.check_margin:
            movement = await margins.freeze(product.margin_account_id, Decimal(loan.amount), reference, actor,  # type: ignore[attr-defined]
                                            request_id=request_id)
            await Loan.filter(id=loan.id, version=loan.version).update(margin_frozen=movement.amount,
                                                                       version=loan.version + 1)
            loan.margin_frozen, loan.version = movement.amount, loan.version + 1
        payment = await Payment.create(
            kind=PaymentKind.DISBURSEMENT, loan_id=loan.id, product_id=product.id, idempotency_key=key,
            provider=provider, debit_account=debit.account_no, credit_account=loan.disbursement_account.strip(),
            amount=loan.amount, status=PaymentStatus.PENDING, business_date=clock.business_today(),
            requested_at=now)
        await oplog.record(actor, kind=actor.kind(), module="loans", action="disburse",
                           summary=f"disbursement {key} of {loan.amount} requested for loan {loan.order_no}",
                           detail={"loanNo": loan.order_no, "paymentKey": key, "amount": str(loan.amount),
                                   "provider": provider, "debitAccount": debit.account_no,
                                   "marginFrozen": str(loan.margin_frozen)},
                           request_id=request_id, scope_bank_id=lead.bank_id,  # type: ignore[attr-defined]
                           scope_product_id=product.id)
        await _schedule_resolve(payment, "safety", now + SAFETY_NET_DELAY)
    outcome = await _send(payment, actor)
    return outcome


async def _require_provider(identifier: str) -> None:
    """Refuse before anything is written when no enabled plugin serves the platform: the money
    certainly does not move then, and an instruction to nobody would only sit as "unknown"."""
    from plugins.runtime import current_host

    host = current_host()
    await host.start()  # idempotent; the app's lifespan has normally started it already
    if identifier not in host.payment_providers():
        known = ", ".join(sorted(host.payment_providers())) or "none"
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"No enabled payment provider serves platform "
                           f"{identifier!r} (enabled: {known}); enable its plugin in plugins.toml")


async def _schedule_resolve(payment: Payment, round_: str, at: datetime) -> None:
    message = await enqueue(RESOLVE_JOB, {"paymentId": payment.id}, dedupe_key=f"resolve:{payment.id}:{round_}")
    await OutboxMessage.filter(id=message.id, status="pending").update(available_at=at)


def _order(payment: Payment, order_no: str) -> Any:
    from plugins.types import PaymentOrder

    return PaymentOrder(idempotency_key=payment.idempotency_key, amount=Decimal(payment.amount),
                        debit_account=payment.debit_account, credit_account=payment.credit_account,
                        reference=order_no, memo="loan disbursement")


async def _send(payment: Payment, actor: Actor) -> DisbursementOutcome:
    """Instruct the provider (outside any transaction) and apply its answer."""
    from plugins.errors import PluginError
    from plugins.runtime import current_host
    from plugins.types import PaymentResult
    from plugins.types import PaymentStatus as ProviderStatus

    loan = await Loan.get(id=payment.loan_id)  # type: ignore[attr-defined]
    await Payment.filter(id=payment.id).update(attempts=F("attempts") + 1)
    try:
        result = await current_host().disburse(payment.provider, _order(payment, loan.order_no))
    except PluginError as exc:  # timeout, crash, bad answer: the money may or may not have moved
        result = PaymentResult(payment.idempotency_key, ProviderStatus.UNKNOWN, reason=str(exc)[:200])
    return await apply_result(payment.id, result, actor)


async def apply_result(payment_id: int, result: Any, actor: Actor = SYSTEM) -> DisbursementOutcome:
    """Apply a provider's answer about a disbursement payment (idempotent: a final outcome applies once)."""
    from plugins.types import PaymentStatus as ProviderStatus

    payment = await Payment.get(id=payment_id)
    status = ProviderStatus(result.status)
    if PaymentStatus(payment.status) not in OPEN:
        return DisbursementOutcome(await Loan.get(id=payment.loan_id), payment)  # type: ignore[attr-defined]
    if status not in (ProviderStatus.SUCCEEDED, ProviderStatus.FAILED):
        await Payment.filter(id=payment.id, status__in=list(OPEN)).update(
            status=PaymentStatus.UNKNOWN if status is ProviderStatus.UNKNOWN else PaymentStatus.ACCEPTED,
            failure_reason=(result.reason or "")[:500], version=F("version") + 1)
        await _schedule_resolve(payment, f"a{payment.attempts + 1}", clock.now())
        await payment.refresh_from_db()
        return DisbursementOutcome(await Loan.get(id=payment.loan_id), payment)  # type: ignore[attr-defined]
    succeeded = status is ProviderStatus.SUCCEEDED
    settled_at = result.completed_at or clock.now()
    async with in_transaction():
        claimed = await Payment.filter(id=payment.id, version=payment.version, status__in=list(OPEN)).update(
            status=PaymentStatus.SUCCEEDED if succeeded else PaymentStatus.FAILED,
            serial_no=result.serial or None, provider_reference=(result.serial or "")[:100],
            failure_reason="" if succeeded else (result.reason or "failed")[:500], settled_at=settled_at,
            version=payment.version + 1)
        if claimed != 1:  # another applier (the resolve job, a concurrent resolve) got there first
            await payment.refresh_from_db()
            if PaymentStatus(payment.status) in OPEN:
                raise UserError.of("loanId", ErrorCode.STALE, "The payment changed meanwhile; try again")
            return DisbursementOutcome(await Loan.get(id=payment.loan_id), payment)  # type: ignore[attr-defined]
        await payment.refresh_from_db()
        loan = await Loan.get(id=payment.loan_id)  # type: ignore[attr-defined]
        if succeeded:
            await _succeeded(loan, payment, result, actor)
        else:
            await _failed(loan, payment, result.reason or "failed", actor)
        await enqueue(PAYMENT_SETTLED_JOB, {
            "event_id": f"payment:{payment.id}", "provider": payment.provider,
            "idempotency_key": payment.idempotency_key, "kind": "disburse", "amount": str(payment.amount),
            "status": payment.status, "settled_at": settled_at.isoformat(), "serial": payment.serial_no or "",
            "reference": loan.order_no}, dedupe_key=f"payment_settled:{payment.id}")
    return DisbursementOutcome(loan, payment)


async def _succeeded(loan: Loan, payment: Payment, result: Any, actor: Actor) -> None:
    day = business_date_of(result.completed_at)
    rate = await rate_on(loan, day)
    schedule = build_schedule(schedule_request(loan, rate.annual_rate, day))
    funders = await LoanFunder.filter(loan_id=loan.id).order_by("position", "id")
    await persist_schedule(LoanSchedule(loan.id, Decimal(loan.amount), day, schedule,
                                        [Funder(f.bank_id, Decimal(f.amount), Decimal(f.share)) for f in funders]))  # type: ignore[attr-defined]
    product = await Product.get(id=loan.product_id)  # type: ignore[attr-defined]
    signed = await Contract.filter(loan_id=loan.id).values_list("lpr_rate", flat=True)
    rate_moved = any(Decimal(r) != rate.lpr_percent for r in signed)
    now = clock.now()
    await states.transition(loan, LoanStatus.DISBURSED, actor=actor, reason=f"disbursement {payment.idempotency_key} "
                            f"succeeded (serial {payment.serial_no or '-'})",
                            changes={"lpr_rate": rate.lpr_percent, "annual_rate": rate.annual_rate,
                                     "disbursed_at": payment.settled_at or now, "disbursement_date": day,
                                     "maturity_date": schedule.installments[-1].due_date,
                                     "principal_outstanding": Decimal(loan.amount)})
    lead = funders[0]
    if result.amount is not None and Decimal(result.amount) != Decimal(payment.amount):
        await raise_alert("DISBURSEMENT_AMOUNT_MISMATCH",
                          f"放款 {payment.idempotency_key}: 支付平台金额 {result.amount} ≠ 指令金额 {payment.amount}",
                          source="loans",
                          detail={"paymentId": payment.id, "loanNo": loan.order_no})
    await ledger.append("loan.disbursed", {
        "loanNo": loan.order_no, "paymentKey": payment.idempotency_key, "serial": payment.serial_no or "",
        "provider": payment.provider, "amount": str(payment.amount), "debitAccount": payment.debit_account,
        "creditAccount": payment.credit_account, "disbursementDate": day.isoformat(),
        "lprRate": str(rate.lpr_percent), "spreadBp": rate.spread_bp, "annualRate": str(rate.annual_rate),
        "rateMovedSinceSigning": rate_moved, "marginFrozen": str(loan.margin_frozen),
        "funders": [{"bankId": f.bank_id, "share": str(f.share), "amount": str(f.amount)} for f in funders],  # type: ignore[attr-defined]
        "installments": len(schedule.installments), "totalInterest": str(schedule.total_interest)},
        initiator=actor, source=("Loan", loan.id), scope_bank_id=lead.bank_id,  # type: ignore[attr-defined]
        scope_product_id=loan.product_id)  # type: ignore[attr-defined]
    await oplog.record(actor, kind=actor.kind(), module="loans", action="disbursed",
                       summary=f"loan {loan.order_no} disbursed: {payment.amount} at {rate.annual_rate}",
                       detail={"loanNo": loan.order_no, "paymentKey": payment.idempotency_key,
                               "serial": payment.serial_no or "", "disbursementDate": day.isoformat()},
                       scope_bank_id=lead.bank_id, scope_product_id=loan.product_id)  # type: ignore[attr-defined]
    if product.disbursement_event_enabled:
        await enqueue(DISBURSED_EVENT_JOB, {"loanId": loan.id}, dedupe_key=f"disbursed:{loan.id}")
    if callbacks.wanted(product.disbursement_event_enabled, product.disbursement_callback_url):
        payload, key = callbacks.callback_message("loan.disbursed", f"disbursement:{loan.id}",
                                                  product.disbursement_callback_url, {
            "orderNo": loan.order_no, "channelOrderNo": loan.channel_order_no, "amount": str(payment.amount),
            "serialNo": payment.serial_no or "", "disbursedAt": (payment.settled_at or now).isoformat(),
            "disbursementDate": day.isoformat(), "annualRate": str(rate.annual_rate),
            "maturityDate": schedule.installments[-1].due_date.isoformat(),
            "installments": len(schedule.installments)})
        await enqueue(callbacks.CALLBACK_JOB, payload, dedupe_key=key)


async def _failed(loan: Loan, payment: Payment, reason: str, actor: Actor) -> None:
    await states.transition(loan, LoanStatus.CONTRACT_SIGNED, actor=actor,
                            reason=f"disbursement {payment.idempotency_key} failed: {reason}"[:500],
                            changes={"margin_frozen": Decimal("0.00")})
    product = await Product.get(id=loan.product_id)  # type: ignore[attr-defined]
    if product.check_margin and product.margin_account_id and loan.margin_reference:  # type: ignore[attr-defined]
        await margins.release(product.margin_account_id, Decimal(loan.amount), loan.margin_reference, actor,  # type: ignore[attr-defined]
                              repayment_ref=f"disb-failed:{payment.id}")
    lead = await _lead(loan)
    await oplog.record(actor, kind=actor.kind(), module="loans", action="disburse_failed",
                       summary=f"disbursement {payment.idempotency_key} of loan {loan.order_no} failed: {reason}",
                       detail={"loanNo": loan.order_no, "paymentKey": payment.idempotency_key, "reason": reason},
                       outcome="failed", scope_bank_id=lead.bank_id,  # type: ignore[attr-defined]
                       scope_product_id=loan.product_id)  # type: ignore[attr-defined]


async def resolve_payment(payment_id: int, actor: Actor = SYSTEM) -> DisbursementOutcome:
    """Find out what became of an open disbursement payment and apply it (the resolve job's work).

    An instruction the provider has no record of (we crashed before sending, or it was lost) is
    re-sent as it was — same key, same accounts — unless payments are paused in the console.
    """
    from plugins.errors import PluginError
    from plugins.runtime import current_host
    from plugins.types import PaymentResult
    from plugins.types import PaymentStatus as ProviderStatus

    payment = await Payment.get(id=payment_id)
    if PaymentStatus(payment.status) not in OPEN:
        return DisbursementOutcome(await Loan.get(id=payment.loan_id), payment)  # type: ignore[attr-defined]
    try:
        result = await current_host().payment_status(payment.provider, payment.idempotency_key)
    except PluginError as exc:
        result = PaymentResult(payment.idempotency_key, ProviderStatus.UNKNOWN, reason=str(exc)[:200])
    if result.status is ProviderStatus.UNKNOWN and result.reason_code == "NOT_FOUND" and await switch(
            SwitchKey.PAYMENTS):
        return await _send(payment, actor)
    if result.status in (ProviderStatus.SUCCEEDED, ProviderStatus.FAILED):
        return await apply_result(payment.id, result, actor)
    await Payment.filter(id=payment.id, status__in=list(OPEN)).update(attempts=F("attempts") + 1)
    await payment.refresh_from_db()
    return DisbursementOutcome(await Loan.get(id=payment.loan_id), payment)  # type: ignore[attr-defined]


async def resolve_loan(actor: Actor, loan_id: int, *, scope: DataScope = EVERYTHING) -> DisbursementOutcome:
    """`resolveLoanPayment`: chase the loan's open disbursement payment now."""
    loan = await _loan(scope, loan_id)
    payment = await Payment.filter(loan_id=loan.id, kind=PaymentKind.DISBURSEMENT, status__in=list(OPEN)
                                   ).order_by("-id").first()
    if payment is None:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, f"The loan ({loan.status}) has no open disbursement "
                           "payment to resolve")
    return await resolve_payment(payment.id, actor)
