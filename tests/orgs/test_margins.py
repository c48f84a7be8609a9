"""Margin accounts (F-ORG-5): settings, top-ups with vouchers, freeze and release to the cent,
refusal when free margin is short, idempotency, and no over-freezing under concurrency."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from tortoise.expressions import F

from core.actor import SYSTEM
from core.errors import ErrorCode, UserError
from core.oplog.models import OperationLog
from core.orgs import margins
from core.orgs.margins import InsufficientMargin, MarginAccountInput
from core.orgs.models import MarginAccount, MarginMovement, MarginMovementKind
from permissions.scope import EVERYTHING
from schema.relay import paginate
from tests.orgs.helpers import admin_actor, new_account, new_bank

pytestmark = pytest.mark.db
D = Decimal


async def fresh(account: MarginAccount) -> MarginAccount:
    return await MarginAccount.get(id=account.id)


async def test_account_settings_are_validated_field_by_field(db: str) -> None:
    actor = await admin_actor()
    with pytest.raises(UserError) as exc:
        await margins.create(actor, EVERYTHING, MarginAccountInput(
            project="", bank_id=None, account_bank="支" * 51, account_no="6230 5800", leverage=D("0"),
            warning_line=D("1.5"), warning_amount=D("-1")))
    assert {e.field: e.code for e in exc.value.errors} == {
        "bankId": ErrorCode.REQUIRED, "project": ErrorCode.REQUIRED, "accountBank": ErrorCode.TOO_LONG,
        "accountNo": ErrorCode.INVALID, "leverage": ErrorCode.OUT_OF_RANGE, "warningLine": ErrorCode.OUT_OF_RANGE,
        "warningAmount": ErrorCode.OUT_OF_RANGE}
    bank = await new_bank(actor)
    account = await new_account(actor, bank, "P1")
    assert (account.balance, account.frozen, account.leverage) == (D("0.00"), D("0.00"), D("10.00"))
    with pytest.raises(UserError) as exc:
        await new_account(actor, bank, "P1")
    assert exc.value.errors[0].field == "project" and exc.value.code is ErrorCode.NOT_UNIQUE
    with pytest.raises(UserError) as exc:
        await margins.update(actor, EVERYTHING, account.id, MarginAccountInput(bank_id=bank.id + 1))
    assert exc.value.code is ErrorCode.IMMUTABLE


async def test_top_ups_add_exact_cents_and_record_the_voucher(db: str) -> None:
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor))
    first = await margins.top_up(actor, EVERYTHING, account.id, D("0.10"), "PZ-001", "https://files.test/pz1.pdf")
    second = await margins.top_up(actor, EVERYTHING, account.id, "0.20", "PZ-002", "https://files.test/pz2.pdf",
                                  "追加")
    assert (first.balance_after, second.balance_after) == (D("0.10"), D("0.30"))
    assert str((await fresh(account)).balance) == "0.30"
    assert (second.kind, second.voucher_no, second.voucher_url, second.remark, second.operator_id) == (
        MarginMovementKind.TOPUP, "PZ-002", "https://files.test/pz2.pdf", "追加", actor.user_id)
    log = await OperationLog.filter(module="margins", action="topup").order_by("id")
    assert len(log) == 2 and {e.scope_bank_id for e in log} == {account.bank_id}  # type: ignore[attr-defined]


async def test_top_up_refuses_bad_input_and_a_voucher_entered_twice(db: str) -> None:
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor), top_up="100")
    with pytest.raises(UserError) as exc:
        await margins.top_up(actor, EVERYTHING, account.id, D("0.001"), "", "ftp://x")
    assert {e.field: e.code for e in exc.value.errors} == {
        "amount": ErrorCode.INVALID, "voucherNo": ErrorCode.REQUIRED, "voucherUrl": ErrorCode.INVALID}
    await margins.top_up(actor, EVERYTHING, account.id, D("50"), "PZ-9", "https://files.test/9.pdf")
    with pytest.raises(UserError) as exc:
        await margins.top_up(actor, EVERYTHING, account.id, D("50"), "PZ-9", "https://files.test/9.pdf")
    assert exc.value.errors[0].field == "voucherNo" and exc.value.code is ErrorCode.NOT_UNIQUE
    assert (await fresh(account)).balance == D("150.00")
    with pytest.raises(UserError) as exc:
        await margins.top_up(actor, EVERYTHING, 987654, D("1"), "PZ-10", "https://files.test/10.pdf")
    assert exc.value.code is ErrorCode.NOT_FOUND


@pytest.mark.parametrize(("leverage", "loan", "frozen"), [
    ("3", "100.00", "33.33"),  # 33.333… rounds down
    ("2", "100.01", "50.01"),  # 50.005 rounds half UP (banker's rounding would give 50.00)
    ("8", "1000.04", "125.01"),  # 125.005 → 125.01
    ("10", "0.04", "0.00"),  # 0.004 → 0.00
    ("2.5", "12345.67", "4938.27"),  # 4938.268
])
async def test_freeze_is_loan_amount_over_leverage_to_the_cent_half_up(db: str, leverage: str, loan: str,
                                                                        frozen: str) -> None:
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor), leverage=leverage, top_up="100000")
    movement = await margins.freeze(account.id, D(loan), "L-1", SYSTEM)
    assert str(movement.amount) == frozen and movement.loan_amount == D(loan)
    after = await fresh(account)
    assert str(after.frozen) == frozen and after.balance == D("100000.00")
    assert movement.frozen_after == after.frozen and movement.balance_after == after.balance


async def test_freeze_is_refused_when_free_margin_is_short_and_changes_nothing(db: str) -> None:
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor), leverage="10", top_up="1000")
    await margins.freeze(account.id, D("4000.00"), "L-1", SYSTEM)  # frozen 400, free 600
    with pytest.raises(InsufficientMargin) as exc:
        await margins.freeze(account.id, D("6000.10"), "L-2", SYSTEM)  # needs 600.01
    assert (exc.value.required, exc.value.free, exc.value.account_id) == (D("600.01"), D("600.00"), account.id)
    assert exc.value.code is ErrorCode.INVALID_STATE and exc.value.errors[0].field == "loanAmount"
    assert "600.00" in str(exc.value) and "top up" in str(exc.value)
    assert (await fresh(account)).frozen == D("400.00")
    assert await MarginMovement.filter(reference="L-2").count() == 0
    assert await OperationLog.filter(module="margins", action="freeze").count() == 1
    # Exactly the free margin is allowed.
    await margins.freeze(account.id, D("6000.00"), "L-2", SYSTEM)
    after = await fresh(account)
    assert margins.free_margin(after) == D("0.00")


async def test_freeze_is_idempotent_per_loan(db: str) -> None:
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor), leverage="4", top_up="1000")
    first = await margins.freeze(account.id, D("1000"), "L-1", SYSTEM)
    again = await margins.freeze(account.id, D("1000.00"), "L-1", SYSTEM)
    assert again.id == first.id and (await fresh(account)).frozen == D("250.00")
    with pytest.raises(UserError) as exc:
        await margins.freeze(account.id, D("2000"), "L-1", SYSTEM)
    assert exc.value.code is ErrorCode.CONFLICT


async def test_release_is_proportional_cumulative_and_never_below_zero(db: str) -> None:
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor), leverage="3", top_up="1000")
    await margins.freeze(account.id, D("100.00"), "L-1", SYSTEM)  # 33.33
    r1 = await margins.release(account.id, D("50.00"), "L-1", SYSTEM)
    r2 = await margins.release(account.id, D("50.00"), "L-1", SYSTEM)
    assert r1 is not None and r2 is not None
    # 33.33 × 50/100 = 16.665 → 16.67; the second releases exactly the rest (not another 16.67).
    assert (r1.amount, r2.amount, r2.frozen_after) == (D("16.67"), D("16.66"), D("0.00"))
    assert await margins.release(account.id, D("10.00"), "L-1", SYSTEM) is None
    after = await fresh(account)
    assert (after.frozen, after.balance) == (D("0.00"), D("1000.00"))


async def test_overpayment_releases_only_what_the_loan_froze(db: str) -> None:
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor), leverage="10", top_up="1000")
    await margins.freeze(account.id, D("1000"), "L-1", SYSTEM)  # 100
    await margins.freeze(account.id, D("2000"), "L-2", SYSTEM)  # 200
    released = await margins.release(account.id, D("5000"), "L-1", SYSTEM)
    assert released is not None and released.amount == D("100.00")
    assert (await fresh(account)).frozen == D("200.00")  # L-2's freeze untouched


async def test_release_is_idempotent_per_repayment_reference(db: str) -> None:
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor), leverage="2", top_up="1000")
    await margins.freeze(account.id, D("1000"), "L-1", SYSTEM)  # 500
    first = await margins.release(account.id, D("200"), "L-1", SYSTEM, repayment_ref="R-1")
    retry = await margins.release(account.id, D("200"), "L-1", SYSTEM, repayment_ref="R-1")
    assert first is not None and retry is not None and retry.id == first.id
    assert (await fresh(account)).frozen == D("400.00")
    await margins.release(account.id, D("200"), "L-1", SYSTEM, repayment_ref="R-2")
    assert (await fresh(account)).frozen == D("300.00")


async def test_release_without_a_freeze_does_nothing_and_tiny_repayments_still_count(db: str) -> None:
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor), leverage="3", top_up="1000")
    assert await margins.release(account.id, D("100"), "NO-FREEZE", SYSTEM) is None
    await margins.freeze(account.id, D("100.00"), "L-1", SYSTEM)  # 33.33
    tiny = await margins.release(account.id, D("0.01"), "L-1", SYSTEM)  # 0.0033 → 0.00, still recorded
    assert tiny is not None and tiny.amount == D("0.00")
    rest = await margins.release(account.id, D("99.99"), "L-1", SYSTEM)
    assert rest is not None and rest.amount == D("33.33") and (await fresh(account)).frozen == D("0.00")


async def test_a_new_leverage_applies_to_new_freezes_while_releases_follow_the_loan(db: str) -> None:
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor), leverage="10", top_up="1000")
    await margins.freeze(account.id, D("1000"), "L-1", SYSTEM)  # 100
    await margins.update(actor, EVERYTHING, account.id, MarginAccountInput(leverage=D("5")))
    assert (await margins.freeze(account.id, D("1000"), "L-2", SYSTEM)).amount == D("200.00")
    released = await margins.release(account.id, D("1000"), "L-1", SYSTEM)
    assert released is not None and released.amount == D("100.00")


@pytest.mark.parametrize(("balance", "frozen", "line", "amount", "warning"), [
    ("1000", "0", "0.2", "100", False),
    ("1000", "801", "0.2", "0", True),  # free 199 < 20% of 1000
    ("1000", "800", "0.2", "0", False),  # exactly on the line is not below it
    ("1000", "500", "0", "600", True),  # free 500 < warning amount 600
    ("0", "0", "0.2", "0", True),  # an empty account cannot back loans
    ("0", "0", "0", "0", False),
])
def test_warning_state(balance: str, frozen: str, line: str, amount: str, warning: bool) -> None:
    account = MarginAccount(balance=D(balance), frozen=D(frozen), warning_line=D(line), warning_amount=D(amount))
    assert margins.in_warning(account) is warning


async def test_movement_history_is_paginated_newest_first(db: str) -> None:
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor))
    for i in range(1, 4):
        await margins.top_up(actor, EVERYTHING, account.id, D(i), f"PZ-{i}", f"https://files.test/{i}.pdf")
    page = await paginate(margins.movements(EVERYTHING, account.id), 2, None)
    assert [m.voucher_no for m in page.rows] == ["PZ-3", "PZ-2"] and page.has_next and page.total == 3
    from schema.relay import _cursor

    rest = await paginate(margins.movements(EVERYTHING, account.id), 2, _cursor(page.rows[-1].id))
    assert [m.voucher_no for m in rest.rows] == ["PZ-1"] and not rest.has_next
    assert (await paginate(margins.movements(EVERYTHING, account.id, MarginMovementKind.FREEZE), 2, None)).total == 0


async def test_a_change_computed_from_stale_figures_is_not_written(db: str, monkeypatch: Any) -> None:
    """The conditional UPDATE (… AND version = read version) catches a writer that got in between."""
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor), leverage="10", top_up="1000")
    stale = await fresh(account)
    # Another writer freezes 100 and commits after our read.
    await MarginAccount.filter(id=account.id).update(frozen=D("100.00"), version=F("version") + 1)
    real = margins._locked
    reads: list[int] = []

    async def stale_first_read(*args: Any) -> MarginAccount:
        current = await real(*args)
        reads.append(1)
        return stale if len(reads) == 1 else current

    monkeypatch.setattr(margins, "_locked", stale_first_read)
    movement = await margins.freeze(account.id, D("1000"), "L-1", SYSTEM)
    after = await fresh(account)
    assert len(reads) == 2  # the stale attempt wrote nothing and was retried on fresh figures
    assert after.frozen == D("200.00") and movement.frozen_after == D("200.00")  # not 100: no lost update


async def test_concurrent_disbursements_cannot_over_freeze(db: str) -> None:
    """Ten disbursements race for free margin enough for five; exactly five freeze (PG: real concurrency)."""
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor), leverage="1", top_up="550")
    results = await asyncio.gather(*(margins.freeze(account.id, D("100"), f"L-{i}", SYSTEM) for i in range(10)),
                                   return_exceptions=True)
    frozen = [r for r in results if isinstance(r, MarginMovement)]
    refused = [r for r in results if isinstance(r, InsufficientMargin)]
    assert (len(frozen), len(refused)) == (5, 5), results
    after = await fresh(account)
    assert after.frozen == D("500.00") and after.balance == D("550.00")
    assert sorted(m.frozen_after for m in frozen) == [D(100 * i) for i in range(1, 6)]
    assert await MarginMovement.filter(kind=MarginMovementKind.FREEZE).count() == 5


async def test_concurrent_retries_of_one_loan_freeze_it_once(db: str) -> None:
    actor = await admin_actor()
    account = await new_account(actor, await new_bank(actor), leverage="1", top_up="1000")
    results = await asyncio.gather(*(margins.freeze(account.id, D("100"), "L-1", SYSTEM) for _ in range(6)))
    assert len({m.id for m in results}) == 1 and (await fresh(account)).frozen == D("100.00")
