"""The platform's blacklist and the own-data risk source that reads it (F-PLG-2 "blacklist hit", "age")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.actor import Actor
from core.errors import UserError
from core.oplog.models import OperationLog
from core.risk import blacklist
from core.risk.idnumber import check_char
from core.risk.models import BlacklistEntry
from plugins.testkit import running_host
from plugins.types import RiskRequest, RiskSubject
from tests.support import make_user

LISTED_ID = "11010519800101102" + check_char("11010519800101102")
CLEAN_ID = "31010219900615203" + check_char("31010219900615203")
LISTED_PHONE = "13912345678"
ALL = ("age", "id_number_valid", "requested_amount", "blacklist_hit")


@pytest.fixture
async def admin(db: str) -> Actor:
    user = await make_user("riskadmin", ["admin"], "风控管理员")
    return Actor(user.id, user.account, user.name, ("admin",))


def request(id_number: str = "", phone: str = "", *, amount: Decimal | None = None,
            at: dt.datetime = dt.datetime(2026, 6, 15, 2, 0, tzinfo=dt.UTC)) -> RiskRequest:
    return RiskRequest(RiskSubject("C001", id_number=id_number, phone=phone, name="张三"), ALL, scene="credit",
                       requested_at=at, amount=amount)


async def test_listing_a_person_is_logged_with_a_masked_identity(admin: Actor) -> None:
    entry = await blacklist.add(admin, id_number=LISTED_ID.lower(), phone="+86 139-1234-5678", name="李四",
                                reason="伪造收入证明")
    assert (entry.id_number, entry.phone, entry.created_by_id) == (LISTED_ID, LISTED_PHONE, admin.user_id)
    log = await OperationLog.get(module="blacklist", action="create")
    assert LISTED_ID not in str(log.detail) + log.summary and LISTED_PHONE not in str(log.detail) + log.summary
    assert log.detail == {"id": entry.id, "idNumber": "*" * 14 + LISTED_ID[-4:], "phone": "*******5678",
                          "name": "李*", "reason": "伪造收入证明"}
    assert log.operator_name == admin.name


async def test_bad_input_is_refused_with_every_problem_at_once(admin: Actor) -> None:
    with pytest.raises(UserError) as info:
        await blacklist.add(admin, id_number=LISTED_ID[:17] + ("0" if LISTED_ID[17] != "0" else "1"),
                            phone="1391234", reason="")
    assert {(e.field, e.code.value) for e in info.value.errors} == {
        ("idNumber", "INVALID"), ("phone", "INVALID"), ("reason", "REQUIRED")}
    assert "check digit" in info.value.errors[0].message
    with pytest.raises(UserError) as info:
        await blacklist.add(admin, name="王五", reason="只有姓名")
    assert info.value.errors[0].field == "idNumber" and info.value.errors[0].code.value == "REQUIRED"
    assert not await BlacklistEntry.exists() and not await OperationLog.filter(module="blacklist").exists()


async def test_a_person_is_listed_once(admin: Actor) -> None:
    await blacklist.add(admin, id_number=LISTED_ID, reason="欺诈")
    with pytest.raises(UserError) as info:
        await blacklist.add(admin, id_number=LISTED_ID, phone=LISTED_PHONE, reason="再次")
    assert [(e.field, e.code.value) for e in info.value.errors] == [("idNumber", "NOT_UNIQUE")]
    assert await BlacklistEntry.all().count() == 1


async def test_removing_takes_a_person_off_and_is_logged(admin: Actor) -> None:
    entry = await blacklist.add(admin, phone=LISTED_PHONE, reason="电话诈骗")
    assert await blacklist.is_listed(phone=LISTED_PHONE)
    await blacklist.remove(admin, entry.id)
    assert not await blacklist.is_listed(phone=LISTED_PHONE)
    log = await OperationLog.get(module="blacklist", action="delete")
    assert log.detail["phone"] == "*******5678" and log.detail["reason"] == "电话诈骗"
    with pytest.raises(UserError) as info:
        await blacklist.remove(admin, entry.id)
    assert info.value.code.value == "NOT_FOUND"


async def test_search_by_exact_number_or_keyword(admin: Actor) -> None:
    await blacklist.add(admin, id_number=LISTED_ID, name="李四", reason="伪造收入证明")
    await blacklist.add(admin, phone=LISTED_PHONE, reason="电话诈骗")
    assert await blacklist.query(blacklist.BlacklistFilter(id_number=LISTED_ID.lower())).count() == 1
    assert await blacklist.query(blacklist.BlacklistFilter(phone="139 1234 5678")).count() == 1
    assert await blacklist.query(blacklist.BlacklistFilter(keyword="诈骗")).count() == 1
    assert await blacklist.query(blacklist.BlacklistFilter(id_number=CLEAN_ID)).count() == 0


async def test_own_data_source_reports_blacklist_hits_by_id_or_phone(admin: Actor) -> None:
    await blacklist.add(admin, id_number=LISTED_ID, name="李四", reason="伪造收入证明")
    await blacklist.add(admin, phone=LISTED_PHONE, reason="电话诈骗")
    async with running_host({"plugins": {"own_data": {}}}) as (host, incidents):
        by_id = await host.fetch_risk("own_data", request(LISTED_ID))
        by_phone = await host.fetch_risk("own_data", request(CLEAN_ID, phone=LISTED_PHONE))
        clean = await host.fetch_risk("own_data", request(CLEAN_ID, phone="13800138000"))
        nothing = await host.fetch_risk("own_data", request())
    assert by_id.values["blacklist_hit"] is True and "伪造收入证明" in by_id.detail
    assert by_phone.values["blacklist_hit"] is True
    assert clean.values["blacklist_hit"] is False
    assert nothing.values["blacklist_hit"] is None  # nothing to look up is "no data", not "clean"
    assert {by_id.cost, clean.cost} == {Decimal("0")}
    assert incidents.incidents == []


async def test_own_data_source_derives_age_and_refuses_a_mistyped_id_without_crashing(db: str) -> None:
    mistyped = CLEAN_ID[:17] + ("0" if CLEAN_ID[17] != "0" else "1")
    async with running_host({"plugins": {"own_data": {}}}) as (host, incidents):
        # 2026-06-15 02:00 UTC is 10:00 in Shanghai, the day of the 36th birthday (born 1990-06-15)
        good = await host.fetch_risk("own_data", request(CLEAN_ID, amount=Decimal("50000.00")))
        eve = await host.fetch_risk("own_data", request(CLEAN_ID, at=dt.datetime(2026, 6, 14, 15, 59,
                                                                                tzinfo=dt.UTC)))
        bad = await host.fetch_risk("own_data", request(mistyped))
    assert (good.values["age"], good.values["id_number_valid"], good.values["requested_amount"]) == (
        36, True, Decimal("50000.00"))
    assert eve.values["age"] == 35 and eve.values["requested_amount"] is None
    assert (bad.values["age"], bad.values["id_number_valid"]) == (None, False)
    assert "check digit does not match" in bad.detail
    assert incidents.incidents == []
