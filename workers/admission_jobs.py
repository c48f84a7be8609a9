"""Background jobs of order admission.

`loans.resume_risk_checks` finishes orders left in `risk_checking` — admission commits the order
before it calls the risk scene, so a process that died during that call leaves the order there.
Idempotent: each order is moved by a conditional state transition, so a second run (or a run racing
the original admission) finds it moved and leaves it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core import clock
from core.loans.admission import resume_risk_checks
from workers.registry import JobContext, job

RESUME_RISK_JOB = "loans.resume_risk_checks"
STALE_AFTER = timedelta(minutes=5)  # far longer than any risk scene takes (plugin calls time out sooner)


@job(RESUME_RISK_JOB, "Finish orders stranded in risk checking")
async def resume_stranded_risk_checks(ctx: JobContext) -> dict[str, Any]:
    minutes = int(ctx.payload.get("older_than_minutes", STALE_AFTER.total_seconds() // 60))
    done = await resume_risk_checks(clock.now() - timedelta(minutes=max(minutes, 1)))
    return {"resumed": done}
