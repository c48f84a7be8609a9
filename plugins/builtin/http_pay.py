"""``http_pay``: a payment provider that instructs a payment gateway over HTTP.

Gateway API (JSON, amounts as decimal strings, times ISO 8601 with offset)::

    POST /v1/payments/disburse         body: order fields + merchant_id     → payment
    POST /v1/payments/deduct           body: order fields + merchant_id     → payment
    GET  /v1/payments/{idempotency_key}                                     → payment | 404
    GET  /v1/accounts/{account}/balance                                     → {account, available, as_of}
    GET  /v1/statements/{YYYY-MM-DD}                                        → {day, generated_at, lines: [...]}
    GET  /v1/health                                                         → 200 when up
    payment = {idempotency_key, status: accepted|succeeded|failed, serial, amount, reason, reason_code,
               completed_at}

Every request is signed as described in :mod:`plugins.builtin.signing` (headers
``X-Lendline-Merchant``, ``-Timestamp``, ``-Nonce``, ``-Signature``) and POSTs also carry
``Idempotency-Key``. Callbacks from the gateway are signed the same way with ``callback_secret``
(default: ``secret``) over the platform's callback path; verification checks the signature, the
timestamp window and refuses a nonce seen before.

Outcome mapping for money-moving calls — never guess the state of money:

* gateway timeout or any transport error → ``unknown`` (retrying with the same key is safe);
* HTTP 5xx, or a 2xx body we cannot read → ``unknown``;
* HTTP 409 (key reused with other parameters) → raised: a caller bug, reported as an incident;
* other HTTP 4xx → ``failed`` with the gateway's reason (the gateway refused; nothing moved).

Non-money calls (query, balance, statement, health) raise on transport errors and non-2xx, which the
host reports as plugin failures.

``request_timeout`` should stay below the host's payment timeout so a slow gateway yields ``unknown``
from the plugin rather than a host timeout (both mean "query later").
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from plugins.builtin.bases import HttpClientPlugin, InstructingProvider
from plugins.builtin.signing import NonceCache, signed_headers, verify
from plugins.definition import PluginDefinition
from plugins.markers import hookimpl
from plugins.settings import Secret, SettingsError
from plugins.types import (
    Balance,
    CallbackVerdict,
    HealthReport,
    HealthState,
    PaymentKind,
    PaymentOrder,
    PaymentResult,
    PaymentStatus,
    RawCallback,
    Statement,
    StatementLine,
)

KNOWN_STATUSES = {PaymentStatus.ACCEPTED.value, PaymentStatus.SUCCEEDED.value, PaymentStatus.FAILED.value}


@dataclass
class HttpPaySettings:
    base_url: str
    merchant_id: str
    secret: Secret
    identifier: str = "http"
    request_timeout: float = 8.0
    callback_secret: Secret | None = None
    callback_window_seconds: int = 300

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise SettingsError("base_url", "must start with http:// or https://")
        if not self.merchant_id:
            raise SettingsError("merchant_id", "must not be empty")
        if not self.secret:
            raise SettingsError("secret", "must not be empty")
        if not self.identifier or len(self.identifier) > 50:
            raise SettingsError("identifier", "must be 1 to 50 characters")
        if self.request_timeout <= 0:
            raise SettingsError("request_timeout", "must be positive")
        if self.callback_window_seconds <= 0:
            raise SettingsError("callback_window_seconds", "must be positive")


class GatewayConflict(Exception):
    """HTTP 409: the idempotency key was already used for a different instruction."""


def parse_payment(data: Any, key: str) -> PaymentResult:
    """Build a ``PaymentResult`` from the gateway's JSON; raises ValueError/KeyError/TypeError."""
    if data.get("idempotency_key") != key:
        raise ValueError("gateway answered for another idempotency key")
    status = data.get("status")
    if status not in KNOWN_STATUSES:
        return PaymentResult(key, PaymentStatus.UNKNOWN, reason=f"gateway status {status!r}",
                             reason_code="GATEWAY_STATUS")
    completed = data.get("completed_at")
    reason = data.get("reason") or ("failed (gateway gave no reason)" if status == "failed" else None)
    return PaymentResult(
        idempotency_key=key, status=PaymentStatus(status), serial=data.get("serial"),
        amount=Decimal(data["amount"]) if data.get("amount") is not None else None,
        reason=reason, reason_code=data.get("reason_code"),
        completed_at=dt.datetime.fromisoformat(completed) if completed else None)


def _error_reason(response: httpx.Response) -> tuple[str, str | None]:
    try:
        data = response.json()
        return str(data.get("error") or data.get("reason") or response.reason_phrase), data.get("code")
    except (ValueError, AttributeError):
        return response.reason_phrase or "refused", None


