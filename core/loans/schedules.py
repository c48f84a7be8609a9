"""Persisting repayment schedules (F-LOAN-3) with each funder's part (F-PROD-1), fast.

`persist_schedules` writes the installments of many loans in a few statements whatever their
number, and for joint-lending loans every funder's part of every installment
(`core.loans.funder_split`: per installment the parts sum exactly to the installment, per funder over
the schedule to its share, remainder to the lead funder at position 0).

A sole funder holds every installment whole, so its loans get **no** part rows: `funder_parts_of`
answers for both kinds (part rows of a joint loan; the installments themselves, under the sole
funder's bank, otherwise). Writing a part row per installment for them doubled the rows and, with
the part table's three foreign keys and unique index, tripled the server's work per loan
(bench/bench_schedule_persist.py: installments 2.4 s, parts 4.8 s for 5,000 loans × 36).

Call it inside the transaction that disburses the loans: a schedule exists if and only if the loan
was disbursed. On PostgreSQL the rows go through `COPY … FROM STDIN` in text format (asyncpg's
binary COPY spends most of its time encoding Decimals); installment ids are drawn from the sequence
beforehand (one `nextval` over a series) so the parts can name them without reading the rows back.
On SQLite (development and tests) through tortoise's bulk_create.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from functools import lru_cache

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.models import Model
from tortoise.transactions import in_transaction

from core.db import is_postgres
from core.loans.funder_split import split_rows, weights
from core.loans.models import InstallmentFunderPart, LoanInstallment
from core.loans.schedule import Schedule


@dataclass(frozen=True)
class Funder:
    """A loan's funder as the split needs it: bank, principal amount, share in percent (lead first)."""

    bank_id: int
    amount: Decimal
    share: Decimal


@dataclass(frozen=True)
class LoanSchedule:
    """One loan's schedule to persist: start date (disbursement date) and funders, lead first."""

    loan_id: int
    amount: Decimal
    start_date: date
    schedule: Schedule
    funders: Sequence[Funder]


INSTALLMENT_COLUMNS = ("loan_id", "number", "start_date", "due_date", "principal", "interest", "fee")
PART_COLUMNS = ("installment_id", "loan_id", "bank_id", "principal", "interest")


def _columns(model: type[Model], given: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[object, ...]]:
    """Every column of `model` but its primary key: `given` first, then the others with their defaults.

    COPY and multi-row INSERTs bypass tortoise's defaults, and columns other modules add to the
    model later must still get theirs.
    """
    names: list[str] = []
    defaults: list[object] = []
    by_column = {f.source_field or name: f for name, f in model._meta.fields_map.items()
                 if name in model._meta.fields_db_projection}
    for column, field in by_column.items():
        if column in given or field.pk:
            continue
        default = field.default() if callable(field.default) else field.default
        if isinstance(default, Enum):
            default = default.value
        names.append(column)
        defaults.append(default)
    return given + tuple(names), tuple(defaults)


def _rows(item: LoanSchedule) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    start = item.start_date
    for inst in item.schedule.installments:
        rows.append((item.loan_id, inst.number, start, inst.due_date, inst.principal, inst.interest, inst.fee))
        start = inst.due_date
    return rows


def _copy_lines(item: LoanSchedule, suffix: str, ids: dict[int, int] | None = None,
                pool: Iterator[int] | None = None) -> str:
    """One loan's installment rows in COPY text format (see `_copy_text`; `suffix`: the defaulted
    columns, `_suffix`), ids first when drawn.

    Written out with one f-string per row: the generic join over `map(str, row)` was a third of the
    Python time of a disbursement batch. With `ids` and `pool`, each row takes the next drawn id and
    `ids` records it by installment number for the funder parts.
    """
    loan = item.loan_id
    start = _day(item.start_date)
    lines: list[str] = []
    for inst in item.schedule.installments:
        due = _day(inst.due_date)
        head = ""
        if ids is not None and pool is not None:
            ids[inst.number] = next(pool)
            head = f"{ids[inst.number]}\t"
        lines.append(f"{head}{loan}\t{inst.number}\t{start}\t{due}\t{inst.principal}\t{inst.interest}\t{inst.fee}"
                     f"{suffix}")
        start = due
    return "".join(lines)


@lru_cache(maxsize=4096)
def _day(value: date) -> str:
    """A date's COPY text; loans disbursed on one day share their due dates, so this is mostly a lookup."""
    return value.isoformat()


def _suffix(defaults: tuple[object, ...]) -> str:
    """The defaulted columns' text, the same on every row (None is \\N, booleans t/f)."""
    return "".join("\t" + ("\\N" if d is None else ("t" if d else "f") if isinstance(d, bool) else str(d))
                   for d in defaults) + "\n"


