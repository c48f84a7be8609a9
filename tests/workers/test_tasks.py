"""Scheduled tasks: claim, cron edits, run now, built-ins (LPR reminder across a holiday), the API."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from core import clock
from core.actor import SYSTEM
from core.config import current_settings
from core.errors import ErrorCode, UserError
from core.oplog.models import OperationLog
from core.system import tasks
from core.system.alerts import flush_alerts
from core.system.models import SystemAlert
from core.system.seed import ensure_system_data
from core.system.task_models import ScheduledTask
from tests.support import Api
from workers.registry import JobContext, job, unregister

GATE: dict[str, asyncio.Event] = {}


@pytest.fixture(autouse=True)
def test_jobs() -> Any:
    @job("test.slow")
    async def slow(ctx: JobContext) -> str:
        GATE["started"].set()
        await GATE["release"].wait()
        return "slow done"

    @job("test.echo")
    async def echo(ctx: JobContext) -> dict[str, Any]:
        if ctx.payload.get("fail"):
            raise ValueError("asked to fail")
        return {"echo": ctx.payload}

    GATE.update(started=asyncio.Event(), release=asyncio.Event())
    yield
    unregister("test.slow")
    unregister("test.echo")


def travel_to(local: datetime) -> None:
    """Move the clock to ``local`` (naive: bank time)."""
    clock.travel(local.replace(tzinfo=current_settings().tz) - clock.now())


async def make(key: str, cron: str = "* * * * *", method: str = "test.echo", enabled: bool = True,
               params: dict[str, Any] | None = None) -> ScheduledTask:
    task = await tasks.create_task(SYSTEM, name=f"Task {key}", key=key, cron=cron, method=method, params=params)
    assert task.enabled is False  # created disabled
    return await tasks.set_enabled(SYSTEM, task.id, True) if enabled else task


async def test_validation_names_each_bad_field(db: str) -> None:
    with pytest.raises(UserError) as err:
        await tasks.create_task(SYSTEM, name="x" * 51, key="bad-key", cron="every minute", method="os.system")
    assert {e.field for e in err.value.errors} == {"name", "key", "cron", "method"}
    await make("echo_task")
    with pytest.raises(UserError) as dup:
        await tasks.create_task(SYSTEM, name="Task echo_task", key="echo_task", cron="* * * * *", method="test.echo")
    assert {(e.field, e.code) for e in dup.value.errors} == {("name", ErrorCode.NOT_UNIQUE),
                                                            ("key", ErrorCode.NOT_UNIQUE)}


async def test_a_running_task_is_not_started_twice(db: str) -> None:
    task = await make("slow_task", method="test.slow")
    first = asyncio.create_task(tasks.run_now(SYSTEM, task.id))
    await asyncio.wait_for(GATE["started"].wait(), 5)
    # while it runs: neither "run now" nor a scheduler tick (even with the task due) starts it again
    with pytest.raises(UserError) as err:
        await tasks.run_now(SYSTEM, task.id)
    assert err.value.code is ErrorCode.CONFLICT
    assert await tasks.tick(clock.now() + timedelta(minutes=5)) == []
    GATE["release"].set()
    _, result = await first
    assert result.success and result.result == "slow done"
    row = await ScheduledTask.get(id=task.id)
    assert row.running is False and row.success_count == 1 and row.failure_count == 0


async def test_cron_edit_is_picked_up_without_restart(db: str) -> None:
    task = await make("yearly", cron="0 0 1 1 *")
    assert await tasks.tick(clock.now() + timedelta(minutes=2)) == []
    await tasks.update_task(SYSTEM, task.id, cron="* * * * *")
    runs = await tasks.tick(clock.now() + timedelta(minutes=2))
    assert [(r.key, r.success) for r in runs] == [("yearly", True)]
    row = await ScheduledTask.get(id=task.id)
    assert row.last_run_at is not None and row.next_run_at > clock.now() + timedelta(minutes=2)  # type: ignore[operator]
    with pytest.raises(UserError) as err:
        await tasks.update_task(SYSTEM, task.id, cron="61 * * * *")
    assert err.value.errors[0].field == "cron"


async def test_run_now_returns_its_result_and_records_failures(db: str) -> None:
    task = await make("echo_now", params={"x": 1})
    _, ok = await tasks.run_now(SYSTEM, task.id)
    assert ok.success and ok.result == '{"echo": {"x": 1}}'
    await tasks.update_task(SYSTEM, task.id, params={"fail": True})
    row, bad = await tasks.run_now(SYSTEM, task.id)
    assert not bad.success and "asked to fail" in bad.result
    assert (row.success_count, row.failure_count, row.success_rate) == (1, 1, 0.5)
    assert row.last_success is False and "asked to fail" in row.last_result
    disabled = await make("off_task", enabled=False)
    with pytest.raises(UserError) as err:
        await tasks.run_now(SYSTEM, disabled.id)
    assert err.value.code is ErrorCode.INVALID_STATE
    assert await OperationLog.filter(module="tasks", action="run_now").count() == 2


async def test_lpr_reminder_waits_for_the_working_day_after_spring_festival(db: str) -> None:
    await ensure_system_data()
    await ensure_system_data()  # idempotent seeding
    assert await ScheduledTask.filter(builtin=True).count() == len(tasks.BUILTIN)
    lpr = await ScheduledTask.get(key="lpr_reminder")
    travel_to(datetime(2026, 2, 20, 9, 0))  # the 20th falls in the Spring Festival holiday
    _, before = await tasks.run_now(SYSTEM, lpr.id)
    assert '"alerted": false' in before.result and '"due": "2026-02-24"' in before.result
    travel_to(datetime(2026, 2, 24, 9, 0))
    _, on_day = await tasks.run_now(SYSTEM, lpr.id)
    _, again = await tasks.run_now(SYSTEM, lpr.id)
    await flush_alerts()
    assert '"alerted": true' in on_day.result and '"already": true' in again.result
    assert await SystemAlert.filter(code="LPR_REMINDER").count() == 1


async def test_builtin_tasks_do_their_work(db: str) -> None:
    await ensure_system_data()
    travel_to(datetime(2026, 12, 1, 9, 0))
    for key in ("calendar_reminder", "daily_init", "ledger_sealing", "outbox_redelivery"):
        _, run = await tasks.run_now(SYSTEM, (await ScheduledTask.get(key=key)).id)
        assert run.success, (key, run.result)
    await flush_alerts()
    alert = await SystemAlert.get(code="CALENDAR_NEXT_YEAR")
    assert alert.detail["year"] == 2027
    assert await OperationLog.filter(action="daily_init", summary__contains="2026-12-01").count() == 1


TASK_FIELDS = "task{id key enabled cron successCount lastResult} errors{field code message}"


async def test_tasks_over_graphql(api: Api, people: dict[str, Any]) -> None:
    admin = await api.login(people["admin"].account)
    viewer = await api.login(people["viewer"].account)
    create = f"""mutation($i:CreateScheduledTaskInput!){{createScheduledTask(input:$i){{{TASK_FIELDS}}}}}"""
    made = (await api(create, {"i": {"name": "回显", "key": "echo_api", "cron": "*/5 * * * *",
                                     "method": "test.echo", "params": {"a": 1}}}, admin))["data"]["createScheduledTask"]
    assert made["errors"] == [] and made["task"]["enabled"] is False
    tid = made["task"]["id"]
    bad = (await api(create, {"i": {"name": "x", "key": "k", "cron": "nope", "method": "test.echo"}}, admin)
           )["data"]["createScheduledTask"]
    assert [e["field"] for e in bad["errors"]] == ["cron"]
    refused = (await api(create, {"i": {"name": "y", "key": "y", "cron": "* * * * *", "method": "test.echo"}},
                         viewer))["data"]["createScheduledTask"]
    assert refused["errors"][0]["code"] == "FORBIDDEN"

    run = f"mutation($id:ID!){{runScheduledTask(id:$id){{run{{success result}} {TASK_FIELDS}}}}}"
    not_yet = (await api(run, {"id": tid}, admin))["data"]["runScheduledTask"]
    assert not_yet["errors"][0]["code"] == "INVALID_STATE"
    enable = f"mutation($id:ID!){{setScheduledTaskEnabled(id:$id,enabled:true){{{TASK_FIELDS}}}}}"
    assert (await api(enable, {"id": tid}, admin))["data"]["setScheduledTaskEnabled"]["task"]["enabled"] is True
    update = f"mutation($id:ID!,$i:UpdateScheduledTaskInput!){{updateScheduledTask(id:$id,input:$i){{{TASK_FIELDS}}}}}"
    edited = (await api(update, {"id": tid, "i": {"cron": "0 8 * * *"}}, admin))["data"]["updateScheduledTask"]
    assert edited["task"]["cron"] == "0 8 * * *"
    ran = (await api(run, {"id": tid}, admin))["data"]["runScheduledTask"]
    assert ran["errors"] == [] and ran["run"] == {"success": True, "result": '{"echo": {"a": 1}}'}
    assert ran["task"]["successCount"] == 1

    listed = (await api("{scheduledTasks{totalCount edges{node{key successRate}}}}", token=admin))["data"]
    assert listed["scheduledTasks"]["edges"][0]["node"] == {"key": "echo_api", "successRate": 1.0}
    logged = await OperationLog.filter(module="tasks", outcome="ok").values_list("action", flat=True)
    assert sorted(logged) == ["create", "enable", "run_now", "update"]
