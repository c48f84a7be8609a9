"""Scheduled tasks (SPEC F-SYS-2): the registry operators edit, and the scheduler that runs it.

- A task names a *method*: a job registered in ``workers.registry`` (never an import path), run
  with the task's JSON ``params`` through the same handler code as outbox jobs.
- Created disabled. Enabling (or editing the cron of an enabled task) computes ``next_run_at``;
  :func:`tick` reads the rows each time it runs, so edits take effect without a restart.
- A run starts only through a conditional UPDATE that flips ``running`` from false (or takes over a
  run older than ``STALE_RUN``): a task still running is never started twice, whichever process —
  the in-process runner, one of several arq workers, or "run now" — asks.
- Every run, failed or not, is recorded on the row: last run, result, duration, counters.
- Cron expressions are five-field, evaluated in the bank's time zone (``croniter``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter
from tortoise.expressions import F, Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.config import current_settings
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.oplog import service as oplog
from core.system.task_models import ScheduledTask

log = logging.getLogger("lendline.tasks")

MODULE = "tasks"
KEY = re.compile(r"^[A-Za-z_]+$")
STALE_RUN = timedelta(hours=1)  # a run older than this is presumed dead (its process crashed)
RESULT_MAX = 2000


# ---- cron ----

def cron_error(expr: str) -> str | None:
    """Why ``expr`` is not a usable five-field cron expression (None when it is)."""
    text = (expr or "").strip()
    if not text:
        return "cron is required, e.g. '0 9 * * *' (every day at 09:00)"
    if len(text.split()) != 5:
        return "cron needs five fields: minute hour day-of-month month day-of-week, e.g. '*/5 * * * *'"
    if not croniter.is_valid(text):
        return f"{text!r} is not a valid cron expression"
    return None


def next_fire(expr: str, after: datetime) -> datetime:
    """The first instant strictly after ``after`` matching ``expr`` in the bank's zone (aware)."""
    local = after.astimezone(current_settings().tz)
    fire: datetime = croniter(expr.strip(), local).get_next(datetime)
    return fire.astimezone(UTC)  # stored and compared in UTC (the claim matches on equality)


# ---- editing ----

def _check(errs: ErrorCollector, *, name: str | None, cron: str | None, method: str | None,
           params: Any) -> None:
    from workers.registry import get, names

    if name is not None:
        if not name.strip():
            errs.add("name", ErrorCode.REQUIRED, "name is required")
        elif len(name.strip()) > 50:
            errs.add("name", ErrorCode.TOO_LONG, "name is at most 50 characters")
    if cron is not None and (problem := cron_error(cron)):
        errs.add("cron", ErrorCode.INVALID, problem)
    if method is not None and get(method.strip()) is None:
        errs.add("method", ErrorCode.INVALID, f"method must be one of the registered jobs: {', '.join(names())}")
    if params is not None and not isinstance(params, dict):
        errs.add("params", ErrorCode.INVALID, "params must be a JSON object")


async def _check_unique_name(errs: ErrorCollector, name: str, exclude_id: int | None = None) -> None:
    qs = ScheduledTask.filter(name=name)
    if exclude_id is not None:
        qs = qs.exclude(id=exclude_id)
    if await qs.exists():
        errs.add("name", ErrorCode.NOT_UNIQUE, f"a task named {name!r} already exists")


async def create_task(actor: Actor, *, name: str, key: str, cron: str, method: str,
                      params: dict[str, Any] | None = None, request_id: str = "") -> ScheduledTask:
    """Add a task; it starts disabled (enable it to schedule it)."""
    errs = ErrorCollector()
    _check(errs, name=name, cron=cron, method=method, params=params)
    key = (key or "").strip()
    if not KEY.fullmatch(key):
        errs.add("key", ErrorCode.INVALID, "key is letters and underscores only, e.g. daily_report")
    elif len(key) > 50:
        errs.add("key", ErrorCode.TOO_LONG, "key is at most 50 characters")
    elif await ScheduledTask.filter(key=key).exists():
        errs.add("key", ErrorCode.NOT_UNIQUE, f"a task with key {key!r} already exists")
    if not errs.has("name"):
        await _check_unique_name(errs, name.strip())
    errs.raise_if_any()
    async with in_transaction():
        task = await ScheduledTask.create(name=name.strip(), key=key, cron=cron.strip(), method=method.strip(),
                                          params=params, enabled=False)
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="create",
                           summary=f"added scheduled task {task.name} ({task.key})",
                           detail={"id": task.id, "key": key, "cron": task.cron, "method": task.method,
                                   "params": params}, request_id=request_id)
    return task


