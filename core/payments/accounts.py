"""Provider accounts admin (放款账户 / 还款账户): a bank's virtual accounts at payment platforms.

Why here and scoped by bank: an account belongs to one bank, so reads filter on `scope.banks("bank_id")`
in SQL and an account of a bank outside the caller's scope answers "not found" exactly like a missing
one. A caller may only open accounts for banks they can see. The bank, platform and purpose of an
account never change (disbursements already debited it; reconciliation attributes statement lines
to banks through it): to move an account, delete it and add another. Every change is logged,
tagged with the bank.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, not_found
from core.orgs import banks, common, payment_platforms, rules
from core.payments.models import AccountPurpose, ProviderAccount
from permissions.scope import DataScope

MODULE = "disbursement_accounts"
NOT_UNIQUE_MESSAGE = "This account number or this bank's account for the purpose already exists at the platform"


@dataclass(frozen=True)
class AccountInput:
    """An account as entered; on update only account number, name, warning line and enabled apply."""

    bank_id: int | None = None
    payment_platform_id: int | None = None
    purpose: AccountPurpose | str | None = None
    account_no: str | None = None
    name: str | None = None
    warning_line: Decimal | str | None = None
    clear_warning_line: bool = False
    enabled: bool | None = None


def query(scope: DataScope, *, bank_id: int | None = None, platform_id: int | None = None,
          purpose: AccountPurpose | None = None, enabled: bool | None = None,
          keyword: str | None = None) -> QuerySet[ProviderAccount]:
    """Accounts of the banks the caller may see; `keyword` searches account number and name."""
    qs = ProviderAccount.filter(scope.banks("bank_id"))
    if bank_id is not None:
        qs = qs.filter(bank_id=bank_id)
    if platform_id is not None:
        qs = qs.filter(payment_platform_id=platform_id)
    if purpose is not None:
        qs = qs.filter(purpose=purpose)
    if enabled is not None:
        qs = qs.filter(enabled=enabled)
    if keyword and keyword.strip():
        k = keyword.strip()
        qs = qs.filter(Q(account_no__icontains=k) | Q(name__icontains=k))
    return qs


async def get(scope: DataScope, account_id: int, field: str = "id") -> ProviderAccount:
    row = await ProviderAccount.filter(scope.banks("bank_id"), id=account_id).first()
    if row is None:
        raise not_found("Provider account", field)
    return row


def _detail(row: ProviderAccount) -> dict[str, Any]:
    return {"id": row.id, "bankId": row.bank_id, "paymentPlatformId": row.payment_platform_id,  # type: ignore[attr-defined]
            "purpose": row.purpose.value, "accountNo": row.account_no, "name": row.name,
            "warningLine": None if row.warning_line is None else str(row.warning_line), "enabled": row.enabled}


async def _unique(errs: ErrorCollector, *, platform_id: int, account_no: str | None, bank_id: int,
                  purpose: AccountPurpose | None, exclude: int | None) -> None:
    others = ProviderAccount.exclude(id=exclude) if exclude else ProviderAccount.all()
    if account_no and await others.filter(payment_platform_id=platform_id, account_no=account_no).exists():
        errs.add("accountNo", ErrorCode.NOT_UNIQUE,
                 f"Account number {account_no!r} is already registered at this payment platform")
    if purpose is not None and await others.filter(bank_id=bank_id, payment_platform_id=platform_id,
                                                   purpose=purpose).exists():
        errs.add("purpose", ErrorCode.NOT_UNIQUE,
                 f"This bank already has a {purpose.value} account at this payment platform; edit that one")


async def create(actor: Actor, scope: DataScope, data: AccountInput, *, request_id: str = "") -> ProviderAccount:
    """Register an account of a bank in the caller's scope at an existing payment platform."""
    errs = ErrorCollector()
    bank_id = platform_id = None
    if data.bank_id is None:
        errs.add("bankId", ErrorCode.REQUIRED, "Choose the bank that owns the account")
    else:
        bank_id = (await banks.get(scope, data.bank_id, "bankId")).id
    if data.payment_platform_id is None:
        errs.add("paymentPlatformId", ErrorCode.REQUIRED, "Choose the payment platform the account is at")
    else:
        platform_id = (await payment_platforms.get(data.payment_platform_id, "paymentPlatformId")).id
    purpose = rules.choice(errs, "purpose", data.purpose, AccountPurpose)
    account_no = rules.code(errs, "accountNo", data.account_no, 64)
    name = rules.text(errs, "name", data.name, 50, required=False)
    line = None if data.warning_line is None else rules.money(errs, "warningLine", data.warning_line,
                                                                positive=False)
    if bank_id is not None and platform_id is not None:
        await _unique(errs, platform_id=platform_id, account_no=account_no, bank_id=bank_id, purpose=purpose,
                      exclude=None)
    errs.raise_if_any()
    async with common.unique_race("accountNo", NOT_UNIQUE_MESSAGE), in_transaction():
        row = await ProviderAccount.create(bank_id=bank_id, payment_platform_id=platform_id, purpose=purpose,
                                           account_no=account_no, name=name or "", warning_line=line,
                                           enabled=True if data.enabled is None else data.enabled)
        await common.log(actor, MODULE, "create", f"added {row.purpose.value} account {row.account_no}",
                         _detail(row), bank_id=bank_id, request_id=request_id)
    return row


