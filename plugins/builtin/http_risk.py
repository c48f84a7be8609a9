"""``http_risk``: a paid third-party risk data source reached over HTTP (F-PLG-2).

API: ``POST /v1/indicators`` with ``Authorization: Bearer <api_key>`` and body
``{"subject": {customer_no, id_number, name, phone}, "indicators": [names]}``; the answer is
``{"values": {name: value | null}, "billed": [names charged]}``. ``null`` means "no data".

Cost accounting: each indicator has a price per call (``costs`` setting, Decimal, in yuan). The cost
of one fetch is the sum of the prices of the indicators the provider says it billed (all requested
ones when it does not say), returned in ``RiskFetchResult.cost`` so the risk engine can record it in
the risk report; the plugin also keeps a running total shown in its health detail. A call that
fails or times out may still be billed by the provider: reconcile with the provider's invoice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from plugins.builtin.bases import HttpClientPlugin
from plugins.definition import PluginDefinition
from plugins.markers import hookimpl
from plugins.settings import Secret, SettingsError
from plugins.types import (
    HealthReport,
    HealthState,
    IndicatorSpec,
    IndicatorType,
    IndicatorValue,
    RiskFetchResult,
    RiskRequest,
)

CATALOGUE: dict[str, tuple[IndicatorType, str]] = {
    "age": (IndicatorType.INTEGER, "age in whole years, from the identity record"),
    "multi_platform_count": (IndicatorType.INTEGER,
                             "lending platforms the subject applied to in the last 90 days (多头借贷)"),
    "court_records": (IndicatorType.INTEGER, "court enforcement / dishonest-debtor records (法院失信被执行)"),
    "blacklist_hit": (IndicatorType.BOOLEAN, "subject is on the provider's fraud blacklist"),
    "credit_score": (IndicatorType.DECIMAL, "provider credit score, 300-900"),
}

DEFAULT_COSTS = {"age": Decimal("0.00"), "multi_platform_count": Decimal("0.80"),
                 "court_records": Decimal("1.20"), "blacklist_hit": Decimal("0.50"),
                 "credit_score": Decimal("2.00")}


@dataclass
class HttpRiskSettings:
    base_url: str
    api_key: Secret
    request_timeout: float = 4.0
    costs: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_COSTS))

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise SettingsError("base_url", "must start with http:// or https://")
        if not self.api_key:
            raise SettingsError("api_key", "must not be empty")
        if self.request_timeout <= 0:
            raise SettingsError("request_timeout", "must be positive")
        for name, cost in self.costs.items():
            if name not in CATALOGUE:
                raise SettingsError(f"costs.{name}", f"unknown indicator; known: {', '.join(CATALOGUE)}")
            if cost < 0:
                raise SettingsError(f"costs.{name}", "must not be negative")
        self.costs = {**DEFAULT_COSTS, **self.costs}


def _convert(name: str, value: Any) -> IndicatorValue:
    """Turn a JSON value into the declared Python type; raise ValueError if it does not fit."""
    if value is None:
        return None
    kind = CATALOGUE[name][0]
    if kind is IndicatorType.BOOLEAN and isinstance(value, bool):
        return value
    if kind is IndicatorType.INTEGER and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is IndicatorType.DECIMAL and isinstance(value, int | float | str) and not isinstance(value, bool):
        return Decimal(str(value))
    if kind is IndicatorType.STRING and isinstance(value, str):
        return value
    raise ValueError(f"provider returned {type(value).__name__} for {kind.value} indicator {name!r}")


class HttpRisk(HttpClientPlugin):
    def __init__(self, settings: HttpRiskSettings) -> None:
        self.settings = settings
        self.total_cost = Decimal("0.00")
        self.calls = 0

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.settings.base_url, timeout=self.settings.request_timeout,
                                 headers={"authorization": f"Bearer {self.settings.api_key.reveal()}"})

    @hookimpl
    def lendline_risk_indicators(self) -> list[IndicatorSpec]:
        return [IndicatorSpec(name, kind, self.settings.costs[name], description)
                for name, (kind, description) in CATALOGUE.items()]

    @hookimpl
    async def lendline_risk_fetch(self, request: RiskRequest) -> RiskFetchResult:
        subject = request.subject
        payload = {"subject": {"customer_no": subject.customer_no, "id_number": subject.id_number,
                               "name": subject.name, "phone": subject.phone},
                   "indicators": list(request.indicators)}
        response = await self._http().post("/v1/indicators", json=payload)
        if response.status_code != 200:
            raise RuntimeError(f"risk provider answered HTTP {response.status_code}")
        data = response.json()
        raw_values = data.get("values") or {}
        values = {name: _convert(name, raw_values.get(name)) for name in request.indicators}
        billed = data.get("billed", list(request.indicators))
        cost = sum((self.settings.costs[n] for n in billed if n in request.indicators), Decimal("0.00"))
        self.total_cost += cost
        self.calls += 1
        return RiskFetchResult(values=values, cost=cost, detail=f"billed: {', '.join(billed) or 'nothing'}")

    @hookimpl
    def lendline_health(self) -> HealthReport:
        return HealthReport(HealthState.OK, f"{self.calls} calls, cost to date {self.total_cost} CNY")


plugin = PluginDefinition(
    name="http_risk",
    factory=HttpRisk,
    settings=HttpRiskSettings,
    description="Paid HTTP risk data source with per-indicator cost accounting.",
)
