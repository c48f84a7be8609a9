"""`POST /callbacks/payments/{provider}`: payment providers' signed notifications (F-PLG-1).

The provider's plugin verifies the request exactly as received (method, path, headers, raw body):
a forged, stale, replayed or malformed callback is answered 401 and changes nothing; an unknown
provider 404; a plugin that cannot answer 503 (the provider retries). Nothing here may turn into a
500: the body is never parsed before the plugin accepted it. Accepted callbacks are applied by
`core.loans.deduction.handle_callback` (idempotent on the payment serial number).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("lendline.callbacks")
MAX_BODY = 64 * 1024


async def payment_callback(request: Request) -> Response:
    from core.loans.deduction import handle_callback

    provider = request.path_params.get("provider", "")
    if not provider or len(provider) > 50:
        return JSONResponse({"status": "refused", "message": "unknown provider"}, status_code=404)
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse({"status": "refused", "message": "body too large"}, status_code=413)
    try:
        outcome = await handle_callback(provider, request.method, request.url.path, dict(request.headers), body)
    except Exception:  # a bug must still not hand the provider a 500 with our internals; it retries
        log.exception("payment callback from %s could not be applied", provider)
        return JSONResponse({"status": "retry", "message": "could not apply the callback; send it again"},
                            status_code=503)
    status = "ok" if outcome.http_status < 300 else "refused"
    return JSONResponse({"status": status, "message": outcome.message, "serial": outcome.repayment_serial},
                        status_code=outcome.http_status)
