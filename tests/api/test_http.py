"""The HTTP surface: health, readiness, metrics, GraphiQL, limits and bad input never giving a 500."""

from __future__ import annotations

from typing import Any

import httpx

from core.oplog.models import OperationLog
from tests.support import Api


async def test_health_ready_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"
    await client.post("/graphql", json={"query": "{ __typename }"})
    text = (await client.get("/metrics")).text
    assert 'lendline_http_requests_total{method="POST",path="/graphql",status="200"}' in text
    assert "lendline_http_request_seconds_bucket" in text


async def test_graphiql_is_served_outside_production(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_request_id_is_returned(client: httpx.AsyncClient) -> None:
    r = await client.post("/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"


async def test_malformed_oversize_and_mistyped_queries_are_graphql_errors(api: Api, people: dict[str, Any]) -> None:
    token = await api.login("admin")
    before = await OperationLog.all().count()
    broken = await api.raw("{ users { ", token=token)
    assert broken.status_code in (200, 400) and broken.json()["errors"][0]["message"].startswith("Syntax Error")
    deep = "{ me { user { roles { name } } } }".replace("name", "name " + "x" * 0)
    assert (await api(deep, token=token))["data"]["me"]
    too_deep = "query { " + "changeRequests { edges { node { " * 6 + "id" + " } } }" * 6 + " }"
    r = await api.raw(too_deep, token=token)
    assert r.status_code in (200, 400) and r.json()["errors"]
    aliases = "{ " + " ".join(f"a{i}: me {{ pagePermissions }}" for i in range(40)) + " }"
    r = await api.raw(aliases, token=token)
    assert "aliases" in r.json()["errors"][0]["message"].lower()
    tokens = "{ " + " ".join("me { pagePermissions }" for _ in range(2000)) + " }"
    r = await api.raw(tokens, token=token)
    assert r.status_code in (200, 400) and "token" in r.json()["errors"][0]["message"].lower()
    wrong_type = await api.raw("mutation{ setUserEnabled(id: \"x\", enabled: \"yes\"){ errors{code} } }", token=token)
    assert wrong_type.status_code in (200, 400) and wrong_type.json()["errors"]
    bad_id = await api("mutation{ setUserEnabled(id: \"not-an-id\", enabled: true){ errors{field code} } }",
                       token=token)
    assert bad_id["data"]["setUserEnabled"]["errors"] == [{"field": "id", "code": "INVALID"}]
    page = await api("{ users(first: 1000) { totalCount } }", token=token)
    assert page["errors"][0]["extensions"] == {"code": "OUT_OF_RANGE", "field": "first"}
    # only the typed refusal (bad id) is an operation; nothing else was written
    assert await OperationLog.all().count() == before + 1
