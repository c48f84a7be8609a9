"""The daily overdue run over a year of business dates: overdue marking, penalty spans, loan states,
collection stages and pool rules, idempotent reruns; compensation at the product's point."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from core import clock
from core.loans import compensation, overdue
from core.loans import repayment as rp
from core.loans.collection_models import CollectionCase, CollectionStageEntry, CollectionStatus
from core.loans.models import InstallmentStatus, LoanInstallment, LoanStatus, Repayment, RepaymentSource
from core.loans.penalty import accrue_penalty
from core.loans.schedule import TermUnit
from tests.loans.factories import installments, make_loan, make_world

D = Decimal
RATE = D("0.0005")


def at(day: date, hour: int = 4) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def snapshot(loan) -> list[tuple]:
    return [(i.status, i.penalty, i.penalty_through, i.version) for i in await installments(loan)]


async def test_a_year_of_daily_runs(db):
    world = await make_world("YEAR")
    start = date(2026, 1, 15)
    never = await make_loan(world, amount="12000.00", term=12, start=start)
    punctual = await make_loan(world, amount="6000.00", term=6, start=start)
    partial = await make_loan(world, amount="3000.00", term=3, start=start)
    day_world = await make_world("YEARD", unit=TermUnit.DAY)
    day_loan = await make_loan(day_world, amount="1000.00", term=30, start=start, unit=TermUnit.DAY)
    punctual_rows = {i.due_date: i for i in await installments(punctual)}
    partial_first = (await installments(partial))[0]
    stages_never: dict[date, str] = {}
    stages_day: dict[date, str] = {}
    day = start
    end = start + timedelta(days=366)
    while day <= end:
        clock.travel(at(day) - clock.now())
        if day in punctual_rows:
            inst = punctual_rows[day]
            await rp.post_repayment(punctual.id, inst.principal + inst.interest, f"PUNCT-{day}",
                                    RepaymentSource.DEDUCTION, at(day))
        if day == partial_first.due_date + timedelta(days=10):
            # before tonight's run: penalty accrued through yesterday (9 overdue days) is paid first
            owed_penalty = accrue_penalty(partial_first.principal, RATE, 9)
            await rp.post_repayment(partial.id, owed_penalty + partial_first.interest + D("500.00"), "PARTIAL-1",
                                    RepaymentSource.MANUAL, at(day))
        await overdue.run_overdue(day)
        if day.day in (1, 15) or day in (date(2026, 2, 16), date(2026, 2, 23)):
            before = await snapshot(never)
            await overdue.run_overdue(day)  # rerun: nothing changes
            assert await snapshot(never) == before
        for loan, bucket in ((never, stages_never), (day_loan, stages_day)):
            case = await CollectionCase.filter(loan_id=loan.id, status=CollectionStatus.OPEN).first()
            if case is not None:
                bucket[day] = case.stage
        day += timedelta(days=1)

    rows = await installments(never)
    first = rows[0]
    assert first.status is InstallmentStatus.OVERDUE and first.overdue_since == first.due_date + timedelta(days=1)
    assert first.penalty_through == end
    assert first.penalty == accrue_penalty(first.principal, RATE, (end - first.due_date).days)
    assert all(i.status is InstallmentStatus.OVERDUE for i in rows if i.due_date < end)
    await never.refresh_from_db()
    assert never.status is LoanStatus.OVERDUE
    # month product: M0 two days before the first due date, then M1..M4 by days past due
    due = first.due_date
    assert stages_never[due - timedelta(days=2)] == "M0" and due - timedelta(days=3) not in stages_never
    assert stages_never[due] == "M0" and stages_never[due + timedelta(days=1)] == "M1"
    assert stages_never[due + timedelta(days=31)] == "M2" and stages_never[due + timedelta(days=61)] == "M3"
    assert stages_never[due + timedelta(days=91)] == "M4" and stages_never[end] == "M4"
    entries = await CollectionStageEntry.filter(loan_id=never.id).order_by("id").values_list("stage", flat=True)
    assert list(entries) == ["M0", "M1", "M2", "M3", "M4"]
    # day product: S0 .. S4
    ddue = (await installments(day_loan))[0].due_date
    assert [stages_day[ddue + timedelta(days=k)] for k in (-2, 0, 1, 7, 8, 15, 16, 30, 31, 200)] == [
        "S0", "S0", "S1", "S1", "S2", "S2", "S3", "S3", "S4", "S4"]

    # punctual: every installment paid on its due date, never overdue, the reminder case closes on payment
    await punctual.refresh_from_db()
    assert punctual.status is LoanStatus.SETTLED
    assert all(i.status is InstallmentStatus.PAID and i.penalty == 0 for i in await installments(punctual))
    cases = await CollectionCase.filter(loan_id=punctual.id).order_by("id")
    assert cases and all(c.status is CollectionStatus.CLOSED and c.close_reason in ("paid", "settled") for c in cases)
    assert all(c.stage == "M0" for c in cases)

    # partial: the repayment of overdue principal closed the penalty span and opened a new one
    p_first = (await installments(partial))[0]
    pay_day = partial_first.due_date + timedelta(days=10)
    paid_principal = D("500.00")
    assert p_first.paid_principal == paid_principal
    opening = accrue_penalty(partial_first.principal, RATE, 9)
    rest_days = (end - pay_day).days + 1  # the payment day itself is charged on the new base
    expected = opening + accrue_penalty(partial_first.principal - paid_principal, RATE, rest_days)
    assert p_first.penalty == expected and p_first.paid_penalty == opening
    assert p_first.penalty_span_start == pay_day and p_first.penalty_span_opening == opening


async def test_missed_nights_are_caught_up_with_one_rounding(db):
    world = await make_world("CATCH")
    loan = await make_loan(world, amount="777.77", term=3, rate="0.1234")
    first = (await installments(loan))[0]
    day = first.due_date + timedelta(days=27)
    report = await overdue.run_overdue(day)
    assert report.newly_overdue == 1 and report.loans_overdue == 1
    first = (await installments(loan))[0]
    assert first.penalty == accrue_penalty(first.principal, RATE, 27)
    again = await overdue.run_overdue(day)
    assert again.installments == 0 and again.penalty_added == 0


async def test_compensation_at_the_configured_point(db):
    world = await make_world("COMP", compensation_enabled=True, compensation_days=3, compensation_time="10:00")
    loan = await make_loan(world, amount="6000.00", term=6)
    first = (await installments(loan))[0]
    point_day = first.due_date + timedelta(days=3)
    await overdue.run_overdue(point_day)
    # 09:59 local (01:59 UTC) on the point day: not yet
    early = await compensation.run_compensation(datetime(point_day.year, point_day.month, point_day.day, 1, 59,
                                                         tzinfo=UTC))
    assert early.compensated == []
    late = await compensation.run_compensation(datetime(point_day.year, point_day.month, point_day.day, 2, 0,
                                                        tzinfo=UTC))
    assert late.compensated == [f"COMP:{loan.order_no}:1"]
    r = await Repayment.get(serial_no=f"COMP:{loan.order_no}:1")
    assert r.source is RepaymentSource.COMPENSATION
    first = (await installments(loan))[0]
    assert first.status is InstallmentStatus.COMPENSATED
    assert r.amount == first.principal + first.interest + first.penalty and first.penalty > 0
    assert r.deduction_channel.startswith("COMP担保")
    await loan.refresh_from_db()
    assert loan.status is LoanStatus.COMPENSATED
    rerun = await compensation.run_compensation(datetime(point_day.year, point_day.month, point_day.day, 3,
                                                         tzinfo=UTC))
    assert rerun.compensated == [] and await Repayment.filter(loan_id=loan.id).count() == 1
    # the borrower keeps paying later installments; all closed → settled
    rest = [i for i in await installments(loan) if i.status is InstallmentStatus.PENDING]
    total = sum((i.principal + i.interest for i in rest), D(0))
    await rp.post_repayment(loan.id, total, "AFTER-COMP", RepaymentSource.MANUAL, at(point_day))
    await loan.refresh_from_db()
    assert loan.status is LoanStatus.SETTLED


async def test_compensation_point_zero_days_and_products_without_it(db):
    world = await make_world("COMP0", compensation_enabled=True, compensation_days=0, compensation_time="00:00")
    plain = await make_world("NOCOMP")
    loan = await make_loan(world, amount="1200.00", term=3)
    other = await make_loan(plain, amount="1200.00", term=3)
    due = (await installments(loan))[0].due_date
    report = await compensation.run_compensation(at(due))
    assert report.compensated == [f"COMP:{loan.order_no}:1"]
    assert not await Repayment.filter(loan_id=other.id).exists()
    assert await LoanInstallment.filter(loan_id=other.id, status=InstallmentStatus.COMPENSATED).count() == 0


async def test_a_product_s_own_penalty_terms_override_the_platform_default(db):
    own = await make_world("OWNP", penalty_daily_rate=D("0.0007"), penalty_base="PRINCIPAL_AND_INTEREST")
    plain = await make_world("DEFP")
    loan = await make_loan(own, amount="1200.00", term=3)
    other = await make_loan(plain, amount="1200.00", term=3)
    first, other_first = (await installments(loan))[0], (await installments(other))[0]
    assert first.due_date == other_first.due_date
    await overdue.run_overdue(first.due_date + timedelta(days=10))
    first, other_first = (await installments(loan))[0], (await installments(other))[0]
    assert first.penalty == accrue_penalty(first.principal + first.interest, D("0.0007"), 10)
    assert other_first.penalty == accrue_penalty(other_first.principal, D("0.0005"), 10)  # system parameters


async def test_the_penalty_rate_and_base_are_system_parameters(db):
    from core.system import parameters as p
    from core.system.models import SystemParameter
    from tests.orgs.helpers import admin_actor

    admin = await admin_actor()
    await p.ensure_seed_parameters()
    assert await overdue.penalty_settings() == (D("0.0005"), overdue.PenaltyBase.PRINCIPAL)
    rate = await SystemParameter.get(number="loan.penalty_daily_rate")
    base = await SystemParameter.get(number="loan.penalty_base")
    await p.update_parameter(admin, rate.id, value="0.001")
    await p.update_parameter(admin, base.id, value="PRINCIPAL_AND_INTEREST")
    await p.refresh_cache(admin)
    world = await make_world("PARAM")
    loan = await make_loan(world, amount="1200.00", term=3)
    first = (await installments(loan))[0]
    await overdue.run_overdue(first.due_date + timedelta(days=10))
    first = (await installments(loan))[0]
    assert first.penalty == accrue_penalty(first.principal + first.interest, D("0.001"), 10)
    # a new rate closes the span: later days accrue at the new rate on top of what was posted
    await p.update_parameter(admin, rate.id, value="0.0002")
    await p.refresh_cache(admin)
    await overdue.run_overdue(first.due_date + timedelta(days=15))
    after = (await installments(loan))[0]
    assert after.penalty == first.penalty + accrue_penalty(first.principal + first.interest, D("0.0002"), 5)
