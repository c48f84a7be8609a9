"""The set-based repayment engine: a batch posts exactly what posting its items one by one posts,
per-item outcomes (errors named by line, nothing half-written), repeats, stale retries, scope."""

from __future__ import annotations

import asyncio
import contextvars
import random
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from core.actor import Actor
from core.errors import ErrorCode, UserError
from core.loans import repayment as rp
from core.loans import repayment_batch as rb
from core.loans.models import (
    InstallmentStatus,
    Loan,
    LoanEvent,
    LoanInstallment,
    LoanStatus,
    Repayment,
    RepaymentFunderPart,
    RepaymentLine,
    RepaymentSource,
)
from core.loans.repayment_batch import RepaymentIn, post_repayments
from core.oplog.models import OperationLog
from core.outbox.models import OutboxMessage
from permissions.policy import policy_store
from permissions.scope import DataScope
from schema.relay import gid
from tests.loans.factories import bank_user, installments, make_loan, make_world

D = Decimal


def at(day: date, hour: int = 4) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _state(rows: list[LoanInstallment]) -> list[tuple[Any, ...]]:
    return [(i.number, i.paid_principal, i.paid_interest, i.paid_fee, i.paid_penalty, i.waived_interest,
             InstallmentStatus(i.status)) for i in rows]


async def test_a_batch_posts_exactly_what_posting_one_by_one_posts(db):
    """Twin loans in twin worlds; the same 40 random payments (several per loan, in order) go to one
    twin as a single batch and to the other one at a time: every installment, repayment, line and
    funder part is the same to the cent."""
    rng = random.Random(7)
    batch_world = await make_world("BAT", shares=["70", "30"])
    single_world = await make_world("ONE", shares=["70", "30"])
    pairs = [(await make_loan(batch_world, mark="BAT"), await make_loan(single_world, mark="ONE")) for _ in range(5)]
    plan = []
    for n in range(40):
        k = rng.randrange(len(pairs))
        amount = D(rng.choice(["0.01", "1.00", "99.99", "1000.00", "1032.64", "2500.00", "12.34"]))
        plan.append((k, amount, at(date(2026, 2 + n % 10, 15))))
    outcomes = await post_repayments([
        RepaymentIn(pairs[k][0].id, amount, f"B-{n}", RepaymentSource.CALLBACK, paid)
        for n, (k, amount, paid) in enumerate(plan)])
    assert [o.error for o in outcomes] == [None] * 40 and not any(o.replayed for o in outcomes)
    singles = [await rp.post_repayment(pairs[k][1].id, amount, f"S-{n}", RepaymentSource.CALLBACK, paid)
               for n, (k, amount, paid) in enumerate(plan)]
    for o, s in zip(outcomes, singles, strict=True):
        assert o.repayment is not None
        stored = await Repayment.get(id=o.repayment.id)
        assert (stored.kind, stored.principal, stored.interest, stored.fee, stored.penalty, stored.leftover) == (
            s.kind, s.principal, s.interest, s.fee, s.penalty, s.leftover)
        assert (o.repayment.principal, o.repayment.kind) == (stored.principal, stored.kind)
        lines = [[(ln.principal, ln.interest) for ln in await RepaymentLine.filter(repayment_id=r).order_by("id")]
                 for r in (stored.id, s.id)]
        assert lines[0] == lines[1]
        b_parts = sorted((p.principal, p.interest) for p in await RepaymentFunderPart.filter(repayment_id=stored.id))
        s_parts = sorted((p.principal, p.interest) for p in await RepaymentFunderPart.filter(repayment_id=s.id))
        assert b_parts == s_parts and sum(p[0] for p in b_parts) == stored.principal
    for batch_loan, single_loan in pairs:
        assert _state(await installments(batch_loan)) == _state(await installments(single_loan))
        b, s = await Loan.get(id=batch_loan.id), await Loan.get(id=single_loan.id)
        assert (b.principal_outstanding, b.status) == (s.principal_outstanding, s.status)
    # one operation-log entry and one plugin event per repayment, as the single path writes
    assert await OperationLog.filter(module="repayments", summary__contains="B-").count() == 40
    events = [m.payload["serial"] for m in await OutboxMessage.filter(job=rp.PAYMENT_SETTLED_JOB)]
    assert sorted(e for e in events if e.startswith("B-")) == sorted(f"B-{n}" for n in range(40))


