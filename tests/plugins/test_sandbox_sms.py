"""Notifications through the host: the sandbox SMS notifier, idempotency, failures, routing by channel."""

from __future__ import annotations

import asyncio

import pytest

from plugins import PluginConfigError, PluginDefinition, PluginTimeout, PluginUnavailable, hookimpl
from plugins.builtin.sandbox_sms import SandboxSms
from plugins.testkit import host_from_dict, running_host
from plugins.types import Notification, NotifyResult, NotifyStatus

PHONE = "13800138000"
BALANCE = {"account": "DISB-001", "balance": "420000.00", "threshold": "500000.00"}


def sms(key: str = "k-1", **overrides: object) -> Notification:
    fields = {"idempotency_key": key, "channel": "sms", "recipient": PHONE, "template": "balance_low",
              "params": BALANCE} | overrides
    return Notification(**fields)  # type: ignore[arg-type]


async def test_a_balance_warning_is_sent_rendered_and_recorded() -> None:
    async with running_host({"plugins": {"sandbox_sms": {}}}) as (host, incidents):
        result = await host.send_sms("+86 138-0013-8000", "balance_low", BALANCE, idempotency_key="bal-1")
        sandbox: SandboxSms = host.plugin("sandbox_sms")  # type: ignore[assignment]
        assert result.status is NotifyStatus.ACCEPTED and result.message_id
        (message,) = sandbox.sent_to(PHONE)
        assert message.message_id == result.message_id
        assert message.text == "【Lendline】账户DISB-001余额420000.00元，低于预警线500000.00元，请及时处理。"
        assert host.notification_channels() == {"sms": "sandbox_sms"}
    assert incidents.incidents == []


async def test_concurrent_repeats_of_one_key_send_one_message() -> None:
    async with running_host({"plugins": {"sandbox_sms": {"latency_ms": 5}}}) as (host, _):
        results = await asyncio.gather(*(host.notify(sms("once")) for _ in range(30)))
        sandbox: SandboxSms = host.plugin("sandbox_sms")  # type: ignore[assignment]
        assert len({r.message_id for r in results}) == 1 and len(sandbox.sent) == 1
        again = await host.notify(sms("once"))
        assert again == results[0] and len(sandbox.sent) == 1
        other = await host.notify(sms("twice"))
        assert other.message_id != again.message_id and len(sandbox.sent) == 2


async def test_reusing_a_key_for_another_message_is_a_caller_bug_not_a_second_message() -> None:
    async with running_host({"plugins": {"sandbox_sms": {}}}) as (host, incidents):
        await host.notify(sms("k"))
        with pytest.raises(Exception, match="different notification"):
            await host.notify(sms("k", recipient="13900139000"))
        assert len(host.plugin("sandbox_sms").sent) == 1  # type: ignore[attr-defined]
        assert incidents.kinds() == [("sandbox_sms", "lendline_notify_send", "failure")]


async def test_a_timed_out_send_is_retried_with_the_same_key_without_a_second_message() -> None:
    config = {"plugins": {"sandbox_sms": {"hang_seconds": 5.0}}, "timeouts": {"notify": 0.05}}
    async with running_host(config) as (host, incidents):
        sandbox: SandboxSms = host.plugin("sandbox_sms")  # type: ignore[assignment]
        sandbox.force_next("timeout")
        with pytest.raises(PluginTimeout):
            await host.notify(sms("retry-me"))
        assert incidents.kinds() == [("sandbox_sms", "lendline_notify_send", "timeout")]
        result = await host.notify(sms("retry-me"))
        assert result.status is NotifyStatus.ACCEPTED
        assert len(sandbox.sent) == 1  # sent once, although the first answer was lost


@pytest.mark.parametrize(("notification", "code"), [
    (sms(recipient="12345"), "INVALID_RECIPIENT"),
    (sms(template="birthday_greeting"), "UNKNOWN_TEMPLATE"),
    (sms(params={"account": "DISB-001"}), "TEMPLATE_PARAMS"),
    (sms(recipient="13700137000"), "CARRIER_DECLINED"),
])
async def test_messages_that_cannot_be_sent_fail_with_a_reason_and_are_not_recorded(notification, code) -> None:
    config = {"plugins": {"sandbox_sms": {"decline_recipients": ["13700137000"]}}}
    async with running_host(config) as (host, incidents):
        result = await host.notify(notification)
        assert (result.status, result.reason_code) == (NotifyStatus.FAILED, code) and result.reason
        assert host.plugin("sandbox_sms").sent == []  # type: ignore[attr-defined]
    assert incidents.incidents == []  # a refusal is an answer, not an incident


async def test_injected_declines_are_repeatable_with_a_seed() -> None:
    config = {"plugins": {"sandbox_sms": {"fail_rate": 0.5, "seed": 7}}}
    outcomes = []
    for _ in range(2):
        async with running_host(config) as (host, _):
            results = [await host.notify(sms(f"k{i}")) for i in range(20)]
            outcomes.append([r.status for r in results])
    assert outcomes[0] == outcomes[1] and 0 < outcomes[0].count(NotifyStatus.FAILED) < 20


async def test_a_channel_nobody_serves_is_unavailable_and_reported() -> None:
    async with running_host({"plugins": {"sandbox_sms": {}}}) as (host, incidents):
        with pytest.raises(PluginUnavailable, match="no enabled notifier serves channel 'email'"):
            await host.notify(sms(channel="email", recipient="ops@bank.example"))
    assert incidents.kinds() == [("email", "lendline_notify_send", "unavailable")]


class OtherSms:
    @hookimpl
    def lendline_notify_channels(self):
        return ["sms"]

    @hookimpl
    def lendline_notify_send(self, notification):
        return NotifyResult(notification.idempotency_key, NotifyStatus.ACCEPTED)


class ChannelLess:
    @hookimpl
    def lendline_notify_send(self, notification):
        return NotifyResult(notification.idempotency_key, NotifyStatus.ACCEPTED)


async def test_two_notifiers_for_one_channel_or_a_notifier_without_channels_stop_start_up() -> None:
    extra = [PluginDefinition("other_sms", OtherSms), PluginDefinition("channel_less", ChannelLess)]
    host = host_from_dict({"plugins": {"sandbox_sms": {}, "other_sms": {}}}, extra=extra, entry_points=False)
    with pytest.raises(PluginConfigError, match="notification channel 'sms' is already served"):
        await host.start()
    host = host_from_dict({"plugins": {"channel_less": {}}}, extra=extra, entry_points=False)
    with pytest.raises(PluginConfigError, match="lendline_notify_channels"):
        await host.start()


def test_notification_repr_masks_the_recipient_and_hides_parameter_values() -> None:
    text = repr(sms(params={"name": "王小明", "amount": "1000.00"}))
    assert PHONE not in text and "王小明" not in text and "1000.00" not in text and "8000" in text
    with pytest.raises(TypeError, match="strings"):
        sms(params={"amount": 1000})
