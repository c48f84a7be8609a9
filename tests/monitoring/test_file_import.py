"""File import: CSV (UTF-8 / GB18030) and Excel, Chinese and English headers, row-numbered errors, all or
nothing, and the GraphQL mutation."""

from __future__ import annotations

import base64
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import Workbook

from core.actor import SYSTEM
from core.errors import UserError
from core.monitoring.file_import import import_file
from core.monitoring.models import AccountTransaction
from core.monitoring.rules import load_default_rules
from tests.monitoring.ingest_helpers import actor_for, bank_user, detectors, make_loan, make_world
from tests.support import Api

pytestmark = pytest.mark.asyncio

CN_HEADER = "订单号,交易流水号,客户号,账号,交易时间,交易金额,交易对手,对手方类别,交易渠道,备注\n"


def csv_rows(loan: Any, lines: list[str]) -> bytes:
    c = loan.customer.customer_no
    return (CN_HEADER + "".join(line.format(o=loan.order_no, c=c) + "\n" for line in lines)).encode("utf-8-sig")


async def test_chinese_csv_with_signed_amounts_and_local_times(db: str) -> None:
    await load_default_rules()
    w = await make_world("CSV")
    loan = await make_loan(w, "10000.00")
    content = csv_rows(loan, ["{o},F1,{c},ACC-1,2026-03-02 09:00:00,10000.00,银行放款,,网银,首笔",
                              "",
                              "{o},F2,{c},ACC-1,2026/03/02 10:30,-2000,万科地产,,网银,买房"])
    async with detectors():
        result = await import_file(SYSTEM, "流水.csv", content)
    assert (result.inserted, result.skipped) == (2, 0)
    assert [v.type_code for v in result.violations] == ["FDC"]
    f2 = await AccountTransaction.get(serial_no="F2")
    assert f2.direction.value == "out" and Decimal(f2.amount) == Decimal("2000.00")
    assert f2.occurred_at == datetime.fromisoformat("2026-03-02T10:30:00+08:00")
    assert (await AccountTransaction.get(serial_no="F1")).is_disbursement


async def test_bad_rows_are_reported_with_their_file_row_number_and_nothing_is_stored(db: str) -> None:
    w = await make_world("ERR")
    loan = await make_loan(w, "10000.00")
    content = csv_rows(loan, ["{o},G1,{c},ACC-1,2026-03-02 09:00:00,10000.00,,,,",
                              "",  # line 3 is empty: the next row is line 4
                              "{o},G2,{c},ACC-1,yesterday,-20.00,,,,",
                              "{o},G3,{c},ACC-1,2026-03-02 11:00:00,12.345,,,,",
                              "NOPE,G4,{c},ACC-1,2026-03-02 12:00:00,1.00,,,,"])
    with pytest.raises(UserError) as exc:
        async with detectors():
            await import_file(SYSTEM, "bad.csv", content)
    assert {e.field for e in exc.value.errors} == {"rows[4].occurredAt", "rows[5].amount"}
    fixed = content.replace(b"yesterday", b"2026-03-02 10:00:00").replace(b"12.345", b"12.34")
    with pytest.raises(UserError) as exc:
        async with detectors():
            await import_file(SYSTEM, "bad.csv", fixed)
    assert {e.field for e in exc.value.errors} == {"rows[6].orderNo"}
    assert not await AccountTransaction.exists()


async def test_missing_columns_and_wrong_file_types(db: str) -> None:
    with pytest.raises(UserError) as exc:
        await import_file(SYSTEM, "x.csv", "订单号,金额\nA,1\n".encode())
    assert {e.field for e in exc.value.errors} == {"rows[1]"}
    assert len(exc.value.errors) == 4  # serial, customer, account, time
    with pytest.raises(UserError) as exc:
        await import_file(SYSTEM, "x.pdf", b"%PDF")
    assert exc.value.errors[0].field == "fileName"
    with pytest.raises(UserError) as exc:
        await import_file(SYSTEM, "x.xlsx", b"not a zip")
    assert exc.value.errors[0].field == "file"


