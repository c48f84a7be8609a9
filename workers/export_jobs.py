"""Background exports (Excel downloads too large to build during a request), see core.monitoring.export."""

from __future__ import annotations

from typing import Any

from core.outbox.service import MAX_ATTEMPTS
from workers.registry import JobContext, job


@job("exports.violations", "Build a large violation export (Excel) with the requester's data scope")
async def violations_export(ctx: JobContext) -> dict[str, Any]:
    """Idempotent: only a pending export is built, completed by a conditional UPDATE from pending."""
    from core.monitoring.export import run_violation_export

    return await run_violation_export(int(ctx.payload["export_id"]), last_attempt=ctx.attempt >= MAX_ATTEMPTS)
