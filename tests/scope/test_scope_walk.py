"""A user of one bank sees nothing of another through any query field (F-ROLE-4).

Two banks with products and data around them; a role with every page but bank ALPHA's data only.
The walker calls every root query field of the schema (new fields are walked automatically), with
the other bank's ids guessed into every id argument, and checks three things:
- no response carries the other bank's marker text or any of its ids;
- asking for one of its ids answers exactly like asking for an id that does not exist;
- the same walk as admin does see the other bank (so this test can fail).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from core.accounts.models import Role
from core.actor import SYSTEM
from core.ledger import service as ledger
from core.ledger.models import TxStatus
from core.ledger.sealing import seal_pending
from core.loans.models import Loan
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from core.orgs.models import (
    AssistInstitution,
    Bank,
    BankProduct,
    BankProductType,
    MarginAccount,
    MarginMovement,
    MarginMovementKind,
)
from core.products.models import (
    BusinessMode,
    FundingPlan,
    FundingUsage,
    PaymentType,
    Product,
    ProductChannel,
    ProductFunder,
    ProductType,
    TermUnitChoice,
)
from core.review.models import ChangeAction, ChangeRequest
from permissions import policy
from permissions.policy import policy_store
from permissions.scope import DataPolicy
from schema.relay import gid
from schema.schema import build_schema
from tests.contracts.walk_seed import seed_contracts
from tests.loans.walk_seed import seed_loans
from tests.loans.walk_seed_repayments import seed_repayments
from tests.monitoring.views_walk_seed import seed_monitoring_views
from tests.monitoring.walk_seed import seed_monitoring
from tests.payments.walk_seed import seed_payments
from tests.risk.walk_seed import seed_risk
from tests.scope.walk import Call, Pool, calls
from tests.support import Api, make_user

MARK_A, MARK_B = "ALPHA", "ZETA"
MISSING_PK = 987654
# Fields that cannot carry bank data by construction; keep this list short and justified.
SKIP: set[str] = set()
DOMAIN_SEEDS = (seed_loans, seed_repayments, seed_risk, seed_contracts, seed_payments, seed_monitoring,
                seed_monitoring_views)


async def seed_bank(mark: str, channel: AssistInstitution, people: dict[str, Any]) -> dict[str, list[int]]:
    """One bank and the rows around it, every text carrying `mark`; returns ids by GraphQL type."""
    bank = await Bank.create(code=f"{mark}01", short_name=f"{mark}银行", full_name=f"{mark} Bank Co., Ltd.",
                             email=f"service@{mark.lower()}.cn", service_phone="95500", address=f"{mark} Road 1")
    credit = await BankProduct.create(bank=bank, name=f"{mark}信用贷", type=BankProductType.MULTI,
                                      repayment_method="EQUAL_INSTALLMENT", description=f"{mark} credit product")
    margin = await MarginAccount.create(project=f"{mark}项目", bank=bank, account_bank=f"{mark}支行",
                                        account_no=f"{mark}-6222", balance=Decimal("1000000.00"),
                                        leverage=Decimal("10"), warning_line=Decimal("0.2000"),
                                        warning_amount=Decimal("50000.00"))
    movement = await MarginMovement.create(account=margin, kind=MarginMovementKind.TOPUP,
                                           amount=Decimal("1000000.00"), balance_after=Decimal("1000000.00"),
                                           frozen_after=Decimal("0.00"), voucher_no=f"{mark}-V1",
                                           remark=f"{mark} top-up")
    product = await Product.create(
        code=f"{mark}-P1", name=f"{mark}消费贷", business_mode=BusinessMode.SELF_OPERATED, type=ProductType.MULTI,
        repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("1000.00"), amount_max=Decimal("200000.00"),
        term_unit=TermUnitChoice.MONTH, term_min=3, term_max=36, payment_type=PaymentType.PRIVATE,
        description=f"{mark} product", margin_account=margin, check_margin=True)
    await ProductFunder.create(product=product, bank=bank, bank_product=credit, share=Decimal("100"))
    await ProductChannel.create(product=product, institution=channel)
    today = date.today()
    plan = await FundingPlan.create(product=product, bank=bank, effective_from=today - timedelta(days=1),
                                    max_orders=100, max_amount=Decimal("5000000.00"))
    await FundingUsage.create(product=product, bank=bank, institution=channel, day=today, orders=3,
                              amount_cents=3_000_000)
    change = await ChangeRequest.create(
        entity_type="product", entity_id=product.id, entity_label=f"{mark}消费贷", action=ChangeAction.UPDATE,
        payload={"name": f"{mark}消费贷二"}, base_version=1, maker_id=people["maker"].id,
        checker_id=people["checker"].id, scope_product_id=product.id)
    async with in_transaction():
        private = await ledger.append("product.update", {"name": f"{mark}消费贷二", "bank": f"{mark}01"},
                                      initiator=SYSTEM, status=TxStatus.PRIVACY_PROTECTED,
                                      source=("ChangeRequest", change.id), scope_product_id=product.id)
        tagged = await ledger.append("margin.topup", {"project": f"{mark}项目"}, initiator=SYSTEM,
                                     source=("MarginAccount", margin.id), scope_bank_id=bank.id)
    await seal_pending(force=True)
    await oplog.record(SYSTEM, kind=OperatorKind.ADMIN, module="banks", action="create",
                       summary=f"created bank {mark}", detail={"code": f"{mark}01"}, scope_bank_id=bank.id)
    await oplog.record(SYSTEM, kind=OperatorKind.ADMIN, module="products", action="update",
                       summary=f"edited product {mark}-P1", scope_product_id=product.id)
    ids: dict[str, list[Any]] = {
        "Bank": [bank.id], "BankProduct": [credit.id], "MarginAccount": [margin.id],
        "MarginMovement": [movement.id], "Product": [product.id], "FundingPlan": [plan.id],
        "ChangeRequest": [change.id], "hashes": [private.tx_hash, tagged.tx_hash]}
    # Each domain seeds its own rows for this bank (tests/<domain>/walk_seed.py).
    for seed in DOMAIN_SEEDS:
        for type_name, pks in (await seed(mark, bank, product, channel, people)).items():
            ids.setdefault(type_name, []).extend(pks)
    # Business numbers the walker passes to string arguments such as orderNo and customerNo.
    loans = await Loan.filter(product_id=product.id).values_list("order_no", "customer__customer_no")
    ids["hashes"] += sorted({n for pair in loans for n in pair})
    return ids


@pytest.fixture
async def world(people: dict[str, Any]) -> dict[str, Any]:
    channel = await AssistInstitution.create(name="公共流量平台", number="TP001", phone="4000000000")
    a = await seed_bank(MARK_A, channel, people)
    b = await seed_bank(MARK_B, channel, people)
    async with in_transaction():
        role = await Role.create(name="甲行全权", key="alpha_all", enabled=True)
        await policy.set_role_pages(role.key, None)  # every page: only the data scope limits this user
        await policy.set_role_data(role.key, DataPolicy(bank_ids=frozenset(a["Bank"]),
                                                        auto_bank_ids=frozenset(a["Bank"])))
    await policy_store().refresh()
    await make_user("alpha_user", ["alpha_all"], "甲行用户")
    return {"a": a, "b": b}


def _gids(ids: dict[str, list[Any]]) -> list[str]:
    return [gid(t, pk) for t, pks in ids.items() if t != "hashes" for pk in pks]


async def _walk(api: Api, token: str, pool: Pool) -> list[tuple[Call, str]]:
    schema = build_schema()._schema
    out = []
    unbuildable = []
    for call in calls(schema, pool, SKIP):
        if isinstance(call, str):
            unbuildable.append(call)
            continue
        body = await api(call.query, call.variables, token)
        # A call the server could not even run (syntax, validation) walks nothing: fail loudly.
        broken = [e["message"] for e in body.get("errors") or [] if not (e.get("extensions") or {}).get("code")]
        assert broken == [], (call.query, call.variables, broken)
        out.append((call, json.dumps(body, ensure_ascii=False)))
    assert unbuildable == [], f"the walker cannot build arguments for {unbuildable}: teach tests/scope/walk.py"
    return out


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _masked(text: str, value: str, placeholder: str = "<ID>") -> str:
    return text.replace(value, placeholder)


async def test_a_user_of_one_bank_sees_nothing_of_another_through_any_query(api: Api, world: dict[str, Any]
                                                                            ) -> None:
    b_ids = _gids(world["b"])
    missing = {gid(t, MISSING_PK): t for t in world["b"] if t != "hashes"}
    # The other bank's transaction hashes are public (anyone may verify the chain); their payloads are not.
    pool = Pool(ids=b_ids + list(missing), strings=world["b"]["hashes"] + ["0" * 64])
    token = await api.login("alpha_user")
    results = await _walk(api, token, pool)
    assert len({c.field for c, _ in results}) >= 30

    def echoed_out(text: str, variables: dict[str, Any]) -> str:
        """The response without the caller's own input echoed back (a chain repeats its customerNo)."""
        for value in _strings(variables):
            text = text.replace(value, "<INPUT>")
        return text

    leaks = [(c.field, c.variables) for c, text in results
             if MARK_B in echoed_out(text, c.variables)
             or any(i in text for i in b_ids if i not in json.dumps(c.variables))]
    assert leaks == []

    # Another bank's id answers exactly like an id that does not exist (no existence oracle).
    by_call = {(c.field, json.dumps(c.variables, sort_keys=True)): text for c, text in results}
    compared = 0
    for (field, variables), text in by_call.items():
        for b_gid in b_ids:
            if b_gid not in variables:
                continue
            type_name = next(t for t, pks in world["b"].items() if t != "hashes" for pk in pks
                             if gid(t, pk) == b_gid)
            twin_vars = variables.replace(b_gid, gid(type_name, MISSING_PK))
            twin = by_call.get((field, twin_vars))
            if twin is None:
                continue
            compared += 1
            assert _masked(text, b_gid) == _masked(twin, gid(type_name, MISSING_PK)), field
    assert compared >= 5

    # Positive control: the scoped user does see their own bank somewhere.
    assert any(MARK_A in text for _, text in results)


async def test_the_walk_finds_the_other_bank_when_the_scope_allows_it(api: Api, world: dict[str, Any]) -> None:
    pool = Pool(ids=_gids(world["b"]), strings=world["b"]["hashes"])
    token = await api.login("admin")
    results = await _walk(api, token, pool)
    seen = {c.field for c, text in results if MARK_B in text}
    assert len(seen) >= 8, seen
    # Every kind of path the scope guards is among them: lists, nested, ledger payloads, logs, reviews.
    assert {"banks", "bankProducts", "marginAccounts", "products", "ledgerTransactions", "ledgerTransaction",
            "operationLogs", "changeRequests", "loans", "loan", "loanByOrderNo", "repayments", "loanContracts",
            "collectionCases", "creditReviewPool", "providerAccounts",
            "accountTransactions", "violations", "fundFlowChain", "blacklistSettlementQuery"} <= seen, seen