async def test_each_line_gets_its_own_outcome_and_refused_lines_write_nothing(db):
    world = await make_world("OUT")
    other = await make_world("HID")
    loan = await make_loan(world, mark="OUT")
    settled = await make_loan(world, mark="OUT", status=LoanStatus.SETTLED)
    hidden = await make_loan(other, mark="HID")
    first = (await installments(loan))[0]
    due = first.principal + first.interest
    await rp.post_repayment(loan.id, D("10.00"), "OLD-1", RepaymentSource.MANUAL, at(date(2026, 2, 1)))
    items = [
        RepaymentIn(loan.id, due, "L-0", paid_at=at(first.due_date)),  # posted
        RepaymentIn(loan.id, "1.005", "L-1"),  # malformed amount
        RepaymentIn(settled.id, D("5.00"), "L-2"),  # not repaying
        RepaymentIn(hidden.id, D("5.00"), "L-3"),  # outside the caller's scope
        RepaymentIn(loan.id, D("10.00"), "OLD-1", paid_at=at(date(2026, 2, 1))),  # posted before: a repeat
        RepaymentIn(loan.id, D("11.00"), "OLD-1"),  # posted before with another amount
        RepaymentIn(loan.id, due, "L-0", paid_at=at(first.due_date)),  # twice in this batch: a repeat
        RepaymentIn(loan.id, D("1.00"), "L-0"),  # twice in this batch with another amount
        RepaymentIn(loan.id, D("1.00"), "L-8", mode=rp.Mode.EARLY_SETTLEMENT, paid_at=at(first.due_date)),  # short
    ]
    user = await bank_user("out_ops", {world.banks[0].id}, {"repayments.record"})
    store = policy_store()
    actor = Actor(user_id=user.id, account=user.account, name=user.name, role_keys=(user.account,),
                  scope=store.scope_for([user.account]))
    outcomes = await post_repayments(items, actor=actor, scope=actor.scope)
    codes = [(o.error.code, o.error.errors[0].field) if o.error else None for o in outcomes]
    assert codes == [None, (ErrorCode.INVALID, "items[1].amount"), (ErrorCode.INVALID_STATE, "items[2].loanId"),
                     (ErrorCode.NOT_FOUND, "items[3].loanId"), None, (ErrorCode.CONFLICT, "items[5].serialNo"),
                     None, (ErrorCode.CONFLICT, "items[7].serialNo"), (ErrorCode.OUT_OF_RANGE, "items[8].amount")]
    assert not outcomes[0].replayed and outcomes[4].replayed and outcomes[6].replayed
    assert outcomes[6].repayment is outcomes[0].repayment
    assert outcomes[4].repayment is not None and outcomes[4].repayment.serial_no == "OLD-1"
    assert await Repayment.filter(loan_id=loan.id).count() == 2  # OLD-1 and L-0
    assert not await Repayment.filter(loan_id__in=[settled.id, hidden.id]).exists()
    assert not await Repayment.filter(serial_no__in=["L-1", "L-2", "L-3", "L-8"]).exists()
    rows = await installments(loan)
    assert sum((i.paid_principal + i.paid_interest for i in rows), D(0)) == due + D("10.00")
    assert await OperationLog.filter(module="repayments", operator_id=user.id).count() == 1


