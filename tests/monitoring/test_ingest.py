"""Ingestion on the database: validation, all-or-nothing, idempotency, recognition, scope, tracing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core import bulk
from core.actor import SYSTEM
from core.errors import UserError
from core.loans.models import LoanStatus
from core.monitoring.ingest import MAX_BATCH, ingest
from core.monitoring.models import AccountTransaction, FundTraceState, TransactionFundPart, TxSource
from core.oplog.models import OperationLog
from core.orgs.models import PaymentPlatform
from core.payments.models import AccountPurpose, ProviderAccount
from tests.monitoring.ingest_helpers import actor_for, bank_user, detectors, make_loan, make_world, tx

pytestmark = pytest.mark.asyncio


def fields_of(exc: pytest.ExceptionInfo[UserError]) -> set[str | None]:
    return {e.field for e in exc.value.errors}


async def test_worked_example_pro_rata_on_the_database(db: str) -> None:
    """Loan 10 in, own 10 and 10 in, 20 spent: each pool keeps 3.33/3.33/3.34 of the remaining 10."""
    w = await make_world("WEX")
    loan = await make_loan(w, "10.00")
    rows = [tx(loan, "S1", "in", "10.00", 0, isDisbursement=True), tx(loan, "S2", "in", "10.00", 1),
            tx(loan, "S3", "in", "10.00", 2), tx(loan, "S4", "out", "20.00", 3)]
    async with detectors():
        result = await ingest(SYSTEM, rows, TxSource.BATCH)
    assert (result.inserted, result.skipped) == (4, 0)
    out = await AccountTransaction.get(serial_no="S4")
    assert (Decimal(out.loan_part), Decimal(out.own_part)) == (Decimal("6.67"), Decimal("13.33"))
    assert out.traced_at is not None
    parts = await TransactionFundPart.filter(transaction_id=out.id).order_by("id")
    assert [(p.order_no, Decimal(p.amount)) for p in parts] == [(loan.order_no, Decimal("6.67")),
                                                                ("", Decimal("13.33"))]
    assert parts[0].loan_id == loan.id  # type: ignore[attr-defined]
    state = await FundTraceState.get(account_no=rows[0]["accountNo"])
    assert state.state["loans"] == [[loan.order_no, "3.33"]] and state.state["own"] == "6.67"
    assert state.version == 2
    assert (await AccountTransaction.get(serial_no="S1")).is_disbursement


async def test_incremental_batches_equal_one_batch(db: str) -> None:
    w = await make_world("INC")
    loan = await make_loan(w, "1000.00")
    rows = [tx(loan, "I1", "in", "1000.00", 0), tx(loan, "I2", "in", "500.00", 1), tx(loan, "I3", "out", "300.00", 2),
            tx(loan, "I4", "in", "200.00", 3), tx(loan, "I5", "out", "700.00", 4)]
    async with detectors():
        for r in rows:
            await ingest(SYSTEM, [r], TxSource.FEED)
    got = [(Decimal(t.loan_part), Decimal(t.own_part)) for t in
           await AccountTransaction.filter(direction="out").order_by("occurred_at")]
    assert got == [(Decimal("200.00"), Decimal("100.00")), (Decimal("400.00"), Decimal("300.00"))]
    assert (await AccountTransaction.get(serial_no="I1")).is_disbursement  # recognised: exact loan amount


async def test_out_of_order_arrival_retraces_the_account(db: str) -> None:
    w = await make_world("OOO")
    loan = await make_loan(w, "100.00")
    async with detectors():
        await ingest(SYSTEM, [tx(loan, "O1", "in", "100.00", 0), tx(loan, "O3", "out", "50.00", 10)], TxSource.FEED)
        assert Decimal((await AccountTransaction.get(serial_no="O3")).loan_part) == Decimal("50.00")
        result = await ingest(SYSTEM, [tx(loan, "O2", "in", "100.00", 5, isDisbursement=False)], TxSource.FEED)
    assert result.retraced_accounts == [f"ACC-{loan.customer.customer_no}"]
    o3 = await AccountTransaction.get(serial_no="O3")
    assert (Decimal(o3.loan_part), Decimal(o3.own_part)) == (Decimal("25.00"), Decimal("25.00"))
    parts = await TransactionFundPart.filter(transaction_id=o3.id)
    assert sorted(Decimal(p.amount) for p in parts) == [Decimal("25.00"), Decimal("25.00")]
    state = await FundTraceState.get(account_no=f"ACC-{loan.customer.customer_no}")
    assert state.state["loans"] == [[loan.order_no, "75.00"]] and state.state["own"] == "75.00"


async def test_every_bad_row_is_reported_and_nothing_is_stored(db: str) -> None:
    w = await make_world("BAD")
    loan = await make_loan(w, "100.00")
    other = await make_loan(w, "100.00")
    naive = tx(loan, "B3", "in", "1.00")
    naive["occurredAt"] = naive["occurredAt"].replace(tzinfo=None)
    rows: list[dict[str, Any]] = [
        tx(loan, "B0", "in", "100.00"),
        tx(loan, "B1", "sideways", "0"),
        tx(loan, "B2", "out", "1.005", orderNo="NOPE"),
        naive,
        tx(loan, "", "out", "1.00", customerNo=other.customer.customer_no),
    ]
    with pytest.raises(UserError) as exc:
        async with detectors():
            await ingest(SYSTEM, rows, TxSource.BATCH)
    assert fields_of(exc) == {"items[1].direction", "items[1].amount", "items[2].amount", "items[3].occurredAt",
                              "items[4].serialNo"}
    rows[1]["direction"], rows[1]["amount"], rows[2]["amount"] = "out", "1.00", "1.00"
    rows[3]["occurredAt"] = rows[0]["occurredAt"]
    rows[4]["serialNo"] = "B4"
    with pytest.raises(UserError) as exc:
        async with detectors():
            await ingest(SYSTEM, rows, TxSource.BATCH)
    assert fields_of(exc) == {"items[2].orderNo", "items[4].customerNo"}
    assert await AccountTransaction.all().count() == 0
    assert await FundTraceState.all().count() == 0


async def test_batch_size_limit(db: str) -> None:
    w = await make_world("MAX")
    loan = await make_loan(w)
    rows = [tx(loan, f"M{i}", "in", "1.00", i) for i in range(MAX_BATCH + 1)]
    with pytest.raises(UserError) as exc:
        await ingest(SYSTEM, rows, TxSource.BATCH)
    assert fields_of(exc) == {"items"}


async def test_undisbursed_loan_and_foreign_account_are_refused(db: str) -> None:
    w = await make_world("UND")
    approved = await make_loan(w, status=LoanStatus.APPROVED)
    loan = await make_loan(w)
    other = await make_loan(w)
    async with detectors():
        await ingest(SYSTEM, [tx(loan, "U1", "in", "5.00")], TxSource.BATCH)
        with pytest.raises(UserError) as exc:
            await ingest(SYSTEM, [tx(approved, "U2", "in", "5.00"),
                                  tx(other, "U3", "in", "5.00", accountNo=f"ACC-{loan.customer.customer_no}")],
                         TxSource.BATCH)
    assert fields_of(exc) == {"items[0].orderNo", "items[1].accountNo"}


async def test_reingest_is_idempotent_and_conflicting_content_is_an_error(db: str) -> None:
    w = await make_world("IDM")
    loan = await make_loan(w, "100.00")
    rows = [tx(loan, "D1", "in", "100.00"), tx(loan, "D2", "out", "40.00", 1)]
    async with detectors():
        await ingest(SYSTEM, rows, TxSource.BATCH)
        again = await ingest(SYSTEM, [*rows, rows[1]], TxSource.FILE)
        assert (again.inserted, again.skipped) == (0, 3)
        changed = dict(rows[1], amount="41.00")
        with pytest.raises(UserError) as exc:
            await ingest(SYSTEM, [changed, tx(loan, "D3", "out", "1.00", 2)], TxSource.BATCH)
        assert fields_of(exc) == {"items[0].serialNo"}
        assert "amount" in exc.value.errors[0].message
        with pytest.raises(UserError) as exc:
            await ingest(SYSTEM, [tx(loan, "D4", "out", "1.00", 3), tx(loan, "D4", "out", "2.00", 3)],
                         TxSource.BATCH)
        assert fields_of(exc) == {"items[1].serialNo"}
    assert await AccountTransaction.all().count() == 2
    state = await FundTraceState.get(account_no=rows[0]["accountNo"])
    assert state.version == 2  # the skipped and refused batches did not touch it
    logs = await OperationLog.filter(module="transactions", action="ingest").count()
    assert logs == 2


async def test_repayment_to_a_bank_repayment_account_is_flagged(db: str) -> None:
    w = await make_world("REP")
    platform = await PaymentPlatform.create(name="沙箱", identifier="sandbox_pay")
    await ProviderAccount.create(bank=w.bank, payment_platform=platform, purpose=AccountPurpose.REPAYMENT,
                                 account_no="REPAY-9")
    loan = await make_loan(w, "100.00", account="ACC-X")
    async with detectors():
        await ingest(SYSTEM, [
            tx(loan, "R0", "in", "100.00", 0, accountNo="ACC-X"),
            tx(loan, "R1", "out", "10.00", 1, accountNo="ACC-X", counterpartyAccount="REPAY-9"),
            tx(loan, "R2", "out", "10.00", 2, accountNo="ACC-X", counterpartyAccount="OTHER"),
            tx(loan, "R3", "out", "10.00", 3, accountNo="ACC-X", isRepayment=True)], TxSource.FEED)
    flags = dict(await AccountTransaction.all().values_list("serial_no", "is_repayment"))
    assert flags == {"R0": False, "R1": True, "R2": False, "R3": True}
    assert (await AccountTransaction.get(serial_no="R0")).is_disbursement


async def test_a_user_cannot_ingest_into_another_banks_loan(db: str) -> None:
    a = await make_world("SCA")
    b = await make_world("SCB", a.channel)
    loan_a = await make_loan(a, "100.00")
    loan_b = await make_loan(b, "100.00")
    user = await actor_for(await bank_user("sca_user", a.bank, "sca_all"))
    async with detectors():
        with pytest.raises(UserError) as exc:
            await ingest(user, [tx(loan_a, "SC1", "in", "100.00"), tx(loan_b, "SC2", "in", "100.00")],
                         TxSource.BATCH)
        assert fields_of(exc) == {"items[1].orderNo"}
        assert exc.value.errors[0].message == f"no loan with order no. {loan_b.order_no} in your data scope"
        result = await ingest(user, [tx(loan_a, "SC1", "in", "100.00")], TxSource.BATCH)
        await ingest(SYSTEM, [tx(loan_b, "SC2", "in", "100.00")], TxSource.BATCH)
        with pytest.raises(UserError) as exc:  # B's serial no.: refused without telling what it holds
            await ingest(user, [tx(loan_a, "SC2", "in", "1.00")], TxSource.BATCH)
        assert exc.value.errors[0].message == "serial no. SC2 is already used"
    assert result.inserted == 1
    log = await OperationLog.get(module="transactions", action="ingest", operator_id=user.user_id)
    assert log.scope_product_id == a.product.id


async def test_a_large_batch_is_stored_and_traced_exactly_like_small_ones(db: str) -> None:
    """A batch of ≥ COPY_MIN_ROWS rows (COPY on PostgreSQL) vs the same rows in small batches (INSERT)."""
    w = await make_world("CPY")
    big, small = await make_loan(w, "500.00"), await make_loan(w, "500.00")
    names = ["超市消费", "tab\there", "line\nbreak", "back\\slash", "cr\rlf", "\\N", ""]

    def rows(loan: Any, mark: str) -> list[dict[str, Any]]:
        out = [tx(loan, f"{mark}0", "in", "500.00", 0, isDisbursement=True)]
        for i in range(1, bulk.COPY_MIN_ROWS + 10):
            over: dict[str, Any] = {"counterpartyName": names[i % len(names)], "channel": "网银" if i % 2 else ""}
            if i % 3 == 0:
                over["balanceAfter"] = f"{i}.50"
            out.append(tx(loan, f"{mark}{i}", "in" if i % 4 == 0 else "out", f"{i}.{i % 100:02d}", i, **over))
        return out

    big_rows, small_rows = rows(big, "CB"), rows(small, "CS")
    async with detectors():
        assert (await ingest(SYSTEM, big_rows, TxSource.FILE)).inserted == len(big_rows)
        for start in range(0, len(small_rows), 10):
            await ingest(SYSTEM, small_rows[start:start + 10], TxSource.FILE)
        again = await ingest(SYSTEM, big_rows, TxSource.FILE)  # stored content reads back equal
    assert (again.inserted, again.skipped) == (0, len(big_rows))
    columns = ("counterparty_name", "channel", "balance_after", "amount", "direction", "occurred_at",
               "is_disbursement", "loan_part", "own_part", "traced_at", "detection_pending")

    async def stored(loan: Any) -> list[tuple[Any, ...]]:
        txs = await AccountTransaction.filter(loan_id=loan.id).order_by("occurred_at")
        parts = {p.transaction_id: p for p in await TransactionFundPart.filter(  # type: ignore[attr-defined]
            transaction_id__in=[t.id for t in txs], loan_id__not_isnull=True)}
        return [(*(getattr(t, c) for c in columns[:-2]), t.detection_pending,
                 (parts[t.id].amount, parts[t.id].share) if t.id in parts else None) for t in txs]

    got_big, got_small = await stored(big), await stored(small)
    assert got_big == got_small
    assert [r[0] for r in got_big[1:len(names) + 1]] == [*names[1:], names[0]]
    assert got_big[3][2] == Decimal("3.50") and got_big[1][2] is None


async def test_copy_reports_a_duplicate_serial_as_an_integrity_error(db: str) -> None:
    """The lost-race retry in `ingest` catches tortoise's IntegrityError; COPY must raise that too."""
    if db != "postgres":
        pytest.skip("COPY is the PostgreSQL path")
    w = await make_world("CPD")
    loan = await make_loan(w, "100.00")
    async with detectors():
        await ingest(SYSTEM, [tx(loan, "DUP1", "in", "100.00")], TxSource.BATCH)
    stored = await AccountTransaction.get(serial_no="DUP1")
    columns = ("serial_no", "order_no", "product_id", "customer_no", "account_no", "occurred_at", "direction",
               "amount", "source")
    with pytest.raises(IntegrityError):
        async with in_transaction():
            await bulk.copy_lines("account_transaction", columns,
                                  "\t".join(bulk.copy_value(getattr(stored, c)) for c in columns) + "\n")
