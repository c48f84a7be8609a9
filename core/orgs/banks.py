"""Banks / funders (资金端, F-ORG-1): register, edit, delete; reads limited to the caller's data scope.

A bank is the unit of data permission (F-ROLE-3), so every read here filters on `scope.banks("id")`
in SQL and a bank outside the scope answers "not found" exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, not_found
from core.orgs import common, rules
from core.orgs.models import Bank
from permissions.scope import DataScope

MODULE = "banks"


@dataclass(frozen=True)
class BankInput:
    """A bank's fields as entered; on update, None keeps the stored value."""

    code: str | None = None
    short_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    service_phone: str | None = None
    address: str | None = None


def query(scope: DataScope, keyword: str | None = None, code: str | None = None) -> QuerySet[Bank]:
    """Banks the caller may see; `keyword` searches code, short and full name."""
    qs = Bank.filter(scope.banks("id"))
    if code:
        qs = qs.filter(code=code.strip())
    if keyword and keyword.strip():
        k = keyword.strip()
        qs = qs.filter(Q(code__icontains=k) | Q(short_name__icontains=k) | Q(full_name__icontains=k))
    return qs


async def get(scope: DataScope, bank_id: int, field: str = "id") -> Bank:
    """The bank, or NOT_FOUND when it does not exist or lies outside the caller's scope."""
    bank = await Bank.filter(scope.banks("id"), id=bank_id).first()
    if bank is None:
        raise not_found("Bank", field)
    return bank


async def _validate(data: BankInput, current: Bank | None) -> dict[str, Any]:
    """Every field's problems at once; returns the cleaned values to store."""
    errs = ErrorCollector()
    partial = current is not None
    out: dict[str, Any] = {}

    def wanted(name: str) -> bool:
        return not partial or getattr(data, name) is not None

    if wanted("code"):
        out["code"] = rules.code(errs, "code", data.code, 20)
    if wanted("short_name"):
        out["short_name"] = rules.text(errs, "shortName", data.short_name, 20)
    if wanted("full_name"):
        out["full_name"] = rules.text(errs, "fullName", data.full_name, 100)
    if wanted("email"):
        out["email"] = rules.email(errs, "email", data.email)
    if wanted("service_phone"):
        out["service_phone"] = rules.phone(errs, "servicePhone", data.service_phone)
    if wanted("address"):
        out["address"] = rules.text(errs, "address", data.address, 200, required=False)
    others = Bank.exclude(id=current.id) if current else Bank.all()
    if out.get("code") and await others.filter(code=out["code"]).exists():
        errs.add("code", ErrorCode.NOT_UNIQUE, f"Bank code {out['code']!r} is already used by another bank")
    if out.get("full_name") and await others.filter(full_name=out["full_name"]).exists():
        errs.add("fullName", ErrorCode.NOT_UNIQUE, f"A bank named {out['full_name']!r} is already registered")
    errs.raise_if_any()
    return out


def _detail(bank: Bank) -> dict[str, Any]:
    return {f.name: getattr(bank, f.name) for f in fields(BankInput)} | {"id": bank.id}


async def create(actor: Actor, data: BankInput, *, request_id: str = "") -> Bank:
    """Register a bank. Any caller holding banks.create may, whatever their data scope."""
    values = await _validate(data, None)
    async with common.unique_race("code", "Bank code is already used by another bank"), in_transaction():
        bank = await Bank.create(**values)
        await common.log(actor, MODULE, "create", f"created bank {bank.short_name} ({bank.code})", _detail(bank),
                         bank_id=bank.id, request_id=request_id)
    return bank


async def update(actor: Actor, scope: DataScope, bank_id: int, data: BankInput, *, request_id: str = "") -> Bank:
    """Edit a bank within the caller's scope; omitted (None) fields keep their value."""
    bank = await get(scope, bank_id)
    values = await _validate(data, bank)
    changed = {k: v for k, v in values.items() if getattr(bank, k) != v}
    if not changed:
        return bank  # saving an unchanged form is not an error, and not a change worth logging
    before = {k: getattr(bank, k) for k in changed}
    async with common.unique_race("code", "Bank code is already used by another bank"), in_transaction():
        await Bank.filter(id=bank.id).update(**changed, updated_at=clock.now())
        await common.log(actor, MODULE, "update", f"edited bank {bank.short_name} ({bank.code})",
                         {"id": bank.id, "before": before, "after": changed}, bank_id=bank.id, request_id=request_id)
    await bank.refresh_from_db()
    return bank


async def delete(actor: Actor, scope: DataScope, bank_id: int, *, request_id: str = "") -> None:
    """Delete a bank that nothing uses any more (products, margin accounts, loan products…)."""
    bank = await get(scope, bank_id)
    what = f"Bank {bank.short_name}"
    await common.refuse_if_referenced(Bank, bank.id, what)

    async def run() -> None:
        async with in_transaction():
            await Bank.filter(id=bank.id).delete()
            await common.log(actor, MODULE, "delete", f"deleted bank {bank.short_name} ({bank.code})",
                             _detail(bank), bank_id=bank.id, request_id=request_id)

    await common.delete_guarded(Bank, bank.id, what, run)
