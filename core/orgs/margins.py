"""Margin accounts (保证金, F-ORG-5): set-up, top-ups with vouchers, and the freeze / release that
disbursement and repayment call when a product has "check margin" on.

How balances stay right under concurrency. Every balance change runs in one transaction that
1. locks the account row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite serialises write transactions),
2. computes the new balance and frozen amount in Python `Decimal` (to the cent, ROUND_HALF_UP),
3. writes them with a conditional UPDATE `… WHERE id = :id AND version = :read_version`, and
4. inserts the movement row (with the figures after it) and the operation-log entry.
The version condition is what guarantees that two concurrent disbursements can never over-freeze: a
change computed from figures another transaction has since replaced updates no row and is retried
on fresh figures. Why not `SET frozen = frozen + x WHERE balance - frozen >= x`: tortoise stores
DECIMAL as text on SQLite, where SQL arithmetic runs in binary floating point; computing in Python
and guarding with the version is exact on both backends and is the same single conditional UPDATE.

Idempotency: a freeze is keyed by (account, loan reference), a release by (account, loan reference,
repayment reference), a top-up by (account, voucher number) — a unique column, so even two
concurrent retries cannot both apply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, FieldError, UserError, not_found
from core.loans.money import CENT, MONEY_CONTEXT
from core.orgs import common, rules
from core.orgs.models import Bank, MarginAccount, MarginMovement, MarginMovementKind
from permissions.scope import EVERYTHING, DataScope

MODULE = "margins"
ZERO = Decimal("0.00")
LEVERAGE_MAX = Decimal(1000)
ATTEMPTS = 5  # conditional-update retries before giving up (only under heavy cross-process contention)


class InsufficientMargin(UserError):
    """A freeze was refused: the account's free margin is less than the loan needs frozen."""

    def __init__(self, account_id: int, required: Decimal, free: Decimal) -> None:
        self.account_id = account_id
        self.required = required
        self.free = free
        super().__init__(FieldError(
            "loanAmount", ErrorCode.INVALID_STATE,
            f"Free margin {free} is less than the {required} this loan must freeze; top up the margin account "
            "or lower the amount"))


class _Stale(Exception):
    """The account changed between our read and our conditional UPDATE (retry on fresh figures)."""


@dataclass(frozen=True)
class MarginAccountInput:
    """An account's settings as entered; on update, None keeps the stored value (the bank never changes)."""

    project: str | None = None
    bank_id: int | None = None
    account_bank: str | None = None
    account_no: str | None = None
    leverage: Decimal | str | None = None
    warning_line: Decimal | str | None = None
    warning_amount: Decimal | str | None = None


# --- pure figures ------------------------------------------------------------------------------


def freeze_amount(loan_amount: Decimal, leverage: Decimal) -> Decimal:
    """The margin a loan holds: loan amount ÷ leverage, to the cent, half up."""
    return MONEY_CONTEXT.divide(loan_amount, leverage).quantize(CENT, ROUND_HALF_UP, MONEY_CONTEXT)


def free_margin(account: MarginAccount) -> Decimal:
    return account.balance - account.frozen


def in_warning(account: MarginAccount) -> bool:
    """Free margin below the warning amount, or free ÷ balance below the warning line.

    An empty account is in warning whenever either threshold is set: it cannot back any loan.
    """
    free = free_margin(account)
    if free < account.warning_amount:
        return True
    if account.balance <= 0:
        return account.warning_line > 0 or account.warning_amount > 0
    return free < account.balance * account.warning_line


# --- reads ---------------------------------------------------------------------------------------


def query(scope: DataScope, bank_id: int | None = None, keyword: str | None = None) -> QuerySet[MarginAccount]:
    """Margin accounts of the banks the caller may see; `keyword` searches project and account number."""
    qs = MarginAccount.filter(scope.banks("bank_id"))
    if bank_id is not None:
        qs = qs.filter(bank_id=bank_id)
    if keyword and keyword.strip():
        k = keyword.strip()
        qs = qs.filter(Q(project__icontains=k) | Q(account_no__icontains=k) | Q(account_bank__icontains=k))
    return qs


async def get(scope: DataScope, account_id: int, field: str = "id") -> MarginAccount:
    """The account, or NOT_FOUND when missing or owned by a bank outside the caller's scope."""
    account = await MarginAccount.filter(scope.banks("bank_id"), id=account_id).first()
    if account is None:
        raise not_found("Margin account", field)
    return account


