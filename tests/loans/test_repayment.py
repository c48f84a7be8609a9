"""Posting repayments on the database: allocation to the cent, partial payments, prepayment,
idempotent serial numbers, joint-lending parts, margin release, early settlement, loan states."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from core import clock
from core.actor import SYSTEM
from core.errors import ErrorCode, UserError
from core.loans import repayment as rp
from core.loans.models import (
    InstallmentStatus,
    Loan,
    LoanEvent,
    LoanInstallment,
    LoanStatus,
    Repayment,
    RepaymentFunderPart,
    RepaymentKind,
    RepaymentLine,
    RepaymentSource,
)
from core.oplog.models import OperationLog
from core.orgs.models import MarginAccount, MarginMovement, MarginMovementKind
from core.outbox.models import OutboxMessage
from tests.loans.factories import installments, make_loan, make_world

D = Decimal


def at(day: date, hour: int = 4) -> datetime:
    """An instant on business date `day` (Asia/Shanghai is UTC+8; 04:00 UTC is noon there)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def post(loan: Loan, amount: str, serial: str, day: date, **kw) -> Repayment:
    return await rp.post_repayment(loan.id, D(amount), serial, RepaymentSource.MANUAL, at(day), **kw)


async def test_regular_payment_pays_the_first_installment_exactly(db):
    world = await make_world("REG")
    loan = await make_loan(world)
    first = (await installments(loan))[0]
    due = first.principal + first.interest
    r = await post(loan, str(due), "S-1", first.due_date)
    assert (r.kind, r.principal, r.interest, r.penalty, r.leftover) == (
        RepaymentKind.REGULAR, first.principal, first.interest, D("0.00"), D("0.00"))
    rows = await installments(loan)
    assert rows[0].status is InstallmentStatus.PAID and rows[0].paid_principal == first.principal
    assert all(i.status is InstallmentStatus.PENDING for i in rows[1:])
    await loan.refresh_from_db()
    assert loan.principal_outstanding == D("12000.00") - first.principal
    assert loan.status is LoanStatus.DISBURSED
    lines = await RepaymentLine.filter(repayment_id=r.id)
    assert [(ln.principal, ln.interest) for ln in lines] == [(first.principal, first.interest)]
    assert await OperationLog.filter(module="repayments", action="post_manual").count() == 1
    assert await OutboxMessage.filter(job="plugins.payment_settled", dedupe_key=f"repayment:{r.id}").exists()


async def test_partial_payments_follow_penalty_fee_interest_principal(db):
    world = await make_world("PART")
    loan = await make_loan(world)
    rows = await installments(loan)
    first = rows[0]
    await LoanInstallment.filter(id=first.id).update(penalty=D("3.21"), status=InstallmentStatus.OVERDUE)
    await Loan.filter(id=loan.id).update(status=LoanStatus.OVERDUE)
    r1 = await post(loan, "10.00", "P-1", date(2026, 2, 20))
    assert (r1.kind, r1.penalty, r1.interest, r1.principal) == (RepaymentKind.PARTIAL, D("3.21"), D("6.79"), D("0"))
    first = (await installments(loan))[0]
    assert first.status is InstallmentStatus.OVERDUE and first.paid_interest == D("6.79")
    rest = first.interest - D("6.79") + first.principal
    r2 = await post(loan, str(rest), "P-2", date(2026, 2, 21))
    assert (r2.penalty, r2.interest, r2.principal) == (D("0.00"), first.interest - D("6.79"), first.principal)
    first = (await installments(loan))[0]
    assert first.status is InstallmentStatus.PAID
    await loan.refresh_from_db()
    assert loan.status is LoanStatus.DISBURSED  # nothing overdue any more: overdue → disbursed
    assert await LoanEvent.filter(loan_id=loan.id, to_status="disbursed").count() == 1


async def test_overpayment_prepays_the_next_installments_and_holds_the_rest(db):
    world = await make_world("PRE")
    loan = await make_loan(world, amount="3000.00", term=3)
    rows = await installments(loan)
    one = rows[0].principal + rows[0].interest
    two = rows[1].principal + rows[1].interest
    r = await post(loan, str(one + two + D("5.00")), "PRE-1", rows[0].due_date)
    assert r.kind is RepaymentKind.PREPAYMENT
    after = await installments(loan)
    assert [i.status for i in after] == [InstallmentStatus.PAID, InstallmentStatus.PAID, InstallmentStatus.PARTIAL]
    assert after[2].paid_interest == D("5.00") or after[2].paid_interest == rows[2].interest
    assert r.principal + r.interest + r.fee + r.penalty + r.leftover == r.amount
    everything = sum((i.principal + i.interest for i in rows), D(0))
    loan2 = await make_loan(world, amount="3000.00", term=3)
    r2 = await post(loan2, str(everything + D("12.34")), "PRE-2", rows[0].due_date)
    assert r2.leftover == D("12.34")
    await loan2.refresh_from_db()
    assert loan2.status is LoanStatus.SETTLED and loan2.principal_outstanding == D("0.00")
    repeat = await post(loan2, str(everything + D("12.34")), "PRE-2", rows[0].due_date)  # the loan is closed now
    assert repeat.id == r2.id and repeat.replayed