async def test_paying_every_installment_in_one_batch_settles_the_loan_once(db):
    world = await make_world("SET")
    loan = await make_loan(world, term=3, amount="3000.00")
    rows = await installments(loan)
    outcomes = await post_repayments([RepaymentIn(loan.id, i.principal + i.interest, f"SET-{i.number}",
                                                  paid_at=at(i.due_date)) for i in rows])
    assert all(o.error is None for o in outcomes)
    await loan.refresh_from_db()
    assert loan.status is LoanStatus.SETTLED and loan.principal_outstanding == D("0.00")
    assert loan.settled_at is not None
    events = await LoanEvent.filter(loan_id=loan.id, to_status=LoanStatus.SETTLED.value)
    assert len(events) == 1 and events[0].reason == "repayment SET-3"
    assert all(InstallmentStatus(i.status) is InstallmentStatus.PAID for i in await installments(loan))
    again = await post_repayments([RepaymentIn(loan.id, D("1.00"), "SET-4")])
    assert again[0].error is not None and again[0].error.code is ErrorCode.INVALID_STATE


async def test_a_row_changed_meanwhile_restarts_the_batch_on_fresh_rows(db, monkeypatch):
    """Another writer (the overdue job) changes an installment between our read and our UPDATE: the
    batch is redone on the fresh rows, and posts once. On PostgreSQL the other writer really commits
    on its own connection; SQLite has one writer, so there the change is made (and rolled back with
    the failed attempt) inside our transaction — which still proves the retry."""
    world = await make_world("STL")
    loan = await make_loan(world)
    first = (await installments(loan))[0]
    real = rb._update_installments
    calls = {"n": 0}

    async def other_writer() -> None:
        await LoanInstallment.filter(id=first.id).update(penalty=D("3.00"), version=first.version + 1)

    async def racing(rows: list[Any], postgres: bool) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            if db == "postgres":  # outside our transaction: a fresh context has no transaction in it
                await asyncio.create_task(other_writer(), context=contextvars.Context())
            else:
                await other_writer()
        await real(rows, postgres)

    monkeypatch.setattr(rb, "_update_installments", racing)
    [o] = await post_repayments([RepaymentIn(loan.id, D("50.00"), "STALE-1", paid_at=at(first.due_date))])
    assert calls["n"] == 2 and o.error is None and o.repayment is not None
    assert await Repayment.filter(serial_no="STALE-1").count() == 1
    row = await LoanInstallment.get(id=first.id)
    if db == "postgres":
        assert o.repayment.penalty == D("3.00")  # allocated on the fresh row: penalty first
        assert row.paid_penalty == D("3.00") and row.version == first.version + 2
    else:
        assert row.paid_principal + row.paid_interest == D("50.00") and row.version == first.version + 1


async def test_more_than_a_batch_is_refused_whole(db):
    world = await make_world("BIG")
    loan = await make_loan(world)
    items = [RepaymentIn(loan.id, D("1.00"), f"BIG-{i}") for i in range(rb.MAX_BATCH + 1)]
    try:
        await post_repayments(items)
    except UserError as exc:
        assert exc.errors[0].field == "items" and exc.code is ErrorCode.OUT_OF_RANGE
    else:
        raise AssertionError("a batch above MAX_BATCH must be refused")
    assert not await Repayment.filter(loan_id=loan.id).exists()


async def test_a_caller_without_grants_posts_nothing(db):
    world = await make_world("NOG")
    loan = await make_loan(world)
    [o] = await post_repayments([RepaymentIn(loan.id, D("5.00"), "NOG-1")], scope=DataScope())
    assert o.error is not None and o.error.code is ErrorCode.NOT_FOUND
    assert not await Repayment.filter(loan_id=loan.id).exists()


RECORD_MANY = """mutation($i: [RepaymentLineInput!]!) { recordRepayments(input: $i) {
  errors { field code message } posted
  results { index serialNo replayed errors { field code } repayment { serialNo amount kind } } } }"""


