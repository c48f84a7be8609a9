"""The plugin transaction feed (F-MON-1): pull from feed plugins, ingest as `source=feed`.

The scheduled task ``monitoring.pull_feed`` asks every plugin implementing
``lendline_fetch_transactions(since)`` for new transactions. ``since`` is the time of the newest
feed transaction stored minus `OVERLAP` (so a transaction a source reports late, with an older time,
is still fetched); repeats are skipped by ingestion's serial-number idempotency, so the watermark
needs no table of its own.

Rows go through the same `ingest` as the GraphQL batch (as the system, which sees every product),
in batches of `MAX_BATCH`. A feed cannot fix its rows when asked, so instead of refusing a whole
batch for one bad row, the rows named in the errors are dropped, reported in one system alert per
plugin and run, and the rest is ingested. A plugin that fails is reported by the facade (alert) and
the others still run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from core.actor import SYSTEM
from core.errors import UserError
from core.monitoring.ingest import MAX_BATCH, ingest
from core.monitoring.models import AccountTransaction, TxSource
from plugins.errors import PluginError
from plugins.types import FeedTransaction

log = logging.getLogger("lendline.monitoring")

OVERLAP = timedelta(days=1)
_ROW = re.compile(r"^feed\[(\d+)\]")


async def watermark() -> datetime | None:
    newest = await AccountTransaction.filter(source=TxSource.FEED).order_by("-occurred_at").first()
    return newest.occurred_at - OVERLAP if newest else None


def _raw(t: FeedTransaction) -> dict[str, Any]:
    return {"orderNo": t.order_no, "serialNo": t.serial_no, "customerNo": t.customer_no, "accountNo": t.account_no,
            "occurredAt": t.occurred_at, "direction": t.direction.value, "amount": str(t.amount),
            "counterpartyName": t.counterparty_name, "counterpartyAccount": t.counterparty_account,
            "counterpartyCategory": t.counterparty_category, "channel": t.channel,
            "balanceAfter": None if t.balance_after is None else str(t.balance_after),
            "isDisbursement": t.is_disbursement, "isRepayment": t.is_repayment}


async def _ingest_valid(rows: Sequence[dict[str, Any]]) -> tuple[int, int, int, list[str]]:
    """Ingest, dropping rows with errors (at most two passes); returns inserted, skipped, violations, errors."""
    labels = [f"feed[{i}]" for i in range(len(rows))]
    problems: list[str] = []
    keep = list(range(len(rows)))
    last: UserError | None = None
    for _ in range(3):
        if not keep:
            return 0, 0, 0, problems
        try:
            result = await ingest(SYSTEM, [rows[i] for i in keep], TxSource.FEED,
                                  labels=[labels[i] for i in keep])
            return result.inserted, result.skipped, len(result.violations), problems
        except UserError as exc:
            last = exc
            bad = set()
            for e in exc.errors:
                m = _ROW.match(e.field or "")
                if m is None:
                    raise
                bad.add(int(m.group(1)))
                problems.append(f"{rows[int(m.group(1))].get('serialNo', '?')}: {e.message}")
            keep = [i for i in keep if i not in bad]
    assert last is not None
    raise last  # pragma: no cover - a third pass with fresh errors means the data moved under us


async def pull_feed() -> dict[str, Any]:
    """One pull from every feed plugin (see the module docstring)."""
    from core.system.alerts import raise_alert
    from plugins.runtime import current_host

    since = await watermark()
    answers = await current_host().fetch_transactions(since)
    report: dict[str, Any] = {"since": since.isoformat() if since else None, "plugins": {}}
    for plugin, answer in answers.items():
        if isinstance(answer, PluginError):
            report["plugins"][plugin] = {"error": str(answer)}
            continue
        rows = [_raw(t) for t in answer]
        totals = {"fetched": len(rows), "inserted": 0, "skipped": 0, "violations": 0, "refused": 0}
        problems: list[str] = []
        for start in range(0, len(rows), MAX_BATCH):
            inserted, skipped, violations, errs = await _ingest_valid(rows[start:start + MAX_BATCH])
            totals["inserted"] += inserted
            totals["skipped"] += skipped
            totals["violations"] += violations
            problems += errs
        totals["refused"] = len({p.split(":")[0] for p in problems})
        if problems:
            await raise_alert("MON_FEED_ROWS_REFUSED",
                              f"交易推送 Feed {plugin}: {totals['refused']} transaction(s) refused: "
                              + "; ".join(problems[:5]) + (" …" if len(problems) > 5 else ""),
                              source=f"plugin:{plugin}", detail={"errors": problems[:200]})
        report["plugins"][plugin] = totals
    return report
