"""Helpers the tests share: an SPA-like GraphQL caller and user factories."""

from __future__ import annotations

from typing import Any

import httpx

from core.accounts.bootstrap import bootstrap_user

PASSWORD = "secret123"


class Api:
    """Calls /graphql as an SPA would."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def raw(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
                  ) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return await self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                      headers=headers)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
                       ) -> dict[str, Any]:
        response = await self.raw(query, variables, token)
        assert response.status_code == 200, response.text
        return response.json()

    async def login(self, account: str, password: str = PASSWORD) -> str:
        body = await self("mutation($a:String!,$p:String!){login(account:$a,password:$p){"
                          "accessToken errors{code message}}}", {"a": account, "p": password})
        payload = body["data"]["login"]
        assert payload["errors"] == [], payload
        return payload["accessToken"]



_seq = [200000]


async def make_user(account: str, roles: list[str], name: str | None = None, password: str = PASSWORD) -> Any:
    """An enabled user with the given role keys, created outside review (a fixture, not a use case)."""
    _seq[0] += 1
    return await bootstrap_user(str(_seq[0]), account, name or account[:10], password, roles)


