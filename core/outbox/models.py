"""Outbox tables: one row per piece of background work, and processed markers for idempotent handlers.

Why a table and not a direct Redis push: the row is written in the caller's database transaction,
so a rollback enqueues nothing and a commit cannot lose the work even when Redis is down; a
dispatcher moves committed rows to the queue afterwards (at least once).
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class OutboxStatus(StrEnum):
    PENDING = "pending"  # committed, waiting for the dispatcher (also: dispatch failed, retry later)
    DISPATCHED = "dispatched"  # handed to the queue (arq) or the in-process runner
    RUNNING = "running"  # a worker claimed it and runs the handler
    DONE = "done"  # the handler finished; later duplicates are skipped
    FAILED = "failed"  # the handler failed `max_attempts` times; a system alert was raised


class OutboxMessage(Model):
    """A job to run after commit: registered job name, JSON payload, and the dedupe key of the caller.

    (`job`, `dedupe_key`) is unique: enqueueing the same business event twice yields one row.
    """

    id = fields.BigIntField(primary_key=True)
    job = fields.CharField(max_length=100, description="A name from workers.registry, never an import path")
    payload = fields.JSONField(default=dict)
    dedupe_key = fields.CharField(max_length=200)
    status = fields.CharEnumField(OutboxStatus, max_length=12, default=OutboxStatus.PENDING, db_index=True)
    attempts = fields.IntField(default=0, description="Handler runs started")
    dispatches = fields.IntField(default=0, description="Times handed to the queue")
    available_at = fields.DatetimeField(db_index=True, description="Not dispatched before this instant")
    dispatched_at = fields.DatetimeField(null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(default="")
    result = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbox_message"
        unique_together = (("job", "dedupe_key"),)


class ProcessedMarker(Model):
    """"This effect happened": a handler inserts one in the transaction of its effect, keyed by what
    makes the effect unique (e.g. ``lpr_reminder:2026-11``), and skips the effect when it exists."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=200, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "processed_marker"
