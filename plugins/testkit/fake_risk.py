"""A fake paid risk-data provider speaking the ``http_risk`` protocol (bearer key, JSON)."""

from __future__ import annotations

import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class FakeRiskProvider:
    """Answers from ``records`` (keyed by id number); bills only indicators it had data for."""

    def __init__(self, api_key: str, records: dict[str, dict[str, Any]]) -> None:
        self.api_key = api_key
        self.records = records
        self.calls: list[dict[str, Any]] = []
        self.fail_status: int | None = None
        self._mutex = threading.Lock()
        self.app = Starlette(routes=[Route("/v1/indicators", self._indicators, methods=["POST"])])

    async def _indicators(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": "bad api key"}, status_code=401)
        if self.fail_status is not None:
            return JSONResponse({"error": "injected"}, status_code=self.fail_status)
        data = await request.json()
        with self._mutex:
            self.calls.append(data)
        record = self.records.get(data["subject"]["id_number"], {})
        values = {name: record.get(name) for name in data["indicators"]}
        billed = [name for name, value in values.items() if value is not None]
        return JSONResponse({"values": values, "billed": billed})
