"""Funding plans (F-PROD-5): next-day vs immediate effect, remaining quota, atomic consumption."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from core import clock
from core.actor import Actor
from core.errors import UserError
from core.oplog.models import OperationLog
from core.products import funding
from core.products.funding import ChannelLimitInput, PlanInput, QuotaExhausted
from core.products.models import FundingUsage, FundingUsageTotal, Product
from permissions.scope import EVERYTHING
from tests.products.helpers import Orgs, create_product, joint_funders, product_data


@pytest.fixture
async def product(orgs: Orgs, staff: dict[str, Actor]) -> Product:
    return await create_product(staff["maker"], staff["checker"],
                                product_data(orgs, channelIds=[orgs.x.id, orgs.y.id]))


def plan(p: Product, bank: int, orders: int = 3, amount: str = "1000.00",
         channels: tuple[ChannelLimitInput, ...] = ()) -> PlanInput:
    return PlanInput(p.id, bank, orders, amount, channels)


async def test_a_saved_plan_takes_effect_tomorrow(orgs: Orgs, staff: dict[str, Actor], product: Product) -> None:
    maker = staff["maker"]
    row = await funding.save_plan(maker, maker.scope, plan(product, orgs.a.id))
    assert row.effective_from == clock.business_today() + timedelta(days=1)
    today = await funding.remaining_quota(product.id, orgs.x.id, scope=EVERYTHING)
    assert (today.orders_left, today.amount_left, today.funders[0].plan_id) == (0, Decimal("0.00"), None)
    with pytest.raises(QuotaExhausted) as exc:
        await funding.consume_quota(product.id, orgs.a.id, orgs.x.id, Decimal("100.00"))
    assert (exc.value.level, exc.value.limit) == ("plan", "plan")
    clock.travel(timedelta(days=1))
    tomorrow = await funding.remaining_quota(product.id, orgs.x.id, scope=EVERYTHING)
    assert (tomorrow.orders_left, tomorrow.amount_left) == (3, Decimal("1000.00"))
    entry = await OperationLog.get(module="funding_plans", action="save")
    assert (entry.scope_bank_id, entry.scope_product_id) == (orgs.a.id, product.id)


async def test_effective_now_applies_today_and_the_newest_plan_wins(orgs: Orgs, staff: dict[str, Actor],
                                                                    product: Product) -> None:
    maker = staff["maker"]
    first = await funding.save_plan(maker, maker.scope, plan(product, orgs.a.id, 3), effective_now=True)
    assert first.effective_from == clock.business_today()
    assert (await funding.remaining_quota(product.id, orgs.x.id, scope=EVERYTHING)).orders_left == 3
    second = await funding.save_plan(maker, maker.scope, plan(product, orgs.a.id, 8), effective_now=True)
    later = await funding.save_plan(maker, maker.scope, plan(product, orgs.a.id, 1))
    quota = await funding.remaining_quota(product.id, orgs.x.id, scope=EVERYTHING)
    assert quota.orders_left == 8 and quota.funders[0].plan_id == second.id
    today = clock.business_today()
    current = {p.id for p in await funding.current_plans(EVERYTHING, [product.id])}
    history = await funding.plans_query(EVERYTHING, [product.id])
    assert [(p.id, funding.plan_status(p, current, today)) for p in history] == [
        (later.id, "scheduled"), (second.id, "in_force"), (first.id, "superseded")]
    clock.travel(timedelta(days=1))
    assert [p.id for p in await funding.current_plans(EVERYTHING, [product.id])] == [later.id]
    assert await OperationLog.filter(module="funding_plans", action="activate").count() == 2


async def test_remaining_quota_and_consumption_per_channel_and_total(orgs: Orgs, staff: dict[str, Actor],
                                                                     product: Product) -> None:
    maker = staff["maker"]
    limit_x = ChannelLimitInput(orgs.x.id, 2, "500.00")
    await funding.save_plan(maker, maker.scope, plan(product, orgs.a.id, 3, "1000.00", (limit_x,)),
                            effective_now=True)
    x = await funding.remaining_quota(product.id, orgs.x.id, scope=EVERYTHING)
    assert (x.orders_left, x.amount_left, x.funders[0].channel_limited) == (2, Decimal("500.00"), True)
    await funding.consume_quota(product.id, orgs.a.id, orgs.x.id, Decimal("300.00"))
    with pytest.raises(QuotaExhausted) as exc:  # channel X has 200.00 left
        await funding.consume_quota(product.id, orgs.a.id, orgs.x.id, Decimal("200.01"))
    assert (exc.value.level, exc.value.limit, exc.value.channel_id) == ("channel", "amount", orgs.x.id)
    await funding.consume_quota(product.id, orgs.a.id, orgs.x.id, Decimal("200.00"))
    with pytest.raises(QuotaExhausted) as exc:
        await funding.consume_quota(product.id, orgs.a.id, orgs.x.id, Decimal("1.00"))
    assert (exc.value.level, exc.value.limit) == ("channel", "orders")
    y = await funding.remaining_quota(product.id, orgs.y.id, scope=EVERYTHING)  # only the totals bind Y
    assert (y.orders_left, y.amount_left, y.funders[0].channel_limited) == (1, Decimal("500.00"), False)
    with pytest.raises(QuotaExhausted) as exc:
        await funding.consume_quota(product.id, orgs.a.id, orgs.y.id, Decimal("500.01"))
    assert (exc.value.level, exc.value.limit) == ("total", "amount")
    await funding.consume_quota(product.id, orgs.a.id, orgs.y.id, Decimal("500.00"))
    with pytest.raises(QuotaExhausted) as exc:
        await funding.consume_quota(product.id, orgs.a.id, orgs.y.id, Decimal("0.01"))
    assert (exc.value.level, exc.value.limit) == ("total", "orders")
    total = await FundingUsageTotal.get(product_id=product.id, bank_id=orgs.a.id)
    assert (total.orders, total.amount_cents) == (3, 100000)  # refused attempts counted nothing
    assert await FundingUsage.filter(product_id=product.id).count() == 2
    await funding.release_quota(product.id, orgs.a.id, orgs.y.id, Decimal("500.00"), clock.business_today())
    assert (await funding.remaining_quota(product.id, orgs.y.id, scope=EVERYTHING)).orders_left == 1
    clock.travel(timedelta(days=1))  # a new day starts with the whole plan again
    assert (await funding.remaining_quota(product.id, orgs.x.id, scope=EVERYTHING)).orders_left == 2


async def test_joint_loans_draw_on_every_funder_by_share(orgs: Orgs, staff: dict[str, Actor]) -> None:
    maker = staff["maker"]
    joint = await create_product(maker, staff["checker"], product_data(
        orgs, code="J1", businessMode="joint", funders=joint_funders(orgs)))
    await funding.save_plan(maker, maker.scope, plan(joint, orgs.a.id, 10, "7000.00"), effective_now=True)
    await funding.save_plan(maker, maker.scope, plan(joint, orgs.c.id, 10, "2000.00"), effective_now=True)
    quota = await funding.remaining_quota(joint.id, orgs.x.id, scope=EVERYTHING)
    assert quota.amount_left == Decimal("6666.66")  # C's 2000.00 is 30 % of 6666.66…
    parts = await funding.consume_for_loan(joint.id, orgs.x.id, Decimal("1000.01"))
    assert parts == [(orgs.a.id, Decimal("700.01")), (orgs.c.id, Decimal("300.00"))]
    with pytest.raises(QuotaExhausted) as exc:  # C would need 1800.00 of its 1700.00
        await funding.consume_for_loan(joint.id, orgs.x.id, Decimal("6000.00"))
    assert exc.value.bank_id == orgs.c.id
    a = await FundingUsageTotal.get(product_id=joint.id, bank_id=orgs.a.id)
    assert a.amount_cents == 70001  # A's part of the refused loan was rolled back with it


async def test_plan_input_is_validated_with_field_paths(orgs: Orgs, staff: dict[str, Actor],
                                                        product: Product) -> None:
    maker = staff["maker"]
    bad = PlanInput(product.id, orgs.b.id, -1, "1.001", (ChannelLimitInput(orgs.x.id, 5, "10.00"),
                                                         ChannelLimitInput(orgs.x.id, 1, "1.00"),
                                                         ChannelLimitInput(999999, 1, "1.00")))
    with pytest.raises(UserError) as exc:
        await funding.save_plan(maker, maker.scope, bad)
    assert {(e.field, e.code.value) for e in exc.value.errors} == {
        ("bankId", "NOT_FOUND"), ("maxOrders", "OUT_OF_RANGE"), ("maxAmount", "INVALID"),
        ("channels[1].channelId", "NOT_UNIQUE"), ("channels[2].channelId", "INVALID")}
    over = PlanInput(product.id, orgs.a.id, 2, "100.00", (ChannelLimitInput(orgs.x.id, 5, "100.01"),))
    with pytest.raises(UserError) as exc:
        await funding.save_plan(maker, maker.scope, over)
    assert {e.field for e in exc.value.errors} == {"channels[0].maxOrders", "channels[0].maxAmount"}
    with pytest.raises(UserError) as exc:
        await funding.consume_quota(product.id, orgs.a.id, orgs.x.id, Decimal("1.005"))
    assert exc.value.errors[0].field == "amount"


async def test_concurrent_admissions_never_exceed_the_plan(db: str, orgs: Orgs, staff: dict[str, Actor],
                                                           product: Product) -> None:
    if db != "postgres":
        pytest.skip("SQLite serialises writers; the race matters on PostgreSQL")
    maker = staff["maker"]
    await funding.save_plan(maker, maker.scope, plan(product, orgs.a.id, 5, "100000.00",
                                                     (ChannelLimitInput(orgs.y.id, 5, "900.00"),)),
                            effective_now=True)

    async def admit(channel: int, amount: str) -> bool:
        try:
            await funding.consume_quota(product.id, orgs.a.id, channel, Decimal(amount))
            return True
        except QuotaExhausted:
            return False

    results = await asyncio.gather(*(admit(orgs.x.id, "100.00") for _ in range(20)))
    assert sum(results) == 5
    total = await FundingUsageTotal.get(product_id=product.id, bank_id=orgs.a.id)
    assert (total.orders, total.amount_cents) == (5, 50000)
    await funding.save_plan(maker, maker.scope, plan(product, orgs.a.id, 100, "100000.00",
                                                     (ChannelLimitInput(orgs.y.id, 100, "900.00"),)),
                            effective_now=True)
    results = await asyncio.gather(*(admit(orgs.y.id, "200.00") for _ in range(20)))
    assert sum(results) == 4  # 4 × 200.00 fits in Y's 900.00, a fifth would not
    used = await FundingUsage.get(product_id=product.id, bank_id=orgs.a.id, institution_id=orgs.y.id)
    assert used.amount_cents == 80000
