"""http_pay against a fake gateway over real HTTP: signing, idempotency, outcome mapping, callbacks."""

from __future__ import annotations

import datetime as dt
import socket
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from plugins import PluginFailure
from plugins.testkit import assert_idempotent, make_order, running_host
from plugins.types import HealthState, PaymentStatus, RawCallback

CALLBACK_PATH = "/callbacks/http"


def http_config(base_url: str, **overrides) -> dict:
    settings = {"base_url": base_url, "merchant_id": "M001", "secret": "env:GW_SECRET",
                "callback_secret": "env:GW_CALLBACK_SECRET", "request_timeout": 0.5, **overrides}
    return {"plugins": {"http_pay": settings}, "timeouts": {"payment": 3}}


def env_for(fake) -> dict[str, str]:
    """The secrets as an operator would export them (the fake gateway knows the true ones)."""
    return {"GW_SECRET": fake.merchants["M001"], "GW_CALLBACK_SECRET": fake.callback_secret}


@pytest.fixture
async def http_host(gateway):
    fake, url = gateway
    async with running_host(http_config(url), env=env_for(fake)) as (host, incidents):
        yield host, fake, incidents


async def test_signed_disbursement_succeeds_and_moves_gateway_balances(http_host):
    host, fake, incidents = http_host
    before = fake.balances["DISB-001"]
    order = make_order(amount=Decimal("2500.00"), credit_account="BORROWER-HTTP-1")
    result = await host.disburse("http", order)
    assert result.status is PaymentStatus.SUCCEEDED and result.serial.startswith("GW")
    assert fake.balances["DISB-001"] == before - Decimal("2500.00")
    assert (await host.balance("http", "BORROWER-HTTP-1")).available == Decimal("2500.00")
    assert (await host.payment_status("http", order.idempotency_key)) == result
    assert incidents.incidents == []


async def test_fifty_concurrent_repeats_make_one_gateway_payment(http_host):
    host, fake, _ = http_host
    before = fake.balances["DISB-001"]
    order = make_order(amount=Decimal("999.99"))
    result = await assert_idempotent(host, "http", order, repeats=50)
    assert result.status is PaymentStatus.SUCCEEDED
    posts = [r for r in fake.requests if r[0] == "POST" and r[2] == 200]
    assert len(posts) >= 50  # every repeat reached the gateway ...
    assert fake.balances["DISB-001"] == before - Decimal("999.99")  # ... and money moved once


async def test_gateway_refuses_a_wrong_signature(gateway):
    fake, url = gateway
    async with running_host(http_config(url), env={**env_for(fake), "GW_SECRET": "wrong"}) as (host, _):
        result = await host.disburse("http", make_order())
    assert result.status is PaymentStatus.FAILED and "bad signature" in result.reason
    assert fake.requests[-1][2] == 401


async def test_gateway_timeout_is_unknown_and_query_finds_the_truth(http_host):
    host, fake, _ = http_host
    fake.fail_next(delay=1.0)  # processes, then answers after the plugin's 0.5 s request timeout
    order = make_order()
    started = time.monotonic()
    result = await host.disburse("http", order)
    assert result.status is PaymentStatus.UNKNOWN and result.reason_code == "GATEWAY_TIMEOUT"
    assert time.monotonic() - started < 1.5
    assert (await host.payment_status("http", order.idempotency_key)).status is PaymentStatus.SUCCEEDED


async def test_5xx_is_unknown_and_4xx_is_failed_with_reason(http_host):
    host, fake, _ = http_host
    fake.fail_next(status=503, process=False)
    order = make_order()
    unavailable = await host.disburse("http", order)
    assert unavailable.status is PaymentStatus.UNKNOWN and unavailable.reason_code == "GATEWAY_5XX"
    not_found = await host.payment_status("http", order.idempotency_key)
    assert not_found.status is PaymentStatus.UNKNOWN and not_found.reason_code == "NOT_FOUND"
    fake.fail_next(status=500, process=True)  # processed, but the answer is an error: still unknown
    processed = make_order()
    assert (await host.disburse("http", processed)).status is PaymentStatus.UNKNOWN
    assert (await host.payment_status("http", processed.idempotency_key)).status is PaymentStatus.SUCCEEDED
    refused = await host.deduct("http", make_order(debit_account="NO-SUCH", credit_account="REPAY-001"))
    assert refused.status is PaymentStatus.FAILED and refused.reason_code == "UNKNOWN_ACCOUNT"
    assert "unknown account NO-SUCH" in refused.reason


async def test_key_reuse_with_other_parameters_is_an_incident(http_host):
    host, _, incidents = http_host
    order = make_order()
    await host.disburse("http", order)
    with pytest.raises(PluginFailure, match="GatewayConflict"):
        await host.disburse("http", make_order(idempotency_key=order.idempotency_key, amount=Decimal("5.00")))
    assert incidents.kinds() == [("http_pay", "lendline_payment_disburse", "failure")]


async def test_unreachable_gateway_is_unknown_for_money_and_failure_otherwise():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    env = {"GW_SECRET": "s", "GW_CALLBACK_SECRET": "c"}
    async with running_host(http_config(f"http://127.0.0.1:{port}"), env=env) as (host, incidents):
        result = await host.disburse("http", make_order())
        assert result.status is PaymentStatus.UNKNOWN and result.reason_code == "TRANSPORT_ERROR"
        with pytest.raises(PluginFailure):
            await host.balance("http", "DISB-001")
        status = {s.name: s for s in await host.plugin_statuses()}["http_pay"]
    assert status.health.state is HealthState.DOWN
    assert [i.hook for i in incidents.incidents] == ["lendline_payment_balance", "lendline_health"]


async def test_statement_and_health(http_host):
    host, _, _ = http_host
    order = make_order(amount=Decimal("42.00"))
    await host.disburse("http", order)
    statement = await host.statement("http", dt.datetime.now(ZoneInfo("Asia/Shanghai")).date())
    [line] = [ln for ln in statement.lines if ln.idempotency_key == order.idempotency_key]
    assert line.amount == Decimal("42.00") and line.status is PaymentStatus.SUCCEEDED
    status = {s.name: s for s in await host.plugin_statuses()}["http_pay"]
    assert status.health.state is HealthState.OK and status.payment_identifier == "http"


async def test_callbacks_verified_and_forgeries_refused(http_host):
    host, fake, _ = http_host
    order = make_order()
    await host.disburse("http", order)

    def callback(**kwargs) -> RawCallback:
        headers, body = fake.make_callback(order.idempotency_key, CALLBACK_PATH, **kwargs)
        return RawCallback("POST", CALLBACK_PATH, headers, body)

    good = callback()
    accepted = await host.verify_callback("http", good)
    assert accepted.accepted and accepted.payment.status is PaymentStatus.SUCCEEDED
    assert accepted.payment.idempotency_key == order.idempotency_key

    forged = callback()
    forged = RawCallback("POST", CALLBACK_PATH, {**forged.headers, "x-lendline-signature": "ab" * 32}, forged.body)
    stale = callback(timestamp=int(time.time()) - 3600)
    other_merchant = callback(merchant_id="M999")
    verdicts = [await host.verify_callback("http", cb) for cb in (good, forged, stale, other_merchant)]
    assert [v.reason for v in verdicts] == ["replayed nonce", "bad signature",
                                            "stale timestamp (outside the 300s window)",
                                            "callback is for another merchant"]
