"""Console switches (SPEC F-SYS-4, seed 001 控制台): pause or resume whole code paths at once.

Code paths ask `await switch(SwitchKey.PAYMENTS)` or `await require_switch(...)` right before the
work. The answer is read from the database every time (one indexed row), never from a per-process
cache, so pausing on one process stops every API and worker process on its next check.
A switch without a row is on (every switch is on by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, UserError
from core.oplog import service as oplog
from core.system.models import ConsoleSwitch

MODULE = "switches"


class SwitchKey(StrEnum):
    DISTRIBUTION = "distribution"  # 开启/暂停分发
    REPAYMENT_PLANS = "repayment_plans"  # 开启/暂停生成资金还款计划
    PAYMENTS = "payments"  # 开启/暂停支付
    SIGNING = "signing"  # 开启/暂停签约


TITLES: dict[SwitchKey, tuple[str, str]] = {
    SwitchKey.DISTRIBUTION: ("分发", "Order distribution"),
    SwitchKey.REPAYMENT_PLANS: ("生成资金还款计划", "Repayment-plan generation"),
    SwitchKey.PAYMENTS: ("支付", "Payments"),
    SwitchKey.SIGNING: ("签约", "Contract signing"),
}


def _key(key: SwitchKey | str) -> SwitchKey:
    try:
        return SwitchKey(key)
    except ValueError:
        raise ValueError(f"Unknown console switch {key!r}; known: {', '.join(k.value for k in SwitchKey)}") from None


async def switch(key: SwitchKey | str) -> bool:
    """Whether the code path `key` may run now (True unless paused in the console)."""
    k = _key(key)
    rows = await ConsoleSwitch.filter(key=k.value).values_list("enabled", flat=True)
    return bool(rows[0]) if rows else True


async def require_switch(key: SwitchKey | str, field: str | None = None) -> None:
    """Raise a typed `UserError` (INVALID_STATE) when the code path `key` is paused in the console."""
    k = _key(key)
    if not await switch(k):
        zh, en = TITLES[k]
        raise UserError.of(field, ErrorCode.INVALID_STATE,
                           f"{en} is paused in the console (控制台: {zh}已暂停); try again once it is resumed")


@dataclass(frozen=True)
class SwitchState:
    key: SwitchKey
    title: str
    title_en: str
    enabled: bool
    changed_at: datetime | None
    changed_by: str


async def switches() -> list[SwitchState]:
    """Every console switch with its state, in the console's order."""
    rows = {r.key: r for r in await ConsoleSwitch.all()}
    out = []
    for k in SwitchKey:
        row = rows.get(k.value)
        zh, en = TITLES[k]
        out.append(SwitchState(k, zh, en, row.enabled if row else True, row.changed_at if row else None,
                               row.changed_by if row else ""))
    return out


async def set_switch(actor: Actor, key: SwitchKey | str, enabled: bool, request_id: str = "") -> SwitchState:
    """Pause (`enabled=False`) or resume a code path; honoured by every process at its next check."""
    k = _key(key)
    async with in_transaction():
        now = clock.now()
        updated = await ConsoleSwitch.filter(key=k.value).update(enabled=enabled, changed_at=now,
                                                                 changed_by=actor.name[:40])
        if not updated:
            await ConsoleSwitch.create(key=k.value, enabled=enabled, changed_at=now, changed_by=actor.name[:40])
        zh, en = TITLES[k]
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="resume" if enabled else "pause",
                           summary=f"{'resumed' if enabled else 'paused'} {en} ({'开启' if enabled else '暂停'}{zh})",
                           detail={"key": k.value, "enabled": enabled}, request_id=request_id)
    return next(s for s in await switches() if s.key is k)


async def ensure_seed_switches() -> list[str]:
    """Give every switch its row (on); existing rows keep their state. Returns the keys added."""
    added = []
    async with in_transaction():
        have = set(await ConsoleSwitch.all().values_list("key", flat=True))
        for k in SwitchKey:
            if k.value not in have:
                await ConsoleSwitch.create(key=k.value, enabled=True)
                added.append(k.value)
    return added
