"""Shared pieces of the built-in plugins: payment routing hooks and an HTTP client's lifecycle.

Why bases: every instructing payment provider answers identifier/disburse/deduct the same way (route
to its own `_instruct`), and every HTTP plugin opens its client at start-up and closes it at shutdown.
pluggy finds `@hookimpl` methods on base classes, so subclasses inherit the hooks.
"""

from __future__ import annotations

from typing import Any

import httpx

from plugins.markers import hookimpl
from plugins.types import PaymentKind, PaymentOrder, PaymentResult


class InstructingProvider:
    """A payment provider whose disburse and deduct differ only in the kind of instruction."""

    settings: Any  # has `identifier`

    async def _instruct(self, kind: PaymentKind, order: PaymentOrder) -> PaymentResult:
        raise NotImplementedError

    @hookimpl
    def lendline_payment_identifier(self) -> str:
        return str(self.settings.identifier)

    @hookimpl
    async def lendline_payment_disburse(self, order: PaymentOrder) -> PaymentResult:
        return await self._instruct(PaymentKind.DISBURSE, order)

    @hookimpl
    async def lendline_payment_deduct(self, order: PaymentOrder) -> PaymentResult:
        return await self._instruct(PaymentKind.DEDUCT, order)


class HttpClientPlugin:
    """Owns one `httpx.AsyncClient`: created lazily (or at start-up), closed at shutdown."""

    _client: httpx.AsyncClient | None = None

    def _new_client(self) -> httpx.AsyncClient:
        raise NotImplementedError

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = self._new_client()
        return self._client

    @hookimpl
    async def lendline_startup(self) -> None:
        self._http()

    @hookimpl
    async def lendline_shutdown(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
