"""End to end: admission runs the real risk scene, stores the report, and refers to credit review.

The orders tests stand the risk engine in with a fake; this proves the real `evaluate_scene` and
`open_case` fit admission (one paid source, counted).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.loans.admission import submit_application
from core.loans.models import LoanStatus
from core.loans.review_models import CaseStatus, CreditReviewCase, ReviewStage
from core.risk.rule_models import RiskReportRecord
from plugins.facade import PluginHost
from tests.loans.orders_helpers import actor_for, application, id_number, make_bank, make_channel, make_product
from tests.risk.scene_support import bureau_of, expr, install_scene, scene_data


async def test_admission_decides_by_the_scene_and_refers_to_the_first_review_pool(
        people: dict[str, Any], risk_host: PluginHost) -> None:
    bank, channel = await make_bank("ADM"), await make_channel("ADM01")
    product = await make_product("RISKY", [(bank, "100")], [channel], risk=True)
    rules = scene_data()["rules"] + [{"name": "big amount", "mode": "result", "outcome": "manual_review",
                                      "expressions": [expr("own_data.requested_amount", ">", "50000")]}]
    await install_scene(scene_data("admission_scene", rules))
    admin = await actor_for("admin")
    bureau = bureau_of(risk_host)

    teen = await submit_application(admin, application(product, channel, id_number=id_number(1, birth="20100307")))
    assert teen.status == LoanStatus.REJECTED and bureau.requests == []  # short-circuited before the paid source
    approved = await submit_application(admin, application(product, channel, amount="20000.00"))
    assert approved.status == LoanStatus.APPROVED and len(bureau.requests) == 1
    referred = await submit_application(admin, application(product, channel, amount="80000.00"))
    assert referred.status == LoanStatus.MANUAL_REVIEW and referred.risk_outcome == "manual_review"

    reports = await RiskReportRecord.filter(loan_id__in=[teen.id, approved.id, referred.id]).order_by("id")
    assert [(r.loan_id, r.outcome, r.product_id) for r in reports] == [  # type: ignore[attr-defined]
        (teen.id, "reject", product.id), (approved.id, "pass", product.id), (referred.id, "manual_review", product.id)]
    assert reports[1].total_cost == Decimal("2.00")
    case = await CreditReviewCase.get(loan_id=referred.id)
    assert (case.stage, case.status) == (ReviewStage.FIRST, CaseStatus.UNASSIGNED)
    assert not await CreditReviewCase.filter(loan_id__in=[teen.id, approved.id]).exists()
