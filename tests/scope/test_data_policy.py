"""Editing a role's data permission through review, and what the scope then lets through (F-ROLE-3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from core.accounts.models import Role
from core.orgs.models import Bank
from core.products.models import BusinessMode, PaymentType, Product, ProductFunder, ProductType, TermUnitChoice
from permissions import policy
from permissions.policy import policy_store
from permissions.scope import DataPolicy, DataScope
from schema.relay import gid
from tests.support import Api, make_user

UPDATE_ROLE = """mutation($id:ID!,$data:DataPolicyInput!,$c:ID!){updateRole(id:$id,input:{data:$data},checkerId:$c){
  change{id status} errors{field code message}}}"""
APPROVE = "mutation($id:ID!){approveChange(id:$id,comment:\"ok\"){change{status} errors{field code message}}}"
TREE = """query($r:ID){dataPermissionTree(roleId:$r){bankId shortName selected autoInclude
  products{productId code checked}}}"""


async def bank(code: str) -> Bank:
    return await Bank.create(code=code, short_name=f"{code}行", full_name=f"{code} Bank", email=f"s@{code}.cn",
                             service_phone="95588")


async def product(code: str, *funders: Bank) -> Product:
    p = await Product.create(code=code, name=f"{code}贷", business_mode=BusinessMode.JOINT if len(funders) > 1
                             else BusinessMode.SELF_OPERATED, type=ProductType.MULTI,
                             repayment_method="EQUAL_INSTALLMENT", amount_min=Decimal("1000"),
                             amount_max=Decimal("50000"), term_unit=TermUnitChoice.MONTH, term_min=1, term_max=12,
                             payment_type=PaymentType.PRIVATE)
    share = Decimal(100) / len(funders)
    for i, f in enumerate(funders):
        await ProductFunder.create(product=p, bank=f, share=share, position=i)
    return p


async def scope_of(data: DataPolicy) -> DataScope:
    """The scope of a caller holding one role with this data policy (stored, as in production)."""
    async with in_transaction():
        await policy.set_role_data("probe", data)
    await policy_store().refresh()
    return policy_store().scope_for(["probe"])


async def visible(scope: DataScope) -> set[str]:
    return set(await Product.filter(scope.products("id")).values_list("code", flat=True))


@pytest.fixture
async def banks(people: dict[str, Any]) -> dict[str, Any]:
    a, b, c = await bank("A"), await bank("B"), await bank("C")
    out = {"A": a, "B": b, "C": c, "PA": await product("PA", a), "PB": await product("PB", b),
           "PAC": await product("PAC", a, c), "PC": await product("PC", c)}
    role = await Role.create(name="分行", key="branch", enabled=True)
    async with in_transaction():
        await policy.set_role_pages(role.key, {"products"})
        # Built-in makers start with no data; this one works for head office and sees every bank.
        await policy.set_role_data("maker", DataPolicy(all=True))
    out["role"] = role
    return out


async def _propose(api: Api, role: Role, data: dict[str, Any], people: dict[str, Any]) -> dict[str, Any]:
    token = await api.login(people["maker"].account)
    return (await api(UPDATE_ROLE, {"id": gid("Role", role.id), "data": data, "c": gid("User", people["checker"].id)},
                      token))["data"]["updateRole"]


async def test_a_reviewed_data_permission_takes_effect_on_approval(api: Api, people: dict[str, Any],
                                                                   banks: dict[str, Any]) -> None:
    role = banks["role"]
    out = await _propose(api, role, {"bankIds": [gid("Bank", banks["A"].id)],
                                     "productIds": [gid("Product", banks["PA"].id)]}, people)
    assert out["errors"] == []
    assert policy_store().role_data("branch") == DataPolicy()  # nothing changes before review
    checker = await api.login(people["checker"].account)
    approved = (await api(APPROVE, {"id": out["change"]["id"]}, checker))["data"]["approveChange"]
    assert approved["errors"] == [] and approved["change"]["status"] == "APPROVED"
    await policy_store().refresh()
    assert policy_store().role_data("branch") == DataPolicy(bank_ids=frozenset({banks["A"].id}),
                                                            product_ids=frozenset({banks["PA"].id}))


async def test_auto_include_without_a_bank_is_refused_with_select_a_bank_first(
        api: Api, people: dict[str, Any], banks: dict[str, Any]) -> None:
    out = await _propose(api, banks["role"], {"autoIncludeBankIds": [gid("Bank", banks["A"].id)]}, people)
    assert out["change"] is None
    assert [(e["field"], e["code"]) for e in out["errors"]] == [("data.autoIncludeBankIds", "REQUIRED")]
    assert "select a bank first" in out["errors"][0]["message"].lower()


async def test_products_must_be_run_by_a_selected_bank(api: Api, people: dict[str, Any],
                                                      banks: dict[str, Any]) -> None:
    out = await _propose(api, banks["role"], {"bankIds": [gid("Bank", banks["A"].id)],
                                              "productIds": [gid("Product", banks["PB"].id)]}, people)
    assert out["change"] is None
    assert [(e["field"], e["code"]) for e in out["errors"]] == [("data.productIds", "INVALID")]


async def test_a_scoped_maker_cannot_grant_a_bank_they_cannot_see(api: Api, people: dict[str, Any],
                                                                  banks: dict[str, Any]) -> None:
    async with in_transaction():
        await policy.set_role_data("maker", DataPolicy(bank_ids=frozenset({banks["A"].id})))
    out = await _propose(api, banks["role"], {"bankIds": [gid("Bank", banks["B"].id)]}, people)
    assert [(e["field"], e["code"]) for e in out["errors"]] == [("data.bankIds", "NOT_FOUND")]
    out = await _propose(api, banks["role"], {"allBanks": True}, people)
    assert [(e["field"], e["code"]) for e in out["errors"]] == [("data.all", "FORBIDDEN")]


async def test_auto_include_shows_a_new_product_at_once_and_deselecting_hides_it(banks: dict[str, Any]) -> None:
    a, c = banks["A"], banks["C"]
    auto = await scope_of(DataPolicy(bank_ids=frozenset({a.id}), auto_bank_ids=frozenset({a.id})))
    assert await visible(auto) == {"PA", "PAC"}
    await product("PA2", a)  # added later: no role edit needed
    assert await visible(auto) == {"PA", "PAC", "PA2"}
    checked = await scope_of(DataPolicy(bank_ids=frozenset({a.id}), product_ids=frozenset({banks["PA"].id})))
    assert await visible(checked) == {"PA"}  # without auto-include, new products wait for an edit
    deselected = await scope_of(DataPolicy(bank_ids=frozenset({c.id}), product_ids=frozenset({banks["PA"].id})))
    assert await visible(deselected) == set()  # PA's only bank is not selected: hidden


async def test_a_product_checked_once_is_seen_for_every_selected_bank_that_runs_it(banks: dict[str, Any]) -> None:
    a, c = banks["A"], banks["C"]
    scope = await scope_of(DataPolicy(bank_ids=frozenset({a.id, c.id}), product_ids=frozenset({banks["PAC"].id})))
    assert await visible(scope) == {"PAC"}
    only_c = await scope_of(DataPolicy(bank_ids=frozenset({c.id}), product_ids=frozenset({banks["PAC"].id})))
    assert await visible(only_c) == {"PAC"}  # joint product: C runs it too


async def test_roles_combine_and_a_disabled_role_stops_counting(api: Api, banks: dict[str, Any]) -> None:
    async with in_transaction():
        await policy.set_role_data("branch", DataPolicy(bank_ids=frozenset({banks["A"].id}),
                                                        auto_bank_ids=frozenset({banks["A"].id})))
        other = await Role.create(name="丙行", key="branch_c", enabled=True)
        await policy.set_role_pages(other.key, {"products"})
        await policy.set_role_data(other.key, DataPolicy(bank_ids=frozenset({banks["C"].id}),
                                                         product_ids=frozenset({banks["PC"].id})))
    await policy_store().refresh()
    await make_user("branchy", ["branch", "branch_c"])
    from core.accounts.auth import authenticate

    token = await api.login("branchy")
    actor = await authenticate(token)
    assert await visible(actor.scope) == {"PA", "PAC", "PC"}
    await Role.filter(id=other.id).update(enabled=False)
    actor = await authenticate(token)
    assert await visible(actor.scope) == {"PA", "PAC"}


async def test_the_editor_tree_shows_banks_products_and_checks(api: Api, people: dict[str, Any],
                                                              banks: dict[str, Any]) -> None:
    async with in_transaction():
        await policy.set_role_data("branch", DataPolicy(bank_ids=frozenset({banks["A"].id}),
                                                        product_ids=frozenset({banks["PAC"].id}),
                                                        auto_bank_ids=frozenset()))
    token = await api.login("admin")
    tree = (await api(TREE, {"r": gid("Role", banks["role"].id)}, token))["data"]["dataPermissionTree"]
    by_code = {t["shortName"]: t for t in tree}
    assert by_code["A行"]["selected"] and not by_code["A行"]["autoInclude"]
    assert {p["code"]: p["checked"] for p in by_code["A行"]["products"]} == {"PA": False, "PAC": True}
    assert not by_code["C行"]["selected"]
    assert all(not p["checked"] for p in by_code["C行"]["products"])  # deselected bank: nothing checked


async def test_a_role_shows_only_the_part_of_a_data_policy_the_reader_may_see(api: Api, people: dict[str, Any],
                                                                             banks: dict[str, Any]) -> None:
    async with in_transaction():
        await policy.set_role_data("branch", DataPolicy(bank_ids=frozenset({banks["A"].id, banks["B"].id})))
        await policy.set_role_data("checker", DataPolicy(bank_ids=frozenset({banks["A"].id})))
    token = await api.login(people["checker"].account)
    role = (await api("query($id:ID!){role(id:$id){dataPolicy{bankIds}}}", {"id": gid("Role", banks["role"].id)},
                      token))["data"]["role"]
    assert role["dataPolicy"]["bankIds"] == [gid("Bank", banks["A"].id)]
