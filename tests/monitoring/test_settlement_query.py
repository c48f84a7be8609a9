"""黑名单/提前结清查询 (F-MON-6/7): totals, makers/checkers see every record in their scope, viewers only
one exact customer number, and each viewer search is in the operation log."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core import clock
from core.errors import ErrorCode, UserError
from core.monitoring import settlement_query as sq
from core.monitoring.viewer import is_viewer
from core.oplog.models import OperationLog
from core.risk.models import BlacklistEntry
from tests.monitoring.factories import (
    make_channel,
    make_customer,
    make_early_settlement,
    make_loan,
    make_world,
    scoped_user,
)
from tests.products.helpers import actor_of
from tests.support import Api


@pytest.fixture
async def page(db: str) -> dict[str, object]:
    channel = await make_channel()
    a, z = await make_world("ALPHA", channel), await make_world("ZETA", channel)
    c1 = a.customer  # blacklisted by ID number
    c2 = await make_customer("ALPHA")  # two early settlements in bank A, one in bank Z
    c3 = await make_customer("ALPHA", phone="13912345678")  # blacklisted by phone, one early settlement
    c4 = await make_customer("ALPHA")  # neither
    for c in (c2, c3, c4):
        await make_loan("ALPHA", a.product, channel, c)
    l2a = await make_loan("ALPHA", a.product, channel, c2)
    l2b = await make_loan("ALPHA", a.product, channel, c2)
    l2z = await make_loan("ZETA", z.product, channel, c2)
    l3 = await make_loan("ALPHA", a.product, channel, c3)
    await make_early_settlement(a, "5000.00", l2a)
    await make_early_settlement(a, "1234.56", l2b)
    await make_early_settlement(z, "8888.00", l2z)
    await make_early_settlement(a, "100.01", l3)
    zc = z.customer  # only bank Z, blacklisted, settled early
    await make_early_settlement(z, "9999.00")
    now = clock.now()
    await BlacklistEntry.create(id_number=c1.id_number, name="甲", reason="欺诈", created_at=now)
    await BlacklistEntry.create(phone="13912345678", name="丙", reason="多头", created_at=now)
    await BlacklistEntry.create(id_number=zc.id_number, name="Z", reason="ZETA fraud", created_at=now)
    return {"a": a, "z": z, "c": [c1, c2, c3, c4], "zc": zc}


async def test_makers_see_totals_and_every_record_within_their_scope(page: dict[str, object]) -> None:
    a = page["a"]
    c1, c2, c3, c4 = page["c"]  # type: ignore[misc]
    _, maker = await scoped_user("alpha_maker", {a.bank.id}, {"settlement_query", "products.create"})  # type: ignore[attr-defined]
    assert not is_viewer(maker)
    t = await sq.totals(maker.scope)
    assert (t.blacklisted_customers, t.early_settlements, t.early_settlement_amount) == (2, 3, Decimal("6334.57"))
    qs = await sq.records_query(maker, None)
    rows = await qs.order_by("id")
    assert [c.id for c in rows] == [c1.id, c2.id, c3.id]
    assert await sq.blacklist_flags(rows) == {c1.id: True, c2.id: False, c3.id: True}
    settled = await sq.settlements_by_customer(maker.scope, [c2.id, c3.id])
    assert sorted(str(r.amount) for r in settled[c2.id]) == ["1234.56", "5000.00"]  # not bank Z's 8888.00
    assert [str(r.amount) for r in settled[c3.id]] == ["100.01"]
    one = await (await sq.records_query(maker, c4.customer_no))
    assert [c.id for c in one] == [c4.id]
    assert await (await sq.records_query(maker, page["zc"].customer_no)).count() == 0  # type: ignore[attr-defined]
    assert await OperationLog.filter(operator_kind="viewer").count() == 0  # makers are not logged
    _, admin = await scoped_user("all", None, None)  # positive control
    everything = await sq.totals(admin.scope)
    assert (everything.blacklisted_customers, everything.early_settlements) == (3, 5)
    assert everything.early_settlement_amount == Decimal("25221.57")


async def test_a_viewer_may_only_search_one_customer_and_each_search_is_logged(page: dict[str, object],
                                                                             people: dict[str, object]) -> None:
    a = page["a"]
    _, c2, _, _ = page["c"]  # type: ignore[misc]
    _, viewer = await scoped_user("alpha_viewer", {a.bank.id}, {"settlement_query", "transactions"})  # type: ignore[attr-defined]
    assert is_viewer(viewer)
    assert is_viewer(await actor_of(people["viewer"]))  # type: ignore[arg-type]
    for role in ("maker", "checker", "admin"):
        assert not is_viewer(await actor_of(people[role])), role  # type: ignore[arg-type]
    with pytest.raises(UserError) as refused:
        await sq.records_query(viewer, "  ")
    assert (refused.value.errors[0].field, refused.value.code) == ("customerNo", ErrorCode.REQUIRED)
    rows = await (await sq.records_query(viewer, c2.customer_no, request_id="req-1"))
    assert [c.id for c in rows] == [c2.id]
    hidden = await (await sq.records_query(viewer, page["zc"].customer_no))  # type: ignore[attr-defined]
    assert hidden == []
    logs = await OperationLog.filter(operator_kind="viewer").order_by("id")
    assert [(g.module, g.action, g.detail["customerNo"], g.detail["found"]) for g in logs] == [
        ("settlement_query", "blacklistSettlementQuery", c2.customer_no, 1),
        ("settlement_query", "blacklistSettlementQuery", page["zc"].customer_no, 0)]  # type: ignore[attr-defined]
    assert logs[0].operator_id == viewer.user_id and logs[0].request_id == "req-1"  # type: ignore[attr-defined]
    assert logs[0].operator_name == viewer.name


QUERY = """query($c: String) { blacklistSettlementQuery(customerNo: $c) {
  totals { blacklistedCustomers earlySettlements earlySettlementAmount }
  records { totalCount edges { node { customerNo name idNumber isBlacklisted
    earlySettlements { orderNo amount serialNo } } } } } }"""


async def test_the_page_over_http_for_a_maker_and_a_viewer(api: Api, page: dict[str, object]) -> None:
    a = page["a"]
    c1, c2, c3, _ = page["c"]  # type: ignore[misc]
    maker, _ = await scoped_user("alpha_maker", {a.bank.id}, {"settlement_query", "products.create"})  # type: ignore[attr-defined]
    viewer, _ = await scoped_user("alpha_viewer", {a.bank.id}, {"settlement_query"})  # type: ignore[attr-defined]
    body = await api(QUERY, {}, await api.login(maker.account))
    assert "errors" not in body, body
    data = body["data"]["blacklistSettlementQuery"]
    assert data["totals"] == {"blacklistedCustomers": 2, "earlySettlements": 3, "earlySettlementAmount": "6334.57"}
    nodes = {n["node"]["customerNo"]: n["node"] for n in data["records"]["edges"]}
    assert set(nodes) == {c1.customer_no, c2.customer_no, c3.customer_no}
    assert nodes[c1.customer_no]["isBlacklisted"] is True and nodes[c2.customer_no]["isBlacklisted"] is False
    assert nodes[c1.customer_no]["idNumber"] == c1.id_number[:6] + "********" + c1.id_number[-4:]  # masked
    assert sorted(s["amount"] for s in nodes[c2.customer_no]["earlySettlements"]) == ["1234.56", "5000.00"]
    assert "ZETA" not in str(body)
    token = await api.login(viewer.account)
    refused = await api(QUERY, {}, token)
    assert refused["data"] is None and refused["errors"][0]["extensions"] == {"code": "REQUIRED",
                                                                                "field": "customerNo"}
    one = await api(QUERY, {"c": c3.customer_no}, token)
    assert [e["node"]["customerNo"] for e in one["data"]["blacklistSettlementQuery"]["records"]["edges"]] == [
        c3.customer_no]
    assert await OperationLog.filter(operator_kind="viewer", operator_id=viewer.id).count() == 1
