"""Set-based writes for ingestion on PostgreSQL: one statement per table per batch, no ORM objects.

Why: building a tortoise model per row costs ~0.15 ms in Python, more than the database needs to
store it, and a batch of 1,000 transactions writes ~2,000 rows (transactions and their fund parts).
On PostgreSQL the rows are sent as one array per column and inserted with
``INSERT … SELECT * FROM unnest(…)`` (``RETURNING`` gives the new ids, so no read-back is needed).
Large batches go through ``COPY … FROM STDIN`` in text format instead (`copy_lines`): asyncpg encodes
an array parameter element by element with several abstract-base-class checks each, which cost more
than the insert itself for a 1,000-row, 22-column batch; the ids are drawn from the sequence first
(`next_ids`) so no read-back is needed either. COPY costs two more round trips than one INSERT, so
small batches (a single transaction) stay on INSERT. On SQLite (development and tests) the callers
use the ORM; all paths are covered by the same tests.

Lookups by a list of keys are ``key = ANY($1)`` on the key's index (`rows_where_any`), or, where
another index competes (an account's transactions in a time window), one index range per key
(`rows_per_key`, which says why).

Statements run on tortoise's current connection, so they are part of the caller's transaction.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError

try:
    from asyncpg.exceptions import IntegrityConstraintViolationError
except ImportError:  # pragma: no cover - SQLite-only installs never reach the COPY path
    IntegrityConstraintViolationError = IntegrityError  # type: ignore[assignment,misc]

COPY_MIN_ROWS = 50
"""From this many rows `copy_lines` is cheaper than one INSERT (measured; see the module docstring)."""


def postgres() -> bool:
    """The backend of the connection in use (not the configured URL: scripts connect elsewhere)."""
    return connections.get("default").capabilities.dialect == "postgres"


async def insert_unnest(table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]],
                        returning: str = "", conflict: str = "") -> list[Any]:
    """INSERT the rows (tuples in `columns` order; `columns` = (name, PostgreSQL type)); returns RETURNING rows."""
    if not rows:
        return []
    arrays = [list(col) for col in zip(*rows, strict=True)]
    params = ", ".join(f"${i + 1}::{pgtype}[]" for i, (_, pgtype) in enumerate(columns))
    names = ", ".join(name for name, _ in columns)
    sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({params})"
    if conflict:
        sql += f" {conflict}"
    if returning:
        sql += f" RETURNING {returning}"
    conn = connections.get("default")
    if returning:
        return list(await conn.execute_query_dict(sql, arrays))
    await conn.execute_query(sql, arrays)
    return []


async def select_dicts(sql: str, values: Sequence[Any]) -> list[dict[str, Any]]:
    return list(await connections.get("default").execute_query_dict(sql, list(values)))


async def rows_where_any(table: str, columns: Sequence[str], key: str, keys: Sequence[Any], pgtype: str,
                         extra: str = "", extra_values: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """``SELECT columns FROM table WHERE key = ANY($1) [AND extra]`` on PostgreSQL (one array parameter).

    A tortoise ``__in`` filter builds one SQL parameter object per value, which costs more Python time
    than the query itself for the 1,000-value lists of a batch. `extra` uses ``$2``, ``$3`` … for
    `extra_values`. For a key with a unique index; see `rows_per_key` when another index competes.
    """
    if not keys:
        return []
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = ANY($1::{pgtype}[])"
    if extra:
        sql += f" AND {extra}"
    return await select_dicts(sql, [list(keys), *extra_values])


async def rows_per_key(table: str, columns: Sequence[str], key: str, keys: Sequence[Any], pgtype: str,
                       where: str, values: Sequence[Any] = (), tail: str = "") -> list[dict[str, Any]]:
    """The rows matching `where` of each key, read key by key through the index on (key, …).

    ``SELECT columns FROM unnest($1) AS k, LATERAL (SELECT * FROM table WHERE key = k AND where
    OFFSET 0) AS t [tail]``: `where` uses ``$2``, ``$3`` … for `values`; `tail` (GROUP BY / ORDER BY)
    and `columns` name the table's columns unqualified. Why not `rows_where_any`: when another index
    also fits `where` (a time range), PostgreSQL may scan that range for all keys and test
    ``key = ANY($1)`` on every row, a linear search of the array in the generic plan it uses for
    prepared statements, or join the keys in a nested loop when the table has no statistics yet
    (60–600 ms for a 1,000-row batch's AML window). ``OFFSET 0`` keeps the subquery from being
    flattened into such a join, so the cost is one index range per key whatever the estimates.
    """
    if not keys:
        return []
    sql = (f"SELECT {', '.join(columns)} FROM unnest($1::{pgtype}[]) AS k(key_value), "
           f"LATERAL (SELECT * FROM {table} WHERE {key} = k.key_value AND {where} OFFSET 0) AS t")
    if tail:
        sql += f" {tail}"
    return await select_dicts(sql, [list(dict.fromkeys(keys)), *values])  # each key once


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_value(value: Any) -> str:
    """One value in COPY's text format: None is ``\\N``, booleans ``t``/``f``, text escaped.

    Decimals and integers are their ``str`` (never exponent notation for the quantised amounts
    stored here, and PostgreSQL would read that too); times are ISO 8601 with their offset.
    """
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


async def next_ids(sequence: str, count: int) -> list[int]:
    """Draw `count` ids from a sequence in one statement (for rows written by `copy_lines`)."""
    if count <= 0:
        return []
    rows = await select_dicts(f"SELECT nextval('{sequence}') AS id FROM generate_series(1, $1)", [count])
    return [r["id"] for r in rows]


def copy_text(text: str) -> str:
    """Text for one COPY field (`copy_value` for a value known to be a string)."""
    return text.translate(_COPY_ESCAPES)


async def copy_lines(table: str, columns: Sequence[str], text: str) -> None:
    """``COPY table (columns) FROM STDIN`` (text format) on the current transaction's connection.

    `text` is the rows already written as lines (tab-separated, each ending in a newline): callers
    write one f-string per row, with `copy_text` / `copy_value` only where a field needs them, which
    costs a third of calling `copy_value` on every field. A constraint violation is raised as
    tortoise's `IntegrityError`, like the ORM and `insert_unnest` raise it, so callers that retry
    on a lost race (ingestion's serial-no. check) see one exception.
    """
    if not text:
        return
    conn = connections.get("default")
    async with conn.acquire_connection() as raw:
        try:
            await raw.copy_to_table(table, source=io.BytesIO(text.encode()), columns=list(columns), format="text")
        except IntegrityConstraintViolationError as exc:
            raise IntegrityError(exc) from exc