def workbook(loan: Any) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["orderNo", "serialNo", "customerNo", "accountNo", "occurredAt", "direction", "amount",
                  "counterpartyCategory", "balanceAfter"])
    c = loan.customer.customer_no
    sheet.append([loan.order_no, "X1", c, "ACC-9", datetime(2026, 3, 2, 9, 0), "收入", 10000, None, 10000])
    sheet.append([loan.order_no, "X2", c, "ACC-9", datetime(2026, 3, 2, 9, 5), "支出", 300.5, "SEC_BROKER", 9699.5])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def test_excel_with_english_headers(db: str) -> None:
    await load_default_rules()
    w = await make_world("XLS")
    loan = await make_loan(w, "10000.00")
    async with detectors():
        result = await import_file(SYSTEM, "statement.xlsx", workbook(loan))
    assert result.inserted == 2 and [v.type_code for v in result.violations] == ["GS"]
    x2 = await AccountTransaction.get(serial_no="X2")
    assert (Decimal(x2.amount), Decimal(x2.balance_after), x2.counterparty_category) == (
        Decimal("300.50"), Decimal("9699.50"), "SEC_BROKER")


async def test_gb18030_csv(db: str) -> None:
    w = await make_world("GBK")
    loan = await make_loan(w, "10000.00")
    text = CN_HEADER + f"{loan.order_no},K1,{loan.customer.customer_no},ACC-2,2026-03-02 09:00:00,5.00,张三,,柜面,\n"
    async with detectors():
        result = await import_file(SYSTEM, "gbk.csv", text.encode("gb18030"))
    assert result.inserted == 1
    assert (await AccountTransaction.get(serial_no="K1")).counterparty_name == "张三"


MUTATION = """mutation($name: String!, $content: String!) { importTransactionsFile(fileName: $name,
  contentBase64: $content) { errors { field code message } inserted skipped violations { typeCode orderNo } } }"""


async def test_graphql_import_applies_the_callers_scope(api: Api, people: dict[str, Any]) -> None:
    await load_default_rules()
    a = await make_world("GQA")
    b = await make_world("GQB", a.channel)
    loan_a, loan_b = await make_loan(a, "10000.00"), await make_loan(b, "10000.00")
    await bank_user("gqa_user", a.bank, "gqa_all")
    token = await api.login("gqa_user")
    foreign = base64.b64encode(csv_rows(loan_b, ["{o},Q1,{c},ACC-Q,2026-03-02 09:00:00,5.00,,,,"])).decode()
    async with detectors():
        body = await api(MUTATION, {"name": "b.csv", "content": foreign}, token)
        refused = body["data"]["importTransactionsFile"]
        assert [e["field"] for e in refused["errors"]] == ["rows[2].orderNo"]
        own = base64.b64encode(csv_rows(loan_a, ["{o},Q2,{c},ACC-Q,2026-03-02 09:00:00,10000.00,,,,",
                                                 "{o},Q3,{c},ACC-Q,2026-03-02 09:30:00,-5000.00,某证券公司,"
                                                 "SEC_BROKER,,"])).decode()
        body = await api(MUTATION, {"name": "a.csv", "content": own}, token)
    payload = body["data"]["importTransactionsFile"]
    assert payload["errors"] == [] and payload["inserted"] == 2
    assert payload["violations"] == [{"typeCode": "GS", "orderNo": loan_a.order_no}]
    bad = await api(MUTATION, {"name": "a.csv", "content": "%%%"}, token)
    assert bad["data"]["importTransactionsFile"]["errors"][0]["field"] == "contentBase64"
    viewer = await api.login("viewer1")
    denied = await api(MUTATION, {"name": "a.csv", "content": own}, viewer)
    assert denied["data"]["importTransactionsFile"]["errors"][0]["code"] == "FORBIDDEN"
    assert await actor_for(people["viewer"])  # the viewer exists; refused for lack of transactions.ingest
