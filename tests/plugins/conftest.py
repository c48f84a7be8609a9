"""Fixtures for the plugin tests: the test kit's fixtures plus fake HTTP servers."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from plugins.testkit import FakeGateway, FakeRiskProvider, serve_in_thread
from plugins.testkit.pytest_plugin import incident_recorder, plugin_host_factory, txn_factory  # noqa: F401

GATEWAY_SECRET = "gw-secret-7f3a"
CALLBACK_SECRET = "gw-callback-91c2"
RISK_KEY = "risk-key-55d0"


@pytest.fixture(scope="session")
def gateway() -> Iterator[tuple[FakeGateway, str]]:
    """A fake payment gateway for merchant M001, served over real HTTP for the whole session."""
    fake = FakeGateway({"M001": GATEWAY_SECRET}, callback_secret=CALLBACK_SECRET,
                       balances={"DISB-001": Decimal("10000000.00"), "REPAY-001": Decimal("0.00")})
    with serve_in_thread(fake.app) as url:
        yield fake, url


@pytest.fixture(scope="session")
def risk_provider() -> Iterator[tuple[FakeRiskProvider, str]]:
    records = {
        "110101199003074518": {"age": 36, "multi_platform_count": 7, "court_records": 0,
                               "blacklist_hit": False, "credit_score": 712.5},
        "310101198512120021": {"age": 40, "multi_platform_count": 1, "court_records": 2,
                               "blacklist_hit": True, "credit_score": None},
    }
    fake = FakeRiskProvider(RISK_KEY, records)
    with serve_in_thread(fake.app) as url:
        yield fake, url