async def update(actor: Actor, scope: DataScope, account_id: int, data: AccountInput, *,
                 request_id: str = "") -> ProviderAccount:
    """Edit number, name, warning line (or clear it: the system parameter applies) and enabled."""
    row = await get(scope, account_id)
    errs = ErrorCollector()
    values: dict[str, Any] = {}
    for field, given in (("bankId", data.bank_id), ("paymentPlatformId", data.payment_platform_id),
                         ("purpose", data.purpose)):
        if given is not None:
            errs.add(field, ErrorCode.IMMUTABLE, f"{field} of an account cannot change; delete it and add another")
    if data.account_no is not None:
        values["account_no"] = rules.code(errs, "accountNo", data.account_no, 64)
    if data.name is not None:
        values["name"] = rules.text(errs, "name", data.name, 50, required=False)
    if data.clear_warning_line:
        values["warning_line"] = None
    elif data.warning_line is not None:
        values["warning_line"] = rules.money(errs, "warningLine", data.warning_line, positive=False)
    if data.enabled is not None:
        values["enabled"] = data.enabled
    if values.get("account_no") and values["account_no"] != row.account_no:
        await _unique(errs, platform_id=row.payment_platform_id, account_no=values["account_no"],  # type: ignore[attr-defined]
                      bank_id=row.bank_id, purpose=None, exclude=row.id)  # type: ignore[attr-defined]
    errs.raise_if_any()
    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    if not changed:
        return row
    before = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in ((k, getattr(row, k)) for k in changed)}
    after = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in changed.items()}
    async with common.unique_race("accountNo", NOT_UNIQUE_MESSAGE), in_transaction():
        await ProviderAccount.filter(id=row.id).update(**changed, updated_at=clock.now())
        await common.log(actor, MODULE, "update", f"edited {row.purpose.value} account {row.account_no}",
                         {"id": row.id, "before": before, "after": after}, bank_id=row.bank_id,  # type: ignore[attr-defined]
                         request_id=request_id)
    await row.refresh_from_db()
    return row


async def delete(actor: Actor, scope: DataScope, account_id: int, *, request_id: str = "") -> None:
    """Remove an account (the history of payments keeps its number as text)."""
    row = await get(scope, account_id)
    what = f"Provider account {row.account_no}"
    await common.refuse_if_referenced(ProviderAccount, row.id, what)

    async def run() -> None:
        async with in_transaction():
            await ProviderAccount.filter(id=row.id).delete()
            await common.log(actor, MODULE, "delete", f"removed {row.purpose.value} account {row.account_no}",
                             _detail(row), bank_id=row.bank_id, request_id=request_id)  # type: ignore[attr-defined]

    await common.delete_guarded(ProviderAccount, row.id, what, run)
