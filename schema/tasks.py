"""GraphQL for scheduled tasks (SPEC F-SYS-2): list, create, edit, enable/disable, run now.

Resolvers are thin: ``core.system.tasks`` validates, logs each change in the operation log and
runs tasks; refusals and validation failures come back in the payload's ``errors``.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from core.system import tasks
from core.system.task_models import ScheduledTask
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.relay import Connection, connection, decode, gid, paginate
from workers.registry import names


@strawberry.type(name="ScheduledTask", description="A scheduled task (定时任务).")
class ScheduledTaskType:
    id: strawberry.ID
    name: str
    key: str = strawberry.field(description="Letters and underscores; fixed once created")
    cron: str = strawberry.field(description="Five-field cron in the bank's time zone")
    method: str = strawberry.field(description="A registered job name (see scheduledTaskMethods)")
    params: JSON | None
    enabled: bool
    builtin: bool
    running: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_success: bool | None = strawberry.field(description="Whether the last run succeeded (null: never ran)")
    last_result: str
    last_duration_ms: int | None
    success_count: int
    failure_count: int
    success_rate: float | None = strawberry.field(description="Successful runs / all runs (null: never ran)")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, t: ScheduledTask) -> ScheduledTaskType:
        return cls(id=gid("ScheduledTask", t.id), name=t.name, key=t.key, cron=t.cron, method=t.method,
                   params=t.params, enabled=t.enabled, builtin=t.builtin, running=t.running,
                   next_run_at=t.next_run_at, last_run_at=t.last_run_at, last_success=t.last_success,
                   last_result=t.last_result, last_duration_ms=t.last_duration_ms, success_count=t.success_count,
                   failure_count=t.failure_count, success_rate=t.success_rate, created_at=t.created_at,
                   updated_at=t.updated_at)


@strawberry.type(description="The outcome of one run.")
class ScheduledTaskRun:
    success: bool
    result: str
    duration_ms: int
    started_at: datetime


@strawberry.input
class ScheduledTaskFilter:
    keyword: str | None = strawberry.field(default=None, description="Name or key contains")
    enabled: bool | None = None


@strawberry.input
class CreateScheduledTaskInput:
    name: str
    key: str
    cron: str
    method: str
    params: JSON | None = None


@strawberry.input
class UpdateScheduledTaskInput:
    name: str | None = None
    cron: str | None = None
    method: str | None = None
    params: JSON | None = strawberry.field(default=None, description="Replaces the params (see clearParams)")
    clear_params: bool = False


@strawberry.type
class ScheduledTaskPayload(Payload):
    task: ScheduledTaskType | None = None


@strawberry.type
class RunScheduledTaskPayload(Payload):
    task: ScheduledTaskType | None = None
    run: ScheduledTaskRun | None = None


def _rid(info: Info) -> str:
    return str(info.context.request_id)


@strawberry.type
class TasksQuery:
    @guarded("tasks", description="Scheduled tasks, newest first.")
    async def scheduled_tasks(self, info: Info, filter: ScheduledTaskFilter | None = None,
                              first: int | None = None, after: str | None = None) -> Connection[ScheduledTaskType]:
        f = filter or ScheduledTaskFilter()
        return connection(await paginate(tasks.query(f.keyword, f.enabled), first, after), ScheduledTaskType.of)

    @guarded("tasks")
    async def scheduled_task(self, info: Info, id: strawberry.ID) -> ScheduledTaskType | None:
        row = await ScheduledTask.get_or_none(id=decode(id, "ScheduledTask", "id"))
        return ScheduledTaskType.of(row) if row else None

    @guarded("tasks", description="The job names a task's method may be.")
    async def scheduled_task_methods(self, info: Info) -> list[str]:
        return names()


@strawberry.type
class TasksMutation:
    @guarded_mutation("tasks.create", description="Add a scheduled task (it starts disabled).")
    async def create_scheduled_task(self, info: Info, input: CreateScheduledTaskInput) -> ScheduledTaskPayload:
        row = await tasks.create_task(actor_of(info), name=input.name, key=input.key, cron=input.cron,
                                      method=input.method, params=input.params,  # type: ignore[arg-type]
                                      request_id=_rid(info))
        return ScheduledTaskPayload(task=ScheduledTaskType.of(row))

    @guarded_mutation("tasks.update", description="Edit a task's name, cron, method or params (not its key); "
                                                   "a new cron applies from the scheduler's next tick.")
    async def update_scheduled_task(self, info: Info, id: strawberry.ID, input: UpdateScheduledTaskInput
                                    ) -> ScheduledTaskPayload:
        row = await tasks.update_task(actor_of(info), decode(id, "ScheduledTask", "id"), name=input.name,
                                      cron=input.cron, method=input.method, params=input.params,  # type: ignore[arg-type]
                                      clear_params=input.clear_params, request_id=_rid(info))
        return ScheduledTaskPayload(task=ScheduledTaskType.of(row))

    @guarded_mutation("tasks.enable", description="Enable (schedule) or disable a task.")
    async def set_scheduled_task_enabled(self, info: Info, id: strawberry.ID, enabled: bool) -> ScheduledTaskPayload:
        row = await tasks.set_enabled(actor_of(info), decode(id, "ScheduledTask", "id"), enabled, _rid(info))
        return ScheduledTaskPayload(task=ScheduledTaskType.of(row))

    @guarded_mutation("tasks.run", description="Run an enabled task once now and return its result "
                                                "(refused while it is still running).")
    async def run_scheduled_task(self, info: Info, id: strawberry.ID) -> RunScheduledTaskPayload:
        row, result = await tasks.run_now(actor_of(info), decode(id, "ScheduledTask", "id"), _rid(info))
        return RunScheduledTaskPayload(task=ScheduledTaskType.of(row), run=ScheduledTaskRun(
            success=result.success, result=result.result, duration_ms=result.duration_ms,
            started_at=result.started_at))
