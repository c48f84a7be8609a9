"""Live updates: a block sealed after subscribing is delivered, over the schema and over graphql-transport-ws."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from core.ledger import sealing
from core.ledger.notify import ledger_feed
from schema.context import Context
from schema.schema import build_schema
from tests.ledger.helpers import SMALL_BLOCKS, actor_of, append_n
from tests.support import Api


@pytest.fixture(autouse=True)
def fast_feed() -> Iterator[None]:
    feed = ledger_feed()
    interval, feed.interval = feed.interval, 0.02
    yield
    feed.interval = interval


async def _until_subscribed(count: int = 1) -> None:
    for _ in range(500):
        if ledger_feed().subscribers >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the subscription never registered")


async def test_a_block_sealed_after_subscribing_is_delivered(people: dict[str, Any]) -> None:
    schema = build_schema()
    ctx = Context(request=None, actor=await actor_of(people["checker"]))
    stream = await schema.subscribe("subscription{newLedgerBlocks{height txCount transactions{totalCount}}}",
                                    context_value=ctx)
    first = asyncio.ensure_future(anext(stream))  # type: ignore[arg-type]
    await _until_subscribed()
    await append_n(3)
    await sealing.seal_pending(force=True, policy=SMALL_BLOCKS)
    result = await asyncio.wait_for(first, 5)
    assert result.errors is None
    assert result.data == {"newLedgerBlocks": {"height": 1, "txCount": 3, "transactions": {"totalCount": 3}}}
    await stream.aclose()  # type: ignore[attr-defined]
    await _until_subscribed(0)


async def test_new_transactions_arrive_with_payloads_as_the_scope_allows(people: dict[str, Any]) -> None:
    schema = build_schema()
    ctx = Context(request=None, actor=await actor_of(people["checker"]))  # no bank data
    stream = await schema.subscribe("subscription{newLedgerTransactions{type payloadVisible}}", context_value=ctx)
    received: list[dict[str, Any]] = []

    async def collect() -> None:
        async for result in stream:  # type: ignore[union-attr]
            received.append(result.data["newLedgerTransactions"])
            if len(received) == 2:
                return

    task = asyncio.create_task(collect())
    await _until_subscribed()
    await append_n(1)
    await append_n(1, start=1, scope_bank_id=4)
    await asyncio.wait_for(task, 5)
    assert received == [{"type": "test.event", "payloadVisible": True}, {"type": "test.event", "payloadVisible": False}]


async def test_anonymous_subscriptions_are_refused(db: str) -> None:
    stream = await build_schema().subscribe("subscription{newLedgerBlocks{height}}", context_value=Context(None))
    result = await anext(stream)  # type: ignore[arg-type]
    assert result.errors and result.errors[0].extensions["code"] == "UNAUTHENTICATED"


@contextlib.asynccontextmanager
async def _server(app: Any) -> AsyncIterator[str]:
    """The app on a free port, in this event loop (the database connections belong to it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", ws="websockets-sansio", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _init(ws: Any, token: str) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def test_graphql_transport_ws_authenticates_from_the_init_payload(api: Api, app: Any,
                                                                        people: dict[str, Any]) -> None:
    token = await api.login("checker1")
    async with _server(app) as url:
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            assert await _init(ws, token) == {"type": "connection_ack"}
            await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": "subscription{newLedgerBlocks{height txCount}}"}}))
            await _until_subscribed()
            await append_n(2)
            await sealing.seal_pending(force=True, policy=SMALL_BLOCKS)
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert message == {"id": "1", "type": "next", "payload": {"data": {"newLedgerBlocks": {"height": 1,
                                                                                                  "txCount": 2}}}}
            await ws.send(json.dumps({"id": "1", "type": "complete"}))
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer forged"}}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    await _until_subscribed(0)