def movements(scope: DataScope, account_id: int | None = None,
              kind: MarginMovementKind | None = None) -> QuerySet[MarginMovement]:
    """Movement history (top-ups with vouchers, freezes, releases) within the caller's scope."""
    qs = MarginMovement.filter(scope.banks("account__bank_id"))
    if account_id is not None:
        qs = qs.filter(account_id=account_id)
    if kind is not None:
        qs = qs.filter(kind=kind)
    return qs


# --- settings ------------------------------------------------------------------------------------


async def _validate(errs: ErrorCollector, data: MarginAccountInput, current: MarginAccount | None) -> dict[str, Any]:
    partial = current is not None
    out: dict[str, Any] = {}

    def wanted(name: str) -> bool:
        return not partial or getattr(data, name) is not None

    if wanted("project"):
        out["project"] = rules.text(errs, "project", data.project, 50)
    if wanted("account_bank"):
        out["account_bank"] = rules.text(errs, "accountBank", data.account_bank, 50)
    if wanted("account_no"):
        out["account_no"] = rules.account_no(errs, "accountNo", data.account_no)
    if wanted("leverage"):
        out["leverage"] = rules.decimal(errs, "leverage", data.leverage, places=2, minimum=Decimal(0),
                                        maximum=LEVERAGE_MAX, min_exclusive=True)
    if wanted("warning_line"):
        out["warning_line"] = rules.decimal(errs, "warningLine", data.warning_line, places=4, minimum=Decimal(0),
                                            maximum=Decimal(1))
    if wanted("warning_amount"):
        out["warning_amount"] = rules.money(errs, "warningAmount", data.warning_amount, positive=False)
    if out.get("project"):
        others = MarginAccount.filter(project=out["project"])
        if current is not None:
            others = others.exclude(id=current.id)
        if await others.exists():
            errs.add("project", ErrorCode.NOT_UNIQUE, f"Project {out['project']!r} already has a margin account")
    return out


def _detail(a: MarginAccount) -> dict[str, Any]:
    return {"id": a.id, "project": a.project, "bankId": a.bank_id,  # type: ignore[attr-defined]
            "accountBank": a.account_bank, "accountNo": a.account_no, "leverage": a.leverage,
            "warningLine": a.warning_line, "warningAmount": a.warning_amount}


async def create(actor: Actor, scope: DataScope, data: MarginAccountInput, *, request_id: str = "") -> MarginAccount:
    """Open a margin account for a project of a bank the caller may see (balance starts at zero)."""
    errs = ErrorCollector()
    bank = None
    if data.bank_id is None:
        errs.add("bankId", ErrorCode.REQUIRED, "bankId is required: choose the bank the margin is held for")
    else:
        bank = await Bank.filter(scope.banks("id"), id=data.bank_id).first()
        if bank is None:
            errs.add("bankId", ErrorCode.NOT_FOUND, "Bank not found")
    values = await _validate(errs, data, None)
    errs.raise_if_any()
    assert bank is not None
    async with common.unique_race("project", "That project already has a margin account"), in_transaction():
        account = await MarginAccount.create(bank_id=bank.id, balance=ZERO, frozen=ZERO, **values)
        await common.log(actor, MODULE, "create", f"opened margin account {account.project} for {bank.short_name}",
                         _detail(account), bank_id=bank.id, request_id=request_id)
    return account


async def update(actor: Actor, scope: DataScope, account_id: int, data: MarginAccountInput, *,
                 request_id: str = "") -> MarginAccount:
    """Edit an account's settings; a new leverage applies to later freezes (releases follow each
    loan's own freeze)."""
    account = await get(scope, account_id)
    errs = ErrorCollector()
    if data.bank_id is not None and data.bank_id != account.bank_id:  # type: ignore[attr-defined]
        errs.add("bankId", ErrorCode.IMMUTABLE, "A margin account's bank cannot be changed; open a new account")
    values = await _validate(errs, data, account)
    errs.raise_if_any()
    changed = {k: v for k, v in values.items() if getattr(account, k) != v}
    if not changed:
        return account
    before = {k: getattr(account, k) for k in changed}
    async with common.unique_race("project", "That project already has a margin account"), in_transaction():
        # Bumping the version makes a freeze that read the old leverage retry with the new one.
        await MarginAccount.filter(id=account.id).update(**changed, version=F("version") + 1, updated_at=clock.now())
        await common.log(actor, MODULE, "update", f"edited margin account {account.project}",
                         {"id": account.id, "before": before, "after": changed},
                         bank_id=account.bank_id, request_id=request_id)  # type: ignore[attr-defined]
    await account.refresh_from_db()
    return account


# --- balance changes -----------------------------------------------------------------------------

