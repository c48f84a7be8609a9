"""Joint lending: every funder's part of every installment reconciles to the cent (F-PROD-1)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.loans.funder_split import split_column, split_schedule, weights
from core.loans.models import InstallmentFunderPart, LoanFunder, LoanInstallment
from core.loans.money import CENT, split_by_shares
from core.loans.queries import installment_parts
from core.loans.schedule import RepaymentMethod, ScheduleRequest, TermUnit, build_schedule
from permissions.scope import EVERYTHING, DataScope
from tests.loans.lending import ADMIN, approved_loan, make_product, make_world, sandbox, standard_templates

D = Decimal


@st.composite
def share_sets(draw: st.DrawFn) -> list[Decimal]:
    """2-5 funders with percent shares of up to four decimals summing to exactly 100, lead first.

    The lead funder (牵头行) holds at least 10%: the remainder funder must be large enough to absorb
    the others' roundings (see core.loans.funder_split; the tiny-lead case has its own test).
    """
    n = draw(st.integers(2, 5))
    lead = draw(st.integers(100_000, 900_000))
    cuts = sorted(draw(st.lists(st.integers(lead + 1, 999_999), min_size=n - 2, max_size=n - 2, unique=True)))
    bounds = [0, lead, *cuts, 1_000_000]
    return [D(b - a).scaleb(-4) for a, b in itertools.pairwise(bounds)]


@st.composite
def joint_loans(draw: st.DrawFn) -> tuple[ScheduleRequest, list[Decimal]]:
    unit = draw(st.sampled_from(list(TermUnit)))
    req = ScheduleRequest(
        principal=D(draw(st.integers(100_00, 2_000_000_00))).scaleb(-2),
        annual_rate=D(draw(st.integers(0, 2400))).scaleb(-4),
        term=draw(st.integers(1, 60) if unit is TermUnit.MONTH else st.integers(1, 365)),
        unit=unit, method=draw(st.sampled_from(list(RepaymentMethod))), start_date=date(2025, 1, 31))
    return req, draw(share_sets())


def funder_amounts(amount: Decimal, shares: list[Decimal]) -> list[Decimal]:
    keyed = {str(i): s / 100 for i, s in enumerate(shares)}
    parts = split_by_shares(amount, keyed, remainder_to="0")
    return [parts[str(i)] for i in range(len(shares))]


@given(loan=joint_loans())
@settings(max_examples=1500, deadline=None, database=None)
def test_parts_sum_per_installment_and_per_funder(loan: tuple[ScheduleRequest, list[Decimal]]) -> None:
    req, shares = loan
    schedule = build_schedule(req)
    amounts = funder_amounts(req.principal, shares)
    funders = weights(req.principal, [(i, a, s) for i, (a, s) in enumerate(zip(amounts, shares, strict=True))])
    parts = split_schedule([i.principal for i in schedule.installments], [i.interest for i in schedule.installments],
                           funders, amounts)
    by_installment: dict[int, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    by_funder: dict[int, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for p in parts:
        assert p.principal >= 0 and p.interest >= 0
        assert p.principal == p.principal.quantize(CENT) and p.interest == p.interest.quantize(CENT)
        by_installment[p.installment].append((p.principal, p.interest))
        by_funder[p.key].append((p.principal, p.interest))
    for inst in schedule.installments:
        rows = by_installment[inst.number]
        assert len(rows) == len(shares)
        assert sum(r[0] for r in rows) == inst.principal
        assert sum(r[1] for r in rows) == inst.interest
    for key, amount in enumerate(amounts):
        assert sum(r[0] for r in by_funder[key]) == amount  # principal: the funder's share of the loan
    for key in range(1, len(shares)):  # interest: each non-lead funder gets its share rounded half up
        expected = (schedule.total_interest * shares[key] / 100).quantize(CENT, ROUND_HALF_UP)
        got = sum(r[1] for r in by_funder[key])
        if schedule.installments[-1].interest >= D("1.00"):  # a last installment able to catch up
            assert got == expected
        else:  # interest of a few cents in all: within the cents given back on tiny installments
            assert abs(got - expected) <= CENT * len(shares)
    for inst in schedule.installments:  # and no part strays more than a cent from its exact share
        for key in range(1, len(shares)):
            part = next(p for p in parts if p.installment == inst.number and p.key == key)
            assert abs(part.interest - inst.interest * shares[key] / 100) < CENT * 2


def test_tiny_installments_never_give_the_lead_a_negative_part() -> None:
    # Four funders, the lead with 1%: three others rounding up on 0.02 would exceed it.
    rows = split_column([D("0.02")] * 5 + [D("100.00")], [D("0.01"), D("0.33"), D("0.33"), D("0.33")])
    for value, row in zip([D("0.02")] * 5 + [D("100.00")], rows, strict=True):
        assert sum(row) == value and min(row) >= 0
    totals = [sum(col) for col in zip(*rows, strict=True)]
    assert totals[1:] == [(D("100.10") * D("0.33")).quantize(CENT, ROUND_HALF_UP)] * 3


def test_a_split_that_cannot_reconcile_is_refused() -> None:
    with pytest.raises(ValueError, match="sum to"):
        weights(D("100.00"), [(1, D("60.00"), D("60")), (2, D("30.00"), D("40"))])


@pytest.mark.usefixtures("db")
async def test_a_joint_loan_is_paid_out_once_and_its_schedule_split_to_the_cent() -> None:
    world = await make_world()
    product = await make_product(world, code="P-JOINT", shares=[(world.lead, "70"), (world.partner, "30")])
    loan = await approved_loan(world, product, amount="10000.01", term=7)
    await standard_templates()
    from core.contracts.signing import sign_contracts
    from core.loans.disbursement import disburse

    await sign_contracts(ADMIN, loan.id)
    async with sandbox() as host:
        outcome = await disburse(ADMIN, loan.id)
        # one instruction, from the lead funder's account, for the whole amount
        assert outcome.payment.debit_account == "DISB-001"
        assert (await host.balance("sandbox", loan.disbursement_account)).available == D("10000.01")
    funders = {f.bank_id: f for f in await LoanFunder.filter(loan_id=loan.id)}  # type: ignore[attr-defined]
    assert funders[world.lead.id].amount == D("7000.01") and funders[world.partner.id].amount == D("3000.00")
    installments = {i.id: i for i in await LoanInstallment.filter(loan_id=loan.id)}
    parts = await InstallmentFunderPart.filter(loan_id=loan.id)
    assert len(parts) == 2 * len(installments) == 14
    per_inst: dict[int, Decimal] = defaultdict(Decimal)
    per_inst_interest: dict[int, Decimal] = defaultdict(Decimal)
    per_bank: dict[int, Decimal] = defaultdict(Decimal)
    for p in parts:
        per_inst[p.installment_id] += p.principal  # type: ignore[attr-defined]
        per_inst_interest[p.installment_id] += p.interest  # type: ignore[attr-defined]
        per_bank[p.bank_id] += p.principal  # type: ignore[attr-defined]
    for iid, inst in installments.items():
        assert per_inst[iid] == inst.principal and per_inst_interest[iid] == inst.interest
    assert per_bank == {world.lead.id: D("7000.01"), world.partner.id: D("3000.00")}
    # read back by installment, lead funder first; nothing outside the caller's product scope
    read = await installment_parts(EVERYTHING, [loan.id])
    numbers = {i.id: i.number for i in installments.values()}
    assert [(p.number, p.bank_id, p.principal, p.interest) for p in read] == sorted(
        ((numbers[p.installment_id], p.bank_id, p.principal, p.interest) for p in parts),  # type: ignore[attr-defined]
        key=lambda t: (t[0], t[1] != world.lead.id))
    assert await installment_parts(DataScope(), [loan.id]) == []  # a caller with no data grant
