"""A credit product of the bank itselfs (银行信贷产品, F-ORG-2): loan products map their funders onto these.

Bank products are bank data: reads and writes go through `scope.banks("bank_id")`, so a maker scoped
to bank A can neither see nor edit bank B's products (B's product ids answer "not found").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, not_found
from core.loans.schedule import RepaymentMethod
from core.orgs import common, rules
from core.orgs.models import Bank, BankProduct, BankProductType
from permissions.scope import DataScope

MODULE = "bank_products"

# A single-period product is repaid in one installment; the other methods need several.
METHODS_FOR = {
    BankProductType.SINGLE: frozenset({RepaymentMethod.BULLET}),
    BankProductType.MULTI: frozenset({RepaymentMethod.EQUAL_INSTALLMENT, RepaymentMethod.EQUAL_PRINCIPAL,
                                      RepaymentMethod.INTEREST_FIRST}),
}


@dataclass(frozen=True)
class BankProductInput:
    """A bank product's fields as entered; on update, None keeps the stored value."""

    name: str | None = None
    type: BankProductType | str | None = None
    repayment_method: RepaymentMethod | str | None = None
    description: str | None = None


def query(scope: DataScope, bank_id: int | None = None, keyword: str | None = None,
          type: BankProductType | None = None) -> QuerySet[BankProduct]:
    """Bank products of the banks the caller may see."""
    qs = BankProduct.filter(scope.banks("bank_id"))
    if bank_id is not None:
        qs = qs.filter(bank_id=bank_id)
    if keyword and keyword.strip():
        qs = qs.filter(name__icontains=keyword.strip())
    if type is not None:
        qs = qs.filter(type=type)
    return qs


async def get(scope: DataScope, product_id: int, field: str = "id") -> BankProduct:
    """The product, or NOT_FOUND when missing or owned by a bank outside the caller's scope."""
    product = await BankProduct.filter(scope.banks("bank_id"), id=product_id).first()
    if product is None:
        raise not_found("Bank credit product", field)
    return product


async def _validate(errs: ErrorCollector, data: BankProductInput, bank_id: int,
                    current: BankProduct | None) -> dict[str, Any]:
    partial = current is not None
    out: dict[str, Any] = {}
    if not partial or data.name is not None:
        out["name"] = rules.text(errs, "name", data.name, 50)
    if not partial or data.type is not None:
        out["type"] = rules.choice(errs, "type", data.type, BankProductType)
    if not partial or data.repayment_method is not None:
        out["repayment_method"] = rules.choice(errs, "repaymentMethod", data.repayment_method, RepaymentMethod)
    if not partial or data.description is not None:
        out["description"] = rules.text(errs, "description", data.description, 500, required=False)
    kind = out.get("type") or (current.type if current else None)
    method = out.get("repayment_method") or (RepaymentMethod(current.repayment_method) if current else None)
    if kind and method and not errs.has("type") and not errs.has("repaymentMethod") \
            and method not in METHODS_FOR[BankProductType(kind)]:
        allowed = ", ".join(sorted(m.value for m in METHODS_FOR[BankProductType(kind)]))
        errs.add("repaymentMethod", ErrorCode.INVALID,
                 f"A {BankProductType(kind).value}-period product is repaid by {allowed}, not {method.value}")
    name = out.get("name")
    if name:
        others = BankProduct.filter(bank_id=bank_id, name=name)
        if current is not None:
            others = others.exclude(id=current.id)
        if await others.exists():
            errs.add("name", ErrorCode.NOT_UNIQUE, f"This bank already has a product named {name!r}")
    if "repayment_method" in out and out["repayment_method"] is not None:
        out["repayment_method"] = out["repayment_method"].value
    return out


def _detail(p: BankProduct) -> dict[str, Any]:
    return {"id": p.id, "bankId": p.bank_id, "name": p.name, "type": p.type,  # type: ignore[attr-defined]
            "repaymentMethod": p.repayment_method, "description": p.description}


async def create(actor: Actor, scope: DataScope, bank_id: int | None, data: BankProductInput, *,
                 request_id: str = "") -> BankProduct:
    """Add a product to a bank the caller may see."""
    errs = ErrorCollector()
    bank = None
    if bank_id is None:
        errs.add("bankId", ErrorCode.REQUIRED, "bankId is required: choose the bank that runs the product")
    else:
        bank = await Bank.filter(scope.banks("id"), id=bank_id).first()
        if bank is None:
            errs.add("bankId", ErrorCode.NOT_FOUND, "Bank not found")
    values = await _validate(errs, data, bank.id if bank else 0, None)
    errs.raise_if_any()
    assert bank is not None
    async with common.unique_race("name", "This bank already has a product with that name"), in_transaction():
        product = await BankProduct.create(bank_id=bank.id, **values)
        await common.log(actor, MODULE, "create", f"added product {product.name} to bank {bank.short_name}",
                         _detail(product), bank_id=bank.id, request_id=request_id)
    return product


async def update(actor: Actor, scope: DataScope, product_id: int, data: BankProductInput, *,
                 request_id: str = "") -> BankProduct:
    """Edit a product of a bank the caller may see (the owning bank cannot change)."""
    product = await get(scope, product_id)
    errs = ErrorCollector()
    values = await _validate(errs, data, product.bank_id, product)  # type: ignore[attr-defined]
    errs.raise_if_any()
    changed = {k: v for k, v in values.items() if getattr(product, k) != v}
    if not changed:
        return product
    before = {k: getattr(product, k) for k in changed}
    async with common.unique_race("name", "This bank already has a product with that name"), in_transaction():
        await BankProduct.filter(id=product.id).update(**changed, updated_at=clock.now())
        await common.log(actor, MODULE, "update", f"edited bank product {product.name}",
                         {"id": product.id, "before": before, "after": changed},
                         bank_id=product.bank_id, request_id=request_id)  # type: ignore[attr-defined]
    await product.refresh_from_db()
    return product


async def delete(actor: Actor, scope: DataScope, product_id: int, *, request_id: str = "") -> None:
    """Delete a product no loan product funds through any more."""
    product = await get(scope, product_id)
    what = f"Bank credit product {product.name}"
    await common.refuse_if_referenced(BankProduct, product.id, what)

    async def run() -> None:
        async with in_transaction():
            await BankProduct.filter(id=product.id).delete()
            await common.log(actor, MODULE, "delete", f"deleted bank product {product.name}", _detail(product),
                             bank_id=product.bank_id, request_id=request_id)  # type: ignore[attr-defined]

    await common.delete_guarded(BankProduct, product.id, what, run)

