"""Deductions through the payment provider, unknown outcomes, signed callbacks, SMS, the payments switch."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core import clock
from core.actor import SYSTEM
from core.errors import ErrorCode, UserError
from core.loans import deduction
from core.loans.models import (
    InstallmentStatus,
    LoanStatus,
    Payment,
    PaymentStatus,
    Repayment,
    RepaymentKind,
    RepaymentSource,
)
from core.outbox.models import OutboxMessage, OutboxStatus
from core.outbox.service import Delivery, deliver
from core.products.models import Product
from core.system.switches import SwitchKey, set_switch
from plugins.builtin.sandbox_pay import SandboxOutcome
from plugins.builtin.signing import signed_headers
from plugins.runtime import using_host
from plugins.testkit import running_host
from tests.loans.factories import installments, make_loan, make_world

D = Decimal
CALLBACK_SECRET = "sandbox-callback-secret"


@asynccontextmanager
async def sandbox(**settings: Any) -> AsyncIterator[Any]:
    config = {"plugins": {"sandbox_pay": {"identifier": "sandbox", **settings}, "sandbox_sms": {}},
              "timeouts": {"payment": 1}}
    async with running_host(config) as (host, _):
        host.plugin("sandbox_pay").clock = clock.now  # the provider lives on the test's travelled clock
        with using_host(host):
            yield host


def pay(host: Any) -> Any:
    return host.plugin("sandbox_pay")


async def balance(host: Any, account: str) -> Decimal:
    return (await host.balance("sandbox", account)).available


async def due_loan(mark: str, **product: Any) -> Any:
    world = await make_world(mark, **product)
    loan = await make_loan(world, amount="12000.00", term=12, start=date(2026, 1, 15))
    first = (await installments(loan))[0]
    clock.travel(datetime(2026, 2, 15, 4, tzinfo=UTC) - clock.now())  # the first due date, noon in Shanghai
    return world, loan, first


async def run_jobs(job: str) -> list[Delivery]:
    ids = await OutboxMessage.filter(job=job, status=OutboxStatus.PENDING).order_by("id").values_list("id", flat=True)
    return [await deliver(i) for i in ids]


async def test_a_deduction_collects_what_is_due_and_posts_the_repayment(db):
    world, loan, first = await due_loan("DED")
    due = first.principal + first.interest
    async with sandbox() as host:
        pay(host).deposit(loan.disbursement_account, D("5000.00"))
        payment = await deduction.deduct(SYSTEM, loan.id)
        assert payment.status is PaymentStatus.SUCCEEDED and payment.amount == due
        assert payment.idempotency_key == f"deduct:{loan.order_no}:0:20260215"
        assert await balance(host, loan.disbursement_account) == D("5000.00") - due
        assert await balance(host, f"REPAY-{world.banks[0].code}") == due
        repayment = await Repayment.get(payment_id=payment.id)
        assert repayment.serial_no == payment.serial_no and repayment.serial_no.startswith("SBX")
        assert repayment.source is RepaymentSource.DEDUCTION and repayment.kind is RepaymentKind.REGULAR
        with pytest.raises(UserError) as err:  # paid: nothing left to collect today
            await deduction.deduct(SYSTEM, loan.id)
        assert err.value.code is ErrorCode.INVALID_STATE
        assert await balance(host, loan.disbursement_account) == D("5000.00") - due
    assert (await installments(loan))[0].status is InstallmentStatus.PAID


async def test_insufficient_funds_is_a_recorded_failure(db):
    _, loan, _ = await due_loan("POOR")
    async with sandbox() as host:
        payment = await deduction.deduct(SYSTEM, loan.id, installment_number=1)
        pay(host).deposit(loan.disbursement_account, D("5000.00"))
        again = await deduction.deduct(SYSTEM, loan.id, installment_number=1)  # same day: the same attempt
        assert again.id == payment.id and again.status is PaymentStatus.FAILED
        assert await balance(host, loan.disbursement_account) == D("5000.00")
    assert payment.status is PaymentStatus.FAILED and "insufficient" in payment.failure_reason
    assert await Payment.filter(loan_id=loan.id).count() == 1
    assert not await Repayment.filter(loan_id=loan.id).exists()


async def test_the_payments_switch_pauses_deductions(db):
    _, loan, _ = await due_loan("SWITCH")
    await set_switch(SYSTEM, SwitchKey.PAYMENTS, False)
    async with sandbox():
        with pytest.raises(UserError) as err:
            await deduction.deduct(SYSTEM, loan.id)
    assert err.value.code is ErrorCode.INVALID_STATE and "paused" in err.value.errors[0].message
    assert not await Payment.exists()


async def test_unknown_is_resolved_by_the_status_job_and_posted_once(db):
    _world, loan, _first = await due_loan("UNK")
    async with sandbox() as host:
        pay(host).deposit(loan.disbursement_account, D("5000.00"))
        pay(host).force_next(SandboxOutcome.UNKNOWN)
        payment = await deduction.deduct(SYSTEM, loan.id)
        assert payment.status is PaymentStatus.UNKNOWN
        assert not await Repayment.exists()
        assert await run_jobs(deduction.RESOLVE_JOB) == [Delivery.DONE]
        await payment.refresh_from_db()
        assert payment.status is PaymentStatus.SUCCEEDED
        assert await Repayment.filter(payment_id=payment.id).count() == 1
        # the provider's callback for the same payment arrives late: accepted, nothing posted twice
        [callback] = pay(host).drain_callbacks()
        outcome = await deduction.handle_callback("sandbox", callback.method, callback.path, dict(callback.headers),
                                                  callback.body)
        assert outcome.http_status == 200
        assert await Repayment.filter(loan_id=loan.id).count() == 1


async def test_a_timeout_stays_unknown_and_is_never_guessed(db):
    _, loan, _ = await due_loan("HANG")
    async with sandbox(hang_seconds=5) as host:
        pay(host).force_next(SandboxOutcome.TIMEOUT)  # executes, then the answer is lost
        pay(host).deposit(loan.disbursement_account, D("5000.00"))
        payment = await deduction.deduct(SYSTEM, loan.id)
        assert payment.status is PaymentStatus.UNKNOWN
        await run_jobs(deduction.RESOLVE_JOB)
        await payment.refresh_from_db()
        assert payment.status is PaymentStatus.SUCCEEDED  # the status query found the truth


async def test_callbacks_over_http_verified_idempotent_and_forgeries_refused(db, client):
    _, loan, _first = await due_loan("CB")
    async with sandbox() as host:
        pay(host).deposit(loan.disbursement_account, D("5000.00"))
        pay(host).force_next(SandboxOutcome.UNKNOWN)
        payment = await deduction.deduct(SYSTEM, loan.id)
        assert payment.status is PaymentStatus.UNKNOWN
        [callback] = pay(host).drain_callbacks()
        path = "/callbacks/payments/sandbox"
        assert callback.path == path
        tampered = callback.body.replace(b'"succeeded"', b'"failed"')
        forged_headers = {**callback.headers, "x-lendline-signature": "ab" * 32}
        now = int(clock.now().timestamp())
        wrong_secret = signed_headers("not-the-secret", "POST", path, callback.body, timestamp=now)
        refused = [
            await client.post(path, content=callback.body, headers=forged_headers),
            await client.post(path, content=tampered, headers=dict(callback.headers)),
            await client.post(path, content=callback.body, headers=wrong_secret),
            await client.post(path, content=b"not json at all", headers={}),
        ]
        assert [r.status_code for r in refused] == [401, 401, 401, 401]
        assert [r.json()["message"].split(": ", 1)[1] for r in refused] == [
            "bad signature", "bad signature", "bad signature", "missing signature headers"]
        assert not await Repayment.exists()
        good = await client.post(path, content=callback.body, headers=dict(callback.headers))
        assert good.status_code == 200, good.text
        assert good.json()["serial"] == json.loads(callback.body)["serial"]
        replay = await client.post(path, content=callback.body, headers=dict(callback.headers))
        assert replay.status_code == 401  # the same signed message again (replayed nonce)
        fresh = signed_headers(CALLBACK_SECRET, "POST", path, callback.body, timestamp=now)  # re-sent, newly signed
        resent = await client.post(path, content=callback.body, headers=fresh)
        assert resent.status_code == 200
        unknown = await client.post("/callbacks/payments/nobody", content=callback.body, headers=fresh)
        assert unknown.status_code == 404
    assert await Repayment.filter(loan_id=loan.id).count() == 1
    await payment.refresh_from_db()
    assert payment.status is PaymentStatus.SUCCEEDED


async def test_callbacks_without_a_running_host_answer_503_not_500(db, client):
    r = await client.post("/callbacks/payments/sandbox", content=b"{}")
    assert r.status_code == 503


async def test_early_settlement_collected_by_deduction(db):
    _, loan, _ = await due_loan("SETTLE")
    async with sandbox() as host:
        pay(host).deposit(loan.disbursement_account, D("20000.00"))
        payment = await deduction.settle_early(SYSTEM, loan.id, collect=True)
        assert payment.status is PaymentStatus.SUCCEEDED
        assert payment.idempotency_key.startswith("settle:")
    repayment = await Repayment.get(payment_id=payment.id)
    assert repayment.kind is RepaymentKind.EARLY_SETTLEMENT
    await loan.refresh_from_db()
    assert loan.status is LoanStatus.SETTLED
    rows = await installments(loan)
    assert rows[0].status is InstallmentStatus.SETTLED_EARLY  # due today: the current installment
    assert all(i.status is InstallmentStatus.SETTLED_EARLY for i in rows)


async def test_repayment_sms_goes_through_the_outbox(db):
    world, loan, _first = await due_loan("SMS", deduction_event_enabled=True, deduction_send_sms=True,
                                        deduction_event_key="repay")
    assert await Product.filter(id=world.product.id, deduction_send_sms=True).exists()
    async with sandbox() as host:
        pay(host).deposit(loan.disbursement_account, D("5000.00"))
        payment = await deduction.deduct(SYSTEM, loan.id)
        repayment = await Repayment.get(payment_id=payment.id)
        assert await run_jobs("repayments.send_sms") == [Delivery.DONE]
        sent = host.plugin("sandbox_sms").sent
        assert len(sent) == 1 and sent[0].template == "repayment_succeeded"
        assert sent[0].params["amount"] == str(repayment.amount)
        assert sent[0].params["loan_no"] == loan.order_no


async def test_http_pay_callbacks_signed_by_the_gateway_are_applied_and_forgeries_refused(db, client):
    """http_pay's own signing (the fake gateway signs like a real one), through the platform's route."""
    import time

    from plugins.testkit import FakeGateway, serve_in_thread
    from plugins.types import PaymentOrder

    world = await make_world("HTTPCB", platform_identifier="http")
    today = clock.business_today()
    loan = await make_loan(world, amount="1200.00", term=3, start=today - timedelta(days=35))
    fake = FakeGateway({"M001": "gw-secret"}, callback_secret="cb-secret",
                       balances={loan.disbursement_account: D("5000.00")})
    path = "/callbacks/payments/http"
    with serve_in_thread(fake.app) as url:
        config = {"plugins": {"http_pay": {"base_url": url, "merchant_id": "M001", "secret": "env:GW",
                                           "callback_secret": "env:CB", "request_timeout": 2}},
                  "timeouts": {"payment": 3}}
        async with running_host(config, env={"GW": "gw-secret", "CB": "cb-secret"}) as (host, _):
            with using_host(host):
                first = (await installments(loan))[0]
                amount = first.principal + first.interest
                key = f"deduct:{loan.order_no}:1:{today:%Y%m%d}"
                # we sent the instruction and lost the answer: the payment is unknown on our side
                await Payment.create(kind="deduction", loan=loan, product=world.product, idempotency_key=key,
                                     provider="http", amount=amount, status=PaymentStatus.UNKNOWN,
                                     business_date=today, requested_at=clock.now())
                await host.deduct("http", PaymentOrder(key, amount, loan.disbursement_account,
                                                       f"REPAY-{world.banks[0].code}"))
                headers, body = fake.make_callback(key, path)
                forged = {**headers, "x-lendline-signature": "00" * 32}
                other_headers, other_body = fake.make_callback(key, path, merchant_id="M999")
                stale_headers, _ = fake.make_callback(key, path, timestamp=int(time.time()) - 3600)
                refused = [await client.post(path, content=body, headers=forged),
                           await client.post(path, content=other_body, headers=other_headers),
                           await client.post(path, content=body, headers=stale_headers)]
                assert [r.status_code for r in refused] == [401, 401, 401]
                assert not await Repayment.exists()
                ok = await client.post(path, content=body, headers=headers)
                assert ok.status_code == 200, ok.text
                again_headers, again_body = fake.make_callback(key, path)
                again = await client.post(path, content=again_body, headers=again_headers)
                assert again.status_code == 200
    assert await Repayment.filter(loan_id=loan.id).count() == 1
    payment = await Payment.get(idempotency_key=key)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert (await installments(loan))[0].status is InstallmentStatus.PAID


async def test_a_crash_before_the_provider_answered_is_swept_and_resolved(db):
    _, loan, first = await due_loan("CRASH")
    amount = first.principal + first.interest
    async with sandbox() as host:
        pay(host).deposit(loan.disbursement_account, D("5000.00"))
        key_sent = f"deduct:{loan.order_no}:1:20260215"
        key_lost = f"deduct:{loan.order_no}:2:20260215"
        sent = await Payment.create(kind="deduction", loan=loan, product_id=loan.product_id, idempotency_key=key_sent,
                                    provider="sandbox", amount=amount, status=PaymentStatus.PENDING,
                                    business_date=date(2026, 2, 15), requested_at=clock.now())
        lost = await Payment.create(kind="deduction", loan=loan, product_id=loan.product_id, idempotency_key=key_lost,
                                    provider="sandbox", amount=D("10.00"), status=PaymentStatus.PENDING,
                                    business_date=date(2026, 2, 15), requested_at=clock.now())
        from plugins.types import PaymentOrder

        await host.deduct("sandbox", PaymentOrder(key_sent, amount, loan.disbursement_account, "REPAY-X"))
        assert await deduction.sweep_stale() == []  # too young: the call may still be in flight
        clock.travel(timedelta(minutes=11))
        assert await deduction.sweep_stale() == [sent.id, lost.id]
        assert await run_jobs(deduction.RESOLVE_JOB) == [Delivery.DONE, Delivery.DONE]
    await sent.refresh_from_db()
    await lost.refresh_from_db()
    assert sent.status is PaymentStatus.SUCCEEDED and lost.status is PaymentStatus.FAILED
    assert await Repayment.filter(loan_id=loan.id).count() == 1
