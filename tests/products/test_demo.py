"""Demo products: every mode and repayment method, plans, a year of LPR, and idempotence."""

from __future__ import annotations

from typing import Any

from core.actor import Actor
from core.loans.schedule import RepaymentMethod
from core.products import lpr
from core.products.demo import load_demo_products
from core.products.models import BusinessMode, FundingPlan, LprRate, Product, ProductFunder
from core.review.models import ChangeRequest, ChangeStatus


async def _counts() -> tuple[int, ...]:
    return (await Product.all().count(), await FundingPlan.all().count(), await LprRate.all().count(),
            await ChangeRequest.all().count())


async def test_demo_products_cover_every_mode_and_method_and_are_idempotent(db: str) -> None:
    done = await load_demo_products()
    assert any("DEMO-JOINT-IF" in line for line in done)
    products = await Product.filter(code__startswith="DEMO-")
    assert {p.business_mode for p in products} == set(BusinessMode)
    assert {p.repayment_method for p in products} == {m.value for m in RepaymentMethod}
    joint = next(p for p in products if p.business_mode is BusinessMode.JOINT)
    shares = await ProductFunder.filter(product_id=joint.id).order_by("position").values_list("share", flat=True)
    assert [int(s) for s in shares] == [70, 30]
    assert await FundingPlan.filter(product_id=joint.id).count() == 2
    terms = await LprRate.filter(term="1Y").count()
    assert terms >= 12 and await lpr.rate_on("1Y") is not None and await lpr.rate_on("5Y") is not None
    before = await _counts()
    assert await load_demo_products() == []
    assert await _counts() == before


async def test_demo_products_go_through_review_when_given_demo_staff(staff: dict[str, Actor]) -> None:
    await load_demo_products(staff["maker"], staff["checker"])
    assert await ChangeRequest.filter(entity_type="product", status=ChangeStatus.APPROVED).count() == 4
    product: Any = await Product.get(code="DEMO-ASSIST-EP")
    assert product.last_checker_id == staff["checker"].user_id
