"""sandbox_pay: virtual accounts, honest idempotency, failure injection, statements, callbacks."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from plugins import PluginFailure, PluginTimeout
from plugins.builtin.sandbox_pay import SandboxOutcome
from plugins.testkit import assert_idempotent, make_order, running_host
from plugins.types import PaymentKind, PaymentStatus, RawCallback

SHANGHAI = ZoneInfo("Asia/Shanghai")


def sandbox(**settings) -> dict:
    return {"plugins": {"sandbox_pay": settings}, "timeouts": {"payment": 1}}


async def balance(host, account: str) -> Decimal:
    return (await host.balance("sandbox", account)).available


async def test_disburse_then_deduct_moves_money_between_virtual_accounts():
    async with running_host(sandbox()) as (host, incidents):
        paid = await host.disburse("sandbox", make_order(amount=Decimal("5000.00"), credit_account="BORROWER-1"))
        back = await host.deduct("sandbox", make_order(amount=Decimal("1200.00"), debit_account="BORROWER-1",
                                                       credit_account="REPAY-001"))
        assert (paid.status, back.status) == (PaymentStatus.SUCCEEDED, PaymentStatus.SUCCEEDED)
        assert paid.serial.startswith("SBX") and paid.completed_at is not None
        assert await balance(host, "DISB-001") == Decimal("9995000.00")
        assert await balance(host, "BORROWER-1") == Decimal("3800.00")
        assert await balance(host, "REPAY-001") == Decimal("1200.00")
    assert incidents.incidents == []


async def test_insufficient_funds_and_declined_accounts_fail_without_moving_money():
    async with running_host(sandbox(decline_accounts=["BORROWER-BLOCKED"])) as (host, _):
        short = await host.deduct("sandbox", make_order(debit_account="BORROWER-EMPTY", credit_account="REPAY-001"))
        declined = await host.disburse("sandbox", make_order(credit_account="BORROWER-BLOCKED"))
        assert short.status is PaymentStatus.FAILED and short.reason_code == "INSUFFICIENT_FUNDS"
        assert declined.status is PaymentStatus.FAILED and "BORROWER-BLOCKED" in declined.reason
        assert await balance(host, "DISB-001") == Decimal("10000000.00")


async def test_fifty_concurrent_repeats_make_one_payment():
    async with running_host(sandbox(latency_ms=5)) as (host, _):
        order = make_order(amount=Decimal("777.77"))
        result = await assert_idempotent(host, "sandbox", order, repeats=50)
        assert result.status is PaymentStatus.SUCCEEDED
        assert await balance(host, "DISB-001") == Decimal("10000000.00") - Decimal("777.77")
        assert await balance(host, "BORROWER-0001") == Decimal("777.77")


async def test_repeat_after_a_failure_replays_the_failure():
    async with running_host(sandbox()) as (host, _):
        order = make_order(debit_account="BORROWER-EMPTY", credit_account="REPAY-001")
        result = await assert_idempotent(host, "sandbox", order, kind=PaymentKind.DEDUCT, repeats=10)
        assert result.status is PaymentStatus.FAILED


async def test_same_key_with_other_parameters_is_refused():
    async with running_host(sandbox()) as (host, incidents):
        order = make_order()
        await host.disburse("sandbox", order)
        with pytest.raises(PluginFailure, match="IdempotencyConflict"):
            await host.disburse("sandbox", replace(order, amount=Decimal("2.00")))
        assert await balance(host, "DISB-001") == Decimal("9999000.00")
    assert incidents.kinds() == [("sandbox_pay", "lendline_payment_disburse", "failure")]


async def test_unknown_outcome_resolves_to_the_truth_on_query():
    async with running_host(sandbox()) as (host, _):
        host.plugin("sandbox_pay").force_next(SandboxOutcome.UNKNOWN)
        order = make_order()
        first = await host.disburse("sandbox", order)
        assert first.status is PaymentStatus.UNKNOWN
        truth = await host.payment_status("sandbox", order.idempotency_key)
        assert truth.status is PaymentStatus.SUCCEEDED and truth.amount == order.amount
        assert await balance(host, "DISB-001") == Decimal("9999000.00")


async def test_timeout_outcome_executes_then_hangs_past_the_host_timeout():
    async with running_host(sandbox(hang_seconds=10)) as (host, incidents):
        host.plugin("sandbox_pay").force_next(SandboxOutcome.TIMEOUT)
        order = make_order()
        with pytest.raises(PluginTimeout):
            await host.disburse("sandbox", order)
        assert (await host.payment_status("sandbox", order.idempotency_key)).status is PaymentStatus.SUCCEEDED
        again = await host.disburse("sandbox", order)  # a retry with the same key is safe and answers now
        assert again.status is PaymentStatus.SUCCEEDED
        assert await balance(host, "DISB-001") == Decimal("9999000.00")
    assert [i.kind for i in incidents.incidents] == ["timeout"]


async def test_decline_injection_and_unknown_key_query():
    async with running_host(sandbox()) as (host, _):
        host.plugin("sandbox_pay").force_next("decline")
        declined = await host.disburse("sandbox", make_order())
        assert declined.status is PaymentStatus.FAILED and declined.reason_code == "DECLINED"
        missing = await host.payment_status("sandbox", "never-sent")
        assert missing.status is PaymentStatus.UNKNOWN and missing.reason_code == "NOT_FOUND"


async def test_seeded_failure_injection_is_deterministic():
    async def outcomes() -> list[PaymentStatus]:
        async with running_host(sandbox(seed=42, fail_rate=0.3, unknown_rate=0.3)) as (host, _):
            return [(await host.disburse("sandbox", make_order())).status for _ in range(30)]

    first, second = await outcomes(), await outcomes()
    assert first == second
    assert {PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.UNKNOWN} <= set(first)


async def test_delayed_settlement_answers_accepted_then_settles():
    async with running_host(sandbox(settle_delay_ms=50)) as (host, _):
        order = make_order()
        accepted = await host.disburse("sandbox", order)
        assert accepted.status is PaymentStatus.ACCEPTED and accepted.completed_at is None
        assert await balance(host, "DISB-001") == Decimal("9999000.00")  # held at once
        await asyncio.sleep(0.08)
        settled = await host.payment_status("sandbox", order.idempotency_key)
        assert settled.status is PaymentStatus.SUCCEEDED
        assert await balance(host, "BORROWER-0001") == Decimal("1000.00")


async def test_daily_statement_lists_every_payment_of_the_day():
    async with running_host(sandbox()) as (host, _):
        orders = [make_order(amount=Decimal(a)) for a in ("100.00", "200.50", "300.25")]
        for order in orders:
            await host.disburse("sandbox", order)
        failed = make_order(debit_account="NOBODY", credit_account="REPAY-001")
        await host.deduct("sandbox", failed)
        today = dt.datetime.now(SHANGHAI).date()
        statement = await host.statement("sandbox", today)
        empty = await host.statement("sandbox", today - dt.timedelta(days=1))
    assert [ln.idempotency_key for ln in statement.lines] == [o.idempotency_key for o in [*orders, failed]]
    assert [ln.serial for ln in statement.lines] == sorted(ln.serial for ln in statement.lines)
    assert statement.total(PaymentKind.DISBURSE) == Decimal("600.75")
    assert statement.lines[-1].status is PaymentStatus.FAILED and statement.lines[-1].kind is PaymentKind.DEDUCT
    assert empty.lines == ()


async def test_unknown_account_balance_is_a_plugin_failure():
    async with running_host(sandbox()) as (host, _):
        with pytest.raises(PluginFailure, match="no virtual account"):
            await host.balance("sandbox", "NO-SUCH-ACCOUNT")


async def test_signed_callbacks_verify_and_forgeries_are_refused():
    async with running_host(sandbox()) as (host, _):
        order = make_order()
        await host.disburse("sandbox", order)
        [callback] = host.plugin("sandbox_pay").drain_callbacks()
        ok = await host.verify_callback("sandbox", callback)
        assert ok.accepted and ok.payment.idempotency_key == order.idempotency_key
        assert ok.payment.status is PaymentStatus.SUCCEEDED

        replayed = await host.verify_callback("sandbox", callback)
        tampered = await host.verify_callback("sandbox", replace(
            callback, body=callback.body.replace(b"succeeded", b"failed")))
        stale = await host.verify_callback("sandbox", replace(
            callback, received_at=callback.received_at + dt.timedelta(hours=1)))
        unsigned = await host.verify_callback("sandbox", RawCallback("POST", callback.path, {}, callback.body))
        other_path = await host.verify_callback("sandbox", replace(callback, path="/callbacks/other"))
    assert (replayed.accepted, replayed.reason) == (False, "replayed nonce")
    assert (tampered.accepted, tampered.reason) == (False, "bad signature")
    assert not stale.accepted and stale.reason.startswith("stale timestamp")
    assert (unsigned.accepted, unsigned.reason) == (False, "missing signature headers")
    assert (other_path.accepted, other_path.reason) == (False, "bad signature")
