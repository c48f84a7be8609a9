"""Disbursement: exactly once under concurrency and unknown outcomes, margin, rate fixing, schedules, events."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from core import clock
from core.actor import SYSTEM
from core.contracts.signing import sign_contracts
from core.errors import ErrorCode, UserError
from core.ledger.models import LedgerTransaction
from core.loans import disbursement
from core.loans.disbursement import RESOLVE_JOB, disburse, resolve_loan
from core.loans.models import (
    InstallmentFunderPart,
    Loan,
    LoanInstallment,
    LoanStatus,
    Payment,
    PaymentStatus,
)
from core.loans.queries import installment_parts
from core.orgs.models import MarginAccount, MarginMovement
from core.outbox.models import OutboxMessage, OutboxStatus
from core.outbox.service import Delivery, deliver
from core.products.models import LprRate, LprTerm
from core.system.switches import SwitchKey, set_switch
from permissions.scope import EVERYTHING
from plugins.builtin.sandbox_pay import SandboxOutcome
from plugins.types import PaymentResult
from plugins.types import PaymentStatus as ProviderStatus
from tests.loans.lending import (
    ADMIN,
    World,
    approved_loan,
    balance,
    make_product,
    make_world,
    sandbox,
    standard_templates,
)

pytestmark = pytest.mark.usefixtures("db")
START = Decimal("10000000.00")


async def signed_loan(world: World, **product: Any) -> Loan:
    loan_kw = {k: product.pop(k) for k in ("amount", "term") if k in product}
    prod = await make_product(world, **product)
    loan = await approved_loan(world, prod, **loan_kw)
    if not await LedgerTransaction.filter(tx_type="contract.signed").exists():
        from core.contracts.models import ContractTemplate

        if not await ContractTemplate.exists():
            await standard_templates()
    await sign_contracts(ADMIN, loan.id)
    return await Loan.get(id=loan.id)


async def resolve_jobs() -> list[Delivery]:
    """Run every pending resolve job now (as the worker would once they are due)."""
    ids = await OutboxMessage.filter(job=RESOLVE_JOB, status=OutboxStatus.PENDING).order_by("id").values_list(
        "id", flat=True)
    return [await deliver(i) for i in ids]


async def test_a_disbursement_pays_out_fixes_the_rate_and_persists_the_schedule() -> None:
    world = await make_world()
    loan = await signed_loan(world, amount="12000.00", term=12)
    async with sandbox() as host:
        outcome = await disburse(ADMIN, loan.id)
        assert outcome.status is PaymentStatus.SUCCEEDED
        assert await balance(host, "DISB-001") == START - Decimal("12000.00")
        assert await balance(host, loan.disbursement_account) == Decimal("12000.00")
    loan = await Loan.get(id=loan.id)
    assert loan.status == LoanStatus.DISBURSED
    assert loan.annual_rate == Decimal("0.0495") and loan.lpr_rate == Decimal("3.4500")
    assert loan.principal_outstanding == Decimal("12000.00")
    assert loan.disbursement_date == clock.business_today() and loan.disbursed_at is not None
    payment = await Payment.get(loan_id=loan.id)
    assert payment.idempotency_key == f"disb:{loan.order_no}" and payment.serial_no
    assert (payment.debit_account, payment.credit_account) == ("DISB-001", loan.disbursement_account)
    rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    assert len(rows) == 12 and sum(r.principal for r in rows) == Decimal("12000.00")
    assert rows[0].start_date == loan.disbursement_date and loan.maturity_date == rows[-1].due_date
    # A sole funder holds each installment whole: no part rows, the parts read as the installments.
    assert not await InstallmentFunderPart.filter(loan_id=loan.id).exists()
    parts = await installment_parts(EVERYTHING, [loan.id])
    assert [(p.number, p.bank_id, p.principal, p.interest) for p in parts] == [
        (r.number, world.lead.id, r.principal, r.interest) for r in rows]
    tx = await LedgerTransaction.get(tx_type="loan.disbursed")
    body = json.loads(tx.payload)
    assert body["paymentKey"] == payment.idempotency_key and body["amount"] == "12000.00"
    assert body["rateMovedSinceSigning"] is False
    assert (tx.scope_bank_id, tx.scope_product_id) == (world.lead.id, loan.product_id)  # type: ignore[attr-defined]
    assert await OutboxMessage.filter(job="plugins.payment_settled").count() == 1


async def test_the_rate_is_the_lpr_in_force_on_the_disbursement_date() -> None:
    world = await make_world()
    loan = await signed_loan(world)
    await LprRate.create(term=LprTerm.ONE_YEAR, rate=Decimal("3.1000"), effective_from=clock.business_today())
    async with sandbox():
        await disburse(ADMIN, loan.id)
    loan = await Loan.get(id=loan.id)
    assert loan.lpr_rate == Decimal("3.1000") and loan.annual_rate == Decimal("0.0460")
    body = json.loads((await LedgerTransaction.get(tx_type="loan.disbursed")).payload)
    assert body["rateMovedSinceSigning"] is True and body["annualRate"] == "0.046000"


async def test_fifty_concurrent_calls_move_money_once(backend: str) -> None:
    world = await make_world()
    loan = await signed_loan(world, amount="5000.00")
    async with sandbox(latency_ms=20) as host:
        results = await asyncio.gather(*(disburse(ADMIN, loan.id) for _ in range(50)), return_exceptions=True)
        ok = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, UserError)]
        assert len(ok) == 1 and len(refused) == 49, [r for r in results if isinstance(r, Exception)
                                                     and not isinstance(r, UserError)]
        assert {r.code for r in refused} <= {ErrorCode.INVALID_STATE, ErrorCode.STALE}
        assert await balance(host, "DISB-001") == START - Decimal("5000.00")
        assert await balance(host, loan.disbursement_account) == Decimal("5000.00")
    assert await Payment.filter(loan_id=loan.id).count() == 1
    assert (await Loan.get(id=loan.id)).status == LoanStatus.DISBURSED
    assert await LoanInstallment.filter(loan_id=loan.id).count() == 12


async def test_a_repeated_call_is_refused_naming_the_payment() -> None:
    world = await make_world()
    loan = await signed_loan(world)
    async with sandbox() as host:
        await disburse(ADMIN, loan.id)
        with pytest.raises(UserError) as err:
            await disburse(ADMIN, loan.id)
        assert err.value.code is ErrorCode.INVALID_STATE and f"disb:{loan.order_no}" in err.value.errors[0].message
        assert await balance(host, "DISB-001") == START - loan.amount


async def test_unknown_outcome_stays_unknown_until_the_status_query_resolves_it() -> None:
    world = await make_world()
    loan = await signed_loan(world, amount="3000.00")
    async with sandbox() as host:
        host.plugin("sandbox_pay").force_next(SandboxOutcome.UNKNOWN)
        outcome = await disburse(ADMIN, loan.id)
        assert outcome.status is PaymentStatus.UNKNOWN
        assert (await Loan.get(id=loan.id)).status == LoanStatus.DISBURSING
        assert await LoanInstallment.filter(loan_id=loan.id).count() == 0
        with pytest.raises(UserError):  # no second instruction while the first is open
            await disburse(ADMIN, loan.id)
        deliveries = await resolve_jobs()
        assert Delivery.DONE in deliveries
        assert await balance(host, "DISB-001") == START - Decimal("3000.00")  # moved once, by the first call
    payment = await Payment.get(loan_id=loan.id)
    assert payment.status == PaymentStatus.SUCCEEDED and payment.attempts == 1
    assert (await Loan.get(id=loan.id)).status == LoanStatus.DISBURSED
    assert await LoanInstallment.filter(loan_id=loan.id).count() == 12


async def test_a_timeout_is_unknown_and_is_resolved_by_resolve_loan_payment() -> None:
    world = await make_world()
    loan = await signed_loan(world, amount="2500.00")
    async with sandbox(hang_seconds=3) as host:
        host.plugin("sandbox_pay").force_next(SandboxOutcome.TIMEOUT)
        outcome = await disburse(ADMIN, loan.id)
        assert outcome.status is PaymentStatus.UNKNOWN and "no answer" in outcome.payment.failure_reason
        resolved = await resolve_loan(ADMIN, loan.id)
        assert resolved.status is PaymentStatus.SUCCEEDED
        assert await balance(host, "DISB-001") == START - Decimal("2500.00")
        assert (await resolve_jobs()) and await balance(host, "DISB-001") == START - Decimal("2500.00")
    with pytest.raises(UserError) as err:
        await resolve_loan(ADMIN, loan.id)
    assert err.value.code is ErrorCode.INVALID_STATE


async def test_retries_with_unknown_outcomes_move_money_exactly_once_per_loan(monkeypatch: pytest.MonkeyPatch) -> None:
    world = await make_world()
    loans = [await signed_loan(world, code=f"P{i}", amount=f"{1000 + i}.00") for i in range(8)]
    async with sandbox(unknown_rate=0.6, seed=7) as host:
        real_status = host.payment_status
        unanswered = {"left": 5}

        async def flaky_status(provider: str, key: str) -> PaymentResult:
            if unanswered["left"] > 0:  # the provider itself cannot tell yet, five times
                unanswered["left"] -= 1
                return PaymentResult(key, ProviderStatus.UNKNOWN, reason="still processing")
            return await real_status(provider, key)

        monkeypatch.setattr(host, "payment_status", flaky_status)
        outcomes = [await disburse(ADMIN, loan.id) for loan in loans]
        assert any(o.status is PaymentStatus.UNKNOWN for o in outcomes)
        retried = False
        for _ in range(10):  # the worker's rounds; still-unknown deliveries are retried with backoff
            deliveries = await resolve_jobs()
            retried = retried or Delivery.RETRY in deliveries
            if not await Payment.filter(status__in=["unknown", "pending", "accepted"]).exists():
                break
        assert retried
        total = sum(Decimal(loan.amount) for loan in loans)
        assert await balance(host, "DISB-001") == START - total
        for loan in loans:
            assert await balance(host, loan.disbursement_account) == loan.amount
    assert await Payment.filter(status=PaymentStatus.SUCCEEDED).count() == 8
    assert await Loan.filter(status=LoanStatus.DISBURSED).count() == 8
    assert await LedgerTransaction.filter(tx_type="loan.disbursed").count() == 8


async def test_a_crash_before_the_provider_call_is_recovered_by_the_safety_net(
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = await make_world()
    loan = await signed_loan(world, amount="1800.00")

    async def crash(payment: Payment, actor: Any) -> Any:
        raise RuntimeError("process died")

    async with sandbox() as host:
        real_send = disbursement._send
        monkeypatch.setattr(disbursement, "_send", crash)
        with pytest.raises(RuntimeError):
            await disburse(ADMIN, loan.id)
        monkeypatch.setattr(disbursement, "_send", real_send)
        payment = await Payment.get(loan_id=loan.id)
        assert payment.status == PaymentStatus.PENDING
        job = await OutboxMessage.get(job=RESOLVE_JOB)
        assert job.available_at > clock.now() + timedelta(seconds=30)  # not before the call had its chance
        assert await resolve_jobs() == [Delivery.DONE]
        assert await balance(host, "DISB-001") == START - Decimal("1800.00")
    assert (await Loan.get(id=loan.id)).status == LoanStatus.DISBURSED


async def test_a_declined_disbursement_goes_back_to_signed_and_may_be_retried_with_a_new_key() -> None:
    world = await make_world()
    loan = await signed_loan(world, check_margin=True, amount="20000.00")
    async with sandbox() as host:
        host.plugin("sandbox_pay").force_next(SandboxOutcome.DECLINE)
        first = await disburse(ADMIN, loan.id)
        assert first.status is PaymentStatus.FAILED and "declined" in first.payment.failure_reason
        reloaded = await Loan.get(id=loan.id)
        assert reloaded.status == LoanStatus.CONTRACT_SIGNED and reloaded.margin_frozen == 0
        assert (await MarginAccount.get(id=world.margin.id)).frozen == Decimal("0.00")
        assert await balance(host, "DISB-001") == START
        second = await disburse(ADMIN, loan.id)
        assert second.status is PaymentStatus.SUCCEEDED
        assert second.payment.idempotency_key == f"disb:{loan.order_no}:2"
        assert await balance(host, "DISB-001") == START - Decimal("20000.00")
    reloaded = await Loan.get(id=loan.id)
    assert reloaded.margin_frozen == Decimal("2000.00") and reloaded.margin_reference == f"{loan.order_no}#2"
    assert (await MarginAccount.get(id=world.margin.id)).frozen == Decimal("2000.00")


async def test_short_margin_is_refused_before_any_money_moves() -> None:
    world = await make_world(margin_balance="1000.00")
    loan = await signed_loan(world, check_margin=True, amount="20000.00")  # needs 2,000 frozen
    async with sandbox() as host:
        with pytest.raises(UserError) as err:
            await disburse(ADMIN, loan.id)
        assert err.value.code is ErrorCode.INVALID_STATE and "margin" in err.value.errors[0].message.lower()
        assert await balance(host, "DISB-001") == START
    assert (await Loan.get(id=loan.id)).status == LoanStatus.CONTRACT_SIGNED
    assert await Payment.all().count() == 0 and await MarginMovement.filter(kind="freeze").count() == 0


async def test_the_payments_switch_pauses_disbursement() -> None:
    world = await make_world()
    loan = await signed_loan(world)
    await set_switch(SYSTEM, SwitchKey.PAYMENTS, False)
    async with sandbox() as host:
        with pytest.raises(UserError) as err:
            await disburse(ADMIN, loan.id)
        assert "paused" in err.value.errors[0].message
        assert await balance(host, "DISB-001") == START
    assert (await Loan.get(id=loan.id)).status == LoanStatus.CONTRACT_SIGNED


async def test_only_a_signed_loan_is_disbursed() -> None:
    world = await make_world()
    loan = await approved_loan(world, await make_product(world))
    async with sandbox():
        with pytest.raises(UserError) as err:
            await disburse(ADMIN, loan.id)
    assert err.value.code is ErrorCode.INVALID_STATE and err.value.errors[0].field == "loanId"


async def test_the_disbursement_event_texts_the_borrower_after_commit() -> None:
    world = await make_world()
    loan = await signed_loan(world, disbursement_event=True, amount="6600.00")
    async with sandbox() as host:
        await disburse(ADMIN, loan.id)
        job = await OutboxMessage.get(job="loans.disbursement_event")
        assert await deliver(job.id) is Delivery.DONE
        customer = await loan.customer
        sent = host.plugin("sandbox_sms").sent_to(customer.phone)
        assert len(sent) == 1 and loan.order_no in sent[0].text and "6600.00" in sent[0].text
        settled = await OutboxMessage.get(job="plugins.payment_settled")
        assert await deliver(settled.id) is Delivery.DONE


async def test_a_platform_no_plugin_serves_is_refused_before_anything_is_written() -> None:
    world = await make_world()
    loan = await signed_loan(world)
    await world.platform.__class__.filter(id=world.platform.id).update(identifier="nobody")
    async with sandbox():
        with pytest.raises(UserError) as err:
            await disburse(ADMIN, loan.id)
    assert err.value.code is ErrorCode.INVALID_STATE and "nobody" in err.value.errors[0].message
    assert await Payment.all().count() == 0
    assert (await Loan.get(id=loan.id)).status == LoanStatus.CONTRACT_SIGNED