def _parts(item: LoanSchedule, ids: dict[int, int]) -> list[tuple[object, ...]]:
    installments = item.schedule.installments
    funders = list(item.funders)
    split = split_rows([i.principal for i in installments], [i.interest for i in installments],
                       weights(item.amount, [(f.bank_id, f.amount, f.share) for f in funders]),
                       [f.amount for f in funders])
    loan_id = item.loan_id
    return [(ids[number], loan_id, key, principal, interest) for number, key, principal, interest in split]


def _copy_text(rows: list[tuple[object, ...]], defaults: tuple[object, ...]) -> bytes:
    """Rows in COPY's text format: far cheaper than binary COPY's per-Decimal encoding in asyncpg.

    Every value here is a number, a date or a plain enum value (no tab, newline or backslash), so
    `str` is its text form; None (only among the defaults) is written as \\N.
    """
    suffix = _suffix(defaults)
    return "".join("\t".join(map(str, r)) + suffix for r in rows).encode()


async def persist_schedules(items: Sequence[LoanSchedule]) -> int:
    """Write the installments and funder parts of `items`; returns the installment rows written.

    Raises ValueError (nothing written by this call: the caller's transaction rolls back) when a
    loan's funders do not reconcile with its amount.
    """
    if not items:
        return 0
    if not isinstance(connections.get("default"), TransactionalDBClient):  # all rows or none
        async with in_transaction():
            return await _persist(items)
    return await _persist(items)


async def _persist(items: Sequence[LoanSchedule]) -> int:
    inst_columns, inst_defaults = _columns(LoanInstallment, INSTALLMENT_COLUMNS)
    part_columns, part_defaults = _columns(InstallmentFunderPart, PART_COLUMNS)
    ids: dict[int, dict[int, int]] = {}
    joint = [item for item in items if len(item.funders) > 1]
    for item in items:
        if not item.funders:
            raise ValueError(f"loan {item.loan_id} has no funder")
        if len(item.funders) == 1:
            weights(item.amount, [(f.bank_id, f.amount, f.share) for f in item.funders])  # amount and share check
    if is_postgres():
        raw = connections.get("default")._connection  # type: ignore[attr-defined]  # the transaction's asyncpg connection
        count = sum(len(item.schedule.installments) for item in items)
        suffix = _suffix(inst_defaults)
        if joint:
            drawn = await raw.fetch("SELECT nextval('loan_installment_id_seq') AS id FROM generate_series(1, $1)",
                                    count)
            pool = iter(rec["id"] for rec in drawn)
            text = "".join(_copy_lines(item, suffix, ids.setdefault(item.loan_id, {}), pool)
                           for item in items)
            await raw.copy_to_table("loan_installment", source=io.BytesIO(text.encode()),
                                    columns=("id", *inst_columns), format="text")
            parts = [p for item in joint for p in _parts(item, ids[item.loan_id])]
            await raw.copy_to_table("installment_funder_part", source=io.BytesIO(_copy_text(parts, part_defaults)),
                                    columns=part_columns, format="text")
        else:
            text = "".join(_copy_lines(item, suffix) for item in items)
            await raw.copy_to_table("loan_installment", source=io.BytesIO(text.encode()), columns=inst_columns,
                                    format="text")
        return count
    rows = [r + inst_defaults for item in items for r in _rows(item)]
    await LoanInstallment.bulk_create([LoanInstallment(**_attrs(LoanInstallment, inst_columns, r)) for r in rows],
                                      batch_size=500)
    if not joint:
        return len(rows)
    joint_ids = [item.loan_id for item in joint]
    for iid, lid, number in await LoanInstallment.filter(loan_id__in=joint_ids).values_list("id", "loan_id",
                                                                                               "number"):
        ids.setdefault(lid, {})[number] = iid
    parts = [p + part_defaults for item in joint for p in _parts(item, ids[item.loan_id])]
    await InstallmentFunderPart.bulk_create(
        [InstallmentFunderPart(**_attrs(InstallmentFunderPart, part_columns, p)) for p in parts], batch_size=500)
    return len(rows)


def _attrs(model: type[Model], columns: tuple[str, ...], row: tuple[object, ...]) -> dict[str, object]:
    """Column values as model keyword arguments (foreign keys by their `<name>_id` attribute)."""
    return dict(zip(columns, row, strict=True))


async def persist_schedule(item: LoanSchedule) -> int:
    """One loan's schedule (see `persist_schedules`)."""
    return await persist_schedules([item])
