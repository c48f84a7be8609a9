"""Console switches: on by default, a pause is honoured at once by every process (F-SYS-4)."""

from __future__ import annotations

import pytest

from core.actor import Actor
from core.errors import ErrorCode, UserError
from core.oplog.models import OperationLog
from core.system.models import ConsoleSwitch
from core.system.switches import SwitchKey, ensure_seed_switches, require_switch, set_switch, switch, switches


async def test_every_switch_is_on_by_default_even_before_seeding(db: str) -> None:
    assert [s.key for s in await switches()] == list(SwitchKey)
    for key in ("distribution", "repayment_plans", "payments", "signing"):
        assert await switch(key) is True
        await require_switch(key)
    assert set(await ensure_seed_switches()) == {k.value for k in SwitchKey}
    assert all(s.enabled for s in await switches())


async def test_pausing_is_seen_at_once_and_the_paused_path_gets_a_typed_error(db: str, admin: Actor) -> None:
    await ensure_seed_switches()
    state = await set_switch(admin, SwitchKey.PAYMENTS, False)
    assert (state.enabled, state.changed_by) == (False, "系统管理员")
    assert await switch(SwitchKey.PAYMENTS) is False
    assert await switch(SwitchKey.SIGNING) is True
    with pytest.raises(UserError) as exc:
        await require_switch("payments", field="orderId")
    error = exc.value.errors[0]
    assert (error.field, error.code) == ("orderId", ErrorCode.INVALID_STATE)
    assert "paused" in error.message and "支付" in error.message
    # another process resumes it: no per-process cache stands in the way
    await ConsoleSwitch.filter(key="payments").update(enabled=True)
    assert await switch("payments") is True
    entry = await OperationLog.get(module="switches", action="pause")
    assert entry.detail == {"key": "payments", "enabled": False}


async def test_reseeding_keeps_a_paused_switch_paused(db: str, admin: Actor) -> None:
    await set_switch(admin, "signing", False)  # no row yet: created paused
    assert await ensure_seed_switches() == ["distribution", "repayment_plans", "payments"]
    assert await switch("signing") is False


async def test_unknown_switch_is_a_programming_error(db: str) -> None:
    with pytest.raises(ValueError, match="Unknown console switch"):
        await switch("disbursement")
