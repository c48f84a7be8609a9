"""The risk engine's view of the data sources: the indicator catalogue and one provider per source.

Indicators are named ``<source>.<indicator>`` (``own_data.age``, ``http_risk.credit_score``): two
sources may both supply an ``age``, and a rule must say whose it trusts and pays for. Every source —
the platform's own data included — is a plugin reached only through the plugin facade
(`current_host().risk_catalogue()` / `fetch_risk`), which applies the risk family's timeout, checks
the answer's types and raises an alert on failure. A failing call raises a `PluginError`; the engine
turns it into "source unavailable" for the indicators asked, and the rule's missing-data policy
decides (never a crash).

Cost accounting has two figures: the engine charges each attempted call the declared price of the
indicators asked (paid APIs bill per request, failed or not); :class:`SourceProvider` also keeps what
the source itself said it billed (`RiskFetchResult.cost`), which is what the invoice will show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.risk.expressions import Indicator, IndicatorType
from plugins import types as ptypes
from plugins.facade import PluginHost

SEPARATOR = "."
_TYPES = {ptypes.IndicatorType.INTEGER: IndicatorType.NUMBER, ptypes.IndicatorType.DECIMAL: IndicatorType.NUMBER,
          ptypes.IndicatorType.BOOLEAN: IndicatorType.BOOL, ptypes.IndicatorType.STRING: IndicatorType.STRING}
CENT = Decimal("0.01")


def qualified(source: str, name: str) -> str:
    return f"{source}{SEPARATOR}{name}"


def split(qualified_name: str) -> tuple[str, str]:
    source, _, name = qualified_name.partition(SEPARATOR)
    return source, name


async def live_catalog(host: PluginHost) -> dict[str, Indicator]:
    """Every indicator the running sources declare, keyed by qualified name."""
    out: dict[str, Indicator] = {}
    for source, specs in (await host.risk_catalogue()).items():
        for spec in specs:
            name = qualified(source, spec.name)
            out[name] = Indicator(name, _TYPES[spec.type], source=source, cost=spec.cost_per_call)
    return out


def snapshot_catalog(snapshot: Mapping[str, Mapping[str, str]], live: Mapping[str, Indicator]) -> dict[str, Indicator]:
    """The indicators a stored rule set uses: their approved types, today's price where the source still runs."""
    out: dict[str, Indicator] = {}
    for name, spec in snapshot.items():
        kind = IndicatorType(spec["type"])
        current = live.get(name)
        cost = current.cost if current is not None and current.type is kind else Decimal(spec["cost"])
        out[name] = Indicator(name, kind, source=spec["source"], cost=cost)
    return out


def risk_subject(subject: Mapping[str, Any]) -> ptypes.RiskSubject:
    """The plugin-facing subject: identity fields, the rest of the application as text extras."""
    extra = {k: str(subject[k]) for k in ("term", "product_code", "channel", "order_no")
             if subject.get(k) is not None and str(subject[k]) != ""}
    customer_no = str(subject.get("customer_no") or subject.get("order_no") or "anonymous")
    return ptypes.RiskSubject(customer_no=customer_no, id_number=str(subject.get("id_number") or ""),
                              name=str(subject.get("name") or ""), phone=str(subject.get("phone") or ""),
                              extra=extra)


@dataclass
class Billing:
    """What each source said it billed, and the notes it returned, during one evaluation."""

    billed: dict[str, Decimal] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)


class SourceProvider:
    """An `IndicatorProvider` for one plugin source, for one evaluation."""

    def __init__(self, host: PluginHost, source: str, *, scene: str, requested_at: datetime,
                 amount: Decimal | None, billing: Billing) -> None:
        self.host = host
        self.source = source
        self.scene = scene
        self.requested_at = requested_at
        self.amount = amount
        self.billing = billing

    async def fetch(self, names: Sequence[str], subject: Mapping[str, Any]) -> Mapping[str, Any]:
        local = {split(n)[1]: n for n in names}
        request = ptypes.RiskRequest(subject=risk_subject(subject), indicators=tuple(local), scene=self.scene,
                                     requested_at=self.requested_at, amount=self.amount)
        result = await self.host.fetch_risk(self.source, request)
        self.billing.billed[self.source] = self.billing.billed.get(self.source, Decimal(0)) + result.cost
        if result.detail:
            self.billing.notes.setdefault(self.source, []).append(result.detail[:500])
        return {local[k]: v for k, v in result.values.items() if k in local}
