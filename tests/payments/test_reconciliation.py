"""Reconciliation (seed 004 对账): exactly the mismatches of a day, replaced on re-run, one alert per run."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from core import clock
from core.loans.models import Payment, PaymentKind, PaymentStatus
from core.payments import reconciliation
from core.payments.models import (
    ReconciliationItem,
    ReconciliationItemKind,
    ReconciliationRun,
    ReconciliationStatus,
)
from core.system.alerts import flush_alerts
from core.system.models import SystemAlert
from permissions.scope import EVERYTHING
from plugins.types import PaymentOrder
from plugins.types import PaymentStatus as LineStatus
from tests.payments.helpers import PROVIDER, World, make_account, make_loan, make_payment, make_repayment, make_world
from tests.payments.helpers import sandbox as sandbox_runtime
from workers.registry import JobContext, get

K = ReconciliationItemKind


async def pay(host: Any, key: str, amount: str, debit: str = "DISB-A", credit: str = "BORROWER-1") -> str:
    result = await host.disburse(PROVIDER, PaymentOrder(idempotency_key=key, amount=Decimal(amount),
                                                        debit_account=debit, credit_account=credit))
    assert result.status is LineStatus.SUCCEEDED
    return str(result.serial)


async def seed_day(host: Any, world: World) -> dict[str, Payment]:
    """A day with one clean payment, one amount mismatch, one missing at the provider, one extra line."""
    day = clock.business_today()
    loan = await make_loan(world, disbursed_on=day)
    rows = {}
    rows["clean"] = await make_payment(world, loan, day=day, amount="1000.00", key="k-clean",
                                       serial=await pay(host, "k-clean", "1000.00"))
    rows["amount"] = await make_payment(world, loan, day=day, amount="2500.00", key="k-amount",
                                        serial=await pay(host, "k-amount", "2000.00"))
    rows["missing"] = await make_payment(world, loan, day=day, amount="3000.00", key="k-missing", serial="LOST-1")
    await pay(host, "k-extra", "4000.00")  # the provider moved money the platform knows nothing of
    # not mismatches: an instruction never sent, one that failed before reaching the provider
    await make_payment(world, loan, day=day, amount="10.00", key="k-pending", serial=None, status=PaymentStatus.PENDING)
    await make_payment(world, loan, day=day, amount="20.00", key="k-failed", serial=None, status=PaymentStatus.FAILED)
    # a repayment collected by a deduction is reconciled through its payment, not twice
    deduction = await host.deduct(PROVIDER, PaymentOrder(idempotency_key="k-deduct", amount=Decimal("500.00"),
                                                         debit_account="BORROWER-1", credit_account="REPAY-A"))
    rows["deduct"] = await make_payment(world, loan, day=day, amount="500.00", key="k-deduct",
                                        serial=str(deduction.serial), kind=PaymentKind.DEDUCTION)
    await make_repayment(world, loan, day=day, amount="500.00", serial=str(deduction.serial), payment=rows["deduct"])
    # a payment of yesterday is not part of today's reconciliation
    await make_payment(world, loan, day=day - timedelta(days=1), amount="99.00", key="k-yesterday", serial="OLD-1")
    return rows


async def test_a_day_with_one_missing_one_extra_and_one_mismatch_reports_exactly_those(db: str) -> None:
    world = await make_world()
    await make_account(world, "DISB-A")
    async with sandbox_runtime({"DISB-A": "1000000.00", "BORROWER-1": "5000.00"}) as host:
        rows = await seed_day(host, world)
        run = await reconciliation.reconcile(PROVIDER, clock.business_today())
    await flush_alerts()
    items = await ReconciliationItem.filter(run_id=run.id).order_by("id")
    assert sorted((i.kind, i.idempotency_key) for i in items) == sorted([
        (K.AMOUNT_MISMATCH, "k-amount"), (K.MISSING_AT_PROVIDER, "k-missing"), (K.MISSING_ON_PLATFORM, "k-extra")])
    by_kind = {i.kind: i for i in items}
    amount = by_kind[K.AMOUNT_MISMATCH]
    assert (amount.platform_amount, amount.provider_amount) == (Decimal("2500.00"), Decimal("2000.00"))
    assert amount.payment_id == rows["amount"].id and amount.scope_product_id == world.product.id
    extra = by_kind[K.MISSING_ON_PLATFORM]
    assert extra.provider_amount == Decimal("4000.00") and extra.scope_bank_id == world.bank.id
    assert extra.scope_product_id is None and extra.record == "disbursement"
    assert by_kind[K.MISSING_AT_PROVIDER].serial_no == "LOST-1"
    assert run.status is ReconciliationStatus.MISMATCHED and run.mismatch_count == 3
    assert (run.provider_count, run.matched_count) == (4, 2)  # clean + deduction matched; extra, amount not
    assert run.provider_total == Decimal("7500.00")  # 1000 + 2000 + 4000 + 500
    (alert,) = await SystemAlert.filter(code="RECONCILIATION_MISMATCH")
    assert alert.detail["counts"] == {"amount_mismatch": 1, "missing_at_provider": 1, "missing_on_platform": 1}


async def test_re_running_a_day_replaces_its_result(db: str) -> None:
    world = await make_world()
    await make_account(world, "DISB-A")
    day = clock.business_today()
    async with sandbox_runtime({"DISB-A": "1000000.00", "BORROWER-1": "5000.00"}) as host:
        rows = await seed_day(host, world)
        first = await reconciliation.reconcile(PROVIDER, day)
        await Payment.filter(id=rows["amount"].id).update(amount=Decimal("2000.00"))  # operations fixed it
        second = await reconciliation.reconcile(PROVIDER, day)
    await flush_alerts()
    assert second.id == first.id and second.runs == 2 and await ReconciliationRun.all().count() == 1
    assert sorted(i.kind for i in await ReconciliationItem.all()) == [K.MISSING_AT_PROVIDER, K.MISSING_ON_PLATFORM]
    assert second.mismatch_count == 2
    assert await SystemAlert.filter(code="RECONCILIATION_MISMATCH").count() == 2  # one per run


async def test_a_clean_day_matches_and_raises_no_alert(db: str) -> None:
    world = await make_world()
    day = clock.business_today()
    async with sandbox_runtime({"DISB-A": "1000000.00"}) as host:
        loan = await make_loan(world, disbursed_on=day)
        await make_payment(world, loan, day=day, amount="1000.00", key="k1", serial=await pay(host, "k1", "1000.00"))
        run = await reconciliation.reconcile(PROVIDER, day)
    await flush_alerts()
    assert run.status is ReconciliationStatus.MATCHED and run.mismatch_count == 0 and run.matched_count == 1
    assert not await SystemAlert.filter(code="RECONCILIATION_MISMATCH").exists()


async def test_status_mismatch_and_callback_repayments(db: str) -> None:
    world = await make_world()
    day = clock.business_today()
    async with sandbox_runtime({"DISB-A": "1000000.00"}) as host:
        loan = await make_loan(world, disbursed_on=day)
        serial = await pay(host, "k-status", "1000.00")
        await make_payment(world, loan, day=day, amount="1000.00", key="k-status", serial=None,
                           status=PaymentStatus.FAILED)  # the platform believes it failed; it did not
        await make_repayment(world, loan, day=day, amount="300.00", serial="CB-1")  # a callback the statement lacks
        run = await reconciliation.reconcile(PROVIDER, day)
    items = {i.kind: i for i in await ReconciliationItem.filter(run_id=run.id)}
    assert set(items) == {K.STATUS_MISMATCH, K.MISSING_AT_PROVIDER}
    assert (items[K.STATUS_MISMATCH].platform_status, items[K.STATUS_MISMATCH].provider_status) == (
        "failed", "succeeded")
    assert items[K.STATUS_MISMATCH].serial_no == serial
    assert items[K.MISSING_AT_PROVIDER].record == "repayment" and items[K.MISSING_AT_PROVIDER].serial_no == "CB-1"


def test_payments_in_flight_on_both_sides_are_not_a_mismatch() -> None:
    from datetime import UTC, datetime

    from plugins.types import PaymentKind as LineKind
    from plugins.types import StatementLine

    record = reconciliation.Record("disbursement", "S1", "k", Decimal("1.00"), "unknown", 1, payment_id=1)
    line = StatementLine(serial="S1", idempotency_key="k", kind=LineKind.DISBURSE, amount=Decimal("1.00"),
                         status=LineStatus.ACCEPTED, debit_account="a", credit_account="b",
                         created_at=datetime.now(UTC))
    assert reconciliation.compare([record], [line], {}) == ([], 1)
    done = StatementLine(serial="S1", idempotency_key="k", kind=LineKind.DISBURSE, amount=Decimal("1.00"),
                         status=LineStatus.SUCCEEDED, debit_account="a", credit_account="b",
                         created_at=datetime.now(UTC))
    items, clean = reconciliation.compare([record], [done], {})
    assert clean == 0 and [i["kind"] for i in items] == [K.STATUS_MISMATCH]


async def test_an_unavailable_statement_records_a_failed_run_and_a_plugin_alert(db: str) -> None:
    async with sandbox_runtime({}):
        run = await reconciliation.reconcile("ghost_pay", clock.business_today())
    await flush_alerts()
    assert run.status is ReconciliationStatus.FAILED and "ghost_pay" in run.error
    assert await SystemAlert.filter(code="PLUGIN_UNAVAILABLE").exists()
    assert not await ReconciliationItem.exists()


async def test_the_daily_job_reconciles_yesterday_for_every_provider_in_use(db: str) -> None:
    world = await make_world()
    yesterday = clock.business_today() - timedelta(days=1)
    loan = await make_loan(world, disbursed_on=yesterday)
    await make_payment(world, loan, day=yesterday, amount="100.00", key="k-y", serial="Y-1")
    assert await reconciliation.providers_in_use(yesterday) == [PROVIDER]
    spec = get("payments.reconcile")
    assert spec is not None
    async with sandbox_runtime({}):
        result = await spec.handler(JobContext(name="payments.reconcile"))
    assert result == {"day": yesterday.isoformat(), "runs": [{"provider": PROVIDER, "status": "mismatched",
                                                             "mismatches": 1}]}
    run = await ReconciliationRun.get(provider=PROVIDER, day=yesterday)
    assert [i.kind for i in await reconciliation.items(EVERYTHING, [run.id])] == [K.MISSING_AT_PROVIDER]
