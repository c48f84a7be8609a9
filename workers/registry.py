"""The registry of known jobs: the only way a name (from an outbox row or a scheduled task) becomes code.

Why a registry: a task's `method` is edited by operators and an outbox row's `job` is data; resolving
either as an import path would let whoever writes that data run any function in the process. Here a
name maps only to a function that a module registered with :func:`job`.

A job is ``async def handler(ctx: JobContext) -> object``; its return value (JSON-able, or a string)
is recorded as the run's result. The same handler runs under arq and in-process.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@dataclass(frozen=True)
class JobContext:
    """What a handler receives: its name, the payload/params, and what makes this delivery unique.

    ``dedupe_key`` is the outbox row's key (or ``task:<key>:<run instant>`` for a scheduled run);
    handlers use it, or a business key of their own, to stay idempotent under redelivery.
    """

    name: str
    payload: dict[str, Any] = field(default_factory=dict)
    dedupe_key: str = ""
    message_id: int | None = None
    attempt: int = 1


Handler = Callable[[JobContext], Awaitable[Any]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    handler: Handler
    description: str


_jobs: dict[str, JobSpec] = {}


def job(name: str, description: str = "") -> Callable[[Handler], Handler]:
    """Register ``handler`` under ``name`` (dotted lower-case, e.g. ``ledger.seal``)."""
    if not NAME.fullmatch(name):
        raise ValueError(f"job name {name!r} must be dotted lower-case words, e.g. 'ledger.seal'")

    def register(handler: Handler) -> Handler:
        existing = _jobs.get(name)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"job {name!r} is already registered by {existing.handler.__module__}")
        _jobs[name] = JobSpec(name, handler, description or (handler.__doc__ or "").strip().split("\n")[0])
        return handler

    return register


def unregister(name: str) -> None:
    """Remove a job (tests registering throwaway jobs)."""
    _jobs.pop(name, None)


JOB_MODULES: tuple[str, ...] = (
    "workers.jobs",
    "workers.loan_jobs",
    "workers.export_jobs",
    "workers.payment_jobs",
    "workers.monitoring_jobs",
    "workers.disbursement_jobs",
    "workers.repayment_jobs",
    "workers.admission_jobs",
    "workers.callback_jobs",
)
"""Modules that register the platform's jobs on import, one per domain (add yours here)."""


def load_builtin_jobs() -> None:
    """Import the modules that register the platform's jobs (idempotent)."""
    import importlib

    for module in JOB_MODULES:
        importlib.import_module(module)


def get(name: str) -> JobSpec | None:
    load_builtin_jobs()
    return _jobs.get(name)


def names() -> list[str]:
    load_builtin_jobs()
    return sorted(_jobs)