async def test_record_repayments_through_the_api(api, people):
    alpha = await make_world("ALPHA")
    zeta = await make_world("ZETA")
    a_loan = await make_loan(alpha, mark="ALPHA")
    z_loan = await make_loan(zeta, mark="ZETA")
    user = await bank_user("alpha_rec", {alpha.banks[0].id}, {"repayments", "repayments.record"})
    token = await api.login(user.account)
    lines = [{"loanId": gid("Loan", a_loan.id), "amount": "100.00", "serialNo": "F-1",
              "paidAt": at(date(2026, 2, 15)).isoformat(), "channel": "bank transfer"},
             {"loanId": gid("Loan", z_loan.id), "amount": "100.00", "serialNo": "F-2"},
             {"loanId": gid("Loan", a_loan.id), "amount": "100.00", "serialNo": "F-1",
              "paidAt": at(date(2026, 2, 15)).isoformat()}]
    body = await api(RECORD_MANY, {"i": lines}, token)
    out = body["data"]["recordRepayments"]
    assert out["errors"] == [] and out["posted"] == 1, body
    assert [(r["index"], r["serialNo"], r["replayed"]) for r in out["results"]] == [
        (0, "F-1", False), (1, "F-2", False), (2, "F-1", True)]
    assert out["results"][0]["repayment"] == {"serialNo": "F-1", "amount": "100.00", "kind": "PARTIAL"}
    assert out["results"][1]["repayment"] is None
    assert out["results"][1]["errors"] == [{"field": "items[1].loanId", "code": "NOT_FOUND"}]
    assert (await Repayment.get(serial_no="F-1")).deduction_channel == "bank transfer"
    # malformed lines refuse the whole batch, every problem named by line
    good = {"loanId": gid("Loan", a_loan.id), "amount": "1.00", "serialNo": "G"}
    for bad_line, field in (({"loanId": "nope", "amount": "1.00", "serialNo": "X"}, "items[1].loanId"),
                            ({**good, "serialNo": "Y", "paidAt": "2099-01-01T00:00:00+00:00"}, "items[1].paidAt")):
        bad = await api(RECORD_MANY, {"i": [good, bad_line]}, token)
        assert [e["field"] for e in bad["data"]["recordRepayments"]["errors"]] == [field], bad
        assert bad["data"]["recordRepayments"]["results"] == []
    assert not await Repayment.filter(serial_no__in=["G", "X", "Y"]).exists()
    viewer = await api.login("viewer1")
    refused = await api(RECORD_MANY, {"i": lines[:1]}, viewer)
    assert refused["data"]["recordRepayments"]["errors"][0]["code"] == "FORBIDDEN"


def test_allocating_over_the_reachable_installments_equals_allocating_over_all() -> None:
    """`_reachable` hands the allocation only the installments the money can reach; for every
    strategy the plan is the one an allocation over all open installments gives."""
    from types import SimpleNamespace

    from core.loans.allocation import AllocationStrategy, allocate_repayment

    rng = random.Random(11)
    for _ in range(400):
        rows = [SimpleNamespace(number=n, due_date=date(2026, n, 15), principal=D(rng.randrange(0, 90000)) / 100,
                                interest=D(rng.randrange(0, 9000)) / 100, fee=D(rng.randrange(0, 3)) / 100,
                                penalty=D(rng.choice([0, 0, 155, 2000])) / 100, paid_principal=D(0),
                                paid_interest=D(0), paid_fee=D(0), paid_penalty=D(0), waived_interest=D(0),
                                status="pending") for n in range(1, 13)]
        amount = D(rng.randrange(1, 1200000)) / 100
        for strategy in AllocationStrategy:
            loan = SimpleNamespace(allocation_strategy=strategy.value)
            plan = rp._normal_plan(loan, rows, amount, date(2026, 6, 15))  # type: ignore[arg-type]
            full = allocate_repayment([rp.outstanding(r) for r in rows], amount, strategy)  # type: ignore[arg-type]
            got = {ln.inst.number: (ln.penalty, ln.fee, ln.interest, ln.principal) for ln in plan.lines}
            want = {a.number: (a.penalty, a.fee, a.interest, a.principal) for a in full.lines if a.total}
            assert got == want and plan.leftover == full.leftover, (strategy, amount)