async def update_task(actor: Actor, task_id: int, *, name: str | None = None, cron: str | None = None,
                      method: str | None = None, params: dict[str, Any] | None = None, clear_params: bool = False,
                      request_id: str = "") -> ScheduledTask:
    """Edit name, cron, method or params (the key is immutable); a new cron applies from the next tick."""
    task = await ScheduledTask.get_or_none(id=task_id)
    if task is None:
        raise not_found("Scheduled task")
    errs = ErrorCollector()
    _check(errs, name=name, cron=cron, method=method, params=params)
    if name is not None and not errs.has("name"):
        await _check_unique_name(errs, name.strip(), task.id)
    errs.raise_if_any()
    changes: dict[str, Any] = {}
    if name is not None and name.strip() != task.name:
        changes["name"] = name.strip()
    if cron is not None and cron.strip() != task.cron:
        changes["cron"] = cron.strip()
        if task.enabled:
            changes["next_run_at"] = next_fire(cron, clock.now())
    if method is not None and method.strip() != task.method:
        changes["method"] = method.strip()
    if params is not None or clear_params:
        changes["params"] = None if clear_params else params
    if not changes:
        return task
    before = {k: getattr(task, k) for k in changes if k != "next_run_at"}
    async with in_transaction():
        await ScheduledTask.filter(id=task.id).update(**changes)
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="update",
                           summary=f"edited scheduled task {task.name} ({task.key}): {', '.join(before)}",
                           detail={"id": task.id, "before": before,
                                   "after": {k: v for k, v in changes.items() if k != "next_run_at"}},
                           request_id=request_id)
    await task.refresh_from_db()
    return task


async def set_enabled(actor: Actor, task_id: int, enabled: bool, request_id: str = "") -> ScheduledTask:
    """Switch a task on (scheduled from its next cron instant) or off (a run in progress finishes)."""
    task = await ScheduledTask.get_or_none(id=task_id)
    if task is None:
        raise not_found("Scheduled task")
    if task.enabled == enabled:
        return task
    async with in_transaction():
        await ScheduledTask.filter(id=task.id).update(
            enabled=enabled, next_run_at=next_fire(task.cron, clock.now()) if enabled else None)
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="enable" if enabled else "disable",
                           summary=f"{'enabled' if enabled else 'disabled'} scheduled task {task.name} ({task.key})",
                           detail={"id": task.id, "key": task.key}, request_id=request_id)
    await task.refresh_from_db()
    return task


def query(keyword: str | None = None, enabled: bool | None = None) -> QuerySet[ScheduledTask]:
    qs = ScheduledTask.all()
    if keyword:
        qs = qs.filter(Q(name__icontains=keyword.strip()) | Q(key__icontains=keyword.strip()))
    if enabled is not None:
        qs = qs.filter(enabled=enabled)
    return qs


# ---- running ----

@dataclass(frozen=True)
class RunResult:
    task_id: int
    key: str
    success: bool
    result: str
    duration_ms: int
    started_at: datetime


def _claimable(now: datetime) -> Q:
    return Q(running=False) | Q(started_at__lt=now - STALE_RUN)


def _result_text(value: Any) -> str:
    if value is None:
        return "ok"
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
    return text[:RESULT_MAX]


async def _execute(task: ScheduledTask, started: datetime) -> RunResult:
    """Run a claimed task's method and record the outcome on the row (releasing the claim)."""
    from workers.registry import JobContext, get

    spec = get(task.method)
    t0 = time.perf_counter()
    try:
        if spec is None:
            raise LookupError(f"method {task.method!r} is not a registered job")
        value = await spec.handler(JobContext(name=task.method, payload=dict(task.params or {}),
                                              dedupe_key=f"task:{task.key}:{started.isoformat()}"))
        success, text = True, _result_text(value)
    except Exception as exc:  # a task failure is a recorded result, never a crash of the scheduler
        log.exception("scheduled task %s (%s) failed", task.key, task.method)
        success, text = False, f"{type(exc).__name__}: {exc}"[:RESULT_MAX]
    duration = int((time.perf_counter() - t0) * 1000)
    counter = {"success_count": F("success_count") + 1} if success else {"failure_count": F("failure_count") + 1}
    await ScheduledTask.filter(id=task.id, started_at=started).update(
        running=False, last_run_at=started, last_success=success, last_result=text, last_duration_ms=duration,
        **counter)
    return RunResult(task.id, task.key, success, text, duration, started)


