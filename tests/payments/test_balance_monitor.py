"""Balance monitoring (F-SYS-5): one alert per breach, recovery, concurrency, provider failures, SMS."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from core.actor import SYSTEM
from core.outbox.models import OutboxMessage
from core.outbox.service import deliver, dispatch_pending
from core.payments.balance_monitor import NOTICE_JOB, check_balances
from core.payments.models import AccountPurpose, ProviderAccount
from core.system import parameters
from core.system.alerts import flush_alerts
from core.system.models import SystemAlert, SystemParameter
from tests.payments.helpers import make_account, make_world, sandbox
from workers.runtime import inline_sink


async def deliver_all() -> None:
    while (await dispatch_pending(inline_sink)).sent:
        pass
    await flush_alerts()


async def publish(number: str, value: str) -> None:
    await parameters.ensure_seed_parameters()
    row = await SystemParameter.get(number=number)
    await parameters.update_parameter(SYSTEM, row.id, value=value)
    if not row.active:
        await parameters.set_active(SYSTEM, row.id, True)
    await parameters.refresh_cache(SYSTEM)


async def test_a_breach_raises_exactly_one_alert_across_checks_and_recovery_clears_it(db: str) -> None:
    world = await make_world()
    account = await make_account(world, "DISB-A")
    await make_account(world, "REPAY-A", AccountPurpose.REPAYMENT)  # repayment accounts are not monitored
    async with sandbox({"DISB-A": "420000.00", "REPAY-A": "0.00"}) as host:
        for _ in range(3):
            report = await check_balances()
            assert report.checked == 1 and report.failed == []
            await deliver_all()
        assert await SystemAlert.filter(code="BALANCE_LOW").count() == 1
        alert = await SystemAlert.get(code="BALANCE_LOW")
        assert "DISB-A" in alert.message and "420000.00" in alert.message and "500000.00" in alert.message
        row = await ProviderAccount.get(id=account.id)
        assert row.breached and row.breach_count == 1 and row.last_balance == Decimal("420000.00")
        assert await OutboxMessage.filter(job=NOTICE_JOB).count() == 1

        host.plugin("sandbox_pay").deposit("DISB-A", Decimal("80000.00"))  # exactly on the line: not below
        assert (await check_balances()).recovered == [account.id]
        await check_balances()
        await deliver_all()
        assert not (await ProviderAccount.get(id=account.id)).breached
        assert await SystemAlert.filter(code="BALANCE_RECOVERED").count() == 1

        host.plugin("sandbox_pay")._balances["DISB-A"] = Decimal("100.00")  # drained again: a new breach
        assert (await check_balances()).breached == [account.id]
        await deliver_all()
    assert await SystemAlert.filter(code="BALANCE_LOW").count() == 2
    assert (await ProviderAccount.get(id=account.id)).breach_count == 2


async def test_two_concurrent_checks_raise_one_alert(db: str) -> None:
    world = await make_world()
    await make_account(world, "DISB-A")
    async with sandbox({"DISB-A": "1.00"}):
        reports = await asyncio.gather(*(check_balances() for _ in range(4)))
        await deliver_all()
    assert sum(len(r.breached) for r in reports) == 1
    assert await SystemAlert.filter(code="BALANCE_LOW").count() == 1
    assert await OutboxMessage.filter(job=NOTICE_JOB).count() == 1


async def test_the_account_line_overrides_the_system_parameter(db: str) -> None:
    world = await make_world()
    own = await make_account(world, "DISB-OWN", warning_line=Decimal("1000.00"))
    await publish("balance.warning_line", "300000")
    async with sandbox({"DISB-OWN": "5000.00"}):
        assert (await check_balances()).breached == []  # 5,000 is above its own line of 1,000
        await ProviderAccount.filter(id=own.id).update(warning_line=None)  # now the parameter (300,000) applies
        assert (await check_balances()).breached == [own.id]


async def test_a_provider_failure_is_a_plugin_alert_and_leaves_the_breach_state(db: str) -> None:
    world = await make_world()
    broken = await make_account(world, "NO-SUCH-ACCOUNT")
    await ProviderAccount.filter(id=broken.id).update(breached=True, breach_count=3)
    async with sandbox({}):
        report = await check_balances()
        await deliver_all()
    assert report.failed == [broken.id] and report.checked == 0
    row = await ProviderAccount.get(id=broken.id)
    assert row.breached and row.breach_count == 3 and row.last_checked_at is None
    assert await SystemAlert.filter(code="PLUGIN_FAILURE", source="plugin:sandbox_pay").count() == 1
    assert not await SystemAlert.filter(code__in=["BALANCE_LOW", "BALANCE_RECOVERED"]).exists()


async def test_a_breach_texts_the_configured_operators_once(db: str) -> None:
    world = await make_world()
    await make_account(world, "DISB-A")
    await publish("balance.warning_phones", "13800138000, 13900139000")
    async with sandbox({"DISB-A": "10.00"}) as host:
        await check_balances()
        await deliver_all()
        notice = await OutboxMessage.get(job=NOTICE_JOB)
        await OutboxMessage.filter(id=notice.id).update(status="dispatched")  # a redelivery
        await deliver(notice.id)
        await flush_alerts()
        sms = host.plugin("sandbox_sms")
        assert sorted(m.recipient for m in sms.sent) == ["13800138000", "13900139000"]
        assert all("DISB-A" in m.text and "10.00" in m.text for m in sms.sent)
    assert await SystemAlert.filter(code="BALANCE_LOW").count() == 1
