"""Dictionaries: shipped data, serial numbers, uniqueness, items off by default (F-SYS-1)."""

from __future__ import annotations

import pytest

from core.actor import Actor
from core.errors import UserError
from core.oplog.models import OperationLog
from core.system import dictionaries as d
from core.system.models import Dictionary, DictionaryItem

SHIPPED = {"fee_type", "enhancement_org_type", "payment_platform", "bank_code", "marital_status", "contact_type",
           "occupation", "relationship", "education", "work_length", "business_type", "contract_class", "sms_type",
           "merchant_type", "bank_product_type"}


def fields(exc: pytest.ExceptionInfo[UserError]) -> set[tuple[str | None, str]]:
    return {(e.field, e.code.value) for e in exc.value.errors}


async def test_shipped_dictionaries_are_loaded_from_data_with_enabled_items(db: str) -> None:
    assert set(await d.ensure_seed_dictionaries()) == SHIPPED
    assert {x.key for x in await Dictionary.all()} == SHIPPED
    serials = sorted(await Dictionary.all().values_list("serial", flat=True))
    assert serials == list(range(1, len(SHIPPED) + 1))
    marital = [(i.code, i.name) for i in await d.dictionary_items("marital_status")]
    assert marital == [("10", "未婚"), ("20", "已婚"), ("30", "丧偶"), ("40", "离异")]
    assert [i.name for i in await d.dictionary_items("bank_product_type")] == ["单期", "多期"]
    enhancement = {i.name for i in await d.dictionary_items("enhancement_org_type")}
    assert {"融资担保公司", "保险公司", "仲裁机构"} <= enhancement
    assert await d.item_name("bank_code", 308) == "招商银行"
    # numeric order, not text order
    codes = [i.code for i in await d.dictionary_items("bank_code")]
    assert codes == sorted(codes, key=int) and codes[0] == "102"


async def test_reseeding_adds_only_what_is_missing_and_keeps_admin_edits(db: str, admin: Actor) -> None:
    await d.ensure_seed_dictionaries()
    marital = await Dictionary.get(key="marital_status")
    await d.update_dictionary(admin, marital.id, name="婚姻情况", key="marriage")
    widowed = await DictionaryItem.get(dictionary_id=marital.id, code="30")
    await d.set_item_enabled(admin, widowed.id, False)
    await d.delete_item(admin, (await DictionaryItem.get(dictionary_id=marital.id, code="40")).id)
    await Dictionary.filter(key="sms_type").delete()  # e.g. lost in a data migration

    assert await d.ensure_seed_dictionaries() == ["sms_type"]
    assert await Dictionary.all().count() == len(SHIPPED)
    marital = await Dictionary.get(id=marital.id)
    assert (marital.name, marital.key) == ("婚姻情况", "marriage")
    # code keeps working with the shipped key; the SPA may use the new one
    assert [i.code for i in await d.dictionary_items("marital_status")] == ["10", "20"]
    assert [i.code for i in await d.dictionary_items("marriage", enabled_only=False)] == ["10", "20", "30"]
    assert await d.ensure_seed_dictionaries() == []


async def test_a_dictionary_the_admin_made_first_is_adopted_not_duplicated(db: str, admin: Actor) -> None:
    mine = await d.create_dictionary(admin, name="婚姻状况", key="marital")
    created = await d.ensure_seed_dictionaries()
    assert "marital_status" not in created
    assert await Dictionary.filter(name="婚姻状况").count() == 1
    assert [x.id for x in await d.query("婚姻")] == [mine.id]
    assert await d.dictionary_items("marital_status") == []  # adopted as the admin made it: no items


