"""Product callbacks (F-PROD: disbursement event / deduction callback): tell the traffic platform.

A product may name a callback address for disbursements (`disbursementCallbackUrl`, when its
disbursement event is on) and for repayments (`deductionCallbackUrl`, when its deduction callback is
on); ``"1"`` means "do not call back" (seed 001). The use case that moves the money enqueues one
outbox message per event in its own transaction (`callback_message`), so a callback is sent if
and only if the change committed, after the commit, at least once.

The job POSTs the JSON body with

* ``X-Lendline-Event`` (``loan.disbursed`` / ``loan.repaid``) and ``Idempotency-Key`` (the event
  id, e.g. ``repayment:42``): a receiver drops a repeat delivery by it;
* ``X-Lendline-Timestamp`` and ``X-Lendline-Signature: sha256=<hex HMAC-SHA256 of
  "<timestamp>.<body>">`` keyed by the system parameter ``callback.signing_key`` (a key-type
  parameter, never shown in clear). Without a key set nothing is sent unsigned: the job fails
  with that reason, the outbox retries it with backoff and raises an alert when retries run out.

Any answer but 2xx, a timeout or a connection error raises, so the outbox retries it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from core import clock

CALLBACK_JOB = "loans.product_callback"
NO_CALLBACK = "1"
TIMEOUT_SECONDS = 10.0
SIGNING_KEY_PARAMETER = "callback.signing_key"


class CallbackFailed(RuntimeError):
    """The receiver did not take the callback (or could not be asked): the outbox retries it."""


def wanted(enabled: bool, url: str | None) -> bool:
    """Whether a product's callback setting asks for a call (on, with an address other than "1")."""
    return bool(enabled and url and url.strip() and url.strip() != NO_CALLBACK)


def callback_message(event: str, event_id: str, url: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The outbox payload and dedupe key of one callback (for `enqueue` / `enqueue_many`)."""
    return {"event": event, "eventId": event_id, "url": url.strip(), "body": body}, f"callback:{event_id}"


def signature(key: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _client() -> httpx.AsyncClient:
    """The HTTP client (a function so tests can hand in a mock transport)."""
    return httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False)


async def send(payload: dict[str, Any]) -> dict[str, Any]:
    """Deliver one callback (the job's work); returns what the receiver answered."""
    from core.system.parameters import parameter

    key = (await parameter(SIGNING_KEY_PARAMETER, "") or "").strip()
    if not key:
        raise CallbackFailed(f"system parameter {SIGNING_KEY_PARAMETER} is not set: callbacks are never sent "
                             "unsigned; set it and refresh the cache")
    body = json.dumps({"event": payload["event"], "eventId": payload["eventId"], **payload["body"]},
                      ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(clock.now().timestamp()))
    headers = {"Content-Type": "application/json", "X-Lendline-Event": payload["event"],
               "Idempotency-Key": payload["eventId"], "X-Lendline-Timestamp": timestamp,
               "X-Lendline-Signature": signature(key, timestamp, body)}
    try:
        async with _client() as client:
            response = await client.post(payload["url"], content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise CallbackFailed(f"callback {payload['eventId']} to {payload['url']} failed: {exc!r}") from exc
    if not 200 <= response.status_code < 300:
        raise CallbackFailed(f"callback {payload['eventId']} to {payload['url']} answered {response.status_code}")
    return {"eventId": payload["eventId"], "status": response.status_code}