class HttpPay(HttpClientPlugin, InstructingProvider):
    def __init__(self, settings: HttpPaySettings) -> None:
        self.settings = settings
        cb = settings.callback_secret or settings.secret
        self._callback_secret = cb.reveal()
        self._nonces = NonceCache(settings.callback_window_seconds)

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.settings.base_url, timeout=self.settings.request_timeout)

    async def _send(self, method: str, path: str, body: dict[str, Any] | None = None,
                    idempotency_key: str | None = None) -> httpx.Response:
        content = b"" if body is None else json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
        client = self._http()
        request = client.build_request(method, path, content=content or None,
                                       headers={"content-type": "application/json"} if body else None)
        signed_path = request.url.raw_path.decode("ascii")
        request.headers.update(signed_headers(self.settings.secret.reveal(), method, signed_path, content,
                                              merchant=self.settings.merchant_id))
        if idempotency_key is not None:
            request.headers["idempotency-key"] = idempotency_key
        return await client.send(request)

    async def _get_json(self, path: str) -> Any:
        response = await self._send("GET", path)
        if response.status_code != 200:
            reason, _ = _error_reason(response)
            raise RuntimeError(f"gateway answered HTTP {response.status_code} to GET {path}: {reason}")
        return response.json()

    async def _instruct(self, kind: PaymentKind, order: PaymentOrder) -> PaymentResult:
        key = order.idempotency_key
        body = {"merchant_id": self.settings.merchant_id, "idempotency_key": key, "amount": str(order.amount),
                "currency": order.currency, "debit_account": order.debit_account,
                "credit_account": order.credit_account, "reference": order.reference, "memo": order.memo}
        try:
            response = await self._send("POST", f"/v1/payments/{kind.value}", body, idempotency_key=key)
        except httpx.TimeoutException:
            return PaymentResult(key, PaymentStatus.UNKNOWN, reason="gateway timeout", reason_code="GATEWAY_TIMEOUT")
        except httpx.TransportError as exc:
            return PaymentResult(key, PaymentStatus.UNKNOWN, reason=f"gateway unreachable ({type(exc).__name__})",
                                 reason_code="TRANSPORT_ERROR")
        if response.status_code >= 500:
            return PaymentResult(key, PaymentStatus.UNKNOWN, reason=f"gateway error HTTP {response.status_code}",
                                 reason_code="GATEWAY_5XX")
        if response.status_code == 409:
            reason, _ = _error_reason(response)
            raise GatewayConflict(f"gateway refused idempotency key {key!r}: {reason}")
        if response.status_code >= 400:
            reason, code = _error_reason(response)
            return PaymentResult(key, PaymentStatus.FAILED, reason=f"gateway refused (HTTP {response.status_code}): "
                                 f"{reason}", reason_code=code or f"HTTP_{response.status_code}")
        try:
            return parse_payment(response.json(), key)
        except (ValueError, KeyError, TypeError, ArithmeticError, AttributeError):
            return PaymentResult(key, PaymentStatus.UNKNOWN, reason="malformed gateway response",
                                 reason_code="MALFORMED")

    # --- hooks ---------------------------------------------------------------------------------

    @hookimpl
    async def lendline_payment_query(self, idempotency_key: str) -> PaymentResult:
        response = await self._send("GET", f"/v1/payments/{quote(idempotency_key, safe='')}")
        if response.status_code == 404:
            return PaymentResult(idempotency_key, PaymentStatus.UNKNOWN, reason="the gateway has no record of "
                                 "this instruction", reason_code="NOT_FOUND")
        if response.status_code != 200:
            reason, _ = _error_reason(response)
            raise RuntimeError(f"gateway answered HTTP {response.status_code} to a payment query: {reason}")
        return parse_payment(response.json(), idempotency_key)

    @hookimpl
    async def lendline_payment_balance(self, account: str) -> Balance:
        data = await self._get_json(f"/v1/accounts/{quote(account, safe='')}/balance")
        return Balance(account=data["account"], available=Decimal(data["available"]),
                       as_of=dt.datetime.fromisoformat(data["as_of"]))

    @hookimpl
    async def lendline_payment_statement(self, day: dt.date) -> Statement:
        data = await self._get_json(f"/v1/statements/{day.isoformat()}")
        lines = tuple(
            StatementLine(
                serial=ln["serial"], idempotency_key=ln["idempotency_key"], kind=PaymentKind(ln["kind"]),
                amount=Decimal(ln["amount"]), status=PaymentStatus(ln["status"]),
                debit_account=ln["debit_account"], credit_account=ln["credit_account"],
                created_at=dt.datetime.fromisoformat(ln["created_at"]),
                completed_at=dt.datetime.fromisoformat(ln["completed_at"]) if ln.get("completed_at") else None,
                reference=ln.get("reference", ""))
            for ln in data["lines"])
        return Statement(day=dt.date.fromisoformat(data["day"]), lines=lines,
                         generated_at=dt.datetime.fromisoformat(data["generated_at"]))

    @hookimpl
    async def lendline_payment_verify_callback(self, callback: RawCallback) -> CallbackVerdict:
        reason = verify(self._callback_secret, callback.method, callback.path, callback.headers, callback.body,
                        now=callback.received_at.timestamp(), window=self.settings.callback_window_seconds,
                        nonces=self._nonces)
        if reason is not None:
            return CallbackVerdict.rejected(reason)
        try:
            data = json.loads(callback.body)
            if data.get("merchant_id") != self.settings.merchant_id:
                return CallbackVerdict.rejected("callback is for another merchant")
            return CallbackVerdict.ok(parse_payment(data, data["idempotency_key"]))
        except (ValueError, KeyError, TypeError, ArithmeticError, AttributeError) as exc:
            return CallbackVerdict.rejected(f"malformed body ({type(exc).__name__})")

    @hookimpl
    async def lendline_health(self) -> HealthReport:
        started = time.monotonic()
        response = await self._send("GET", "/v1/health")
        elapsed = f"{(time.monotonic() - started) * 1000:.0f} ms"
        if response.status_code == 200:
            return HealthReport(HealthState.OK, f"gateway {self.settings.base_url} up ({elapsed})")
        return HealthReport(HealthState.DEGRADED, f"gateway answered HTTP {response.status_code} ({elapsed})")


plugin = PluginDefinition(
    name="http_pay",
    factory=HttpPay,
    settings=HttpPaySettings,
    description="Payment gateway over HTTP with HMAC-signed requests and callbacks.",
)
