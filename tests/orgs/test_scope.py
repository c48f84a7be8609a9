"""Data scope on institution services (F-ROLE-3/4): reads and writes of bank-owned rows stay within
the caller's banks, and another bank's row answers exactly like a missing one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.errors import UserError
from core.orgs import bank_products, banks, margins
from core.orgs.bank_products import BankProductInput
from core.orgs.models import Bank, BankProduct, BankProductType, MarginAccount
from permissions.scope import EVERYTHING, NOTHING
from tests.orgs.helpers import admin_actor, new_account, new_bank, only

pytestmark = pytest.mark.db
MISSING = 987654


@pytest.fixture
async def world(db: str) -> dict[str, Any]:
    actor = await admin_actor()
    a, b = await new_bank(actor, "HXB", "华夏银行"), await new_bank(actor, "JNRCB", "江南农商银行")
    out: dict[str, Any] = {"actor": actor, "a": a, "b": b}
    for key, bank in (("a", a), ("b", b)):
        out[f"{key}_product"] = await bank_products.create(actor, EVERYTHING, bank.id, BankProductInput(
            name=f"{bank.short_name}消费贷", type=BankProductType.MULTI, repayment_method="EQUAL_INSTALLMENT"))
        out[f"{key}_account"] = await new_account(actor, bank, f"{bank.code}-项目", top_up="1000")
    return out


async def message_of(call: Any) -> tuple[str, str | None, str]:
    with pytest.raises(UserError) as exc:
        await call
    e = exc.value.errors[0]
    return e.code.value, e.field, e.message


async def test_reads_are_limited_to_the_scope_in_sql(world: dict[str, Any]) -> None:
    a, b = world["a"], world["b"]
    scope = await only(a.id)
    assert [x.id for x in await banks.query(scope)] == [a.id]
    assert await banks.query(scope).count() == 1
    assert [p.bank_id for p in await bank_products.query(scope)] == [a.id]  # type: ignore[attr-defined]
    assert await bank_products.query(scope, bank_id=b.id).count() == 0
    assert [m.bank_id for m in await margins.query(scope)] == [a.id]  # type: ignore[attr-defined]
    assert {m.account_id for m in await margins.movements(scope)} == {world["a_account"].id}  # type: ignore[attr-defined]
    assert await margins.movements(scope, world["b_account"].id).count() == 0
    # Unrestricted sees both; a caller with no data permission sees nothing.
    assert await banks.query(EVERYTHING).count() == 2 and await banks.query(NOTHING).count() == 0
    assert await margins.movements(NOTHING).count() == 0


async def test_another_banks_id_answers_exactly_like_a_missing_one(world: dict[str, Any]) -> None:
    scope = await only(world["a"].id)
    for get, other, missing in ((banks.get, world["b"].id, MISSING),
                                (bank_products.get, world["b_product"].id, MISSING),
                                (margins.get, world["b_account"].id, MISSING)):
        assert await message_of(get(scope, other)) == await message_of(get(scope, missing))
    assert (await banks.get(scope, world["a"].id)).id == world["a"].id


async def test_writes_on_another_banks_rows_are_refused_as_not_found(world: dict[str, Any]) -> None:
    actor, a, b = world["actor"], world["a"], world["b"]
    scope = await only(a.id)
    refusals = [
        banks.update(actor, scope, b.id, banks.BankInput(address="x")),
        banks.delete(actor, scope, b.id),
        bank_products.create(actor, scope, b.id, BankProductInput(
            name="越权产品", type=BankProductType.MULTI, repayment_method="EQUAL_INSTALLMENT")),
        bank_products.update(actor, scope, world["b_product"].id, BankProductInput(description="x")),
        bank_products.delete(actor, scope, world["b_product"].id),
        margins.create(actor, scope, margins.MarginAccountInput(
            project="越权项目", bank_id=b.id, account_bank="x", account_no="62305800001", leverage=Decimal(1),
            warning_line=Decimal(0), warning_amount=Decimal(0))),
        margins.update(actor, scope, world["b_account"].id, margins.MarginAccountInput(leverage=Decimal(1))),
        margins.top_up(actor, scope, world["b_account"].id, Decimal("1"), "PZ-X", "https://files.test/x.pdf"),
        margins.freeze(world["b_account"].id, Decimal("10"), "L-X", actor, scope=scope),
        margins.release(world["b_account"].id, Decimal("10"), "L-X", actor, scope=scope),
    ]
    for call in refusals:
        code, _field, message = await message_of(call)
        assert code == "NOT_FOUND", message
    assert (await Bank.get(id=b.id)).address != "x"
    assert await BankProduct.filter(bank_id=b.id).count() == 1
    b_account = await MarginAccount.get(id=world["b_account"].id)
    assert (b_account.balance, b_account.frozen, b_account.leverage) == (Decimal("1000.00"), 0, Decimal("10.00"))
    # The same calls within scope work (so the refusals above are about scope, not the input).
    await bank_products.update(actor, scope, world["a_product"].id, BankProductInput(description="ok"))
    await margins.top_up(actor, scope, world["a_account"].id, Decimal("1"), "PZ-A", "https://files.test/a.pdf")
