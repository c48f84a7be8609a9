"""Fakes for the risk-engine tests: a provider that counts calls and a catalogue with paid sources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest

from core.risk.engine import RiskEngine
from core.risk.expressions import OWN_SOURCE, Indicator, IndicatorType


class CountingProvider:
    """Returns canned values and logs every call, so tests can prove what was (not) fetched."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})
        self.calls: list[tuple[str, ...]] = []

    async def fetch(self, names: Sequence[str], subject: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls.append(tuple(names))
        return {n: self.values[n] for n in names if n in self.values}

    @property
    def fetched(self) -> list[str]:
        return [name for call in self.calls for name in call]


CATALOG = (
    Indicator("age", IndicatorType.NUMBER),
    Indicator("city", IndicatorType.STRING),
    Indicator("has_job", IndicatorType.BOOL),
    Indicator("registered_on", IndicatorType.DATE),
    Indicator("income", IndicatorType.NUMBER),
    Indicator("multi_loans", IndicatorType.NUMBER, source="bureau", cost=Decimal("0.50")),
    Indicator("court_records", IndicatorType.NUMBER, source="bureau", cost=Decimal("1.20")),
    Indicator("blacklist_hit", IndicatorType.BOOL, source="blacklist", cost=Decimal("0.30")),
)


@pytest.fixture
def catalog() -> dict[str, Indicator]:
    return {i.name: i for i in CATALOG}


@pytest.fixture
def providers() -> dict[str, CountingProvider]:
    return {
        OWN_SOURCE: CountingProvider({"age": 30, "city": "Shanghai", "has_job": True,
                                      "registered_on": "2024-03-01", "income": "8000.50"}),
        "bureau": CountingProvider({"multi_loans": 2, "court_records": 0}),
        "blacklist": CountingProvider({"blacklist_hit": False}),
    }


@pytest.fixture
def engine(providers: dict[str, CountingProvider]) -> RiskEngine:
    return RiskEngine(CATALOG, providers)


from tests.risk.scene_support import risk_host  # noqa: E402, F401  (the risk-scene tests' running plugin host)
