"""Excel download of a violation query (F-MON-5): inline for small results, a background job through the
outbox for large ones (in-process and on real Redis with an arq worker), the requester's data scope in
the file either way, owner-only polling, a frozen window and expiry."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from arq.worker import Worker, func
from openpyxl import load_workbook

from core import clock
from core.errors import ErrorCode, UserError
from core.monitoring import export, views
from core.monitoring.export_models import ExportFile, ExportStatus
from core.monitoring.models import TxDirection
from core.oplog.models import OperationLog
from core.outbox.models import OutboxMessage, OutboxStatus
from core.outbox.service import dispatch_pending
from schema.relay import gid
from tests.monitoring.factories import World, days_ago, make_channel, make_tx, make_violation, make_world, scoped_user
from tests.support import Api
from tests.workers.conftest import RedisEnv, queue, redis_env  # noqa: F401 - fixtures for the arq test
from workers.runtime import OUTBOX_FUNCTION, ArqSink, inline_sink
from workers.settings import outbox_job

OUT = TxDirection.OUT


@pytest.fixture
async def rows(db: str) -> dict[str, Any]:
    channel = await make_channel()
    a, z = await make_world("ALPHA", channel), await make_world("ZETA", channel)
    va = [await make_violation(a, await make_tx(a, OUT, amt, days_ago(d), loan_part=lp), detected=days_ago(d))
          for amt, lp, d in (("1000.10", "500.05", 0), ("333.33", "111.11", 1), ("50.01", "50.01", 2))]
    old = await make_violation(a, await make_tx(a, OUT, "77.77", days_ago(20), loan_part="77.77"),
                               detected=days_ago(20))
    vz = [await make_violation(z, await make_tx(z, OUT, "9000", days_ago(0), loan_part="9000"))]
    return {"a": a, "z": z, "va": va, "old": old, "vz": vz}


def sheet(content: bytes) -> list[list[str]]:
    """Cells as text; openpyxl reads numbers back as floats, so money is re-quantized from text."""
    ws = load_workbook(io.BytesIO(content), read_only=True).active
    out = []
    for r in ws.iter_rows(values_only=True):
        out.append(["" if v is None else str(v) for v in r])
    return out


def money_col(table: list[list[str]], header: str) -> list[str]:
    i = next(n for n, h in enumerate(table[0]) if h.startswith(header))
    return [str(Decimal(r[i]).quantize(Decimal("0.01"))) for r in table[1:]]


async def test_a_small_export_comes_inline_with_only_the_callers_rows(rows: dict[str, Any]) -> None:
    a: World = rows["a"]
    _, user = await scoped_user("alpha", {a.bank.id}, {"violations", "violations.export"})
    result = await export.request_violation_export(user, views.ViolationFilter(), "req-x")
    assert result.export is None and result.row_count == 3 and result.file_name.endswith(".xlsx")
    table = sheet(result.content or b"")
    assert table[0][:3] == ["违规编号 ID", "订单号 Order no.", "客户号 Customer no."]
    assert [r[0] for r in table[1:]] == [str(v.id) for v in reversed(rows["va"])]  # newest first, no ZETA row
    assert money_col(table, "交易金额") == ["50.01", "333.33", "1000.10"]
    assert money_col(table, "贷款资金金额") == ["50.01", "111.11", "500.05"]
    assert all("ZETA" not in cell for r in table for cell in r)
    assert table[1][table[0].index("状态 Status")] == "待处理"
    log = await OperationLog.get(action="exportViolations")
    assert log.detail["rows"] == 3 and log.detail["inline"] is True and log.request_id == "req-x"
    everything = await export.request_violation_export(user, views.ViolationFilter(reset=True))
    assert everything.row_count == 4  # reset: the 20-day-old one too
    _, admin = await scoped_user("all", None, None)  # positive control: bank Z's row is there for admin
    assert "ZETA" in str(sheet((await export.request_violation_export(admin, views.ViolationFilter())).content
                               or b""))


async def test_a_large_export_runs_in_the_background_with_the_requesters_scope(
        rows: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "INLINE_MAX_ROWS", 1)
    a: World = rows["a"]
    owner, user = await scoped_user("alpha", {a.bank.id}, {"violations", "violations.export"})
    _, other = await scoped_user("other", {a.bank.id}, {"violations", "violations.export"})
    result = await export.request_violation_export(user, views.ViolationFilter())
    job = result.export
    assert job is not None and result.content is None and job.status is ExportStatus.PENDING
    assert job.role_keys == ["alpha"] and job.owner_id == owner.id  # type: ignore[attr-defined]
    message = await OutboxMessage.get(job="exports.violations")
    assert message.payload == {"export_id": job.id}
    assert (await dispatch_pending(inline_sink)).sent == 1  # embedded mode: the worker's deliver(), in-process
    done = await ExportFile.get(id=job.id)
    assert done.status is ExportStatus.READY and done.row_count == 3 and done.finished_at is not None
    table = sheet(bytes(done.content or b""))
    assert sorted(r[0] for r in table[1:]) == sorted(str(v.id) for v in rows["va"])
    assert all("ZETA" not in c for r in table for c in r)
    assert (await OutboxMessage.get(id=message.id)).status is OutboxStatus.DONE
    assert await export.get_export(user, job.id) is not None
    assert await export.get_export(other, job.id) is None  # only its owner
    again = await export.run_violation_export(job.id)  # a redelivery changes nothing
    assert again["skipped"] is True


async def test_the_window_of_a_background_export_is_frozen_at_request_time(
        rows: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "INLINE_MAX_ROWS", 1)
    a: World = rows["a"]
    _, user = await scoped_user("alpha", {a.bank.id}, {"violations", "violations.export"})
    job = (await export.request_violation_export(user, views.ViolationFilter())).export
    assert job is not None
    clock.travel(timedelta(days=9))  # the default window would now miss every row
    assert await views.violations_query(user.scope).count() == 0
    await export.run_violation_export(job.id)
    assert (await ExportFile.get(id=job.id)).row_count == 3
    clock.travel(export.EXPORT_TTL)
    assert export.is_expired(await ExportFile.get(id=job.id))


async def test_too_large_an_export_is_refused(rows: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "MAX_ROWS", 2)
    _, user = await scoped_user("all", None, None)
    with pytest.raises(UserError) as refused:
        await export.request_violation_export(user, views.ViolationFilter())
    assert (refused.value.errors[0].field, refused.value.code) == ("filter", ErrorCode.OUT_OF_RANGE)
    assert await ExportFile.all().count() == 0


EXPORT = """mutation($f: ViolationFilter) { exportViolations(filter: $f) { errors { code field message } rowCount
  fileName contentType contentBase64 exportFile { id status } } }"""
POLL = """query($id: ID!) { exportFile(id: $id) { id status rowCount fileName contentBase64 } }"""


async def test_exports_over_http_inline_background_and_polling(api: Api, rows: dict[str, Any],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    a: World = rows["a"]
    owner, _ = await scoped_user("alpha", {a.bank.id}, {"violations", "violations.export"})
    reader, _ = await scoped_user("reader", {a.bank.id}, {"violations"})
    other, _ = await scoped_user("other", {a.bank.id}, {"violations", "violations.export"})
    token = await api.login(owner.account)
    refused = await api(EXPORT, {}, await api.login(reader.account))
    assert refused["data"]["exportViolations"]["errors"][0]["code"] == "FORBIDDEN"
    inline = (await api(EXPORT, {"f": {"typeCode": "GS"}}, token))["data"]["exportViolations"]
    assert inline["errors"] == [] and inline["rowCount"] == 3 and inline["exportFile"] is None
    assert len(sheet(base64.b64decode(inline["contentBase64"]))) == 4
    monkeypatch.setattr(export, "INLINE_MAX_ROWS", 1)
    queued = (await api(EXPORT, {}, token))["data"]["exportViolations"]
    assert queued["contentBase64"] is None and queued["exportFile"]["status"] == "pending"
    export_id = queued["exportFile"]["id"]
    waiting = (await api(POLL, {"id": export_id}, token))["data"]["exportFile"]
    assert waiting["status"] == "pending" and waiting["contentBase64"] is None
    await dispatch_pending(inline_sink)
    ready = (await api(POLL, {"id": export_id}, token))["data"]["exportFile"]
    assert ready["status"] == "ready" and ready["rowCount"] == 3
    assert len(sheet(base64.b64decode(ready["contentBase64"]))) == 4
    assert (await api(POLL, {"id": export_id}, await api.login(other.account)))["data"]["exportFile"] is None
    assert (await api(POLL, {"id": gid("ExportFile", 987654)}, token))["data"]["exportFile"] is None
    # a day later (tokens cannot travel in time, so the row's expiry moves instead)
    await ExportFile.all().update(expires_at=clock.now() - timedelta(seconds=1))
    expired = (await api(POLL, {"id": export_id}, token))["data"]["exportFile"]
    assert expired["status"] == "expired" and expired["contentBase64"] is None


@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
async def test_a_large_export_on_real_redis_and_an_arq_worker(rows: dict[str, Any], queue: RedisEnv,  # noqa: F811
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "INLINE_MAX_ROWS", 1)
    a: World = rows["a"]
    _, user = await scoped_user("alpha", {a.bank.id}, {"violations", "violations.export"})
    job = (await export.request_violation_export(user, views.ViolationFilter(reset=True))).export
    assert job is not None
    sink = ArqSink(queue.settings, queue=queue.queue)
    try:
        assert (await dispatch_pending(sink)).sent == 1
    finally:
        await sink.close()
    worker = Worker(functions=[func(outbox_job, name=OUTBOX_FUNCTION)], redis_settings=queue.settings,  # type: ignore[arg-type]
                    queue_name=queue.queue, burst=True, handle_signals=False, poll_delay=0.05,
                    health_check_key=f"{queue.queue}:health-check")
    try:
        await worker.main()
    finally:
        await worker.close()
    assert worker.jobs_complete == 1 and worker.jobs_failed == 0
    done = await ExportFile.get(id=job.id)
    assert done.status is ExportStatus.READY and done.row_count == 4
    table = sheet(bytes(done.content or b""))
    assert all("ZETA" not in c for r in table for c in r) and len(table) == 5
