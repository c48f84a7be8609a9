"""Import borrowers' transactions from a CSV or Excel file (F-MON-1), all or nothing.

File format
    The first non-empty row is the header; each later non-empty row is one transaction. Column order
    is free; headers are matched case-insensitively, in English or Chinese (see `HEADERS`); columns
    with other headers are ignored:

    ====================  =========================================  ==========
    field                 accepted headers                           required
    ====================  =========================================  ==========
    orderNo               orderNo, order_no, order no, 订单号          yes
    serialNo              serialNo, serial no, 交易流水号, 流水号        yes
    customerNo            customerNo, customer no, 客户号              yes
    accountNo             accountNo, account no, 账号, 交易账号, 账户    yes
    occurredAt            occurredAt, time, 交易时间, 时间              yes
    direction             direction, 交易方向, 收支方向, 方向            (see below)
    amount                amount, 交易金额, 金额                        yes
    counterpartyName      counterpartyName, 交易对手, 对手方名称, 对方户名
    counterpartyAccount   counterpartyAccount, 对手方账号, 对方账号
    counterpartyCategory  counterpartyCategory, 对手方类别, 商户类别码
    channel               channel, 交易渠道, 渠道
    balanceAfter          balanceAfter, balance, 余额, 交易后余额
    isDisbursement        isDisbursement, 是否放款
    isRepayment           isRepayment, 是否还款
    ====================  =========================================  ==========

    * ``direction``: ``in``/``out`` or 收入/转入/入账 and 支出/转出/出账. When the cell is empty a signed
      amount decides (seed 000 writes outflows as ``-2000``): negative = out, positive = in.
    * ``occurredAt``: ISO 8601 (``2026-03-01T09:30:00+08:00``), or ``2026-03-01 09:30:00`` /
      ``2026/03/01 09:30`` / an Excel date-time cell, which are read in the bank's business time zone.
    * Amounts: plain numbers with at most two decimals (thousands separators allowed).
    * Flags: 是/否, true/false, yes/no, 1/0, Y/N; empty = let the platform recognise it.

Errors name the row as it is numbered in the file (the header is row 1 when it is the first line)
and the field: ``rows[7].amount``. Up to `MAX_FILE_ROWS` rows are imported in one transaction: any
error and nothing is stored. CSV files may be UTF-8 (with or without BOM) or GB18030 (Excel's
Chinese CSV export).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from core.actor import Actor
from core.config import current_settings
from core.errors import ErrorCode, ErrorCollector, UserError
from core.monitoring.ingest import IngestResult, ingest
from core.monitoring.models import TxSource

MAX_FILE_ROWS = 20_000
MAX_FILE_BYTES = 20 * 1024 * 1024

HEADERS: dict[str, tuple[str, ...]] = {
    "orderNo": ("orderno", "order_no", "order no", "order no.", "订单号", "订单编号"),
    "serialNo": ("serialno", "serial_no", "serial no", "serial no.", "交易流水号", "流水号"),
    "customerNo": ("customerno", "customer_no", "customer no", "customer no.", "客户号", "客户编号"),
    "accountNo": ("accountno", "account_no", "account no", "account", "账号", "交易账号", "账户", "卡号"),
    "occurredAt": ("occurredat", "occurred_at", "time", "transaction time", "交易时间", "时间"),
    "direction": ("direction", "交易方向", "收支方向", "方向", "收支"),
    "amount": ("amount", "交易金额", "金额"),
    "counterpartyName": ("counterpartyname", "counterparty_name", "counterparty", "交易对手", "对手方名称",
                         "对手方", "对方户名"),
    "counterpartyAccount": ("counterpartyaccount", "counterparty_account", "对手方账号", "对方账号"),
    "counterpartyCategory": ("counterpartycategory", "counterparty_category", "category", "对手方类别",
                             "交易对手类别", "商户类别码"),
    "channel": ("channel", "交易渠道", "渠道"),
    "balanceAfter": ("balanceafter", "balance_after", "balance", "余额", "交易后余额", "账户余额"),
    "isDisbursement": ("isdisbursement", "is_disbursement", "是否放款"),
    "isRepayment": ("isrepayment", "is_repayment", "是否还款"),
}
REQUIRED = ("orderNo", "serialNo", "customerNo", "accountNo", "occurredAt", "amount")
_BY_HEADER = {alias: key for key, aliases in HEADERS.items() for alias in aliases}
DIRECTION_WORDS = {"in": "in", "收入": "in", "转入": "in", "入账": "in", "入": "in", "out": "out", "支出": "out",
                   "转出": "out", "出账": "out", "出": "out"}
TRUE = {"是", "true", "yes", "y", "1"}
FALSE = {"否", "false", "no", "n", "0"}
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y.%m.%d %H:%M:%S",
                "%Y%m%d%H%M%S")


@dataclass(frozen=True)
class FileRow:
    line: int
    cells: dict[str, Any]


def _cells_csv(content: bytes) -> Iterator[tuple[int, list[Any]]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise UserError.of("file", ErrorCode.INVALID, "The CSV file is neither UTF-8 nor GB18030 text")
    for number, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        yield number, list(cells)


def _cells_xlsx(content: bytes) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or non-Excel file
        raise UserError.of("file", ErrorCode.INVALID, f"The file is not a readable Excel workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(cells)
    finally:
        book.close()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_rows(file_name: str, content: bytes) -> list[FileRow]:
    """The file's data rows as raw cells keyed by field name (header problems raise UserError)."""
    name = file_name.lower()
    if len(content) > MAX_FILE_BYTES:
        raise UserError.of("file", ErrorCode.OUT_OF_RANGE, f"The file is larger than {MAX_FILE_BYTES // 2**20} MB")
    if name.endswith(".csv") or name.endswith(".txt"):
        source = _cells_csv(content)
    elif name.endswith(".xlsx") or name.endswith(".xlsm"):
        source = _cells_xlsx(content)
    else:
        raise UserError.of("fileName", ErrorCode.INVALID, "Send a .csv or .xlsx file")
    header: list[str | None] | None = None
    rows: list[FileRow] = []
    for number, cells in source:
        if all(_blank(c) for c in cells):
            continue
        if header is None:
            header = _header(number, cells)
            continue
        row = {key: cell for key, cell in zip(header, cells, strict=False) if key is not None and not _blank(cell)}
        rows.append(FileRow(number, row))
        if len(rows) > MAX_FILE_ROWS:
            raise UserError.of("file", ErrorCode.OUT_OF_RANGE, f"At most {MAX_FILE_ROWS} rows per file; split it")
    if header is None or not rows:
        raise UserError.of("file", ErrorCode.REQUIRED, "The file has no transactions (a header row, then one row "
                           "per transaction)")
    return rows


