"""Products through maker-checker review (F-REV-1, SPEC §3) on the real database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.actor import Actor
from core.errors import UserError
from core.oplog.models import OperationLog
from core.products import funding, service
from core.products.entity import PRODUCT
from core.products.models import FundingPlan, FundingUsageTotal, Product, ProductChannel, ProductFunder
from core.review import service as review
from core.review.models import ChangeAction, ChangeRequest, ChangeStatus
from tests.products.helpers import Orgs, create_product, joint_funders, product_data


async def _submit(maker: Actor, checker: Actor, action: ChangeAction, product_id: int | None, data: dict
                  ) -> ChangeRequest:
    return await review.submit(maker, PRODUCT.entity_type, action, product_id, data, checker.user_id)


async def test_full_cycle_creates_the_product_with_funders_and_channels(orgs: Orgs, staff: dict[str, Actor]) -> None:
    maker, checker = staff["maker"], staff["checker"]
    data = product_data(orgs, code="JOINT1", businessMode="joint", funders=joint_funders(orgs),
                        channelIds=[orgs.x.id, orgs.y.id])
    change = await _submit(maker, checker, ChangeAction.CREATE, None, data)
    assert change.status is ChangeStatus.PENDING and change.scope_bank_id == orgs.a.id
    assert not await Product.filter(code="JOINT1").exists()
    with pytest.raises(UserError) as exc:
        await review.approve(maker, change.id)
    assert exc.value.code.value == "SELF_REVIEW"
    approved = await review.approve(checker, change.id, "ok")
    product = await Product.get(id=approved.entity_id)
    assert (product.version, product.last_action) == (1, "create")
    assert product.last_maker_id == maker.user_id and product.last_checker_id == checker.user_id  # type: ignore[attr-defined]
    assert product.reviewed_at is not None and product.amount_min == Decimal("1000.00")
    funders = await ProductFunder.filter(product_id=product.id).order_by("position")
    assert [(f.bank_id, f.share) for f in funders] == [(orgs.a.id, Decimal("70")),  # type: ignore[attr-defined]
                                                       (orgs.c.id, Decimal("30"))]
    assert sorted(await ProductChannel.filter(product_id=product.id).values_list("institution_id", flat=True)) == \
        sorted([orgs.x.id, orgs.y.id])
    assert await OperationLog.filter(module="products", action="approve").exists()


async def test_invalid_proposals_never_reach_review(orgs: Orgs, staff: dict[str, Actor]) -> None:
    data = product_data(orgs, businessMode="joint", funders=joint_funders(orgs, "70", "20"))
    with pytest.raises(UserError) as exc:
        await _submit(staff["maker"], staff["checker"], ChangeAction.CREATE, None, data)
    assert [(e.field, e.code.value) for e in exc.value.errors] == [("funders", "INVALID")]
    assert "add up to exactly 100" in exc.value.errors[0].message
    assert await ChangeRequest.all().count() == 0


async def test_update_merges_replaces_children_and_bumps_version(orgs: Orgs, staff: dict[str, Actor]) -> None:
    maker, checker = staff["maker"], staff["checker"]
    product = await create_product(maker, checker, product_data(orgs))
    change = await _submit(maker, checker, ChangeAction.UPDATE, product.id,
                           {"businessMode": "joint", "funders": joint_funders(orgs, "60", "40"),
                            "channelIds": [orgs.y.id], "name": "安心贷2"})
    assert change.scope_product_id == product.id and change.base_version == 1
    await review.approve(checker, change.id)
    await product.refresh_from_db()
    assert (product.version, product.name, product.last_action, product.code) == (2, "安心贷2", "update", "P001")
    assert await ProductFunder.filter(product_id=product.id).count() == 2
    assert await ProductChannel.filter(product_id=product.id).values_list("institution_id", flat=True) == [orgs.y.id]
    # unchanged fields survive; the code is immutable; an empty edit is refused
    assert product.amount_max == Decimal("200000.00") and product.spread_bp == 150
    with pytest.raises(UserError) as exc:
        await _submit(maker, checker, ChangeAction.UPDATE, product.id, {"code": "OTHER"})
    assert exc.value.errors[0].field == "code" and exc.value.code.value == "IMMUTABLE"
    with pytest.raises(UserError) as exc:
        await _submit(maker, checker, ChangeAction.UPDATE, product.id, {"name": "安心贷2"})
    assert exc.value.code.value == "REQUIRED"


async def test_a_change_against_a_product_that_moved_on_is_refused(orgs: Orgs, staff: dict[str, Actor]) -> None:
    maker, checker = staff["maker"], staff["checker"]
    product = await create_product(maker, checker, product_data(orgs))
    first = await _submit(maker, checker, ChangeAction.UPDATE, product.id, {"name": "甲"})
    await review.withdraw(maker, first.id)
    stale = await _submit(staff["maker2"], checker, ChangeAction.UPDATE, product.id, {"name": "乙"})
    # the product moves on meanwhile (a concurrent reviewed edit landed first)
    await Product.filter(id=product.id).update(version=product.version + 1)
    with pytest.raises(UserError) as exc:
        await review.approve(checker, stale.id)
    assert exc.value.code.value == "STALE"
    await product.refresh_from_db()
    assert product.name == "安心贷"


async def test_delete_is_reviewed_and_refused_once_the_product_was_used(orgs: Orgs, staff: dict[str, Actor]) -> None:
    maker, checker = staff["maker"], staff["checker"]
    used = await create_product(maker, checker, product_data(orgs, code="USED"))
    await FundingUsageTotal.create(product=used, bank=orgs.a, day=date(2026, 1, 5), orders=1, amount_cents=100)
    with pytest.raises(UserError) as exc:
        await _submit(maker, checker, ChangeAction.DELETE, used.id, {})
    assert exc.value.code.value == "CONFLICT"
    spare = await create_product(maker, checker, product_data(orgs, code="SPARE"))
    await funding.save_plan(maker, maker.scope, funding.PlanInput(spare.id, orgs.a.id, 1, "10.00", (
        funding.ChannelLimitInput(orgs.x.id, 1, "10.00"),)))  # plans go with the product
    change = await _submit(maker, checker, ChangeAction.DELETE, spare.id, {})
    await review.approve(checker, change.id)
    assert not await Product.filter(id=spare.id).exists()
    assert not await ProductFunder.filter(product_id=spare.id).exists()
    assert not await FundingPlan.filter(product_id=spare.id).exists()


async def test_codes_stay_unique_even_when_two_creates_wait_together(orgs: Orgs, staff: dict[str, Actor]) -> None:
    maker, checker = staff["maker"], staff["checker"]
    one = await _submit(maker, checker, ChangeAction.CREATE, None, product_data(orgs, code="DUP"))
    two = await _submit(staff["maker2"], checker, ChangeAction.CREATE, None, product_data(orgs, code="DUP"))
    await review.approve(checker, one.id)
    with pytest.raises(UserError) as exc:
        await review.approve(checker, two.id)
    assert exc.value.errors[0].field == "code" and exc.value.code.value == "NOT_UNIQUE"
    await two.refresh_from_db()
    assert two.status is ChangeStatus.PENDING  # nothing applied, the maker can fix or withdraw it
    with pytest.raises(UserError) as exc:
        await _submit(maker, checker, ChangeAction.CREATE, None, product_data(orgs, code="DUP"))
    assert exc.value.errors[0].field == "code"


async def test_orders_outside_the_ranges_are_refused(orgs: Orgs, staff: dict[str, Actor]) -> None:
    product = await create_product(staff["maker"], staff["checker"], product_data(orgs))
    service.check_order_fits(product, Decimal("1000.00"), 3)  # both bounds inclusive
    service.check_order_fits(product, Decimal("200000.00"), 24)
    with pytest.raises(UserError) as exc:
        service.check_order_fits(product, Decimal("999.99"), 25)
    assert {(e.field, e.code.value) for e in exc.value.errors} == {("amount", "OUT_OF_RANGE"),
                                                                   ("term", "OUT_OF_RANGE")}
