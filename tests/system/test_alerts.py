"""System alerts: raised by code even from failing transactions, read one by one or by filter (F-SYS-6)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.config import current_settings
from core.errors import UserError
from core.oplog.models import OperationLog
from core.system import alerts
from core.system.alerts import AlertFilter, flush_alerts, raise_alert
from core.system.models import SystemAlert


class Boom(Exception):
    pass


async def test_raised_alert_is_numbered_unread_and_keeps_no_secret(db: str) -> None:
    alert = await raise_alert("PLUGIN_TIMEOUT", "支付插件超时", source="plugin:sandbox",
                              detail={"hook": "deduct", "token": "abc", "amount": 12})
    assert alert is not None
    day = alert.created_at.astimezone(current_settings().tz).strftime("%Y%m%d")
    number = alerts.alert_number(alert)
    assert number == f"ALT{day}{alert.id:06d}"
    assert alerts.id_from_number(number) == alert.id
    row = await SystemAlert.get(id=alert.id)
    assert (row.read, row.code, row.source) == (False, "PLUGIN_TIMEOUT", "plugin:sandbox")
    assert row.detail == {"hook": "deduct", "token": "***", "amount": 12}


async def test_an_alert_survives_the_rollback_of_the_failing_use_case(db: str) -> None:
    with pytest.raises(Boom):
        async with in_transaction():
            await OperationLog.create(operator_kind="system", module="x", action="half-done")
            await raise_alert("DISBURSE_FAILED", "放款失败", source="loans")
            raise Boom
    await flush_alerts()
    assert not await OperationLog.filter(action="half-done").exists()  # the caller's work is gone…
    assert await SystemAlert.filter(code="DISBURSE_FAILED").count() == 1  # …the alert about it is not
    async with in_transaction():
        await raise_alert("NESTED_OK", "inside a committed transaction")
    await flush_alerts()
    assert await SystemAlert.filter(code="NESTED_OK").count() == 1


async def test_mark_one_read_records_who_and_when_and_is_idempotent(db: str, admin: Actor) -> None:
    alert = await raise_alert("BALANCE_LOW", "余额低于预警线", source="balance_monitor")
    assert alert is not None
    read = await alerts.mark_read(admin, alert.id)
    assert read.read and read.read_at is not None and read.read_by_id == admin.user_id  # type: ignore[attr-defined]
    first_time = read.read_at
    clock.travel(timedelta(minutes=5))
    again = await alerts.mark_read(admin, alert.id)
    assert again.read_at == first_time
    assert await OperationLog.filter(module="alerts", action="mark_read").count() == 1
    with pytest.raises(UserError):
        await alerts.mark_read(admin, alert.id + 100)


async def test_mark_all_results_of_a_time_range_read_in_one_update(db: str, admin: Actor,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    start = clock.now()
    for i in range(3):
        await raise_alert("OLD", f"old {i}")
    clock.travel(timedelta(days=1))
    middle = clock.now()
    for i in range(4):
        await raise_alert("NEW", f"new {i}")
    await raise_alert("OTHER", "other code")
    first_new = await SystemAlert.filter(code="NEW").order_by("id").first()
    assert first_new is not None
    await alerts.mark_read(admin, first_new.id)

    window = AlertFilter(since=middle, until=middle + timedelta(hours=1), code="NEW")
    assert await alerts.query(window).count() == 4
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        count = await alerts.mark_all_read(admin, window)
    updates = [r for r in caplog.records if r.getMessage().lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1
    assert count == 3  # the one already read keeps its reader and time
    assert await SystemAlert.filter(read=False).count() == 4  # 3 OLD + OTHER untouched
    assert await alerts.query(AlertFilter(since=start, until=middle, read=False)).count() == 3
    entry = await OperationLog.filter(module="alerts", action="mark_all_read").get()
    assert entry.detail["count"] == 3 and entry.detail["filter"]["code"] == "NEW"
    assert await alerts.unread_count() == 4


async def test_filter_mistakes_are_named(db: str, admin: Actor) -> None:
    now = clock.now()
    with pytest.raises(UserError) as exc:
        await alerts.mark_all_read(admin, AlertFilter(since=now, until=now - timedelta(days=1), number="X1"))
    assert {(e.field, e.code.value) for e in exc.value.errors} == {("filter.until", "INVALID"),
                                                                   ("filter.number", "INVALID")}
