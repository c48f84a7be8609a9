"""Banks and their credit products as services on the real database (F-ORG-1, F-ORG-2)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import ErrorCode, UserError
from core.oplog.models import OperationLog
from core.orgs import bank_products, banks
from core.orgs.bank_products import BankProductInput
from core.orgs.models import Bank, BankProduct, BankProductType
from core.products.models import ProductFunder
from permissions.scope import EVERYTHING
from tests.orgs.helpers import admin_actor, bank_input, new_account, new_bank, new_product

pytestmark = pytest.mark.db


def fields_of(exc: pytest.ExceptionInfo[UserError]) -> dict[str | None, ErrorCode]:
    return {e.field: e.code for e in exc.value.errors}


async def test_create_bank_stores_cleaned_fields_and_logs_it_tagged_with_the_bank(db: str) -> None:
    actor = await admin_actor()
    bank = await banks.create(actor, bank_input("HXB", " 华夏银行 "), request_id="req-1")
    assert (bank.code, bank.short_name, bank.email, bank.service_phone) == (
        "HXB", "华夏银行", "service@hxb.com.cn", "400-669-5577")
    entry = await OperationLog.get(module="banks", action="create")
    assert entry.scope_bank_id == bank.id and entry.request_id == "req-1" and entry.operator_id == actor.user_id


async def test_every_invalid_bank_field_is_reported_at_once(db: str) -> None:
    actor = await admin_actor()
    bad = banks.BankInput(code="H X", short_name="", full_name="x" * 101, email="service.hxb.com",
                          service_phone="95-5a", address="路" * 201)
    with pytest.raises(UserError) as exc:
        await banks.create(actor, bad)
    assert fields_of(exc) == {"code": ErrorCode.INVALID, "shortName": ErrorCode.REQUIRED,
                              "fullName": ErrorCode.TOO_LONG, "email": ErrorCode.INVALID,
                              "servicePhone": ErrorCode.INVALID, "address": ErrorCode.TOO_LONG}
    assert all(e.message for e in exc.value.errors)
    assert await Bank.all().count() == 0 and await OperationLog.filter(module="banks").count() == 0


async def test_bank_code_and_full_name_are_unique(db: str) -> None:
    actor = await admin_actor()
    await new_bank(actor, "HXB", "华夏银行")
    with pytest.raises(UserError) as exc:
        await banks.create(actor, bank_input("HXB", "华夏银行"))
    assert fields_of(exc) == {"code": ErrorCode.NOT_UNIQUE, "fullName": ErrorCode.NOT_UNIQUE}
    assert "HXB" in exc.value.errors[0].message


async def test_update_keeps_omitted_fields_checks_the_rest_and_logs_before_and_after(db: str) -> None:
    actor = await admin_actor()
    bank = await new_bank(actor)
    other = await new_bank(actor, "JNRCB", "江南农商银行")
    updated = await banks.update(actor, EVERYTHING, bank.id, banks.BankInput(service_phone="95577"))
    assert updated.service_phone == "95577" and updated.email == "service@hxb.com.cn"
    entry = await OperationLog.get(module="banks", action="update")
    assert entry.detail["before"] == {"service_phone": "400-669-5577"} and entry.scope_bank_id == bank.id
    with pytest.raises(UserError) as exc:
        await banks.update(actor, EVERYTHING, bank.id, banks.BankInput(code=other.code, email="x@y"))
    assert fields_of(exc) == {"code": ErrorCode.NOT_UNIQUE, "email": ErrorCode.INVALID}
    # Saving the unchanged form is not an error and logs nothing.
    await banks.update(actor, EVERYTHING, bank.id, banks.BankInput(code="HXB"))
    assert await OperationLog.filter(module="banks", action="update").count() == 1


async def test_deleting_a_bank_in_use_is_refused_with_what_uses_it(db: str) -> None:
    actor = await admin_actor()
    bank = await new_bank(actor)
    product = await bank_products.create(actor, EVERYTHING, bank.id, BankProductInput(
        name="华夏个人消费贷", type=BankProductType.MULTI, repayment_method="EQUAL_INSTALLMENT"))
    await new_account(actor, bank)
    with pytest.raises(UserError) as exc:
        await banks.delete(actor, EVERYTHING, bank.id)
    assert exc.value.code is ErrorCode.CONFLICT
    assert "1 bank credit products" in str(exc.value) and "1 margin accounts" in str(exc.value)
    assert await Bank.filter(id=bank.id).exists()

    loan_product = await new_product("P1")
    await ProductFunder.create(product=loan_product, bank=bank, share=Decimal("100"))
    await bank_products.delete(actor, EVERYTHING, product.id)
    with pytest.raises(UserError, match="loan products"):
        await banks.delete(actor, EVERYTHING, bank.id)


async def test_an_unused_bank_is_deleted_and_logged(db: str) -> None:
    actor = await admin_actor()
    bank = await new_bank(actor)
    await banks.delete(actor, EVERYTHING, bank.id)
    assert not await Bank.filter(id=bank.id).exists()
    assert (await OperationLog.get(module="banks", action="delete")).scope_bank_id == bank.id
    with pytest.raises(UserError) as exc:
        await banks.delete(actor, EVERYTHING, bank.id)
    assert exc.value.code is ErrorCode.NOT_FOUND


async def test_bank_product_validation_names_every_field(db: str) -> None:
    actor = await admin_actor()
    with pytest.raises(UserError) as exc:
        await bank_products.create(actor, EVERYTHING, None, BankProductInput(
            name="x" * 51, type="weekly", repayment_method="WHENEVER", description="d" * 501))
    assert fields_of(exc) == {"bankId": ErrorCode.REQUIRED, "name": ErrorCode.TOO_LONG, "type": ErrorCode.INVALID,
                              "repaymentMethod": ErrorCode.INVALID, "description": ErrorCode.TOO_LONG}
    assert "single, multi" in str(exc.value)


async def test_product_type_and_repayment_method_must_fit_together(db: str) -> None:
    actor = await admin_actor()
    bank = await new_bank(actor)
    with pytest.raises(UserError) as exc:
        await bank_products.create(actor, EVERYTHING, bank.id, BankProductInput(
            name="短期贷", type=BankProductType.SINGLE, repayment_method="EQUAL_INSTALLMENT"))
    assert fields_of(exc) == {"repaymentMethod": ErrorCode.INVALID} and "BULLET" in str(exc.value)
    product = await bank_products.create(actor, EVERYTHING, bank.id, BankProductInput(
        name="短期贷", type=BankProductType.SINGLE, repayment_method="BULLET"))
    # Changing only the type re-checks it against the stored method.
    with pytest.raises(UserError):
        await bank_products.update(actor, EVERYTHING, product.id, BankProductInput(type=BankProductType.MULTI))
    changed = await bank_products.update(actor, EVERYTHING, product.id, BankProductInput(
        type=BankProductType.MULTI, repayment_method="EQUAL_PRINCIPAL"))
    assert (changed.type, changed.repayment_method) == (BankProductType.MULTI, "EQUAL_PRINCIPAL")


async def test_product_names_are_unique_per_bank_only(db: str) -> None:
    actor = await admin_actor()
    a, b = await new_bank(actor), await new_bank(actor, "JNRCB", "江南农商银行")
    data = BankProductInput(name="消费贷", type=BankProductType.MULTI, repayment_method="EQUAL_INSTALLMENT")
    await bank_products.create(actor, EVERYTHING, a.id, data)
    await bank_products.create(actor, EVERYTHING, b.id, data)
    with pytest.raises(UserError) as exc:
        await bank_products.create(actor, EVERYTHING, a.id, data)
    assert fields_of(exc) == {"name": ErrorCode.NOT_UNIQUE}
    assert await BankProduct.all().count() == 2


async def test_deleting_a_bank_product_a_loan_product_funds_through_is_refused(db: str) -> None:
    actor = await admin_actor()
    bank = await new_bank(actor)
    product = await bank_products.create(actor, EVERYTHING, bank.id, BankProductInput(
        name="消费贷", type=BankProductType.MULTI, repayment_method="EQUAL_INSTALLMENT"))
    loan_product = await new_product("P1")
    await ProductFunder.create(product=loan_product, bank=bank, bank_product=product, share=Decimal("100"))
    with pytest.raises(UserError) as exc:
        await bank_products.delete(actor, EVERYTHING, product.id)
    assert exc.value.code is ErrorCode.CONFLICT and "loan products (as funder)" in str(exc.value)
    assert await BankProduct.filter(id=product.id).exists()
