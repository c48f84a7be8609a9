"""Reading ledger rows in log order for verification, as fast as each database allows.

A row is ``(seq, block_height, tx_hash, envelope)``: the bytes the stored hash should cover, rebuilt
from the stored columns.

* PostgreSQL: the server splices the envelope from the columns (`ENVELOPE_SQL`, the same layout as
  `hashing.envelope`, with ``to_json`` for string escaping) and two connections fetch alternate
  segments, so two server processes work while Python hashes. Python still recomputes every hash;
  should the server's escaping ever differ from Python's for some character, the hash mismatches
  and the verifier rechecks that row with `python_hash` before reporting anything.
* Elsewhere (SQLite, the embedded default): raw columns, envelope built in Python.

Only integers computed here are ever inlined into SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from core.ledger import hashing

Row = Sequence[Any]
TX_COLUMNS = ("seq, block_height, tx_hash, tx_type, payload, initiator_id, initiator_name, status, created_at, "
              "salt, source_type, source_id, scope_bank_id, scope_product_id")
BLOCK_COLUMNS = "height, block_hash, previous_hash, merkle_root, tx_count, first_seq, tree_root, sealed_at"

ENVELOPE_SQL = (
    """'{"bank":' || COALESCE(scope_bank_id::text, 'null') || ',"initiator":' || to_json(initiator_name)::text"""
    """ || ',"initiatorId":' || COALESCE(initiator_id::text, 'null') || ',"payload":' || payload"""
    """ || ',"product":' || COALESCE(scope_product_id::text, 'null') || ',"salt":' || to_json(salt)::text"""
    """ || ',"sourceId":' || COALESCE(to_json(source_id)::text, 'null')"""
    """ || ',"sourceType":' || COALESCE(to_json(source_type)::text, 'null')"""
    """ || ',"status":' || to_json(status)::text"""
    """ || ',"time":"' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    f""" || '","type":' || to_json(tx_type)::text || ',"v":{hashing.ENVELOPE_VERSION}}}'"""
)


def _client() -> BaseDBAsyncClient:
    return connections.get("default")


def _is_postgres(client: BaseDBAsyncClient) -> bool:
    return client.capabilities.dialect == "postgres"


async def query(sql: str) -> list[Any]:
    """Raw rows (asyncpg Records or sqlite3 Rows, both indexable by position)."""
    _, rows = await _client().execute_query(sql)
    return list(rows)


def python_envelope(row: Row) -> bytes:
    """The envelope from a raw row in `TX_COLUMNS` order."""
    return hashing.envelope(tx_type=row[3], payload=row[4], initiator_id=row[5], initiator_name=row[6],
                            status=row[7], time=hashing.time_text(row[8]), salt=row[9], source_type=row[10],
                            source_id=row[11], bank_id=row[12], product_id=row[13])


async def python_hash(seq: int) -> str | None:
    """The hash of the transaction at ``seq`` recomputed entirely in Python (None if the row is gone)."""
    rows = await query(f"SELECT {TX_COLUMNS} FROM ledger_transaction WHERE seq = {int(seq)}")
    return hashing.tx_hash(python_envelope(rows[0])) if rows else None


async def blocks() -> list[Any]:
    return await query(f"SELECT {BLOCK_COLUMNS} FROM ledger_block ORDER BY height")


async def unsealed() -> list[Row]:
    """Transactions without a log position, in append order."""
    rows = await query(f"SELECT {TX_COLUMNS} FROM ledger_transaction WHERE seq IS NULL ORDER BY id")
    return [(r[0], r[1], r[2], python_envelope(r)) for r in rows]


async def outside(end: int) -> Row | None:
    """The first row with a log position outside [0, end): one no block accounts for."""
    rows = await query(f"SELECT {TX_COLUMNS} FROM ledger_transaction WHERE seq < 0 OR seq >= {int(end)} "
                       "ORDER BY seq LIMIT 1")
    return rows[0] if rows else None


async def sealed(end: int, chunk: int) -> AsyncIterator[list[Row]]:
    """Rows with seq in [0, end), in seq order, as segments of at most ``chunk`` rows."""
    client = _client()
    source = _postgres_segments(client, end, chunk) if _is_postgres(client) else _portable_segments(end, chunk)
    async for segment in source:
        yield segment


async def _portable_segments(end: int, chunk: int) -> AsyncIterator[list[Row]]:
    after = -1
    while True:
        rows = await query(f"SELECT {TX_COLUMNS} FROM ledger_transaction WHERE seq > {int(after)} "
                           f"AND seq < {int(end)} ORDER BY seq LIMIT {int(chunk)}")
        if rows:
            yield [(r[0], r[1], r[2], python_envelope(r)) for r in rows]
        if len(rows) < chunk:
            return
        after = rows[-1][0]


async def _postgres_segments(client: BaseDBAsyncClient, end: int, chunk: int) -> AsyncIterator[list[Row]]:
    """Segments [k·chunk, (k+1)·chunk) fetched alternately on two connections, one segment ahead."""
    sql = (f"SELECT seq, block_height, tx_hash, convert_to({ENVELOPE_SQL}, 'UTF8') FROM ledger_transaction "
           "WHERE seq >= $1 AND seq < $2 ORDER BY seq")
    starts = range(0, end, chunk)
    async with client.acquire_connection() as first, client.acquire_connection() as second:
        statements = [await first.prepare(sql), await second.prepare(sql)]
        running: dict[int, asyncio.Future[list[Any]]] = {}

        def launch(k: int) -> None:
            if k < len(starts):
                lo = starts[k]
                running[k] = asyncio.ensure_future(statements[k % 2].fetch(lo, min(lo + chunk, end)))

        launch(0)
        launch(1)
        try:
            for k in range(len(starts)):
                rows = await running.pop(k)
                launch(k + 2)  # the connection that served k is free again
                yield rows
        finally:
            for future in running.values():  # let the connections finish before they return to the pool
                with contextlib.suppress(Exception):
                    await future
