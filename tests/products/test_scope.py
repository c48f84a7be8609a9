"""Data scope on products (F-ROLE-3/4): lists, by id, nested rows, quota, and writes."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise.transactions import in_transaction

from core.accounts.models import Role
from core.actor import Actor
from core.errors import UserError
from core.products import funding, service
from core.products.funding import PlanInput
from core.products.models import Product
from core.products.service import ProductFilter
from core.review import service as review
from core.review.models import ChangeAction
from permissions import policy
from permissions.scope import DataPolicy
from tests.products.helpers import Orgs, actor_of, create_product, joint_funders, product_data, set_data
from tests.support import make_user


async def scoped_actor(key: str, data: DataPolicy, *pages: str) -> Actor:
    """A user whose only role has this data policy, as a request would see them."""
    async with in_transaction():
        await Role.create(name=key, key=key, enabled=True)
        await policy.set_role_pages(key, {"products", "products.create", "products.update", "funding_plans", *pages})
    await set_data(key, data)
    return await actor_of(await make_user(f"u_{key}", [key]))


@pytest.fixture
async def world(orgs: Orgs, staff: dict[str, Actor]) -> dict[str, Product]:
    maker, checker = staff["maker"], staff["checker"]
    out = {
        "PA": await create_product(maker, checker, product_data(orgs, code="PA")),
        "PB": await create_product(maker, checker, product_data(orgs, code="PB", funders=[{"bankId": orgs.b.id}])),
        "PJ": await create_product(maker, checker, product_data(orgs, code="PJ", businessMode="joint",
                                                                funders=joint_funders(orgs))),
    }
    for p, bank in (("PA", orgs.a), ("PB", orgs.b), ("PJ", orgs.a), ("PJ", orgs.c)):
        await funding.save_plan(maker, maker.scope, PlanInput(out[p].id, bank.id, 10, "9000.00"), effective_now=True)
    return out


async def codes(actor: Actor, f: ProductFilter | None = None) -> list[str]:
    return sorted(await service.products_query(actor.scope, f).values_list("code", flat=True))


async def test_a_role_of_bank_a_sees_only_a_products_everywhere(orgs: Orgs, world: dict[str, Product],
                                                               staff: dict[str, Actor]) -> None:
    user = await scoped_actor("bank_a", DataPolicy(bank_ids=frozenset({orgs.a.id}),
                                                   product_ids=frozenset({world["PA"].id, world["PJ"].id})))
    scope = user.scope
    assert await codes(user) == ["PA", "PJ"]
    assert await codes(staff["admin"]) == ["PA", "PB", "PJ"]  # positive control
    assert await service.products_query(scope, ProductFilter(bank_id=orgs.b.id)).count() == 0
    assert await service.get_product(scope, world["PA"].id) is not None
    assert await service.get_product(scope, world["PB"].id) is None  # exactly like a missing id
    assert await service.get_product(scope, 987654) is None
    assert await service.get_product_by_code(scope, "PB") is None
    ids = [p.id for p in world.values()]
    funders = await service.funders_query(scope, ids).values_list("product_id", "bank_id")
    assert sorted(funders) == sorted([(world["PA"].id, orgs.a.id), (world["PJ"].id, orgs.a.id),
                                      (world["PJ"].id, orgs.c.id)])
    assert {c for c, in await service.channels_query(scope, ids).values_list("product_id")} == {
        world["PA"].id, world["PJ"].id}
    plans = await funding.plans_query(scope, ids).values_list("product_id", "bank_id")
    assert sorted(plans) == sorted([(world["PA"].id, orgs.a.id), (world["PJ"].id, orgs.a.id)])  # not C's
    quota = await funding.remaining_quota(world["PJ"].id, orgs.x.id, scope=scope)
    assert [f.bank_id for f in quota.funders] == [orgs.a.id]
    with pytest.raises(UserError) as missing:
        await funding.remaining_quota(987654, orgs.x.id, scope=scope)
    with pytest.raises(UserError) as hidden:
        await funding.remaining_quota(world["PB"].id, orgs.x.id, scope=scope)
    assert hidden.value.errors == missing.value.errors
    assert await funding.plan_in_force(scope, world["PB"].id, orgs.b.id) is None


async def test_auto_include_shows_a_product_added_later_at_once(orgs: Orgs, world: dict[str, Product],
                                                               staff: dict[str, Actor]) -> None:
    fixed = await scoped_actor("bank_a_fixed", DataPolicy(bank_ids=frozenset({orgs.a.id}),
                                                          product_ids=frozenset({world["PA"].id})))
    auto = await scoped_actor("bank_a_auto", DataPolicy(bank_ids=frozenset({orgs.a.id}),
                                                        auto_bank_ids=frozenset({orgs.a.id})))
    assert await codes(fixed) == ["PA"] and await codes(auto) == ["PA", "PJ"]
    await create_product(staff["maker"], staff["checker"], product_data(orgs, code="PA2"))
    assert await codes(auto) == ["PA", "PA2", "PJ"]  # same scope object: nothing was re-granted
    assert await codes(fixed) == ["PA"]


async def test_a_joint_product_checked_for_bank_a_is_visible_to_a_role_with_a(
        orgs: Orgs, world: dict[str, Product]) -> None:
    only_c = await scoped_actor("bank_c", DataPolicy(bank_ids=frozenset({orgs.c.id}),
                                                     product_ids=frozenset({world["PJ"].id})))
    only_a = await scoped_actor("bank_a_pj", DataPolicy(bank_ids=frozenset({orgs.a.id}),
                                                        product_ids=frozenset({world["PJ"].id})))
    assert await codes(only_c) == ["PJ"] and await codes(only_a) == ["PJ"]
    a_plans = await funding.plans_query(only_a.scope, [world["PJ"].id]).values_list("bank_id", flat=True)
    assert a_plans == [orgs.a.id]


async def test_writes_are_limited_to_what_the_maker_sees(orgs: Orgs, world: dict[str, Product],
                                                         staff: dict[str, Actor]) -> None:
    maker = await scoped_actor("maker_a", DataPolicy(bank_ids=frozenset({orgs.a.id}),
                                                     auto_bank_ids=frozenset({orgs.a.id})))
    checker = staff["checker"]
    with pytest.raises(UserError) as exc:
        await service.submit_change(maker, maker.scope, ChangeAction.UPDATE, world["PB"].id, {"name": "x"},
                                    checker.user_id)
    assert (exc.value.errors[0].field, exc.value.code.value) == ("id", "NOT_FOUND")
    with pytest.raises(UserError) as exc:
        await service.submit_change(maker, maker.scope, ChangeAction.DELETE, world["PB"].id, {}, checker.user_id)
    assert exc.value.code.value == "NOT_FOUND"
    with pytest.raises(UserError) as exc:
        await service.submit_change(maker, maker.scope, ChangeAction.CREATE, None,
                                    product_data(orgs, code="NEWB", funders=[{"bankId": orgs.b.id}]),
                                    checker.user_id)
    assert (exc.value.errors[0].field, exc.value.code.value) == ("funders[0].bankId", "NOT_FOUND")
    with pytest.raises(UserError) as exc:  # cannot bring an invisible bank into a visible product
        await service.submit_change(maker, maker.scope, ChangeAction.UPDATE, world["PA"].id,
                                    {"businessMode": "joint", "funders": [{"bankId": orgs.a.id, "share": "50"},
                                                                          {"bankId": orgs.b.id, "share": "50"}]},
                                    checker.user_id)
    assert exc.value.errors[0].field == "funders[1].bankId"
    # PJ's bank C is already a funder, so re-sharing it is allowed
    change = await service.submit_change(maker, maker.scope, ChangeAction.UPDATE, world["PJ"].id,
                                         {"funders": joint_funders(orgs, "80", "20")}, checker.user_id)
    assert change.scope_product_id == world["PJ"].id
    created = await service.submit_change(maker, maker.scope, ChangeAction.CREATE, None,
                                          product_data(orgs, code="NEWA"), checker.user_id)
    assert created.scope_bank_id == orgs.a.id
    with pytest.raises(UserError) as exc:  # plans: only for funders the maker sees
        await funding.save_plan(maker, maker.scope, PlanInput(world["PJ"].id, orgs.c.id, 1, "1.00"))
    assert exc.value.errors[0].field == "bankId"
    # a checker who cannot see bank A's data cannot even find the change (tags set by the proposal)
    checker_b = await scoped_actor("checker_b", DataPolicy(bank_ids=frozenset({orgs.b.id}),
                                                           auto_bank_ids=frozenset({orgs.b.id})), "review.decide")
    with pytest.raises(UserError) as exc:
        await review.approve(checker_b, created.id)
    assert exc.value.code.value == "NOT_FOUND"
    await review.approve(checker, created.id)
    assert await service.get_product_by_code(maker.scope, "NEWA") is not None


async def test_revising_a_pending_change_is_checked_too(orgs: Orgs, world: dict[str, Product],
                                                        staff: dict[str, Any]) -> None:
    maker = staff["maker"]
    change = await service.submit_change(maker, maker.scope, ChangeAction.CREATE, None,
                                         product_data(orgs, code="REV"), staff["checker"].user_id)
    revised = await service.submit_change(maker, maker.scope, ChangeAction.CREATE, None,
                                          product_data(orgs, code="REV", name="改名"), staff["checker"].user_id,
                                          change_id=change.id)
    assert revised.id == change.id and revised.payload["name"] == "改名"
    user_change = await review.submit(maker, "role", ChangeAction.CREATE, None,
                                      {"name": "某角色", "key": "some_role"}, staff["checker"].user_id)
    with pytest.raises(UserError) as exc:  # a product mutation cannot revise a role change
        await service.submit_change(maker, maker.scope, ChangeAction.CREATE, None, product_data(orgs),
                                    staff["checker"].user_id, change_id=user_change.id)
    assert exc.value.errors[0].field == "changeId"