async def test_create_dictionary_numbers_serially_and_checks_fields(db: str, admin: Actor) -> None:
    first = await d.create_dictionary(admin, name="还款方式", key="repayment_method", remark="产品还款方式")
    second = await d.create_dictionary(admin, name="证件类型", key="id_type")
    assert (first.serial, second.serial) == (1, 2)
    with pytest.raises(UserError) as exc:
        await d.create_dictionary(admin, name="还款方式", key="id_type")
    assert fields(exc) == {("name", "NOT_UNIQUE"), ("key", "NOT_UNIQUE")}
    with pytest.raises(UserError) as exc:
        await d.create_dictionary(admin, name="名" * 51, key="9bad key", remark="备" * 51)
    assert fields(exc) == {("name", "TOO_LONG"), ("key", "INVALID"), ("remark", "TOO_LONG")}
    with pytest.raises(UserError) as exc:
        await d.create_dictionary(admin, name=" ", key="")
    assert fields(exc) == {("name", "REQUIRED"), ("key", "REQUIRED")}
    assert await Dictionary.all().count() == 2
    # the key is editable but stays unique; the serial never changes
    with pytest.raises(UserError) as exc:
        await d.update_dictionary(admin, second.id, key="repayment_method")
    assert fields(exc) == {("key", "NOT_UNIQUE")}
    edited = await d.update_dictionary(admin, second.id, key="certificate_type", remark="")
    assert (edited.key, edited.serial) == ("certificate_type", 2)
    log = await OperationLog.filter(module="dictionaries", action="update_dictionary").get()
    assert log.detail["before"] == {"key": "id_type"} and log.detail["after"] == {"key": "certificate_type"}
    # a new dictionary takes the next serial, even after a deletion in the middle
    await d.delete_dictionary(admin, first.id)
    third = await d.create_dictionary(admin, name="第三个", key="third")
    assert third.serial == 3


async def test_items_start_disabled_and_codes_are_unique_digits_per_dictionary(db: str, admin: Actor) -> None:
    idt = await d.create_dictionary(admin, name="证件类型", key="id_type")
    other = await d.create_dictionary(admin, name="其他", key="other")
    card = await d.create_item(admin, idt.id, name="身份证", code="1")
    assert card.enabled is False
    assert await d.dictionary_items("id_type") == []
    await d.create_item(admin, other.id, name="同码不同表", code="1")  # same code, other dictionary: fine
    with pytest.raises(UserError) as exc:
        await d.create_item(admin, idt.id, name="护照", code="1")
    assert fields(exc) == {("code", "NOT_UNIQUE")}
    with pytest.raises(UserError) as exc:
        await d.create_item(admin, idt.id, name="护" * 51, code="A1")
    assert fields(exc) == {("name", "TOO_LONG"), ("code", "INVALID")}
    passport = await d.create_item(admin, idt.id, name="护照", code="02")
    await d.set_item_enabled(admin, card.id, True)
    assert [(i.code, i.name) for i in await d.dictionary_items("id_type")] == [("1", "身份证")]
    assert [i.code for i in await d.dictionary_items("id_type", enabled_only=False)] == ["1", "02"]
    renamed = await d.update_item(admin, passport.id, name="外国护照", code="3")
    assert (renamed.name, renamed.code, renamed.enabled) == ("外国护照", "3", False)
    with pytest.raises(UserError) as exc:
        await d.update_item(admin, passport.id, code="1")
    assert fields(exc) == {("code", "NOT_UNIQUE")}
    with pytest.raises(UserError) as exc:
        await d.create_item(admin, 999, name="x", code="1")
    assert fields(exc) == {("dictionaryId", "NOT_FOUND")}


async def test_shipped_dictionaries_cannot_be_deleted_but_admin_ones_go_with_their_items(db: str,
                                                                                         admin: Actor) -> None:
    await d.ensure_seed_dictionaries()
    education = await Dictionary.get(key="education")
    with pytest.raises(UserError) as exc:
        await d.delete_dictionary(admin, education.id)
    assert fields(exc) == {("id", "INVALID")}
    mine = await d.create_dictionary(admin, name="临时", key="tmp")
    await d.create_item(admin, mine.id, name="甲", code="1")
    await d.delete_dictionary(admin, mine.id)
    assert not await Dictionary.filter(id=mine.id).exists()
    assert not await DictionaryItem.filter(dictionary_id=mine.id).exists()
    entry = await OperationLog.get(module="dictionaries", action="delete_dictionary")
    assert entry.detail["items"] == 1 and entry.operator_id == admin.user_id  # type: ignore[attr-defined]
