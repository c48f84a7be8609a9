"""The loan state machine (F-LOAN-1): every illegal move refused, every legal one logged once."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from core.actor import SYSTEM
from core.errors import ErrorCode, UserError
from core.loans import states
from core.loans.models import Customer, Loan, LoanEvent, LoanStatus
from core.outbox.models import OutboxMessage
from tests.loans.orders_helpers import id_number, make_bank, make_channel, make_product

S = LoanStatus
ILLEGAL = [(a, b) for a in S for b in S if b not in states.ALLOWED[a]]
LEGAL = [(a, b) for a in S for b in states.ALLOWED[a]]


def test_the_table_covers_every_state_and_terminal_states_go_nowhere() -> None:
    assert set(states.ALLOWED) == set(S)
    assert {S.REJECTED, S.SETTLED, S.WRITTEN_OFF, S.CANCELLED} == states.TERMINAL
    assert all(not states.can_move(s, s) for s in S)  # no self-loops
    assert len(ILLEGAL) + len(LEGAL) == len(S) ** 2
    # the happy path of the spec is legal end to end
    path = [S.APPLIED, S.RISK_CHECKING, S.APPROVED, S.CONTRACT_SIGNED, S.DISBURSING, S.DISBURSED, S.SETTLED]
    assert all(states.can_move(a, b) for a, b in itertools.pairwise(path))


@pytest.fixture
async def loans(db: str) -> dict[LoanStatus, Loan]:
    """One loan in each state."""
    bank, channel = await make_bank("SMB"), await make_channel("SM01")
    product = await make_product("SM", [(bank, "100")], [channel])
    out = {}
    for i, status in enumerate(S):
        customer = await Customer.create(customer_no=f"CSM{i:04d}", name="王五", id_number=id_number(500 + i),
                                         phone="13800000000")
        out[status] = await Loan.create(order_no=f"SM{i:04d}", channel_order_no=f"SMC{i}", idempotency_key=f"sm{i}",
                                        customer=customer, product=product, channel=channel, status=status,
                                        amount=Decimal("1000.00"), term=3, term_unit="MONTH",
                                        repayment_method="EQUAL_INSTALLMENT", applied_at=datetime.now(UTC))
    return out


async def test_every_illegal_transition_is_refused_and_changes_nothing(loans: dict[LoanStatus, Loan]) -> None:
    refused = 0
    for a, b in ILLEGAL:
        loan = await Loan.get(id=loans[a].id)
        with pytest.raises(UserError) as exc:
            await states.transition(loan, b, actor=SYSTEM, reason="try")
        assert exc.value.code is ErrorCode.INVALID_STATE and exc.value.errors[0].field == "status"
        assert a.value in exc.value.errors[0].message and b.value in exc.value.errors[0].message
        refused += 1
    assert refused == len(ILLEGAL) > 80
    assert await LoanEvent.all().count() == 0 and await OutboxMessage.all().count() == 0
    assert {row.status for row in await Loan.all()} == set(S)
    assert all(row.version == 1 for row in await Loan.all())


@pytest.mark.parametrize(("a", "b"), LEGAL, ids=[f"{a.value}->{b.value}" for a, b in LEGAL])
async def test_every_legal_transition_is_applied_logged_and_announced(loans: dict[LoanStatus, Loan],
                                                                      a: LoanStatus, b: LoanStatus) -> None:
    loan = await Loan.get(id=loans[a].id)
    await states.transition(loan, b, actor=SYSTEM, reason=f"{a.value} to {b.value}")
    stored = await Loan.get(id=loan.id)
    assert (stored.status, stored.version) == (b, 2)
    event = await LoanEvent.get(loan_id=loan.id)
    assert (event.from_status, event.to_status, event.actor_label, event.reason) == (
        a.value, b.value, "system", f"{a.value} to {b.value}")
    job = await OutboxMessage.get(job="plugins.loan_state_changed")
    assert job.payload["previous_state"] == a.value and job.payload["new_state"] == b.value


async def test_a_stale_copy_cannot_move_the_loan(loans: dict[LoanStatus, Loan]) -> None:
    fresh, stale = await Loan.get(id=loans[S.APPROVED].id), await Loan.get(id=loans[S.APPROVED].id)
    await states.transition(fresh, S.CONTRACT_SIGNED, actor=SYSTEM)
    with pytest.raises(UserError) as exc:
        await states.transition(stale, S.CANCELLED, actor=SYSTEM)
    assert exc.value.code is ErrorCode.INVALID_STATE
    assert (await Loan.get(id=fresh.id)).status == S.CONTRACT_SIGNED


async def test_racing_moves_of_one_loan_apply_once(loans: dict[LoanStatus, Loan]) -> None:
    copies = [await Loan.get(id=loans[S.RISK_CHECKING].id) for _ in range(8)]
    targets = [S.APPROVED, S.REJECTED, S.MANUAL_REVIEW, S.CANCELLED] * 2
    results: list[Any] = await asyncio.gather(*(states.transition(c, t, actor=SYSTEM) for c, t in
                                                zip(copies, targets, strict=True)), return_exceptions=True)
    assert sum(isinstance(r, Loan) for r in results) == 1
    assert all(isinstance(r, UserError) for r in results if not isinstance(r, Loan))
    assert await LoanEvent.filter(loan_id=copies[0].id).count() == 1
