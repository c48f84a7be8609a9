"""Persisting repayment schedules (F-LOAN-3) with each funder's part (F-PROD-1), fast.

`persist_schedules` writes the installments of many loans in a few statements whatever their
number: one multi-row INSERT of every installment, one SELECT of their ids, one multi-row INSERT of
every funder part (`core.loans.funder_split`: per installment the parts sum exactly to the
installment, per funder over the schedule to its share, remainder to the lead funder at position 0).
Every funder gets a part row, a sole funder included, so reconciliation per bank reads one table.

Call it inside the transaction that disburses the loans: a schedule exists if and only if the loan
was disbursed. On PostgreSQL the rows go through `COPY … FROM STDIN` in text format (asyncpg's binary COPY spends
most of its time encoding Decimals), which is what
lets a batch job re-schedule thousands of loans a second (bench/bench_schedule_persist.py); on
SQLite through tortoise's bulk_create.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

from tortoise import connections
from tortoise.models import Model

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
    suffix = "".join("\t" + ("\\N" if d is None else ("t" if d else "f") if isinstance(d, bool) else str(d))
                     for d in defaults) + "\n"
    return "".join("\t".join(map(str, r)) + suffix for r in rows).encode()


async def persist_schedules(items: Sequence[LoanSchedule]) -> int:
    """Write the installments and funder parts of `items`; returns the installment rows written.

    Raises ValueError (nothing written by this call: the caller's transaction rolls back) when a
    loan's funders do not reconcile with its amount.
    """
    if not items:
        return 0
    inst_columns, inst_defaults = _columns(LoanInstallment, INSTALLMENT_COLUMNS)
    part_columns, part_defaults = _columns(InstallmentFunderPart, PART_COLUMNS)
    loan_ids = [item.loan_id for item in items]
    ids: dict[int, dict[int, int]] = {}
    if is_postgres():
        plain = [r for item in items for r in _rows(item)]
        conn = connections.get("default")
        raw = conn._connection  # the asyncpg connection of the current transaction
        await raw.copy_to_table("loan_installment", source=io.BytesIO(_copy_text(plain, inst_defaults)),
                                columns=inst_columns, format="text")
        found = await raw.fetch("SELECT id, loan_id, number FROM loan_installment WHERE loan_id = ANY($1::bigint[])",
                                loan_ids)
        for rec in found:
            ids.setdefault(rec["loan_id"], {})[rec["number"]] = rec["id"]
        parts = [p for item in items for p in _parts(item, ids[item.loan_id])]
        await raw.copy_to_table("installment_funder_part", source=io.BytesIO(_copy_text(parts, part_defaults)),
                                columns=part_columns, format="text")
        return len(plain)
    rows = [r + inst_defaults for item in items for r in _rows(item)]
    await LoanInstallment.bulk_create([LoanInstallment(**_attrs(LoanInstallment, inst_columns, r)) for r in rows],
                                      batch_size=500)
    for iid, lid, number in await LoanInstallment.filter(loan_id__in=loan_ids).values_list("id", "loan_id", "number"):
        ids.setdefault(lid, {})[number] = iid
    parts = [p + part_defaults for item in items for p in _parts(item, ids[item.loan_id])]
    await InstallmentFunderPart.bulk_create(
        [InstallmentFunderPart(**_attrs(InstallmentFunderPart, part_columns, p)) for p in parts], batch_size=500)
    return len(rows)


def _attrs(model: type[Model], columns: tuple[str, ...], row: tuple[object, ...]) -> dict[str, object]:
    """Column values as model keyword arguments (foreign keys by their `<name>_id` attribute)."""
    return dict(zip(columns, row, strict=True))


async def persist_schedule(item: LoanSchedule) -> int:
    """One loan's schedule (see `persist_schedules`)."""
    return await persist_schedules([item])