Plan = Callable[[MarginAccount], Awaitable["Change | None"]]


@dataclass(frozen=True)
class Change:
    """What one operation does to an account: the new figures and the movement that explains them."""

    kind: MarginMovementKind
    amount: Decimal
    balance: Decimal
    frozen: Decimal
    loan_amount: Decimal | None = None
    reference: str = ""
    key: str | None = None
    voucher_no: str = ""
    voucher_url: str = ""
    remark: str = ""
    summary: str = ""


async def _locked(scope: DataScope, account_id: int, field: str) -> MarginAccount:
    """The account row, locked until the transaction ends (PostgreSQL; SQLite locks the database)."""
    account = await MarginAccount.filter(scope.banks("bank_id"), id=account_id).select_for_update().first()
    if account is None:
        raise not_found("Margin account", field)
    return account


async def _apply(scope: DataScope, account_id: int, actor: Actor, plan: Plan, request_id: str,
                 field: str = "accountId") -> MarginMovement | None:
    """Lock, plan, conditionally update, record — retried while another writer got in between."""
    for _ in range(ATTEMPTS):
        try:
            async with in_transaction():
                account = await _locked(scope, account_id, field)
                change = await plan(account)
                if change is None:
                    return None
                updated = await MarginAccount.filter(id=account.id, version=account.version).update(
                    balance=change.balance, frozen=change.frozen, version=account.version + 1,
                    updated_at=clock.now())
                if updated != 1:
                    raise _Stale
                movement = await MarginMovement.create(
                    account_id=account.id, kind=change.kind, amount=change.amount, loan_amount=change.loan_amount,
                    balance_after=change.balance, frozen_after=change.frozen, voucher_no=change.voucher_no,
                    voucher_url=change.voucher_url, reference=change.reference, idempotency_key=change.key,
                    remark=change.remark, operator_id=actor.user_id or None)
                await common.log(actor, MODULE, change.kind.value, change.summary,
                                 {"accountId": account.id, "project": account.project, "amount": change.amount,
                                  "loanAmount": change.loan_amount, "reference": change.reference,
                                  "voucherNo": change.voucher_no, "balanceAfter": change.balance,
                                  "frozenAfter": change.frozen},
                                 bank_id=account.bank_id, request_id=request_id)  # type: ignore[attr-defined]
                return movement
        except _Stale:
            continue
    raise UserError.of(field, ErrorCode.STALE, "The margin account is changing under heavy load; try again")


async def _existing(key: str) -> MarginMovement | None:
    return await MarginMovement.get_or_none(idempotency_key=key)


async def top_up(actor: Actor, scope: DataScope, account_id: int, amount: Decimal | str | None,
                 voucher_no: str | None, voucher_url: str | None, remark: str | None = None, *,
                 request_id: str = "") -> MarginMovement:
    """Add money to the balance with its payment voucher (追加保证金, 预缴凭证).

    A voucher number is recorded once per account: entering the same voucher again (a double click,
    a re-sent form) is refused rather than counted twice.
    """
    errs = ErrorCollector()
    value = rules.money(errs, "amount", amount)
    number = rules.text(errs, "voucherNo", voucher_no, 64)
    link = rules.url(errs, "voucherUrl", voucher_url)
    note = rules.text(errs, "remark", remark, 200, required=False)
    errs.raise_if_any()
    assert value is not None and number is not None and link is not None
    key = f"topup:{account_id}:{number}"
    duplicate = UserError.of("voucherNo", ErrorCode.NOT_UNIQUE,
                             f"Voucher {number} is already recorded on this account; check the voucher number")

    async def plan(account: MarginAccount) -> Change:
        if await _existing(key) is not None:
            raise duplicate
        balance = account.balance + value
        return Change(MarginMovementKind.TOPUP, value, balance, account.frozen, key=key, voucher_no=number,
                      voucher_url=link, remark=note or "",
                      summary=f"topped up margin {account.project} by {value} (voucher {number})")

    try:
        movement = await _apply(scope, account_id, actor, plan, request_id, field="accountId")
    except IntegrityError:
        raise duplicate from None
    assert movement is not None
    return movement


