"""Provider accounts admin: validation, uniqueness, data scope in SQL, operation log; over GraphQL too."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from core.accounts.models import Role
from core.actor import SYSTEM
from core.errors import ErrorCode, UserError
from core.oplog.models import OperationLog
from core.payments import accounts
from core.payments.models import AccountPurpose, ProviderAccount
from permissions import policy
from permissions.policy import policy_store
from permissions.scope import EVERYTHING, DataPolicy
from schema.relay import gid
from tests.payments.helpers import bank_scope, make_world
from tests.support import Api, make_user

NODES = {"disbursement_accounts", "disbursement_accounts.create", "disbursement_accounts.update",
         "disbursement_accounts.delete", "reconciliation", "reconciliation.run", "reconciliation.repush"}


def data(world: Any, **over: Any) -> accounts.AccountInput:
    base = {"bank_id": world.bank.id, "payment_platform_id": world.platform.id,
            "purpose": AccountPurpose.DISBURSEMENT, "account_no": "DISB-A", "name": "A行放款户"}
    return accounts.AccountInput(**(base | over))


async def test_create_edit_delete_with_the_operation_log(db: str) -> None:
    world = await make_world()
    row = await accounts.create(SYSTEM, EVERYTHING, data(world, warning_line="800000.00"))
    assert (row.account_no, row.warning_line, row.enabled, row.breached) == ("DISB-A", Decimal("800000.00"), True,
                                                                            False)
    row = await accounts.update(SYSTEM, EVERYTHING, row.id, accounts.AccountInput(clear_warning_line=True,
                                                                                  enabled=False))
    assert row.warning_line is None and not row.enabled
    same = await accounts.update(SYSTEM, EVERYTHING, row.id, accounts.AccountInput(enabled=False))
    assert same.updated_at == row.updated_at  # nothing changed, nothing written
    await accounts.delete(SYSTEM, EVERYTHING, row.id)
    assert not await ProviderAccount.exists()
    logs = await OperationLog.filter(module="disbursement_accounts").order_by("id")
    assert [entry.action for entry in logs] == ["create", "update", "delete"]
    assert all(entry.scope_bank_id == world.bank.id for entry in logs)


async def test_validation_names_every_field(db: str) -> None:
    world = await make_world()
    with pytest.raises(UserError) as err:
        await accounts.create(SYSTEM, EVERYTHING, data(world, purpose="savings", account_no="has space",
                                                       warning_line="-1", name="x" * 51))
    assert {(e.field, e.code) for e in err.value.errors} == {
        ("purpose", ErrorCode.INVALID), ("accountNo", ErrorCode.INVALID), ("warningLine", ErrorCode.OUT_OF_RANGE),
        ("name", ErrorCode.TOO_LONG)}
    with pytest.raises(UserError) as err:
        await accounts.create(SYSTEM, EVERYTHING, data(world, payment_platform_id=987654))
    assert (err.value.errors[0].field, err.value.code) == ("paymentPlatformId", ErrorCode.NOT_FOUND)
    with pytest.raises(UserError) as err:
        await accounts.create(SYSTEM, EVERYTHING, data(world, warning_line="1.005"))
    assert err.value.errors[0].field == "warningLine"


async def test_account_numbers_are_unique_per_platform_and_one_account_per_purpose(db: str) -> None:
    a = await make_world("BKA")
    b = await make_world("BKB", platform=a.platform, channel=a.channel)
    first = await accounts.create(SYSTEM, EVERYTHING, data(a))
    with pytest.raises(UserError) as err:
        await accounts.create(SYSTEM, EVERYTHING, data(b, account_no="DISB-A"))
    assert [(e.field, e.code) for e in err.value.errors] == [("accountNo", ErrorCode.NOT_UNIQUE)]
    with pytest.raises(UserError) as err:
        await accounts.create(SYSTEM, EVERYTHING, data(a, account_no="DISB-A2"))
    assert [(e.field, e.code) for e in err.value.errors] == [("purpose", ErrorCode.NOT_UNIQUE)]
    repay = await accounts.create(SYSTEM, EVERYTHING, data(a, account_no="REPAY-A", purpose="repayment"))
    with pytest.raises(UserError) as err:
        await accounts.update(SYSTEM, EVERYTHING, repay.id, accounts.AccountInput(account_no="DISB-A"))
    assert [(e.field, e.code) for e in err.value.errors] == [("accountNo", ErrorCode.NOT_UNIQUE)]
    with pytest.raises(UserError) as err:
        await accounts.update(SYSTEM, EVERYTHING, first.id, accounts.AccountInput(purpose="repayment"))
    assert err.value.errors[0].code is ErrorCode.IMMUTABLE


async def test_scope_hides_other_banks_accounts_and_refuses_their_banks(db: str) -> None:
    a = await make_world("BKA")
    b = await make_world("BKB", platform=a.platform, channel=a.channel)
    mine = await accounts.create(SYSTEM, EVERYTHING, data(a))
    theirs = await accounts.create(SYSTEM, EVERYTHING, data(b, account_no="DISB-B"))
    scope = await bank_scope(a.bank.id)
    assert [r.id for r in await accounts.query(scope)] == [mine.id]
    assert await accounts.query(scope, bank_id=b.bank.id).count() == 0
    for attempt in (accounts.get(scope, theirs.id),
                    accounts.update(SYSTEM, scope, theirs.id, accounts.AccountInput(name="x")),
                    accounts.delete(SYSTEM, scope, theirs.id),
                    accounts.create(SYSTEM, scope, data(b, account_no="DISB-B2", purpose="repayment"))):
        with pytest.raises(UserError) as err:
            await attempt
        assert err.value.code is ErrorCode.NOT_FOUND
    assert (await ProviderAccount.get(id=theirs.id)).name == "A行放款户"


async def scoped_login(api: Api, account: str, bank_ids: set[int]) -> str:
    async with in_transaction():
        role = await Role.create(name=account[:20], key=f"r_{account}", enabled=True)
        await policy.set_role_pages(role.key, NODES)
        await policy.set_role_data(role.key, DataPolicy(bank_ids=frozenset(bank_ids),
                                                        auto_bank_ids=frozenset(bank_ids)))
    await policy_store().refresh()
    await make_user(account, [role.key], account[:10])
    return await api.login(account)


FIELDS = ("providerAccount{id bankName provider purpose accountNo warningLine enabled breached} "
          "errors{field code message}")


async def test_accounts_over_graphql(api: Api, people: dict[str, Any]) -> None:
    a = await make_world("BKA")
    b = await make_world("BKB", platform=a.platform, channel=a.channel)
    token = await scoped_login(api, "bank_a_ops", {a.bank.id})
    create = f"mutation($i:CreateProviderAccountInput!){{createProviderAccount(input:$i){{{FIELDS}}}}}"
    made = (await api(create, {"i": {"bankId": gid("Bank", a.bank.id),
                                     "paymentPlatformId": gid("PaymentPlatform", a.platform.id),
                                     "purpose": "DISBURSEMENT", "accountNo": "DISB-A", "warningLine": "600000"}},
                      token))["data"]["createProviderAccount"]
    assert made["errors"] == [] and made["providerAccount"]["provider"] == "sandbox"
    assert made["providerAccount"]["warningLine"] == "600000.00"
    other = (await api(create, {"i": {"bankId": gid("Bank", b.bank.id),
                                      "paymentPlatformId": gid("PaymentPlatform", a.platform.id),
                                      "purpose": "DISBURSEMENT", "accountNo": "DISB-B"}}, token)
             )["data"]["createProviderAccount"]
    assert other["errors"][0]["field"] == "bankId" and other["errors"][0]["code"] == "NOT_FOUND"
    admin = await api.login(people["admin"].account)
    theirs = (await api(create, {"i": {"bankId": gid("Bank", b.bank.id),
                                       "paymentPlatformId": gid("PaymentPlatform", a.platform.id),
                                       "purpose": "DISBURSEMENT", "accountNo": "DISB-B"}}, admin)
              )["data"]["createProviderAccount"]["providerAccount"]
    listing = "{providerAccounts{totalCount edges{node{accountNo bankName}}}}"
    assert (await api(listing, None, token))["data"]["providerAccounts"]["totalCount"] == 1
    assert (await api(listing, None, admin))["data"]["providerAccounts"]["totalCount"] == 2
    one = "query($id:ID!){providerAccount(id:$id){accountNo}}"
    assert (await api(one, {"id": theirs["id"]}, token))["data"]["providerAccount"] is None
    update = f"mutation($id:ID!,$i:UpdateProviderAccountInput!){{updateProviderAccount(id:$id,input:$i){{{FIELDS}}}}}"
    edited = (await api(update, {"id": made["providerAccount"]["id"], "i": {"clearWarningLine": True}}, token)
              )["data"]["updateProviderAccount"]
    assert edited["errors"] == [] and edited["providerAccount"]["warningLine"] is None
    delete = "mutation($id:ID!){deleteProviderAccount(id:$id){deletedId errors{code}}}"
    refused = (await api(delete, {"id": theirs["id"]}, token))["data"]["deleteProviderAccount"]
    assert refused["errors"] == [{"code": "NOT_FOUND"}]
    viewer = await api.login(people["viewer"].account)
    forbidden = (await api(delete, {"id": made["providerAccount"]["id"]}, viewer))["data"]["deleteProviderAccount"]
    assert forbidden["errors"] == [{"code": "FORBIDDEN"}]
    assert await ProviderAccount.all().count() == 2
