"""A fake payment gateway speaking the ``http_pay`` protocol, for tests and local demos.

It is strict where a real gateway is: requests must be signed (merchant secret, timestamp window,
fresh nonce) or get HTTP 401; the idempotency key is honoured under concurrency (an ``asyncio.Lock``
per key): a repeat replays the stored answer, a repeat with other parameters gets 409. Balances live
in virtual accounts. ``fail_next`` scripts faults: a delay after processing (lost answer), or an
HTTP status with or without processing. ``make_callback`` produces a signed notification.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugins.builtin.signing import MERCHANT_HEADER, NonceCache, signed_headers, verify


@dataclass
class Fault:
    status: int | None = None
    delay: float = 0.0
    process: bool = True
    reason: str = "injected fault"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FakeGateway:
    def __init__(self, merchants: dict[str, str], *, balances: dict[str, Decimal] | None = None,
                 callback_secret: str | None = None, window: int = 300) -> None:
        self.merchants = merchants
        self.balances = dict(balances or {"DISB-001": Decimal("10000000.00"), "REPAY-001": Decimal("0.00")})
        self.callback_secret = callback_secret or next(iter(merchants.values()))
        self.window = window
        self.payments: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, int]] = []
        self._faults: deque[Fault] = deque()
        self._nonces = NonceCache(window)
        self._locks: dict[str, asyncio.Lock] = {}
        self._mutex = threading.Lock()
        self._counter = 0
        self.app = Starlette(routes=[
            Route("/v1/payments/{kind:str}", self._instruct, methods=["POST"]),
            Route("/v1/payments/{key:str}", self._query, methods=["GET"]),
            Route("/v1/accounts/{account:str}/balance", self._balance, methods=["GET"]),
            Route("/v1/statements/{day:str}", self._statement, methods=["GET"]),
            Route("/v1/health", self._health, methods=["GET"]),
        ])

    # --- test controls -------------------------------------------------------------------------

    def fail_next(self, *, status: int | None = None, delay: float = 0.0, process: bool = True,
                  reason: str = "injected fault") -> None:
        self._faults.append(Fault(status, delay, process, reason))

    def make_callback(self, idempotency_key: str, path: str, *, timestamp: int | None = None,
                      nonce: str | None = None, merchant_id: str | None = None) -> tuple[dict[str, str], bytes]:
        payment = self.payments[idempotency_key]
        merchant = merchant_id or payment["merchant_id"]
        body = json.dumps({**payment["response"], "merchant_id": merchant}, sort_keys=True).encode()
        return signed_headers(self.callback_secret, "POST", path, body, timestamp=timestamp, nonce=nonce), body

    # --- protocol ------------------------------------------------------------------------------

    async def _authenticate(self, request: Request, body: bytes) -> str | Response:
        merchant = request.headers.get(MERCHANT_HEADER, "")
        secret = self.merchants.get(merchant)
        if secret is None:
            return JSONResponse({"error": "unknown merchant", "code": "UNKNOWN_MERCHANT"}, status_code=401)
        path = request.scope["raw_path"].decode()
        if request.scope.get("query_string"):
            path += "?" + request.scope["query_string"].decode()
        headers = {k.lower(): v for k, v in request.headers.items()}
        reason = verify(secret, request.method, path, headers, body, now=_now().timestamp(), window=self.window,
                        nonces=self._nonces)
        if reason is not None:
            return JSONResponse({"error": reason, "code": "BAD_SIGNATURE"}, status_code=401)
        return merchant

    def _record(self, request: Request, status: int) -> None:
        with self._mutex:
            self.requests.append((request.method, request.url.path, status))

    async def _instruct(self, request: Request) -> Response:
        body = await request.body()
        auth = await self._authenticate(request, body)
        if isinstance(auth, Response):
            self._record(request, auth.status_code)
            return auth
        kind = request.path_params["kind"]
        data = json.loads(body)
        key = data["idempotency_key"]
        fault = self._faults.popleft() if self._faults else Fault()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            existing = self.payments.get(key)
            if existing is not None:
                same = existing["request"] == {**data, "kind": kind}
                status, payload = (200, existing["response"]) if same else (
                    409, {"error": "idempotency key reused with different parameters", "code": "CONFLICT"})
            elif fault.status is not None and not fault.process:
                status, payload = fault.status, {"error": fault.reason, "code": "INJECTED"}
            elif data["debit_account"] not in self.balances:
                status, payload = 400, {"error": f"unknown account {data['debit_account']}",
                                        "code": "UNKNOWN_ACCOUNT"}
            else:
                status, payload = 200, self._process(kind, auth, data)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.status is not None and fault.process and existing is None:
            status, payload = fault.status, {"error": fault.reason, "code": "INJECTED"}
        self._record(request, status)
        return JSONResponse(payload, status_code=status)

    def _process(self, kind: str, merchant: str, data: dict[str, Any]) -> dict[str, Any]:
        amount = Decimal(data["amount"])
        self._counter += 1
        now = _now()
        response: dict[str, Any] = {"idempotency_key": data["idempotency_key"], "serial": f"GW{self._counter:010d}",
                                    "amount": str(amount), "reason": None, "reason_code": None,
                                    "completed_at": now.isoformat()}
        if self.balances[data["debit_account"]] < amount:
            response.update(status="failed", reason="insufficient balance", reason_code="INSUFFICIENT_FUNDS")
        else:
            self.balances[data["debit_account"]] -= amount
            credit = data["credit_account"]
            self.balances[credit] = self.balances.get(credit, Decimal("0.00")) + amount
            response["status"] = "succeeded"
        self.payments[data["idempotency_key"]] = {"request": {**data, "kind": kind}, "response": response,
                                                  "merchant_id": merchant, "created_at": now}
        return response

    async def _authorized_get(self, request: Request) -> Response | None:
        auth = await self._authenticate(request, b"")
        if isinstance(auth, Response):
            self._record(request, auth.status_code)
            return auth
        return None

    async def _query(self, request: Request) -> Response:
        if (denied := await self._authorized_get(request)) is not None:
            return denied
        payment = self.payments.get(request.path_params["key"])
        status = 200 if payment else 404
        self._record(request, status)
        return JSONResponse(payment["response"] if payment else {"error": "no such payment"}, status_code=status)

    async def _balance(self, request: Request) -> Response:
        if (denied := await self._authorized_get(request)) is not None:
            return denied
        account = request.path_params["account"]
        if account not in self.balances:
            self._record(request, 404)
            return JSONResponse({"error": f"unknown account {account}"}, status_code=404)
        self._record(request, 200)
        return JSONResponse({"account": account, "available": str(self.balances[account]),
                             "as_of": _now().isoformat()})

    async def _statement(self, request: Request) -> Response:
        if (denied := await self._authorized_get(request)) is not None:
            return denied
        day = dt.date.fromisoformat(request.path_params["day"])
        shanghai = dt.timezone(dt.timedelta(hours=8))
        lines = [{"serial": p["response"]["serial"], "idempotency_key": key, "kind": p["request"]["kind"],
                  "amount": p["response"]["amount"], "status": p["response"]["status"],
                  "debit_account": p["request"]["debit_account"], "credit_account": p["request"]["credit_account"],
                  "created_at": p["created_at"].isoformat(), "completed_at": p["response"]["completed_at"],
                  "reference": p["request"].get("reference", "")}
                 for key, p in self.payments.items() if p["created_at"].astimezone(shanghai).date() == day]
        self._record(request, 200)
        return JSONResponse({"day": day.isoformat(), "generated_at": _now().isoformat(), "lines": lines})

    async def _health(self, request: Request) -> Response:
        if (denied := await self._authorized_get(request)) is not None:
            return denied
        self._record(request, 200)
        return JSONResponse({"status": "up"})
