"""The scheduled-task registry table (SPEC F-SYS-2).

Why rows, not code: operators edit a task's cron, switch it on and off and run it now from the
console; every scheduler (the in-process runner or each arq worker) reads these rows on each tick,
so an edit takes effect without a restart. `running` + `started_at` form the claim: a task is
started only by the conditional UPDATE that flips `running` from false, so it never runs twice at once.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ScheduledTask(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=50, unique=True)
    key = fields.CharField(max_length=50, unique=True, description="Letters and underscores, immutable")
    cron = fields.CharField(max_length=100, description="Five-field cron in the time zone of the bank")
    method = fields.CharField(max_length=100, description="A job name registered in workers.registry")
    params = fields.JSONField(null=True)
    enabled = fields.BooleanField(default=False)
    builtin = fields.BooleanField(default=False, description="Seeded by the platform")
    next_run_at = fields.DatetimeField(null=True, db_index=True)
    running = fields.BooleanField(default=False)
    started_at = fields.DatetimeField(null=True)
    last_run_at = fields.DatetimeField(null=True)
    last_success = fields.BooleanField(null=True)
    last_result = fields.TextField(default="")
    last_duration_ms = fields.IntField(null=True)
    success_count = fields.IntField(default=0)
    failure_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "scheduled_task"

    @property
    def success_rate(self) -> float | None:
        """Share of runs that succeeded (None before the first run)."""
        runs = self.success_count + self.failure_count
        return None if runs == 0 else self.success_count / runs
