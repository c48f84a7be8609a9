"""Diversion rules and AML settings through maker-checker: next-day vs effective now, previous version,
withdrawal, assignment, uniqueness, deletion, "apply now" and the GraphQL lists."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from core import clock
from core.actor import SYSTEM
from core.errors import ErrorCode, UserError
from core.monitoring import rules
from core.monitoring.ingest import ingest
from core.monitoring.models import AmlRuleKind, AmlRuleSetting, DiversionType, TxSource, Violation
from core.review import service as review
from core.review.models import ChangeAction, ChangeStatus
from tests.monitoring.ingest_helpers import actor_for, detectors, make_loan, make_world, tx
from tests.support import Api

pytestmark = pytest.mark.asyncio

GS = {"name": "股市", "code": "GS", "minAmount": "100.00", "minShare": "0.01"}


async def propose(people: dict[str, Any], action: ChangeAction, entity_id: int | None, data: dict[str, Any],
                  entity: str = rules.DIVERSION_ENTITY) -> Any:
    maker = await actor_for(people["maker"])
    return await review.submit(maker, entity, action, entity_id, data, people["checker"].id)


async def approve(people: dict[str, Any], change_id: int) -> Any:
    return await review.approve(await actor_for(people["checker"]), change_id, "ok")


async def stock_payment(loan: Any, serial: str, when: Any, amount: str = "500.00") -> dict[str, Any]:
    row = tx(loan, serial, "out", amount, counterpartyCategory="SEC_BROKER")
    row["occurredAt"] = when
    return row


async def detected(rows: list[dict[str, Any]]) -> list[str]:
    async with detectors():
        result = await ingest(SYSTEM, rows, TxSource.BATCH)
    return [v.type_code for v in result.violations]


async def funded_loan(mark: str) -> Any:
    w = await make_world(mark)
    loan = await make_loan(w, "10000.00")
    row = tx(loan, f"{mark}-in", "in", "10000.00")
    row["occurredAt"] = clock.now() - timedelta(hours=1)
    async with detectors():
        await ingest(SYSTEM, [row], TxSource.BATCH)
    return loan


async def test_an_approved_rule_applies_from_the_next_business_day(db: str, people: dict[str, Any]) -> None:
    loan = await funded_loan("NXT")
    change = await propose(people, ChangeAction.CREATE, None, GS)
    assert (await DiversionType.all().count()) == 0  # nothing changes before approval
    change = await approve(people, change.id)
    gs = await DiversionType.get(code="GS")
    assert gs.effective_from == clock.business_today() + timedelta(days=1)
    assert gs.last_maker_id == people["maker"].id and gs.last_checker_id == people["checker"].id  # type: ignore[attr-defined]
    assert await detected([await stock_payment(loan, "N1", clock.now())]) == []
    clock.travel(timedelta(days=1))
    assert await detected([await stock_payment(loan, "N2", clock.now())]) == ["GS"]


async def test_effective_now_applies_at_once(db: str, people: dict[str, Any]) -> None:
    loan = await funded_loan("NOW")
    change = await propose(people, ChangeAction.CREATE, None, GS | {"effectiveNow": True})
    await approve(people, change.id)
    assert await detected([await stock_payment(loan, "W1", clock.now())]) == ["GS"]


async def test_an_edit_keeps_the_previous_version_until_the_next_day(db: str, people: dict[str, Any]) -> None:
    loan = await funded_loan("EDT")
    await approve(people, (await propose(people, ChangeAction.CREATE, None, GS | {"effectiveNow": True})).id)
    gs = await DiversionType.get(code="GS")
    change = await propose(people, ChangeAction.UPDATE, gs.id, {"minAmount": "1000.00"})
    await approve(people, change.id)
    gs = await DiversionType.get(code="GS")
    assert gs.previous is not None and gs.previous["minAmount"] == "100.00"
    assert Decimal(gs.min_amount) == Decimal("1000.00")
    assert await detected([await stock_payment(loan, "E1", clock.now())]) == ["GS"]  # old 100.00 still applies
    clock.travel(timedelta(days=1))
    assert await detected([await stock_payment(loan, "E2", clock.now())]) == []  # 500 < new 1,000


async def test_a_deletion_applies_the_next_day_and_the_code_can_come_back(db: str, people: dict[str, Any]) -> None:
    loan = await funded_loan("DEL")
    await approve(people, (await propose(people, ChangeAction.CREATE, None, GS | {"effectiveNow": True})).id)
    gs = await DiversionType.get(code="GS")
    await approve(people, (await propose(people, ChangeAction.DELETE, gs.id, {})).id)
    assert await detected([await stock_payment(loan, "X1", clock.now())]) == ["GS"]
    clock.travel(timedelta(days=1))
    assert await detected([await stock_payment(loan, "X2", clock.now())]) == []
    revived = await propose(people, ChangeAction.CREATE, None, GS | {"effectiveNow": True, "minAmount": "200.00"})
    await approve(people, revived.id)
    again = await DiversionType.get(code="GS")
    assert again.id == gs.id and not again.deleted and Decimal(again.min_amount) == Decimal("200.00")
    assert await detected([await stock_payment(loan, "X3", clock.now())]) == ["GS"]


async def test_makers_withdraw_pending_changes_and_checkers_decide_only_their_own(db: str,
                                                                                  people: dict[str, Any]) -> None:
    change = await propose(people, ChangeAction.CREATE, None, GS)
    with pytest.raises(UserError) as exc:
        await review.approve(await actor_for(people["checker2"]), change.id)
    assert exc.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(UserError) as exc:
        await review.withdraw(await actor_for(people["maker2"]), change.id)
    assert exc.value.code is ErrorCode.NOT_FOUND
    withdrawn = await review.withdraw(await actor_for(people["maker"]), change.id)
    assert withdrawn.status is ChangeStatus.WITHDRAWN
    assert not await DiversionType.exists()


async def test_names_and_codes_are_unique_and_inputs_checked(db: str, people: dict[str, Any]) -> None:
    await rules.load_default_rules()
    with pytest.raises(UserError) as exc:
        await propose(people, ChangeAction.CREATE, None, {"name": "股市", "code": "gs", "minAmount": "1.001",
                                                           "minShare": "1.5"})
    assert {e.field for e in exc.value.errors} == {"name", "code", "minAmount", "minShare"}
    aml = await AmlRuleSetting.get(kind=AmlRuleKind.RAPID_IN_OUT)
    with pytest.raises(UserError) as exc:
        await propose(people, ChangeAction.UPDATE, aml.id, {"params": {"ratio": "0", "windowMinutes": -1,
                                                                       "bogus": 1}}, rules.AML_ENTITY)
    assert {e.field for e in exc.value.errors} == {"params.ratio", "params.windowMinutes", "params.bogus"}
    with pytest.raises(UserError):
        await propose(people, ChangeAction.DELETE, aml.id, {}, rules.AML_ENTITY)


async def test_aml_parameters_change_through_review(db: str, people: dict[str, Any]) -> None:
    await rules.load_default_rules()
    aml = await AmlRuleSetting.get(kind=AmlRuleKind.LARGE_CASH)
    change = await propose(people, ChangeAction.UPDATE, aml.id,
                           {"params": aml.params | {"singleThreshold": "20000.00"}}, rules.AML_ENTITY)
    await approve(people, change.id)
    aml = await AmlRuleSetting.get(id=aml.id)
    assert aml.params["singleThreshold"] == "20000.00" and aml.previous["params"]["singleThreshold"] == "50000.00"
    assert aml.effective_from == clock.business_today() + timedelta(days=1)
    await rules.apply_now(await actor_for(people["maker"]), rules.AML_ENTITY, aml.id)
    assert (await AmlRuleSetting.get(id=aml.id)).effective_from == clock.business_today()
    with pytest.raises(UserError) as exc:
        await rules.apply_now(await actor_for(people["maker"]), rules.AML_ENTITY, aml.id)
    assert exc.value.code is ErrorCode.INVALID_STATE


async def test_default_rules_are_the_seed_list_and_idempotent(db: str) -> None:
    first = await rules.load_default_rules()
    assert await rules.load_default_rules() == []
    codes = dict(await DiversionType.all().values_list("code", "min_amount"))
    assert set(codes) == {"LS", "GS", "JJCF", "QH", "GJS", "XNB", "FDC"} and len(first) == 10
    assert Decimal(codes["LS"]) == Decimal("200.00")
    assert await AmlRuleSetting.all().count() == 3
    assert not await Violation.exists()


CREATE = """mutation($input: DiversionTypeInput!, $checker: ID!) {
  createDiversionType(input: $input, checkerId: $checker) { errors { field code } change { id status } } }"""
LISTS = """query($q: ReviewQueue!) { diversionRuleChanges(queue: $q) { totalCount edges { node { id entityLabel
  status } } } }"""


async def test_graphql_three_lists_withdraw_and_apply_now(api: Api, people: dict[str, Any]) -> None:
    from schema.relay import gid

    maker = await api.login("maker1")
    checker = await api.login("checker1")
    checker2 = await api.login("checker2")
    body = await api(CREATE, {"input": {"name": "股市", "code": "GS", "minAmount": "100.00", "minShare": "0.01"},
                              "checker": gid("User", people["checker"].id)}, maker)
    payload = body["data"]["createDiversionType"]
    assert payload["errors"] == [] and payload["change"]["status"] == "PENDING"
    second = (await api(CREATE, {"input": {"name": "楼市", "code": "FDC", "minAmount": "100.00",
                                           "minShare": "0.01"}, "checker": gid("User", people["checker2"].id)},
                        maker))["data"]["createDiversionType"]["change"]

    async def total(token: str, queue: str) -> int:
        return (await api(LISTS, {"q": queue}, token))["data"]["diversionRuleChanges"]["totalCount"]

    assert await total(maker, "PENDING") == 2
    assert await total(checker, "PENDING") == 1 and await total(checker2, "PENDING") == 1
    approved = await api("mutation($id: ID!) { approveChange(id: $id) { errors { code } change { status } } }",
                         {"id": payload["change"]["id"]}, checker)
    assert approved["data"]["approveChange"]["errors"] == []
    assert await total(maker, "COMPLETED") == 1 and await total(maker, "ALL") == 2
    withdrawn = await api("mutation($id: ID!) { withdrawRuleChange(id: $id) { errors { code } change { status } } }",
                          {"id": second["id"]}, maker)
    assert withdrawn["data"]["withdrawRuleChange"]["change"]["status"] == "WITHDRAWN"
    types = await api("{ diversionTypes { edges { node { id code inForce effectiveFrom lastCheckerName } } } }",
                      token=maker)
    (node,) = [e["node"] for e in types["data"]["diversionTypes"]["edges"]]
    found = await api('{ a: diversionTypes(keyword: "g") { totalCount } b: diversionTypes(keyword: "楼") '
                      '{ totalCount } }', token=maker)
    assert found["data"] == {"a": {"totalCount": 1}, "b": {"totalCount": 0}}
    assert node["code"] == "GS" and node["inForce"] is False and node["lastCheckerName"] == "复核一"
    now = await api("mutation($id: ID!) { applyRuleNow(id: $id) { errors { code } diversionType { inForce } } }",
                    {"id": node["id"]}, maker)
    assert now["data"]["applyRuleNow"] == {"errors": [], "diversionType": {"inForce": True}}
    refused = await api("mutation($id: ID!) { applyRuleNow(id: $id) { errors { code } } }", {"id": node["id"]},
                        checker)
    assert refused["data"]["applyRuleNow"]["errors"][0]["code"] == "FORBIDDEN"