async def freeze(account_id: int, loan_amount: Decimal, reference: str, actor: Actor, *,
                 scope: DataScope = EVERYTHING, request_id: str = "") -> MarginMovement:
    """Freeze loan_amount ÷ leverage (to the cent, half up) for the loan `reference` at disbursement.

    Raises `InsufficientMargin` (code INVALID_STATE) when free margin (balance − frozen) is short;
    nothing changes then. Idempotent per (account, reference): calling again for the same loan
    returns the first freeze (CONFLICT if the amount differs). Call it inside the disbursement's
    transaction so a failed disbursement un-freezes with it. `scope` defaults to everything because
    disbursement runs as the system; pass the caller's scope when a user triggers it.
    """
    errs = ErrorCollector()
    amount = rules.money(errs, "loanAmount", loan_amount)
    ref = rules.text(errs, "reference", reference, 64)
    errs.raise_if_any()
    assert amount is not None and ref is not None
    key = f"freeze:{account_id}:{ref}"

    def replay(existing: MarginMovement) -> MarginMovement:
        if existing.loan_amount != amount:
            raise UserError.of("reference", ErrorCode.CONFLICT,
                               f"Loan {ref} already froze margin for {existing.loan_amount}, not {amount}")
        return existing

    async def plan(account: MarginAccount) -> Change | None:
        existing = await _existing(key)
        if existing is not None:
            replay(existing)
            return None
        needed = freeze_amount(amount, account.leverage)
        free = free_margin(account)
        if needed > free:
            raise InsufficientMargin(account.id, needed, free)
        return Change(MarginMovementKind.FREEZE, needed, account.balance, account.frozen + needed,
                      loan_amount=amount, reference=ref, key=key,
                      summary=f"froze {needed} of margin {account.project} for loan {ref} ({amount})")

    try:
        movement = await _apply(scope, account_id, actor, plan, request_id)
    except IntegrityError:
        movement = None  # a concurrent call for the same loan won; answer with its freeze
    if movement is None:
        existing = await _existing(key)
        assert existing is not None
        return replay(existing)
    return movement


async def release(account_id: int, loan_amount_repaid: Decimal, reference: str, actor: Actor, *,
                  repayment_ref: str | None = None, scope: DataScope = EVERYTHING,
                  request_id: str = "") -> MarginMovement | None:
    """Release margin for a repayment of loan `reference`, in proportion to what its freeze froze.

    After repayments totalling R of a loan of amount L that froze M, the loan's releases add up to
    M × min(R, L) ÷ L to the cent — so rounding never drifts, the last repayment releases exactly
    the rest, and a loan never releases more than it froze (nor the account below zero frozen).
    Returns None when there is nothing to release (no freeze for the loan, or all released).
    With `repayment_ref` (the repayment's serial) a retried call releases nothing twice.
    """
    errs = ErrorCollector()
    repaid = rules.money(errs, "loanAmountRepaid", loan_amount_repaid)
    ref = rules.text(errs, "reference", reference, 64)
    pay_ref = rules.text(errs, "repaymentRef", repayment_ref, 64, required=False) if repayment_ref is not None else ""
    errs.raise_if_any()
    assert repaid is not None and ref is not None
    key = f"release:{account_id}:{ref}:{pay_ref}" if pay_ref else None

    async def plan(account: MarginAccount) -> Change | None:
        if key is not None and await _existing(key) is not None:
            return None
        frozen_for_loan = await MarginMovement.get_or_none(account_id=account.id, kind=MarginMovementKind.FREEZE,
                                                           reference=ref)
        if frozen_for_loan is None or not frozen_for_loan.loan_amount:
            return None
        earlier = await MarginMovement.filter(account_id=account.id, kind=MarginMovementKind.RELEASE,
                                              reference=ref).values_list("amount", "loan_amount")
        released = sum((a for a, _ in earlier), ZERO)
        repaid_total = min(sum((b or ZERO for _, b in earlier), ZERO) + repaid, frozen_for_loan.loan_amount)
        target = MONEY_CONTEXT.divide(frozen_for_loan.amount * repaid_total, frozen_for_loan.loan_amount).quantize(
            CENT, ROUND_HALF_UP, MONEY_CONTEXT)
        if released >= frozen_for_loan.amount:
            return None
        # A tiny repayment may release nothing yet (0.00 after rounding); its movement is still
        # written so the repaid total keeps counting it and the last repayment releases the rest.
        amount = max(min(target - released, account.frozen), ZERO)
        return Change(MarginMovementKind.RELEASE, amount, account.balance, account.frozen - amount,
                      loan_amount=repaid, reference=ref, key=key, remark=pay_ref or "",
                      summary=f"released {amount} of margin {account.project} for loan {ref} (repaid {repaid})")

    try:
        movement = await _apply(scope, account_id, actor, plan, request_id)
    except IntegrityError:
        return None  # a concurrent retry of the same repayment released it
    if movement is None and key is not None:
        return await _existing(key)
    return movement
