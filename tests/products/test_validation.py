"""Every product rule of SPEC §3, each reported against the field it is about (pure and database)."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import UserError
from core.products.validation import DEFAULTS, check_shape, validate_product

# A valid product without database ids (references are checked separately below).
BASE: dict[str, Any] = {
    "code": "P001", "name": "安心贷", "businessMode": "self_operated", "type": "multi",
    "repaymentMethod": "EQUAL_INSTALLMENT", "amountMin": "1000.00", "amountMax": "200000.00",
    "termUnit": "month", "termMin": 3, "termMax": 24, "paymentType": "private",
    "funders": [{"bankId": 1}], "channelIds": [7],
}


def problems(**over: Any) -> set[tuple[str | None, str]]:
    _, errs = check_shape(DEFAULTS | BASE | over)
    return {(e.field, e.code.value) for e in errs.errors}


def test_the_base_product_is_valid_and_normalised() -> None:
    out, errs = check_shape(DEFAULTS | BASE)
    assert errs.errors == []
    assert out["funders"] == [{"bankId": 1, "bankProductId": None, "share": "100.0000"}]
    assert out["amountMin"] == "1000.00" and out["lprTerm"] == "1Y" and out["spreadBp"] == 0


@pytest.mark.parametrize(("over", "field", "code"), [
    ({"code": ""}, "code", "REQUIRED"),
    ({"code": "P 1"}, "code", "INVALID"),
    ({"code": "P" * 31}, "code", "TOO_LONG"),
    ({"name": " "}, "name", "REQUIRED"),
    ({"businessMode": "franchise"}, "businessMode", "INVALID"),
    ({"businessMode": None}, "businessMode", "REQUIRED"),
    ({"type": "weekly"}, "type", "INVALID"),
    ({"amountMin": "0"}, "amountMin", "OUT_OF_RANGE"),
    ({"amountMin": "-5.00"}, "amountMin", "OUT_OF_RANGE"),
    ({"amountMin": "300000.00"}, "amountMin", "OUT_OF_RANGE"),  # min > max
    ({"amountMax": "1.005"}, "amountMax", "INVALID"),  # more than cents
    ({"amountMax": "lots"}, "amountMax", "INVALID"),
    ({"amountMax": None}, "amountMax", "REQUIRED"),
    ({"termUnit": "week"}, "termUnit", "INVALID"),
    ({"termUnit": "day"}, "termUnit", "INVALID"),  # multi-period counts months
    ({"type": "single", "repaymentMethod": "BULLET"}, "termUnit", "INVALID"),  # single counts days
    ({"termMin": 30, "termMax": 12}, "termMin", "OUT_OF_RANGE"),
    ({"termMin": 1}, "termMin", "OUT_OF_RANGE"),  # multi-period: at least two periods
    ({"termMax": 361}, "termMax", "OUT_OF_RANGE"),
    ({"termMin": None}, "termMin", "REQUIRED"),
    ({"repaymentMethod": "WHENEVER"}, "repaymentMethod", "INVALID"),
    ({"repaymentMethod": "BULLET"}, "repaymentMethod", "INVALID"),  # one installment is single-period
    ({"type": "single", "termUnit": "day", "termMin": 7, "termMax": 30}, "repaymentMethod", "INVALID"),
    ({"paymentType": "cash"}, "paymentType", "INVALID"),
    ({"paymentType": None}, "paymentType", "REQUIRED"),
    ({"spreadBp": 5001}, "spreadBp", "OUT_OF_RANGE"),
    ({"lprTerm": "3Y"}, "lprTerm", "INVALID"),
    ({"businessMode": "assisted"}, "assistInstitutionId", "REQUIRED"),
    ({"funders": []}, "funders", "REQUIRED"),
    ({"funders": [{"bankId": 1}, {"bankId": 2}]}, "funders", "INVALID"),  # self-operated: one funder
    ({"funders": [{"bankId": 1, "share": "60"}]}, "funders[0].share", "INVALID"),  # the only funder has 100
    ({"funders": [{"bankId": None}]}, "funders[0].bankId", "REQUIRED"),
    ({"channelIds": []}, "channelIds", "REQUIRED"),
    ({"channelIds": [7, 7]}, "channelIds[1]", "NOT_UNIQUE"),
    ({"compensationEnabled": True, "compensationDays": 1, "compensationTime": "10:00"}, "compensationBasis",
     "REQUIRED"),
    ({"compensationEnabled": True, "compensationBasis": "bank_due_date", "compensationDays": -1,
      "compensationTime": "10:00"}, "compensationDays", "OUT_OF_RANGE"),
    ({"compensationEnabled": True, "compensationBasis": "bank_due_date", "compensationTime": "10:00"},
     "compensationDays", "REQUIRED"),
    ({"compensationEnabled": True, "compensationBasis": "bank_due_date", "compensationDays": 0,
      "compensationTime": "24:00"}, "compensationTime", "INVALID"),
    ({"compensationEnabled": True, "compensationBasis": "front_due_date", "compensationDays": 0},
     "compensationTime", "REQUIRED"),
    ({"penaltyDailyRate": "0.02"}, "penaltyDailyRate", "OUT_OF_RANGE"),
    ({"penaltyDailyRate": "-0.0005"}, "penaltyDailyRate", "OUT_OF_RANGE"),
    ({"penaltyDailyRate": "0.0000005"}, "penaltyDailyRate", "INVALID"),  # at most six decimals
    ({"penaltyBase": "INTEREST"}, "penaltyBase", "INVALID"),
    ({"riskEventEnabled": True}, "riskSceneKey", "REQUIRED"),
    ({"disbursementEventEnabled": True}, "disbursementCallbackUrl", "REQUIRED"),
    ({"disbursementEventEnabled": True, "disbursementCallbackUrl": "ftp://x"}, "disbursementCallbackUrl", "INVALID"),
    ({"deductionEventEnabled": True, "deductionSendSms": True}, "deductionEventKey", "REQUIRED"),
    ({"deductionEventEnabled": True, "deductionEventKey": "DK"}, "deductionSendSms", "REQUIRED"),
    ({"deductionEventEnabled": True, "deductionEventKey": "DK", "deductionSendSms": False,
      "deductionCallbackEnabled": True}, "deductionCallbackUrl", "REQUIRED"),
    ({"checkMargin": True}, "marginAccountId", "REQUIRED"),
    ({"description": "x" * 501}, "description", "TOO_LONG"),
])
def test_each_rule_names_its_field(over: dict[str, Any], field: str, code: str) -> None:
    assert (field, code) in problems(**over)


def test_joint_lending_shares_must_sum_to_exactly_100() -> None:
    joint = {"businessMode": "joint"}
    assert ("funders", "INVALID") in problems(**joint, funders=[{"bankId": 1, "share": "70"},
                                                                 {"bankId": 2, "share": "29.9999"}])
    assert ("funders", "INVALID") in problems(**joint, funders=[{"bankId": 1, "share": "100"}])  # needs two
    assert problems(**joint, funders=[{"bankId": 1, "share": "70"}, {"bankId": 2, "share": "30.0000"}]) == set()
    assert problems(**joint, funders=[{"bankId": 1, "share": "33.3334"}, {"bankId": 2, "share": "33.3333"},
                                      {"bankId": 3, "share": "33.3333"}]) == set()
    found = problems(**joint, funders=[{"bankId": 1, "share": "70"}, {"bankId": 1, "share": "0"}])
    assert {("funders[1].bankId", "NOT_UNIQUE"), ("funders[1].share", "OUT_OF_RANGE")} <= found
    assert ("funders[1].share", "REQUIRED") in problems(**joint, funders=[{"bankId": 1, "share": "70"},
                                                                          {"bankId": 2}])
    assert ("funders[0].share", "INVALID") in problems(**joint, funders=[{"bankId": 1, "share": "70.00001"},
                                                                         {"bankId": 2, "share": "30"}])


def test_every_problem_is_reported_at_once() -> None:
    found = problems(code="", amountMin="0", termUnit="day", paymentType=None, channelIds=[], riskEventEnabled=True)
    assert {f for f, _ in found} >= {"code", "amountMin", "termUnit", "paymentType", "channelIds", "riskSceneKey"}


def test_switched_off_settings_are_not_kept_and_callback_one_means_none() -> None:
    out, errs = check_shape(DEFAULTS | BASE | {
        "riskEventEnabled": False, "riskSceneKey": "stale", "compensationEnabled": False, "compensationDays": 3,
        "disbursementEventEnabled": True, "disbursementCallbackUrl": "1",
        "deductionEventEnabled": True, "deductionEventKey": "DK", "deductionSendSms": False,
        "deductionCallbackEnabled": True, "deductionCallbackUrl": "https://bank.test/cb"})
    assert errs.errors == []
    assert out["riskSceneKey"] == "" and out["compensationDays"] is None
    assert out["disbursementCallbackUrl"] == "1" and out["deductionSendSms"] is False
    single, errs = check_shape(DEFAULTS | BASE | {"type": "single", "termUnit": "day", "termMin": 7, "termMax": 30,
                                                  "repaymentMethod": "BULLET"})
    assert errs.errors == [] and single["termUnit"] == "day"
    assert (single["penaltyDailyRate"], single["penaltyBase"]) == (None, None)  # the platform default
    own, errs = check_shape(DEFAULTS | BASE | {"penaltyDailyRate": "0.0007", "penaltyBase": "PRINCIPAL_AND_INTEREST"})
    assert errs.errors == [] and (own["penaltyDailyRate"], own["penaltyBase"]) == ("0.000700", "PRINCIPAL_AND_INTEREST")


async def test_references_must_exist_and_belong_together(orgs: Any) -> None:
    base = DEFAULTS | BASE | {"channelIds": [orgs.x.id]}
    with pytest.raises(UserError) as exc:
        await validate_product(base | {
            "funders": [{"bankId": orgs.a.id, "bankProductId": orgs.bp_b.id}],  # B's product under bank A
            "channelIds": [orgs.x.id, 999999], "enhancementInstitutionId": 999999,
            "paymentPlatformId": 999999, "checkMargin": True, "marginAccountId": orgs.margin_b.id})
    found = {(e.field, e.code.value) for e in exc.value.errors}
    assert found == {("funders[0].bankProductId", "INVALID"), ("channelIds[1]", "NOT_FOUND"),
                     ("enhancementInstitutionId", "NOT_FOUND"), ("paymentPlatformId", "NOT_FOUND"),
                     ("marginAccountId", "INVALID")}
    with pytest.raises(UserError) as exc:
        await validate_product(base | {"businessMode": "assisted", "assistInstitutionId": 999999,
                                       "funders": [{"bankId": 999999}]})
    assert {(e.field, e.code.value) for e in exc.value.errors} == {
        ("assistInstitutionId", "NOT_FOUND"), ("funders[0].bankId", "NOT_FOUND")}
    ok = await validate_product(base | {"businessMode": "assisted", "assistInstitutionId": orgs.y.id,
                                        "enhancementInstitutionId": orgs.enhancer.id,
                                        "funders": [{"bankId": orgs.a.id, "bankProductId": orgs.bp_a.id}],
                                        "checkMargin": True, "marginAccountId": orgs.margin_a.id})
    assert ok["funders"][0]["bankProductId"] == orgs.bp_a.id
