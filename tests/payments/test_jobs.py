"""Missing repayment plans (once per day), partner re-push through the outbox, built-in task wiring."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core import clock
from core.actor import SYSTEM
from core.errors import ErrorCode, UserError
from core.loans.models import LoanInstallment, PaymentStatus
from core.loans.plan_check import check_missing_plans
from core.oplog.models import OperationLog
from core.outbox.models import OutboxMessage
from core.outbox.service import Delivery, deliver, dispatch_pending
from core.payments import repush
from core.system import tasks
from core.system.alerts import flush_alerts
from core.system.models import SystemAlert
from core.system.seed import ensure_system_data
from core.system.task_models import ScheduledTask
from plugins import PluginDefinition, hookimpl
from tests.payments.helpers import bank_scope, make_loan, make_payment, make_repayment, make_world, sandbox
from workers.runtime import inline_sink


async def test_loans_disbursed_yesterday_without_a_plan_alert_once(db: str) -> None:
    world = await make_world()
    yesterday = clock.business_today() - timedelta(days=1)
    bare = await make_loan(world, disbursed_on=yesterday)
    planned = await make_loan(world, disbursed_on=yesterday)
    await LoanInstallment.create(loan=planned, number=1, start_date=yesterday, due_date=yesterday + timedelta(30),
                                 principal=Decimal("100.00"), interest=Decimal("1.00"))
    await make_loan(world, disbursed_on=yesterday - timedelta(days=1))  # the day before: not this run's business
    await make_loan(world)  # not disbursed
    first = await check_missing_plans()
    again = await check_missing_plans()
    await flush_alerts()
    assert first["missing"] == 1 and first["alerted"] and first["orders"] == [bare.order_no]
    assert again.get("already") is True and not again["alerted"]
    (alert,) = await SystemAlert.filter(code="REPAYMENT_PLAN_MISSING")
    assert bare.order_no in alert.message and planned.order_no not in alert.message
    assert alert.detail["loanIds"] == [bare.id]


async def test_no_missing_plan_no_alert(db: str) -> None:
    world = await make_world()
    assert (await check_missing_plans())["missing"] == 0
    await make_loan(world)
    await flush_alerts()
    assert not await SystemAlert.filter(code="REPAYMENT_PLAN_MISSING").exists()


async def test_the_new_builtin_tasks_are_seeded_and_run(db: str) -> None:
    await ensure_system_data()
    rows = {t.key: t for t in await ScheduledTask.filter(key__in=["balance_warning", "reconciliation",
                                                                   "missing_plans"])}
    assert rows["balance_warning"].cron == "*/5 * * * *" and rows["balance_warning"].enabled
    assert rows["reconciliation"].method == "payments.reconcile"
    async with sandbox({}):
        for key in ("balance_warning", "reconciliation", "missing_plans"):
            _, run = await tasks.run_now(SYSTEM, rows[key].id)
            assert run.success, (key, run.result)


class Partner:
    """An integrator's plugin that receives payment-settled events."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    async def lendline_on_payment_settled(self, event: Any) -> None:
        self.events.append(event)


PARTNER = PluginDefinition("partner_feed", Partner)


async def test_re_push_enqueues_one_outbox_row_per_record_and_delivers_each_once(db: str) -> None:
    a = await make_world("BKA")
    b = await make_world("BKB", platform=a.platform, channel=a.channel)
    today = clock.business_today()
    loan_a, loan_b = await make_loan(a, disbursed_on=today), await make_loan(b, disbursed_on=today)
    p1 = await make_payment(a, loan_a, day=today, amount="1000.00", key="d-1", serial="S-1")
    await make_payment(a, loan_a, day=today, amount="5.00", key="d-2", serial=None, status=PaymentStatus.PENDING)
    await make_payment(b, loan_b, day=today, amount="2000.00", key="d-3", serial="S-3")
    await make_repayment(a, loan_a, day=today, amount="300.00", serial="R-1")
    await make_payment(a, loan_a, day=today - timedelta(days=40), amount="1.00", key="d-old", serial="S-OLD")

    scope = await bank_scope(a.bank.id)  # sees bank A only: bank B's disbursement is not pushed
    assert await repush.repush(SYSTEM, scope, "disbursement", today, today, request_id="req-1") == 1
    assert await repush.repush(SYSTEM, scope, "disbursement", today, today, request_id="req-1") == 1  # a retry
    assert await repush.repush(SYSTEM, scope, "repayment", today, today, request_id="req-2") == 1
    rows = await OutboxMessage.filter(job=repush.JOB).order_by("id")
    assert [r.dedupe_key for r in rows] == [f"repush:req-1:disbursement:{p1.id}",
                                            f"repush:req-2:repayment:{(await loan_a.repayments.all())[0].id}"]
    assert await OperationLog.filter(module="reconciliation", action="repush").count() == 3

    async with sandbox({}, extra=[PARTNER]) as host:
        assert (await dispatch_pending(inline_sink)).sent == 2
        assert await deliver(rows[0].id) is Delivery.DUPLICATE  # the queue delivered it twice: pushed once
        events = host.plugin("partner_feed").events
    assert [(e.idempotency_key, e.kind.value, e.amount, e.reference) for e in events] == [
        ("d-1", "disburse", Decimal("1000.00"), loan_a.order_no),
        ("repayment:R-1", "deduct", Decimal("300.00"), loan_a.order_no)]
    assert events[0].event_id == rows[0].dedupe_key


@pytest.mark.parametrize(("kind", "start", "end", "field"), [
    ("wire", date(2026, 11, 1), date(2026, 11, 2), "kind"),
    ("disbursement", date(2026, 11, 5), date(2026, 11, 1), "to"),
    ("disbursement", date(2026, 1, 1), date(2026, 3, 1), "to"),
    ("repayment", None, date(2026, 3, 1), "from"),
])
async def test_re_push_refuses_bad_ranges(db: str, kind: str, start: date | None, end: date, field: str) -> None:
    with pytest.raises(UserError) as err:
        await repush.repush(SYSTEM, (await bank_scope()), kind, start, end)
    assert err.value.errors[0].field == field
    assert err.value.code in {ErrorCode.INVALID, ErrorCode.OUT_OF_RANGE, ErrorCode.REQUIRED}
    assert not await OutboxMessage.exists()
