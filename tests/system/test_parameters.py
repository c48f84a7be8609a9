"""System parameters: inactive until switched on, published only by "refresh cache", seen by every
process, secrets never in clear outside code (F-SYS-3)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.actor import Actor
from core.errors import UserError
from core.oplog.models import OperationLog
from core.system import parameters as p
from core.system.models import ParameterFormat, ParameterType, SystemParameter
from core.system.parameters import ParameterCache


def fields(exc: pytest.ExceptionInfo[UserError]) -> set[tuple[str | None, str]]:
    return {(e.field, e.code.value) for e in exc.value.errors}


async def test_shipped_parameters_include_the_balance_warning_line_in_effect(db: str) -> None:
    added = await p.ensure_seed_parameters()
    assert "balance.warning_line" in added
    line = await SystemParameter.get(number="balance.warning_line")
    assert (line.type, line.active, line.builtin) == (ParameterType.BUSINESS, True, True)
    assert await p.parameter_decimal("balance.warning_line", Decimal(1)) == Decimal("500000")
    assert await p.parameter_int("sms.code_ttl_seconds", 0) == 300
    # key-type parameters are secret; parameters shipped without a value wait, inactive
    keys = await SystemParameter.filter(type=ParameterType.KEY)
    assert keys and all(k.secret and not k.active for k in keys)
    assert await p.parameter("risk.key", "unset") == "unset"
    assert await p.ensure_seed_parameters() == []


async def test_reseeding_never_overwrites_or_publishes_admin_edits(db: str, admin: Actor) -> None:
    await p.ensure_seed_parameters()
    line = await SystemParameter.get(number="balance.warning_line")
    await p.update_parameter(admin, line.id, value="800000")  # edited, not yet published
    await SystemParameter.filter(number="sms.countdown_seconds").delete()
    assert await p.ensure_seed_parameters() == ["sms.countdown_seconds"]
    assert (await SystemParameter.get(id=line.id)).value == "800000"
    assert await p.parameter("balance.warning_line") == "500000"
    assert await p.parameter("sms.countdown_seconds") == "60"


async def test_new_parameter_is_inactive_and_takes_effect_only_after_refresh(db: str, admin: Actor) -> None:
    made = await p.create_parameter(admin, number="loan.max_daily_orders", name="每日最大进件数",
                                    type=ParameterType.BUSINESS, value="200", format=ParameterFormat.INTEGER)
    assert made.active is False
    await p.refresh_cache(admin)
    assert await p.parameter("loan.max_daily_orders", "none") == "none"  # inactive: not published
    await p.set_active(admin, made.id, True)
    assert await p.parameter("loan.max_daily_orders", "none") == "none"  # on, but not refreshed
    status = await p.refresh_cache(admin)
    assert status.pending == 0 and status.revision == 2
    assert await p.parameter_int("loan.max_daily_orders", 0) == 200
    await p.update_parameter(admin, made.id, value="300", name="每日最大进件数（笔）")
    assert await p.parameter_int("loan.max_daily_orders", 0) == 200  # edits wait for the refresh
    assert (await p.cache_status()).pending == 1
    await p.refresh_cache(admin)
    assert await p.parameter_int("loan.max_daily_orders", 0) == 300
    await p.set_active(admin, made.id, False)
    assert await p.parameter_int("loan.max_daily_orders", 0) == 300
    await p.refresh_cache(admin)
    assert await p.parameter_int("loan.max_daily_orders", -1) == -1
    log = await OperationLog.filter(module="parameters", action="refresh_cache").order_by("-id").first()
    assert log is not None and log.detail["withdrawn"] == ["loan.max_daily_orders"]


async def test_a_refresh_in_one_process_reaches_every_other_process(db: str, admin: Actor) -> None:
    await p.ensure_seed_parameters()
    worker, api = ParameterCache(), ParameterCache()  # two processes' snapshots
    await worker.refresh()
    loaded = worker._values
    await worker.refresh()
    assert worker._values is loaded  # nothing changed: no reload, only the revision read
    assert worker.get("balance.warning_line").value == "500000"  # type: ignore[union-attr]
    line = await SystemParameter.get(number="balance.warning_line")
    await p.update_parameter(admin, line.id, value="650000.50")
    await api.refresh()
    await worker.refresh()
    assert worker.get("balance.warning_line").value == "500000"  # type: ignore[union-attr]
    await p.refresh_cache(admin)  # pressed on yet another process
    await worker.refresh()
    assert worker.get("balance.warning_line").value == "650000.50"  # type: ignore[union-attr]
    assert await p.parameter_decimal("balance.warning_line", Decimal(0)) == Decimal("650000.50")


async def test_values_are_checked_against_the_format_and_fields_are_named(db: str, admin: Actor) -> None:
    await p.ensure_seed_parameters()
    line = await SystemParameter.get(number="balance.warning_line")
    with pytest.raises(UserError) as exc:
        await p.update_parameter(admin, line.id, value="50万")
    assert fields(exc) == {("value", "INVALID")}
    with pytest.raises(UserError) as exc:
        await p.update_parameter(admin, line.id, number="balance.line", format=ParameterFormat.TEXT)
    assert fields(exc) == {("number", "IMMUTABLE"), ("format", "IMMUTABLE")}
    with pytest.raises(UserError) as exc:
        await p.create_parameter(admin, number="balance.warning_line", name="", type=ParameterType.SMS,
                                 value=None)
    assert fields(exc) == {("number", "NOT_UNIQUE"), ("name", "REQUIRED"), ("value", "REQUIRED")}
    with pytest.raises(UserError) as exc:
        await p.create_parameter(admin, number="n" * 51, name="名" * 51, type=ParameterType.BUSINESS, value="x",
                                 format=ParameterFormat.BOOLEAN)
    assert fields(exc) == {("number", "TOO_LONG"), ("name", "TOO_LONG"), ("value", "INVALID")}
    flag = await p.create_parameter(admin, number="feature.x", name="开关", type=ParameterType.BUSINESS,
                                    value="on", format=ParameterFormat.BOOLEAN)
    await p.set_active(admin, flag.id, True)
    await p.refresh_cache(admin)
    assert await p.parameter_bool("feature.x", False) is True
    # an admin-made parameter's number is editable (seed 001: 可更改)
    moved = await p.update_parameter(admin, flag.id, number="feature.y")
    assert moved.number == "feature.y"


async def test_activation_needs_a_value(db: str, admin: Actor) -> None:
    await p.ensure_seed_parameters()
    empty = await SystemParameter.get(number="risk.key")
    with pytest.raises(UserError) as exc:
        await p.set_active(admin, empty.id, True)
    assert fields(exc) == {("secret", "REQUIRED")}


async def test_secrets_reach_code_but_never_the_log_or_the_page(db: str, admin: Actor) -> None:
    clear = "sk_live_7Hq2-very-secret-XY"
    with pytest.raises(UserError) as exc:
        await p.create_parameter(admin, number="risk.api_key", name="风控API密钥", type=ParameterType.KEY,
                                 value=clear)
    assert fields(exc) == {("value", "INVALID")}
    made = await p.create_parameter(admin, number="risk.api_key", name="风控API密钥", type=ParameterType.KEY,
                                    secret_value=clear)
    assert made.secret is True
    assert p.shown(made.value, made.secret) == "••••••XY"
    assert p.masked("short") == "••••••" and p.masked("") == ""
    await p.set_active(admin, made.id, True)
    await p.update_parameter(admin, made.id, secret_value=clear + "2")
    await p.refresh_cache(admin)
    assert await p.parameter("risk.api_key") == clear + "2"  # code gets it in clear
    logged = str([e.detail for e in await OperationLog.all()]) + str([e.summary for e in await OperationLog.all()])
    assert "sk_live" not in logged and "••••••" in logged
    # a secret never becomes visible again: neither by un-flagging nor by changing its type
    with pytest.raises(UserError) as exc:
        await p.update_parameter(admin, made.id, is_secret=False)
    assert fields(exc) == {("isSecret", "IMMUTABLE")}
    moved = await p.update_parameter(admin, made.id, type=ParameterType.THIRD_PARTY)
    assert moved.secret is True
    # a plain parameter flagged secret takes its value in `secret` from then on
    plain = await p.create_parameter(admin, number="chuanglan.token", name="创蓝令牌", type=ParameterType.THIRD_PARTY,
                                     value="abc")
    with pytest.raises(UserError) as exc:
        await p.update_parameter(admin, plain.id, is_secret=True, value="def")
    assert fields(exc) == {("value", "INVALID")}
    flagged = await p.update_parameter(admin, plain.id, is_secret=True, secret_value="def")
    assert (flagged.secret, flagged.value) == (True, "def")
