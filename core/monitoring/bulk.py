"""Set-based writes for ingestion on PostgreSQL: one statement per table per batch, no ORM objects.

Why: building a tortoise model per row costs ~0.15 ms in Python, more than the database needs to
store it, and a batch of 1,000 transactions writes ~2,000 rows (transactions and their fund parts).
On PostgreSQL the rows are sent as one array per column and inserted with
``INSERT … SELECT * FROM unnest(…)`` (``RETURNING`` gives the new ids, so no read-back is needed). On
SQLite (development and tests) the callers use the ORM; both paths are covered by the same tests.

Statements run on tortoise's current connection, so they are part of the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tortoise import connections


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


def jsonb(value: Any) -> Any:
    """asyncpg returns jsonb as text."""
    return json.loads(value) if isinstance(value, str) else value


async def rows_where_any(table: str, columns: Sequence[str], key: str, keys: Sequence[Any], pgtype: str,
                         extra: str = "", extra_values: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """``SELECT columns FROM table WHERE key = ANY($1) [AND extra]`` on PostgreSQL (one array parameter).

    A tortoise ``__in`` filter builds one SQL parameter object per value, which costs more Python time
    than the query itself for the 1,000-value lists of a batch. `extra` uses ``$2``, ``$3`` … for
    `extra_values`.
    """
    if not keys:
        return []
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = ANY($1::{pgtype}[])"
    if extra:
        sql += f" AND {extra}"
    return await select_dicts(sql, [list(keys), *extra_values])