async def run_now(actor: Actor, task_id: int, request_id: str = "") -> tuple[ScheduledTask, RunResult]:
    """Run an enabled task once, now, and return its result (its schedule is unchanged)."""
    task = await ScheduledTask.get_or_none(id=task_id)
    if task is None:
        raise not_found("Scheduled task")
    if not task.enabled:
        raise UserError.of(None, ErrorCode.INVALID_STATE, f"Enable task {task.name} before running it")
    started = clock.now()
    claimed = await ScheduledTask.filter(_claimable(started), id=task.id, enabled=True).update(
        running=True, started_at=started)
    if not claimed:
        raise UserError.of(None, ErrorCode.CONFLICT, f"Task {task.name} is still running; try again when it ends")
    result = await _execute(task, started)
    await oplog.record(actor, kind=actor.kind(), module=MODULE, action="run_now",
                       summary=f"ran scheduled task {task.name} ({task.key}): "
                               f"{'succeeded' if result.success else 'failed'}",
                       detail={"id": task.id, "key": task.key, "success": result.success,
                               "result": result.result[:500], "durationMs": result.duration_ms},
                       outcome="ok" if result.success else "failed", request_id=request_id)
    await task.refresh_from_db()
    return task, result


async def claim_due(now: datetime | None = None) -> list[tuple[ScheduledTask, datetime]]:
    """Claim every enabled task whose ``next_run_at`` has come, advancing it past ``now``."""
    now = now or clock.now()
    due = await ScheduledTask.filter(enabled=True, next_run_at__lte=now).order_by("id")
    claimed = []
    for task in due:
        # next_run_at in the condition: a second scheduler that read the same row loses the race
        got = await ScheduledTask.filter(_claimable(now), id=task.id, enabled=True,
                                         next_run_at=task.next_run_at).update(
            running=True, started_at=now, next_run_at=next_fire(task.cron, now))
        if got:
            claimed.append((task, now))
        else:
            log.info("scheduled task %s not started: still running or taken by another scheduler", task.key)
    return claimed


async def tick(now: datetime | None = None) -> list[RunResult]:
    """One scheduler round: claim due tasks, run them concurrently, record their results."""
    claimed = await claim_due(now)
    if not claimed:
        return []
    return list(await asyncio.gather(*(_execute(task, started) for task, started in claimed)))


# ---- built-in tasks ----

BUILTIN: tuple[tuple[str, str, str, str], ...] = (
    # key, name, cron, method
    ("outbox_redelivery", "后台任务重投 Outbox redelivery", "* * * * *", "outbox.redeliver"),
    ("ledger_sealing", "区块封装 Ledger block sealing", "* * * * *", "ledger.seal"),
    ("lpr_reminder", "LPR调整提醒 Monthly LPR reminder", "0 9 * * *", "lpr.reminder"),
    ("calendar_reminder", "次年日历提醒 Next-year calendar reminder", "0 9 * 12 *", "calendar.next_year_reminder"),
    ("daily_init", "日初始化 Daily initialisation", "5 0 * * *", "system.daily_init"),
    ("loan_overdue_daily", "逾期日终 Daily overdue and penalty", "15 0 * * *", "loans.overdue_daily"),
    ("loan_compensation", "代偿 Compensation point", "*/30 * * * *", "loans.compensation"),
    ("deduction_sweep", "代扣状态兜底 Pending deduction sweep", "*/10 * * * *", "repayments.sweep_deductions"),
    ("balance_warning", "账户余额预警 Account balance warning", "*/5 * * * *", "payments.balance_check"),
    ("reconciliation", "日终对账 Daily reconciliation", "30 2 * * *", "payments.reconcile"),
    ("missing_plans", "还款计划缺失检查 Missing repayment plans", "0 8 * * *", "loans.missing_plans"),
    ("monitoring_feed", "交易推送拉取 Pull transaction feeds", "*/5 * * * *", "monitoring.pull_feed"),
    ("monitoring_redetect", "异化重新检测 Re-run failed detection", "*/10 * * * *", "monitoring.redetect"),
    ("risk_check_resume", "风控补跑 Resume stranded risk checks", "*/10 * * * *", "loans.resume_risk_checks"),
)


async def ensure_builtin_tasks() -> list[str]:
    """Add the platform's tasks that are missing (by key); operators' edits are never overwritten.

    Built-ins are seeded enabled, unlike operator-made tasks: outbox redelivery and sealing keep the
    platform's guarantees, and a fresh install should not depend on someone switching them on.
    """
    existing = set(await ScheduledTask.filter(key__in=[b[0] for b in BUILTIN]).values_list("key", flat=True))
    added = []
    now = clock.now()
    for key, name, cron, method in BUILTIN:
        if key in existing:
            continue
        if await ScheduledTask.filter(name=name).exists():
            log.warning("built-in task %s not seeded: an operator's task already uses the name %r", key, name)
            continue
        await ScheduledTask.create(key=key, name=name, cron=cron, method=method, enabled=True, builtin=True,
                                   next_run_at=next_fire(cron, now))
        added.append(key)
    return added