def _header(number: int, cells: list[Any]) -> list[str | None]:
    errs = ErrorCollector()
    keys: list[str | None] = []
    seen: dict[str, int] = {}
    for i, cell in enumerate(cells):
        text = str(cell or "").strip().lower()
        key = _BY_HEADER.get(text)  # other columns (remarks, a bank's own codes) are ignored
        if key is not None and key in seen:
            errs.add(f"rows[{number}].column{i + 1}", ErrorCode.NOT_UNIQUE, f"column {key} appears twice")
        if key is not None:
            seen[key] = i
        keys.append(key)
    for key in REQUIRED:
        if key not in seen:
            errs.add(f"rows[{number}]", ErrorCode.REQUIRED, f"the header has no {key} column ({HEADERS[key][-1]})")
    errs.raise_if_any()
    return keys


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _time(value: Any) -> Any:
    tz = current_settings().tz
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    text = _text(value)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in TIME_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            return text  # ingest reports it as not a time, naming the row and field
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def to_input(row: FileRow) -> dict[str, Any]:
    """A file row as an `ingest` input row (cells converted as the module docstring says)."""
    out: dict[str, Any] = {}
    for key, value in row.cells.items():
        if key == "occurredAt":
            out[key] = _time(value)
        elif key in ("amount", "balanceAfter"):
            out[key] = repr(value) if isinstance(value, float) else _text(value)
        elif key in ("isDisbursement", "isRepayment"):
            text = _text(value).lower()
            out[key] = True if text in TRUE else False if text in FALSE else text
        elif key == "direction":
            text = _text(value).lower()
            out[key] = DIRECTION_WORDS.get(text, text)
        else:
            out[key] = _text(value)
    amount = str(out.get("amount", ""))
    if "direction" not in out and amount:
        out["direction"] = "out" if amount.startswith("-") else "in"
    if amount.startswith("-") and out.get("direction") == "out":
        out["amount"] = amount[1:]
    return out


async def import_file(actor: Actor, file_name: str, content: bytes, request_id: str = "") -> IngestResult:
    """Validate and import the whole file in one transaction (see the module docstring)."""
    rows = read_rows(file_name, content)
    return await ingest(actor, [to_input(r) for r in rows], TxSource.FILE, labels=[f"rows[{r.line}]" for r in rows],
                        max_rows=MAX_FILE_ROWS, request_id=request_id,
                        detail={"fileName": file_name[:200], "rows": len(rows)})
