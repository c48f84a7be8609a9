"""Excel download of a violation query (F-MON-5 下载表格), with the caller's data scope applied.

Two paths, one file format:
- **Inline**: a query with at most `INLINE_MAX_ROWS` rows is built during the request and returned
  (base64 in the GraphQL payload) — an SPA saves it at once.
- **Background**: a larger query becomes an `ExportFile` row (pending) and an outbox job
  (`exports.violations`, `workers/export_jobs.py`) in one transaction; the job builds the file and
  stores it on the row. The owner polls `exportFile(id)` and downloads it until `EXPORT_TTL` passes.
  At most `MAX_ROWS` rows are exported; a larger query is refused with a typed error.

Scope: the job must not run with the worker's (system) rights. The request stores the requester's
enabled role keys and the *frozen* filter (the default 7-day window made explicit, so a job that runs
later exports the same window); the job rebuilds the `DataScope` from those roles' data grants
(`permissions.policy.PolicyStore.scope_for`), so the file holds only rows the requester may see.

Cells: amounts are numbers with two decimals (openpyxl writes Decimals as numbers; Excel has no
decimal type, so a reader gets floats back), shares six decimals, times in the business time zone
without offset (Excel has no time zones; the header says which zone).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.config import current_settings
from core.errors import ErrorCode, UserError
from core.monitoring.export_models import ExportFile, ExportStatus
from core.monitoring.views import MODULE_VIOLATIONS, ViolationFilter, violations_query
from core.oplog import service as oplog
from core.outbox.service import enqueue
from permissions.policy import policy_store
from permissions.scope import DataScope

INLINE_MAX_ROWS = 2000
"""Up to this many rows the file is built during the request and returned inline."""
MAX_ROWS = 200_000
"""Largest export; narrow the query beyond this (keeps a file well under ~30 MB)."""
EXPORT_TTL = timedelta(hours=24)
"""How long a background file stays downloadable."""
JOB = "exports.violations"
CHUNK = 2000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

STATUS_TEXT = {"open": "待处理", "confirmed": "已确认", "dismissed": "已排除"}
KIND_TEXT = {"diversion": "资金异化", "aml": "反洗钱", "concentration": "资金集中"}
# (header, value path in .values(), number format or None)
COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("违规编号 ID", "id", None),
    ("订单号 Order no.", "order_no", None),
    ("客户号 Customer no.", "customer_no", None),
    ("交易流水号 Serial no.", "transaction__serial_no", None),
    ("违规种类 Kind", "kind", None),
    ("类型代码 Type code", "type_code", None),
    ("类型名称 Type", "type_name", None),
    ("交易金额 Amount", "amount", "0.00"),
    ("贷款资金金额 Loan-funded", "loan_amount", "0.00"),
    ("占贷款比例 Share of loan", "loan_share", "0.000000"),
    ("置信度 Confidence", "confidence", "0.0000"),
    ("检测器 Detector", "detector", None),
    ("原因 Reason", "reason", None),
    ("状态 Status", "status", None),
    ("交易时间 Occurred", "occurred_at", "yyyy-mm-dd hh:mm:ss"),
    ("发现时间 Detected", "detected_at", "yyyy-mm-dd hh:mm:ss"),
    ("账本哈希 Ledger hash", "ledger_hash", None),
)


def file_name(at: datetime) -> str:
    return f"violations-{at.astimezone(current_settings().tz):%Y%m%d-%H%M%S}.xlsx"


def _cell(ws: WriteOnlyWorksheet, key: str, value: Any, fmt: str | None) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.astimezone(current_settings().tz).replace(tzinfo=None)
    elif key == "status":
        value = STATUS_TEXT.get(str(value), str(value))
    elif key == "kind":
        value = KIND_TEXT.get(str(value), str(value))
    elif fmt and fmt.startswith("0."):
        value = Decimal(value)
    elif hasattr(value, "value"):
        value = value.value
    if fmt is None:
        return value
    cell = WriteOnlyCell(ws, value=value)
    cell.number_format = fmt
    return cell


async def build_violations_xlsx(scope: DataScope, f: ViolationFilter, limit: int = MAX_ROWS) -> tuple[bytes, int]:
    """The workbook of the query's rows within `scope`, newest first; returns (bytes, row count).

    Rows are read in keyset chunks of `CHUNK` (one joined statement each), never all at once.
    """
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("违规交易 Violations")
    tz = current_settings().timezone
    ws.append([h + (f" ({tz})" if fmt and fmt.startswith("yyyy") else "") for h, _, fmt in COLUMNS])
    keys = [k for _, k, _ in COLUMNS]
    base = violations_query(scope, f)
    count, last_id = 0, None
    while count < limit:
        qs = base if last_id is None else base.filter(id__lt=last_id)
        rows = await qs.order_by("-id").limit(min(CHUNK, limit - count)).values(*keys)
        if not rows:
            break
        for r in rows:
            ws.append([_cell(ws, k, r[k], fmt) for _, k, fmt in COLUMNS])
        count += len(rows)
        last_id = rows[-1]["id"]
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue(), count


@dataclass(frozen=True)
class ExportResult:
    """Inline: `content` holds the file. Background: `export` is the pending row to poll."""

    row_count: int
    file_name: str
    content: bytes | None = None
    export: ExportFile | None = None


async def request_violation_export(actor: Actor, f: ViolationFilter, request_id: str = "") -> ExportResult:
    """Export the caller's violation query: inline when small, else through the background job."""
    frozen = f.frozen()
    total = await violations_query(actor.scope, frozen).count()
    if total > MAX_ROWS:
        raise UserError.of("filter", ErrorCode.OUT_OF_RANGE,
                           f"The query has {total} rows; narrow it to at most {MAX_ROWS} to download it")
    now = clock.now()
    name = file_name(now)
    detail = {"filter": frozen.to_json(), "rows": total}
    if total <= INLINE_MAX_ROWS:
        content, count = await build_violations_xlsx(actor.scope, frozen)
        await oplog.record(actor, kind=actor.kind(reading=True), module=MODULE_VIOLATIONS, action="exportViolations",
                           summary=f"downloaded {count} violations", detail=detail | {"inline": True},
                           request_id=request_id)
        return ExportResult(count, name, content=content)
    async with in_transaction():
        row = await ExportFile.create(kind="violations", owner_id=actor.user_id, criteria=frozen.to_json(),
                                      role_keys=list(actor.role_keys), file_name=name, expires_at=now + EXPORT_TTL)
        await enqueue(JOB, {"export_id": row.id}, f"export:{row.id}")
        await oplog.record(actor, kind=actor.kind(reading=True), module=MODULE_VIOLATIONS, action="exportViolations",
                           summary=f"requested a download of {total} violations (export {row.id})",
                           detail=detail | {"inline": False, "exportId": row.id}, request_id=request_id)
    return ExportResult(total, name, export=row)


