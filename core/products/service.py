"""Products within a data scope (F-ROLE-3/4): lists, lookups, nested rows, and scoped proposals.

Every read takes the caller's `DataScope` and applies it in SQL: products through
`scope.products("id")`, their funders and channels through `scope.products("product_id")` (they are
the product's configuration: a joint product shows all its funders and shares to whoever may see
the product). Plans and usage are each funder's own operating data and go through
`scope.bank_and_product()` (see `core/products/funding.py`). A product outside the scope answers
exactly like a missing one.

Writes check the scope too, before the change goes to review: a maker can only propose edits to
products they can see, and can only name funding banks they may see (a bank already funding the
product may stay). The checker's scope is not re-checked on approval: the review queue itself is
tagged with the product/bank (`Proposal.scope_*`) so only callers who see the data are shown it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, not_found
from core.products.entity import PRODUCT
from core.products.models import BusinessMode, Product, ProductChannel, ProductFunder, TermUnitChoice
from core.review import service as review
from core.review.models import ChangeAction, ChangeRequest
from permissions.scope import DataScope


@dataclass(frozen=True)
class ProductFilter:
    keyword: str | None = None  # code or name contains
    business_mode: BusinessMode | None = None
    bank_id: int | None = None  # funded by this bank
    enabled: bool | None = None


def products_query(scope: DataScope, f: ProductFilter | None = None) -> QuerySet[Product]:
    """The visible products matching the filter, as one SQL query (count it, page it)."""
    f = f or ProductFilter()
    qs = Product.filter(scope.products("id"))
    if f.keyword:
        qs = qs.filter(Q(name__icontains=f.keyword) | Q(code__icontains=f.keyword))
    if f.business_mode is not None:
        qs = qs.filter(business_mode=f.business_mode)
    if f.bank_id is not None:
        qs = qs.filter(id__in=Subquery(ProductFunder.filter(bank_id=f.bank_id).values("product_id")))
    if f.enabled is not None:
        qs = qs.filter(enabled=f.enabled)
    return qs


async def get_product(scope: DataScope, product_id: int) -> Product | None:
    """The product if it exists and the scope covers it (None for both "missing" and "not yours")."""
    return await Product.filter(scope.products("id"), id=product_id).first()


async def get_product_by_code(scope: DataScope, code: str) -> Product | None:
    """Look a product up by the code channels send with orders (admission passes EVERYTHING)."""
    return await Product.filter(scope.products("id"), code=code).first()


def funders_query(scope: DataScope, product_ids: list[int]) -> QuerySet[ProductFunder]:
    """Funders of visible products, in the order they were listed (the first takes rounding)."""
    return (ProductFunder.filter(scope.products("product_id"), product_id__in=product_ids)
            .order_by("product_id", "position", "id"))


def channels_query(scope: DataScope, product_ids: list[int]) -> QuerySet[ProductChannel]:
    return ProductChannel.filter(scope.products("product_id"), product_id__in=product_ids).order_by("product_id", "id")


def check_order_fits(product: Product, amount: Decimal, term: int) -> None:
    """Refuse an order outside the product's amount or term range (both inclusive, F-PROD-2).

    For admission (issue 7): the term is in the product's unit (days for single-period products,
    months for multi-period ones); a disabled product takes no orders.
    """
    errs = ErrorCollector()
    if not product.enabled:
        errs.add("productId", ErrorCode.INVALID_STATE, "The product is disabled and takes no orders")
    if not Decimal(product.amount_min) <= amount <= Decimal(product.amount_max):
        errs.add("amount", ErrorCode.OUT_OF_RANGE,
                 f"The amount must be between {product.amount_min} and {product.amount_max}")
    if not product.term_min <= term <= product.term_max:
        unit = "days" if product.term_unit == TermUnitChoice.DAY else "months"
        errs.add("term", ErrorCode.OUT_OF_RANGE, f"The term must be {product.term_min}–{product.term_max} {unit}")
    errs.raise_if_any()


async def check_writable(scope: DataScope, action: ChangeAction, product_id: int | None,
                         data: dict[str, Any]) -> None:
    """Refuse a proposal on a product or bank the maker may not see (answers like a missing id)."""
    existing: set[int] = set()
    if action is not ChangeAction.CREATE:
        if product_id is None or await get_product(scope, product_id) is None:
            raise not_found("Product")
        existing = set(await ProductFunder.filter(product_id=product_id).values_list("bank_id", flat=True))
    if scope.unrestricted or action is ChangeAction.DELETE:
        return
    errs = ErrorCollector()
    for i, funder in enumerate(data.get("funders") or []):
        bank = funder.get("bankId") if isinstance(funder, dict) else None
        if isinstance(bank, int) and bank not in scope.bank_ids and bank not in existing:
            errs.add(f"funders[{i}].bankId", ErrorCode.NOT_FOUND, "Bank not found")
    errs.raise_if_any()


async def submit_change(actor: Actor, scope: DataScope, action: ChangeAction, product_id: int | None,
                        data: dict[str, Any], checker_id: int, *, change_id: int | None = None,
                        request_id: str = "") -> ChangeRequest:
    """Propose creating, editing or deleting a product (or revise the maker's pending proposal)."""
    if change_id is not None:
        change = await ChangeRequest.get_or_none(id=change_id, entity_type=PRODUCT.entity_type,
                                                 maker_id=actor.user_id)
        if change is None:
            raise not_found("Change request", "changeId")
        action, product_id = change.action, change.entity_id
    await check_writable(scope, action, product_id, data)
    if change_id is not None:
        return await review.edit(actor, change_id, data, checker_id, request_id)
    return await review.submit(actor, PRODUCT.entity_type, action, product_id, data, checker_id, request_id)