async def test_repeated_serial_returns_the_first_and_a_different_amount_conflicts(db):
    world = await make_world("IDEM")
    loan = await make_loan(world)
    first = await post(loan, "100.00", "DUP-1", date(2026, 2, 15))
    again = await post(loan, "100.00", "DUP-1", date(2026, 2, 15))
    assert again.id == first.id and again.replayed
    with pytest.raises(UserError) as err:
        await post(loan, "100.01", "DUP-1", date(2026, 2, 15))
    assert err.value.code is ErrorCode.CONFLICT and err.value.errors[0].field == "serialNo"
    assert await Repayment.filter(serial_no="DUP-1").count() == 1
    await loan.refresh_from_db()
    assert loan.principal_outstanding == D("12000.00") - (await installments(loan))[0].paid_principal


async def test_concurrent_repeats_of_one_serial_post_once(db):
    if db != "postgres":
        pytest.skip("real concurrency needs PostgreSQL (SQLite serialises writers)")
    world = await make_world("CONC")
    loan = await make_loan(world)
    results = await asyncio.gather(*(post(loan, "500.00", "RACE-1", date(2026, 2, 15)) for _ in range(20)),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert len({r.id for r in results}) == 1
    assert await Repayment.filter(loan_id=loan.id).count() == 1
    paid = sum((i.paid_principal + i.paid_interest for i in await installments(loan)), D(0))
    assert paid == D("500.00")


async def test_concurrent_different_serials_all_apply_exactly(db):
    if db != "postgres":
        pytest.skip("real concurrency needs PostgreSQL")
    world = await make_world("CONC2")
    loan = await make_loan(world)
    await asyncio.gather(*(post(loan, "100.00", f"MANY-{i}", date(2026, 2, 15)) for i in range(15)))
    rows = await installments(loan)
    assert sum((i.paid_principal + i.paid_interest for i in rows), D(0)) == D("1500.00")
    await loan.refresh_from_db()
    assert loan.principal_outstanding == D("12000.00") - sum((i.paid_principal for i in rows), D(0))


async def test_joint_lending_parts_sum_exactly_per_component(db):
    world = await make_world("JOINT", shares=["33.3333", "33.3333", "33.3334"])
    loan = await make_loan(world, amount="10000.01", term=6, rate="0.0777")
    for n, amount in enumerate(["1.01", "1733.33", "0.07", "999.99"]):
        r = await post(loan, amount, f"J-{n}", date(2026, 2, 15))
        parts = await RepaymentFunderPart.filter(repayment_id=r.id)
        assert len(parts) == 3
        for component in ("principal", "interest", "fee", "penalty"):
            assert sum((getattr(p, component) for p in parts), D(0)) == getattr(r, component), component
        lead = next(p for p in parts if p.bank_id == world.banks[0].id)
        assert all(getattr(lead, c) >= 0 for c in ("principal", "interest"))


async def test_margin_is_released_in_proportion_once_per_serial(db):
    account = None
    world = await make_world("MRG", check_margin=True)
    bank = world.banks[0]
    account = await MarginAccount.create(project="MRG项目", bank=bank, account_bank="支行", account_no="M-1",
                                         balance=D("10000.00"), frozen=D("1200.00"), leverage=D("10"),
                                         warning_line=D("0.1"))
    await world.product.__class__.filter(id=world.product.id).update(margin_account_id=account.id)
    loan = await make_loan(world, amount="12000.00")
    await MarginMovement.create(account=account, kind=MarginMovementKind.FREEZE, amount=D("1200.00"),
                                loan_amount=D("12000.00"), balance_after=D("10000.00"), frozen_after=D("1200.00"),
                                reference=loan.order_no, idempotency_key=f"freeze:{account.id}:{loan.order_no}")
    first = (await installments(loan))[0]
    r = await post(loan, str(first.principal + first.interest), "MR-1", first.due_date)
    expected = (D("1200.00") * first.principal / D("12000.00")).quantize(D("0.01"))
    assert r.margin_released == expected
    await post(loan, str(first.principal + first.interest), "MR-1", first.due_date)  # repeat
    await account.refresh_from_db()
    assert account.frozen == D("1200.00") - expected
    assert await MarginMovement.filter(kind=MarginMovementKind.RELEASE).count() == 1


async def test_early_settlement_reconciles_to_the_cent(db):
    world = await make_world("EARLY")
    loan = await make_loan(world, amount="12000.00", term=12, start=date(2026, 1, 15))
    rows = await installments(loan)
    await post(loan, str(rows[0].principal + rows[0].interest), "E-1", rows[0].due_date)
    settle_day = date(2026, 3, 1)  # inside period 2 (15 Feb - 15 Mar)
    clock.travel(at(settle_day) - clock.now())
    _, quote = await rp.quote_early_settlement(SYSTEM.scope, loan.id, settle_day)
    remaining_principal = sum((i.principal for i in rows[1:]), D(0))
    assert quote.principal == remaining_principal
    period = (rows[1].due_date - rows[0].due_date).days
    accrued = (rows[1].interest * (settle_day - rows[0].due_date).days / period).quantize(D("0.01"))
    assert quote.interest == accrued
    assert quote.waived_interest == sum((i.interest for i in rows[1:]), D(0)) - accrued
    r = await rp.post_repayment(loan.id, quote.total, "E-SETTLE", RepaymentSource.MANUAL, at(settle_day),
                                mode=rp.Mode.EARLY_SETTLEMENT)
    assert r.kind is RepaymentKind.EARLY_SETTLEMENT and r.amount == quote.total
    assert (r.principal, r.interest) == (quote.principal, quote.interest)
    after = await installments(loan)
    assert after[0].status is InstallmentStatus.PAID
    assert all(i.status is InstallmentStatus.SETTLED_EARLY for i in after[1:])
    assert sum((i.waived_interest for i in after), D(0)) == quote.waived_interest
    assert sum((i.paid_principal for i in after), D(0)) == D("12000.00")
    await loan.refresh_from_db()
    assert loan.status is LoanStatus.SETTLED and loan.principal_outstanding == D("0.00")
    lines = await RepaymentLine.filter(repayment_id=r.id)
    assert sum((ln.principal + ln.interest for ln in lines), D(0)) == quote.total


async def test_early_settlement_short_amount_is_refused_and_changes_nothing(db):
    world = await make_world("SHORT")
    loan = await make_loan(world)
    day = date(2026, 2, 1)
    _, quote = await rp.quote_early_settlement(SYSTEM.scope, loan.id, day)
    with pytest.raises(UserError) as err:
        await rp.post_repayment(loan.id, quote.total - D("0.01"), "SH-1", RepaymentSource.MANUAL, at(day),
                                mode=rp.Mode.EARLY_SETTLEMENT)
    assert err.value.errors[0].field == "amount"
    assert not await Repayment.filter(serial_no="SH-1").exists()
    assert all(i.paid_principal == 0 for i in await installments(loan))


async def test_bad_input_names_the_field(db):
    world = await make_world("BAD")
    loan = await make_loan(world)
    for amount, serial, field in (("0", "X", "amount"), ("1.005", "X", "amount"), ("1.00", "", "serialNo"),
                                  ("1.00", "x" * 65, "serialNo")):
        with pytest.raises(UserError) as err:
            await rp.post_repayment(loan.id, amount, serial, RepaymentSource.MANUAL, at(date(2026, 2, 1)))
        assert err.value.errors[0].field == field
    settled = await make_loan(world, status=LoanStatus.SETTLED)
    with pytest.raises(UserError) as err:
        await post(settled, "1.00", "X-S", date(2026, 2, 1))
    assert err.value.code is ErrorCode.INVALID_STATE


async def test_scope_hides_other_products_loans(db):
    from tests.loans.factories import bank_scope

    world = await make_world("SCA")
    other = await make_world("SCB")
    mine = await make_loan(world)
    loan = await make_loan(other)
    scope = await bank_scope(world.banks[0].id)
    with pytest.raises(UserError) as err:
        await post(loan, "1.00", "SC-1", date(2026, 2, 1), scope=scope)
    assert err.value.code is ErrorCode.NOT_FOUND
    await post(mine, "1.00", "SC-2", date(2026, 2, 1), scope=scope)
    await post(loan, "1.00", "SC-3", date(2026, 2, 1))
    assert await rp.repayments_query(scope).values_list("serial_no", flat=True) == ["SC-2"]
