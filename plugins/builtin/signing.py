"""The HMAC-SHA256 request/callback signature shared by the built-in payment providers.

Canonical string (UTF-8), one field per line::

    METHOD            upper-case, e.g. POST
    PATH              path plus "?query" if any, exactly as sent
    TIMESTAMP         Unix seconds, decimal
    NONCE             random, unique per message (32 hex characters from us)
    SHA256(BODY)      lower-case hex digest of the raw body bytes (of b"" for GET)

Headers: ``X-Lendline-Timestamp``, ``X-Lendline-Nonce``, ``X-Lendline-Signature`` (lower-case hex
HMAC-SHA256 of the canonical string with the shared secret) and, on requests, ``X-Lendline-Merchant``.
A receiver refuses a message whose timestamp is outside the window (default ±300 s), whose signature
does not match (constant-time compare), or whose nonce it has already accepted within the window.
Hashing the body instead of embedding it keeps the canonical string small and unambiguous.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "x-lendline-timestamp"
NONCE_HEADER = "x-lendline-nonce"
SIGNATURE_HEADER = "x-lendline-signature"
MERCHANT_HEADER = "x-lendline-merchant"


def canonical(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{digest}".encode()


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(secret.encode(), canonical(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def signed_headers(secret: str, method: str, path: str, body: bytes, *, timestamp: int | None = None,
                   nonce: str | None = None, merchant: str | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    headers = {TIMESTAMP_HEADER: ts, NONCE_HEADER: nonce,
               SIGNATURE_HEADER: sign(secret, method, path, ts, nonce, body)}
    if merchant is not None:
        headers[MERCHANT_HEADER] = merchant
    return headers


class NonceCache:
    """Nonces accepted within the replay window; thread-safe, bounded, expiring."""

    def __init__(self, window_seconds: int, max_entries: int = 100_000) -> None:
        self.window = window_seconds
        self.max_entries = max_entries
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, nonce: str, now: float) -> bool:
        """Record ``nonce``; False if it was already seen (a replay)."""
        with self._lock:
            if len(self._seen) >= self.max_entries or len(self._seen) % 1024 == 0:
                horizon = now - 2 * self.window
                self._seen = {n: t for n, t in self._seen.items() if t >= horizon}
                while len(self._seen) >= self.max_entries:
                    self._seen.pop(next(iter(self._seen)))
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True


def verify(secret: str, method: str, path: str, headers: Mapping[str, str], body: bytes, *, now: float,
           window: int, nonces: NonceCache) -> str | None:
    """Return ``None`` if the message is genuine and fresh, else the reason for refusing it.

    ``headers`` must have lower-case keys. The nonce is recorded only once everything else checked
    out, so forged messages cannot burn genuine nonces.
    """
    ts, nonce, signature = (headers.get(h) for h in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER))
    if not ts or not nonce or not signature:
        return "missing signature headers"
    try:
        sent = int(ts)
    except ValueError:
        return "malformed timestamp"
    if abs(now - sent) > window:
        return f"stale timestamp (outside the {window}s window)"
    expected = sign(secret, method, path, ts, nonce, body)
    if not hmac.compare_digest(expected, signature.lower()):
        return "bad signature"
    if not nonces.add(nonce, now):
        return "replayed nonce"
    return None