async def scope_of_roles(role_keys: list[str]) -> DataScope:
    """The data scope of a caller holding these roles, from the current policy."""
    store = policy_store()
    await store.refresh()
    return store.scope_for(tuple(role_keys))


async def run_violation_export(export_id: int, *, last_attempt: bool = True) -> dict[str, Any]:
    """The job: build the file of a pending export with its requester's scope and store it.

    Idempotent: only a pending row is built, and it is completed with a conditional UPDATE from
    pending, so a redelivered job finds it ready and does nothing. A failure re-raises (the outbox
    retries with backoff); on the last attempt the row is marked failed with the error first.
    """
    row = await ExportFile.get_or_none(id=export_id)
    if row is None or row.status is not ExportStatus.PENDING:
        return {"export": export_id, "skipped": True}
    scope = await scope_of_roles(list(row.role_keys))
    try:
        content, count = await build_violations_xlsx(scope, ViolationFilter.from_json(row.criteria))
    except Exception as exc:
        if not last_attempt:
            raise
        await ExportFile.filter(id=row.id, status=ExportStatus.PENDING).update(
            status=ExportStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:500], finished_at=clock.now())
        raise
    await ExportFile.filter(id=row.id, status=ExportStatus.PENDING).update(
        status=ExportStatus.READY, content=content, row_count=count, finished_at=clock.now())
    return {"export": export_id, "rows": count, "bytes": len(content)}


async def get_export(actor: Actor, export_id: int) -> ExportFile | None:
    """The caller's own export (another user's answers like a missing one)."""
    return await ExportFile.get_or_none(id=export_id, owner_id=actor.user_id)


def is_expired(row: ExportFile) -> bool:
    return row.expires_at <= clock.now()

