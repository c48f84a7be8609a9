"""Latency of `login` and `me` over GraphQL against PostgreSQL (p50/p99 over N calls each).

Run: .venv/bin/python bench/bench_auth.py [calls]   (needs the local PostgreSQL; creates and drops a
throwaway database). Uses the production argon2 parameters, so `login` includes the real hash cost.
Calls go through the full ASGI app in-process (httpx ASGITransport): routing, context, guards,
strawberry and the database — everything but the network.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.pop("LENDLINE_ARGON2_PROFILE", None)

import httpx

from core.accounts.bootstrap import bootstrap_user
from core.config import Settings, override_settings
from core.db import close_db, init_db, migrate
from schema.app import create_app
from tests.conftest import create_pg_database, drop_pg_database

LOGIN = 'mutation{login(account:"bench",password:"bench1234"){accessToken errors{code}}}'
ME = "{ me { user { account name roles { key } } pagePermissions } }"


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


async def timed(client: httpx.AsyncClient, query: str, token: str | None, n: int) -> list[float]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = await client.post("/graphql", json={"query": query}, headers=headers)
        out.append(time.perf_counter() - t)
        assert r.status_code == 200 and "errors" not in r.json(), r.text
    return out


async def main(n: int) -> None:
    url = await create_pg_database()
    override_settings(replace(Settings(env="production", secret_key="b" * 48), database_url=url))
    try:
        await migrate(url)
        await init_db(url)
        await bootstrap_user("900001", "bench", "压测", "bench1234", ["maker"])
        app = create_app(manage_db=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            await timed(client, LOGIN, None, 5)
            login = await timed(client, LOGIN, None, n)
            r = await client.post("/graphql", json={"query": LOGIN})
            token = r.json()["data"]["login"]["accessToken"]
            await timed(client, ME, token, 20)
            me = await timed(client, ME, token, n)
        for name, samples in (("login", login), ("me", me)):
            print(f"{name:6s} n={n}  p50={pct(samples, 50):7.2f} ms  p99={pct(samples, 99):7.2f} ms  "
                  f"mean={statistics.mean(samples) * 1000:7.2f} ms")
    finally:
        await close_db()
        await drop_pg_database(url)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
