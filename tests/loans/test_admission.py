"""Admission (F-LOAN-1): rules one by one, idempotency, quota, blacklist, switches, risk, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, UserError
from core.loans import admission, customers
from core.loans.admission import Application, cancel_order, submit_application
from core.loans.models import Customer, Loan, LoanEvent, LoanFunder, LoanStatus
from core.oplog.models import OperationLog
from core.orgs.models import AssistInstitution, Bank
from core.outbox.models import OutboxMessage
from core.products.models import FundingUsage, FundingUsageTotal, Product, TermUnitChoice
from core.risk import blacklist
from core.system.switches import SwitchKey, set_switch
from tests.loans.orders_helpers import (
    actor_for,
    application,
    id_number,
    limit_channel,
    make_bank,
    make_channel,
    make_product,
    scoped_user,
)

S = LoanStatus


@dataclass
class World:
    a: Bank
    b: Bank
    x: AssistInstitution
    y: AssistInstitution
    plain: Product  # bank A, channel X, no risk event
    risky: Product  # bank A, channels X and Y, risk event on
    joint: Product  # A 70 / B 30
    admin: Actor


@pytest.fixture
async def world(people: dict[str, Any]) -> World:
    a, b = await make_bank("BKA"), await make_bank("BKB")
    x, y = await make_channel("X001"), await make_channel("Y001")
    plain = await make_product("PLAIN", [(a, "100")], [x], deduction_key="auto_deduct")
    risky = await make_product("RISKY", [(a, "100")], [x, y], risk=True)
    joint = await make_product("JOINT", [(a, "70"), (b, "30")], [x])
    return World(a, b, x, y, plain, risky, joint, await actor_for("admin"))


@dataclass(frozen=True)
class FakeDecision:
    outcome: str
    score: Decimal | None = None
    quota: Decimal | None = None
    report_id: int = 1
    reasons: tuple[str, ...] = ()


class FakeRisk:
    """Stands in for core.risk.scenes.evaluate_scene and credit_review.open_case in these tests."""

    def __init__(self, decision: FakeDecision | Exception) -> None:
        self.decision = decision
        self.calls: list[tuple[str, dict[str, Any], int]] = []
        self.cases: list[int] = []

    async def evaluate(self, scene_key: str, subject: Any, *, loan_id: int) -> FakeDecision:
        self.calls.append((scene_key, dict(subject), loan_id))
        # the order is already committed as risk_checking while the scene runs
        assert (await Loan.get(id=loan_id)).status == S.RISK_CHECKING
        if isinstance(self.decision, Exception):
            raise self.decision
        return self.decision

    async def open_case(self, loan: Loan) -> None:
        self.cases.append(loan.id)


def fake_risk(monkeypatch: pytest.MonkeyPatch, decision: FakeDecision | Exception) -> FakeRisk:
    fake = FakeRisk(decision)
    monkeypatch.setattr(admission, "_evaluate_scene", fake.evaluate)
    monkeypatch.setattr(admission, "_open_case", fake.open_case)
    return fake


async def refused(actor: Actor, app: Application) -> list[tuple[str | None, ErrorCode]]:
    with pytest.raises(UserError) as exc:
        await submit_application(actor, app)
    return [(e.field, e.code) for e in exc.value.errors]


async def usage(product: Product, bank: Bank) -> tuple[int, int]:
    row = await FundingUsageTotal.get_or_none(product_id=product.id, bank_id=bank.id)
    return (row.orders, row.amount_cents) if row else (0, 0)


# ---- the happy path ----

async def test_an_order_without_risk_event_is_approved_with_funders_events_and_log(world: World) -> None:
    loan = await submit_application(world.admin, application(world.plain, world.x, amount="12345.67"))
    assert loan.status == S.APPROVED and loan.approved_at is not None
    assert loan.amount == Decimal("12345.67") and loan.term_unit == "MONTH"
    assert loan.deduction_event_key == "auto_deduct"
    assert loan.repayment_method == "EQUAL_INSTALLMENT" and loan.spread_bp == 150
    events = await LoanEvent.filter(loan_id=loan.id).order_by("id").values_list("from_status", "to_status")
    assert events == [("", "applied"), ("applied", "approved")]
    funders = await LoanFunder.filter(loan_id=loan.id)
    assert [(f.bank_id, f.share, f.amount) for f in funders] == [(world.a.id, Decimal("100"), Decimal("12345.67"))]
    assert await usage(world.plain, world.a) == (1, 1234567)
    customer = await Customer.get(id=loan.customer_id)
    assert customer.customer_no.startswith("C") and len(customer.customer_no) == 17
    entry = await OperationLog.get(module="loan_orders", action="apply")
    assert entry.scope_product_id == world.plain.id and customer.id_number not in str(entry.detail)
    # integrators hear of the approval after commit
    assert await OutboxMessage.filter(job="plugins.loan_state_changed").count() == 1


async def test_joint_loan_is_split_by_shares_to_the_cent_and_draws_on_both_plans(world: World) -> None:
    loan = await submit_application(world.admin, application(world.joint, world.x, amount="10000.01"))
    parts = {f.bank_id: (f.amount, f.position) for f in await LoanFunder.filter(loan_id=loan.id)}
    # 70% of 10000.01 = 7000.007 → lead takes the remainder: 10000.01 − 3000.00
    assert parts == {world.a.id: (Decimal("7000.01"), 0), world.b.id: (Decimal("3000.00"), 1)}
    assert sum(p for p, _ in parts.values()) == Decimal("10000.01")
    assert await usage(world.joint, world.a) == (1, 700001)
    assert await usage(world.joint, world.b) == (1, 300000)


async def test_the_same_person_is_one_customer_with_the_latest_contact(world: World) -> None:
    number = id_number(901)
    first = await submit_application(world.admin, application(world.plain, world.x, id_number=number))
    second = await submit_application(world.admin, application(world.plain, world.x, id_number=number.lower(),
                                                                phone="+86 139 0000 1111"))
    assert first.customer_id == second.customer_id
    c = await Customer.get(id=first.customer_id)
    assert (c.phone, await Customer.all().count()) == ("13900001111", 1)


async def test_concurrent_first_applications_of_one_person_make_one_customer(world: World) -> None:
    number = id_number(902)
    apps = [application(world.plain, world.x, id_number=number) for _ in range(10)]
    results = await asyncio.gather(*(submit_application(world.admin, a) for a in apps), return_exceptions=True)
    assert all(isinstance(r, Loan) for r in results), results
    assert await Loan.all().count() == 10 and await Customer.all().count() == 1


# ---- rules one by one, each naming its field ----

@pytest.mark.parametrize(("over", "expected"), [
    ({"idempotency_key": ""}, [("idempotencyKey", ErrorCode.REQUIRED)]),
    ({"idempotency_key": "has space"}, [("idempotencyKey", ErrorCode.INVALID)]),
    ({"idempotency_key": "k" * 101}, [("idempotencyKey", ErrorCode.TOO_LONG)]),
    ({"channel_order_no": " "}, [("channelOrderNo", ErrorCode.REQUIRED)]),
    ({"name": ""}, [("name", ErrorCode.REQUIRED)]),
    ({"name": "张3"}, [("name", ErrorCode.INVALID)]),
    ({"id_number": "110105199003071234"}, [("idNumber", ErrorCode.INVALID)]),
    ({"id_number": "1101051990"}, [("idNumber", ErrorCode.INVALID)]),
    ({"phone": "23812345678"}, [("phone", ErrorCode.INVALID)]),
    ({"phone": ""}, [("phone", ErrorCode.REQUIRED)]),
    ({"amount": "10000.001"}, [("amount", ErrorCode.INVALID)]),
    ({"amount": "abc"}, [("amount", ErrorCode.INVALID)]),
    ({"amount": "-5"}, [("amount", ErrorCode.OUT_OF_RANGE)]),
    ({"amount": 100.5}, [("amount", ErrorCode.INVALID)]),
    ({"term": 0}, [("term", ErrorCode.OUT_OF_RANGE)]),
    ({"term_unit": "year"}, [("termUnit", ErrorCode.INVALID)]),
    ({"name": "", "phone": "1"}, [("name", ErrorCode.REQUIRED), ("phone", ErrorCode.INVALID)]),
])
async def test_malformed_input_is_refused_naming_every_field(world: World, over: dict[str, Any],
                                                             expected: list[Any]) -> None:
    assert await refused(world.admin, application(world.plain, world.x, **over)) == expected
    assert await Loan.all().count() == 0


@pytest.mark.parametrize(("over", "expected"), [
    ({"amount": "999.99"}, [("amount", ErrorCode.OUT_OF_RANGE)]),
    ({"amount": "200000.01"}, [("amount", ErrorCode.OUT_OF_RANGE)]),
    ({"term": 2}, [("term", ErrorCode.OUT_OF_RANGE)]),
    ({"term": 37}, [("term", ErrorCode.OUT_OF_RANGE)]),
    ({"term_unit": "day"}, [("termUnit", ErrorCode.INVALID)]),
])
async def test_orders_outside_the_product_ranges_are_refused(world: World, over: dict[str, Any],
                                                             expected: list[Any]) -> None:
    assert await refused(world.admin, application(world.plain, world.x, **over)) == expected
    assert await usage(world.plain, world.a) == (0, 0)


async def test_the_range_bounds_are_inclusive(world: World) -> None:
    for amount, term in (("1000.00", 3), ("200000.00", 36)):
        loan = await submit_application(world.admin, application(world.plain, world.x, amount=amount, term=term))
        assert loan.status == S.APPROVED


async def test_a_day_product_takes_days_only(world: World) -> None:
    short = await make_product("SHORT", [(world.a, "100")], [world.x], term_unit=TermUnitChoice.DAY, term_min=7,
                               term_max=90)
    assert await refused(world.admin, application(short, world.x, term=3, term_unit="month")) == [
        ("termUnit", ErrorCode.INVALID)]
    assert await refused(world.admin, application(short, world.x, term=91)) == [("term", ErrorCode.OUT_OF_RANGE)]
    loan = await submit_application(world.admin, application(short, world.x, term=30))
    assert (loan.term, loan.term_unit) == (30, "DAY")


async def test_unknown_disabled_and_wrong_channel_products_are_refused(world: World) -> None:
    assert await refused(world.admin, application(world.plain, world.x, product_id=987654)) == [
        ("productId", ErrorCode.NOT_FOUND)]
    assert await refused(world.admin, application(world.plain, world.y)) == [("channelId", ErrorCode.INVALID)]
    await Product.filter(id=world.plain.id).update(enabled=False)
    assert await refused(world.admin, application(world.plain, world.x)) == [("productId", ErrorCode.INVALID_STATE)]


async def test_a_product_outside_the_callers_data_scope_answers_like_a_missing_one(world: World) -> None:
    other = await make_bank("BKZ")
    theirs = await make_product("THEIRS", [(other, "100")], [world.x])
    platform = await scoped_user("tp_user", "tp_role", [world.a], {"loan_orders", "loans.apply"})
    assert await refused(platform, application(theirs, world.x)) == [("productId", ErrorCode.NOT_FOUND)]
    assert (await submit_application(platform, application(world.plain, world.x))).status == S.APPROVED


async def test_paused_distribution_refuses_applications(world: World) -> None:
    await set_switch(world.admin, SwitchKey.DISTRIBUTION, False)
    assert await refused(world.admin, application(world.plain, world.x)) == [(None, ErrorCode.INVALID_STATE)]
    assert await Loan.all().count() == 0
    await set_switch(world.admin, SwitchKey.DISTRIBUTION, True)
    assert (await submit_application(world.admin, application(world.plain, world.x))).status == S.APPROVED


async def test_channel_order_numbers_are_unique_per_channel(world: World) -> None:
    await submit_application(world.admin, application(world.plain, world.x, channel_order_no="SAME"))
    assert await refused(world.admin, application(world.plain, world.x, channel_order_no="SAME")) == [
        ("channelOrderNo", ErrorCode.NOT_UNIQUE)]


async def test_same_channel_order_no_from_another_channel_is_fine(world: World, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    fake_risk(monkeypatch, FakeDecision("pass"))
    await submit_application(world.admin, application(world.risky, world.x, channel_order_no="SAME"))
    loan = await submit_application(world.admin, application(world.risky, world.y, channel_order_no="SAME"))
    assert loan.status == S.APPROVED


# ---- blacklist ----

async def test_a_blacklisted_applicant_is_rejected_with_the_reason_and_takes_no_quota(world: World) -> None:
    number = id_number(777)
    await blacklist.add(world.admin, id_number=number, reason="骗贷团伙")
    loan = await submit_application(world.admin, application(world.plain, world.x, id_number=number))
    assert loan.status == S.REJECTED and loan.risk_outcome == "blacklist"
    assert "骗贷团伙" in loan.reject_reason
    assert await usage(world.plain, world.a) == (0, 0)
    by_phone = await submit_application(world.admin, application(world.plain, world.x, phone="13700000001"))
    assert by_phone.status == S.APPROVED
    await blacklist.add(world.admin, phone="13700000002", reason="号码黑名单")
    hit = await submit_application(world.admin, application(world.plain, world.x, phone="13700000002"))
    assert hit.status == S.REJECTED and "号码黑名单" in hit.reject_reason


# ---- idempotency ----

async def test_a_repeat_returns_the_same_order_and_a_changed_repeat_conflicts(world: World) -> None:
    app = application(world.plain, world.x)
    first = await submit_application(world.admin, app)
    again = await submit_application(world.admin, app)
    assert again.id == first.id and await Loan.all().count() == 1
    assert await usage(world.plain, world.a) == (1, 1000000)
    assert await refused(world.admin, replace(app, amount="10000.01")) == [("idempotencyKey", ErrorCode.CONFLICT)]
    assert await refused(world.admin, replace(app, phone="13900000000")) == [("idempotencyKey", ErrorCode.CONFLICT)]
    # the key is per traffic platform: another platform may use the same text
    other = await make_product("OTHERCH", [(world.a, "100")], [world.y])
    assert (await submit_application(world.admin, application(other, world.y, idempotency_key=app.idempotency_key))
            ).id != first.id


async def test_a_repeat_answers_even_when_distribution_was_paused_since(world: World) -> None:
    app = application(world.plain, world.x)
    first = await submit_application(world.admin, app)
    await set_switch(world.admin, SwitchKey.DISTRIBUTION, False)
    assert (await submit_application(world.admin, app)).id == first.id


async def test_twenty_concurrent_identical_submits_make_one_order(db: str, world: World) -> None:
    if db != "postgres":
        pytest.skip("SQLite serialises writers; the race matters on PostgreSQL")
    app = application(world.joint, world.x)
    results = await asyncio.gather(*(submit_application(world.admin, app) for _ in range(20)),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert {r.id for r in results if isinstance(r, Loan)} == {(await Loan.get()).id}
    assert await Loan.all().count() == 1 and await Customer.all().count() == 1
    assert await usage(world.joint, world.a) == (1, 700000)
    assert await usage(world.joint, world.b) == (1, 300000)
    assert await LoanEvent.all().count() == 2


# ---- quota ----

async def test_quota_is_never_exceeded_under_concurrency(world: World) -> None:
    await limit_channel(world.plain, world.a, world.x, 5, "1000000.00")
    apps = [application(world.plain, world.x, amount="2000.00") for _ in range(12)]
    results = await asyncio.gather(*(submit_application(world.admin, a) for a in apps), return_exceptions=True)
    ok = [r for r in results if isinstance(r, Loan)]
    refusals = [r for r in results if isinstance(r, UserError)]
    assert len(ok) == 5 and len(refusals) == 7
    assert all(r.errors[0].field == "amount" and r.errors[0].code is ErrorCode.OUT_OF_RANGE for r in refusals)
    assert await Loan.all().count() == 5 and await LoanFunder.all().count() == 5
    assert await usage(world.plain, world.a) == (5, 1000000)
    used = await FundingUsage.get(product_id=world.plain.id, bank_id=world.a.id, institution_id=world.x.id)
    assert (used.orders, used.amount_cents) == (5, 1000000)


async def test_an_exhausted_joint_plan_admits_nothing_for_either_funder(world: World) -> None:
    await limit_channel(world.joint, world.b, world.x, 10, "2999.99")
    assert await refused(world.admin, application(world.joint, world.x, amount="10000.00")) == [
        ("amount", ErrorCode.OUT_OF_RANGE)]
    assert await usage(world.joint, world.a) == (0, 0)
    assert await Loan.all().count() == 0 and await Customer.all().count() == 0


# ---- risk ----

async def test_risk_pass_approves_and_stores_the_outcome(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_risk(monkeypatch, FakeDecision("pass", Decimal("712.5"), Decimal("50000"), 42, ("ok",)))
    loan = await submit_application(world.admin, application(world.risky, world.x, name="李四"))
    assert loan.status == S.APPROVED
    stored = await Loan.get(id=loan.id)
    assert (stored.risk_outcome, stored.risk_score, stored.risk_quota) == ("pass", Decimal("712.5"), Decimal("50000"))
    (scene, subject, loan_id), = fake.calls
    assert (scene, loan_id) == ("admission_scene", loan.id)
    assert subject["name"] == "李四" and subject["amount"] == Decimal("10000.00") and subject["channel"] == "X001"
    assert {"id_number", "phone", "customer_no", "term", "product_code", "order_no"} <= set(subject)
    events = await LoanEvent.filter(loan_id=loan.id).order_by("id").values_list("to_status", flat=True)
    assert events == ["applied", "risk_checking", "approved"]
    assert await usage(world.risky, world.a) == (1, 1000000)


async def test_risk_reject_rejects_and_gives_the_quota_back(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_risk(monkeypatch, FakeDecision("reject", reasons=("age over 60",)))
    loan = await submit_application(world.admin, application(world.risky, world.x))
    assert loan.status == S.REJECTED and loan.reject_reason == "age over 60"
    assert await usage(world.risky, world.a) == (0, 0)


async def test_a_pass_below_the_requested_amount_is_rejected(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_risk(monkeypatch, FakeDecision("pass", quota=Decimal("5000.00")))
    loan = await submit_application(world.admin, application(world.risky, world.x, amount="5000.01"))
    assert loan.status == S.REJECTED and "5000.00" in loan.reject_reason
    assert await usage(world.risky, world.a) == (0, 0)


async def test_manual_review_opens_a_credit_review_case(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_risk(monkeypatch, FakeDecision("manual_review", reasons=("multi-platform borrowing",)))
    loan = await submit_application(world.admin, application(world.risky, world.x))
    assert loan.status == S.MANUAL_REVIEW and fake.cases == [loan.id]
    assert await usage(world.risky, world.a) == (1, 1000000)  # still held while a reviewer decides


async def test_a_failing_risk_engine_never_approves(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_risk(monkeypatch, RuntimeError("source down"))
    loan = await submit_application(world.admin, application(world.risky, world.x))
    assert loan.status == S.MANUAL_REVIEW and fake.cases == [loan.id]
    assert "source down" in (await LoanEvent.filter(loan_id=loan.id).order_by("-id").first()).reason  # type: ignore[union-attr]


async def test_an_order_cancelled_while_the_scene_runs_stays_cancelled(world: World,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_risk(monkeypatch, FakeDecision("reject"))
    original = fake.evaluate

    async def cancel_meanwhile(scene_key: str, subject: Any, *, loan_id: int) -> FakeDecision:
        decision = await original(scene_key, subject, loan_id=loan_id)
        await cancel_order(world.admin, loan_id, "customer withdrew")
        return decision

    monkeypatch.setattr(admission, "_evaluate_scene", cancel_meanwhile)
    loan = await submit_application(world.admin, application(world.risky, world.x))
    assert loan.status == S.CANCELLED
    assert await usage(world.risky, world.a) == (0, 0)  # given back once, by the cancel


async def test_resume_finishes_orders_stranded_in_risk_checking(world: World, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    fake_risk(monkeypatch, RuntimeError("crash"))

    async def die(loan: Loan, **_: Any) -> Loan:
        return loan  # the process "died" before the risk step

    monkeypatch.setattr(admission, "run_risk_check", die)
    loan = await submit_application(world.admin, application(world.risky, world.x))
    assert (await Loan.get(id=loan.id)).status == S.RISK_CHECKING
    monkeypatch.undo()
    fake_risk(monkeypatch, FakeDecision("pass"))
    assert await admission.resume_risk_checks(clock.now() - timedelta(minutes=5)) == 0  # too fresh to resume
    clock.travel(timedelta(minutes=6))
    from workers.admission_jobs import resume_stranded_risk_checks
    from workers.registry import JobContext

    assert await resume_stranded_risk_checks(JobContext("loans.resume_risk_checks")) == {"resumed": 1}
    assert (await Loan.get(id=loan.id)).status == S.APPROVED
    assert await resume_stranded_risk_checks(JobContext("loans.resume_risk_checks")) == {"resumed": 0}


@pytest.fixture
async def risk_host(db: str) -> AsyncIterator[Any]:
    """own_data plus the risk tests' paid bureau, installed as this process's plugin host."""
    from plugins.definition import PluginDefinition
    from plugins.runtime import plugin_runtime
    from plugins.testkit import host_from_dict
    from tests.risk.scene_support import Bureau

    built = host_from_dict({"plugins": {"own_data": {}, "bureau": {}}}, extra=[PluginDefinition("bureau", Bureau)],
                           entry_points=False)
    async with plugin_runtime(built) as host:
        yield host


async def test_the_real_risk_scene_decides_admission(world: World, risk_host: Any) -> None:
    """With core.risk.scenes and a credit-review pool: no fakes."""
    from core.loans.review_models import CreditReviewCase
    from core.risk.rule_models import RiskReportRecord
    from tests.risk.scene_support import TEEN_ID, bureau_of, install_scene, scene_data

    # a missing scene is a configuration error: never an approval, a manual review with the reason
    stranded = await submit_application(world.admin, application(world.risky, world.x))
    assert stranded.status == S.MANUAL_REVIEW and await CreditReviewCase.filter(loan_id=stranded.id).exists()
    await install_scene(scene_data("admission_scene"))
    adult = await submit_application(world.admin, application(world.risky, world.x))
    assert adult.status == S.APPROVED and adult.risk_outcome == "pass"
    assert len(bureau_of(risk_host).requests) == 1
    teen = await submit_application(world.admin, application(world.risky, world.x, id_number=TEEN_ID))
    assert teen.status == S.REJECTED and "age" in teen.reject_reason
    assert len(bureau_of(risk_host).requests) == 1  # short-circuit: the paid bureau was not asked
    assert await RiskReportRecord.filter(loan_id__in=[adult.id, teen.id]).count() == 2
    assert await usage(world.risky, world.a) == (2, 2000000)  # the stranded and the adult order hold quota
    # cancelling the order in manual review takes it out of the reviewers' pool and frees its quota
    await cancel_order(world.admin, stranded.id, "客户撤回")
    case = await CreditReviewCase.get(loan_id=stranded.id)
    assert case.status == "rejected" and case.closed_at is not None
    assert await usage(world.risky, world.a) == (1, 1000000)


# ---- cancel ----

async def test_cancel_gives_the_quota_back_and_is_refused_once_disbursing(world: World) -> None:
    loan = await submit_application(world.admin, application(world.joint, world.x))
    with pytest.raises(UserError) as exc:
        await cancel_order(world.admin, loan.id, " ")
    assert exc.value.errors[0].field == "reason"
    cancelled = await cancel_order(world.admin, loan.id, "客户撤回")
    assert cancelled.status == S.CANCELLED
    assert await usage(world.joint, world.a) == (0, 0) and await usage(world.joint, world.b) == (0, 0)
    with pytest.raises(UserError) as exc:
        await cancel_order(world.admin, loan.id, "again")
    assert exc.value.code is ErrorCode.INVALID_STATE
    assert await usage(world.joint, world.a) == (0, 0)  # not released twice
    for status in (S.DISBURSING, S.DISBURSED, S.REJECTED):
        other = await submit_application(world.admin, application(world.plain, world.x))
        await Loan.filter(id=other.id).update(status=status)
        with pytest.raises(UserError) as exc:
            await cancel_order(world.admin, other.id, "no")
        assert exc.value.code is ErrorCode.INVALID_STATE


async def test_cancel_is_scoped(world: World) -> None:
    loan = await submit_application(world.admin, application(world.joint, world.x))
    only_b = await scoped_user("b_user", "b_role", [await make_bank("BKQ")], {"loan_orders", "loans.cancel"})
    with pytest.raises(UserError) as exc:
        await cancel_order(only_b, loan.id, "not mine")
    assert exc.value.code is ErrorCode.NOT_FOUND
    assert (await Loan.get(id=loan.id)).status == S.APPROVED


async def test_concurrent_cancels_release_once(world: World) -> None:
    loan = await submit_application(world.admin, application(world.plain, world.x))
    results = await asyncio.gather(*(cancel_order(world.admin, loan.id, "dup") for _ in range(5)),
                                   return_exceptions=True)
    assert sum(isinstance(r, Loan) for r in results) == 1
    assert await usage(world.plain, world.a) == (0, 0)
    assert await LoanEvent.filter(loan_id=loan.id, to_status="cancelled").count() == 1


def test_masking_helpers() -> None:
    assert customers.mask_name("张三") == "张*"
    assert customers.mask_name("张小三") == "张*三"
    assert customers.mask_name("欧阳小明") == "欧**明"
    assert customers.mask_id_number("11010519900307123X") == "110105********123X"
    assert customers.mask_phone("13812345678") == "138****5678"


async def test_demo_orders_are_admitted_once(people: dict[str, Any]) -> None:
    from core.loans.demo import load_demo_orders
    from core.orgs.demo import load_demo_orgs
    from core.products.demo import load_demo_products

    await load_demo_orgs()
    await load_demo_products()
    admin = await actor_for("admin")
    done = await load_demo_orders(admin)
    statuses = sorted(str(s) for s in await Loan.all().values_list("status", flat=True))
    assert statuses.count("approved") >= 4 and statuses.count("cancelled") == 1, statuses
    assert len(done) >= 6
    before = (await Loan.all().count(), await LoanEvent.all().count(), await FundingUsageTotal.all().count())
    assert await load_demo_orders(admin) == []
    assert (await Loan.all().count(), await LoanEvent.all().count(), await FundingUsageTotal.all().count()) == before
    joint = await Loan.filter(channel_order_no="AST-001-demo-0003").first()
    assert joint is not None and await LoanFunder.filter(loan_id=joint.id).count() == 2
