"""Unexpected failures are masked in production and carry the request id; no 500s."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from core.config import current_settings, override_settings
from core.oplog import service as oplog_service
from schema.app import create_app
from tests.support import Api


@pytest.mark.parametrize("production", [True, False])
async def test_unexpected_error_is_masked_with_request_id(db: str, people: dict[str, Any], production: bool,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    settings = current_settings()
    override_settings(replace(settings, env="production" if production else "test"))
    try:
        app = create_app(manage_db=False)

        def boom(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret internal detail: db password xyz")

        monkeypatch.setattr(oplog_service, "query", boom)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            api = Api(client)
            token = await api.login("admin")
            r = await api.raw("{ operationLogs { totalCount } }", token=token)
            assert r.status_code == 200
            error = r.json()["errors"][0]
            assert error["extensions"]["code"] == "INTERNAL"
            assert error["extensions"]["requestId"] == r.headers["x-request-id"]
            assert ("secret internal detail" in error["message"]) is (not production)
            if production:
                assert (await client.get("/graphql", headers={"accept": "text/html"})).status_code != 200
    finally:
        override_settings(settings)
