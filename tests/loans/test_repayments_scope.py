"""Scope walk over repayments and collection: a user of bank ALPHA sees nothing of bank ZETA's
repayments, payments, collection cases or records through any query field (the walker calls every
root field of the schema, guessing ZETA's ids into every id argument), while admin does."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from core.accounts.models import Role
from core.orgs.models import AssistInstitution, Bank
from core.products.models import BusinessMode, PaymentType, Product, ProductFunder, ProductType, TermUnitChoice
from permissions import policy
from permissions.policy import policy_store
from permissions.scope import DataPolicy
from schema.relay import gid
from schema.schema import build_schema
from tests.loans.walk_seed_repayments import seed_repayments
from tests.scope.walk import Pool, calls
from tests.support import make_user

MINE = {"repayments", "earlySettlementQuote", "collectionCases", "collectionCase", "collectionRecords",
        "collectionStats"}


async def _bank(mark: str, channel: AssistInstitution, people: dict[str, Any]) -> dict[str, list[int]]:
    bank = await Bank.create(code=f"{mark}01", short_name=f"{mark}银行", full_name=f"{mark} Bank",
                             email=f"s@{mark.lower()}.cn", service_phone="95500")
    product = await Product.create(
        code=f"{mark}-P1", name=f"{mark}消费贷", business_mode=BusinessMode.SELF_OPERATED, type=ProductType.MULTI,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("1000.00"), amount_max=Decimal("200000.00"),
        term_unit=TermUnitChoice.MONTH, term_min=3, term_max=36, payment_type=PaymentType.PRIVATE)
    await ProductFunder.create(product=product, bank=bank, share=Decimal("100"))
    ids = await seed_repayments(mark, bank, product, channel, people)
    return {"Bank": [bank.id], "Product": [product.id], **ids}


async def _walk(api: Any, token: str, pool: Pool) -> list[tuple[str, str, str]]:
    out = []
    for call in calls(build_schema()._schema, pool, set()):
        if isinstance(call, str) or call.field not in MINE:
            continue
        body = await api(call.query, call.variables, token)
        broken = [e["message"] for e in body.get("errors") or [] if not (e.get("extensions") or {}).get("code")]
        assert broken == [], (call.query, broken)
        out.append((call.field, json.dumps(call.variables), json.dumps(body, ensure_ascii=False)))
    return out


async def test_repayment_and_collection_fields_do_not_leak_across_banks(api, people):
    channel = await AssistInstitution.create(name="公共流量", number="TP9")
    a = await _bank("ALPHA", channel, people)
    z = await _bank("ZETA", channel, people)
    async with in_transaction():
        await Role.create(name="甲行", key="alpha_rp", enabled=True)
        await policy.set_role_pages("alpha_rp", None)
        await policy.set_role_data("alpha_rp", DataPolicy(bank_ids=frozenset(a["Bank"]),
                                                          auto_bank_ids=frozenset(a["Bank"])))
    await policy_store().refresh()
    await make_user("alpha_rp_user", ["alpha_rp"], "甲行")
    z_ids = [gid(t, pk) for t, pks in z.items() for pk in pks]
    pool = Pool(ids=z_ids, strings=["0" * 64])
    results = await _walk(api, await api.login("alpha_rp_user"), pool)
    assert {f for f, _, _ in results} == MINE
    leaks = [(f, v) for f, v, text in results if "ZETA" in text or any(i in text for i in z_ids if i not in v)]
    assert leaks == []
    assert any("ALPHA" in text for f, _, text in results if f == "repayments")
    assert any("ALPHA" in text for f, _, text in results if f == "collectionCases")
    admin = await _walk(api, await api.login("admin"), pool)
    seen = {f for f, _, text in admin if "ZETA" in text}
    assert {"repayments", "collectionCases", "collectionCase", "collectionRecords", "earlySettlementQuote"} <= seen
