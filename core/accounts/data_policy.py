"""Validating and presenting a role's data permission (F-ROLE-3).

Why it lives with roles: a data permission is part of a role and changes only through the role's
reviewed change; this module checks a proposed policy against the seed's rules and against what the
proposing admin may grant (nobody grants data they cannot see themselves).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Subquery

from core.errors import ErrorCode, ErrorCollector
from core.orgs.models import Bank
from core.products.models import Product, ProductFunder
from permissions.scope import DataPolicy, DataScope

FIELD = "data"


def _ids(errs: ErrorCollector, raw: Any, field: str) -> set[int]:
    if raw is None:
        return set()
    if not isinstance(raw, list | tuple | set) or not all(isinstance(x, int) and x > 0 for x in raw):
        errs.add(field, ErrorCode.INVALID, "Give a list of ids")
        return set()
    return set(raw)


async def validate(errs: ErrorCollector, raw: dict[str, Any], granter: DataScope) -> dict[str, Any]:
    """Check a proposed data policy; return the payload to store (plain lists of ids).

    Rules (seed 001 §角色管理): auto-include needs its bank selected ("select a bank first");
    checked products must be run by a selected bank; only banks and products the granter can see
    may be granted, and only an unrestricted granter may grant every bank.
    """
    if raw.get("all"):
        if not granter.unrestricted:
            errs.add(f"{FIELD}.all", ErrorCode.FORBIDDEN, "Only a user who sees every bank can grant every bank")
        return {"all": True, "bankIds": [], "productIds": [], "autoBankIds": []}
    banks = _ids(errs, raw.get("bankIds"), f"{FIELD}.bankIds")
    products = _ids(errs, raw.get("productIds"), f"{FIELD}.productIds")
    auto = _ids(errs, raw.get("autoBankIds"), f"{FIELD}.autoIncludeBankIds")
    if auto and not banks:
        errs.add(f"{FIELD}.autoIncludeBankIds", ErrorCode.REQUIRED,
                 "Select a bank first: auto-include applies to selected banks only")
    elif auto - banks:
        errs.add(f"{FIELD}.autoIncludeBankIds", ErrorCode.INVALID,
                 f"Select these banks first, or untick auto-include for them: ids {sorted(auto - banks)}")
    if products and not banks:
        errs.add(f"{FIELD}.productIds", ErrorCode.REQUIRED, "Select a bank first: products are chosen per bank")
    if banks:
        visible = Bank.filter(granter.banks("id"), id__in=sorted(banks))
        found = set(await visible.values_list("id", flat=True))
        if banks - found:
            errs.add(f"{FIELD}.bankIds", ErrorCode.NOT_FOUND, f"No such bank (or not yours to grant): ids "
                     f"{sorted(banks - found)}")
    if products and banks:
        runnable = ProductFunder.filter(product_id__in=sorted(products), bank_id__in=sorted(banks))
        ok = set(await Product.filter(granter.products("id"), id__in=Subquery(runnable.values("product_id")))
                 .values_list("id", flat=True))
        if products - ok:
            errs.add(f"{FIELD}.productIds", ErrorCode.INVALID,
                     f"These products are not run by any selected bank (or not yours to grant): ids "
                     f"{sorted(products - ok)}")
    return {"all": False, "bankIds": sorted(banks), "productIds": sorted(products), "autoBankIds": sorted(auto)}


def policy_of(payload: dict[str, Any]) -> DataPolicy:
    return DataPolicy(all=bool(payload.get("all")), bank_ids=frozenset(payload.get("bankIds") or ()),
                      product_ids=frozenset(payload.get("productIds") or ()),
                      auto_bank_ids=frozenset(payload.get("autoBankIds") or ()))


@dataclass(frozen=True)
class BankChoice:
    """One bank in the data-permission editor, with the products it runs."""

    bank: Bank
    selected: bool
    auto_include: bool
    products: list[tuple[Product, bool]]  # (product, checked)


async def editor_tree(policy: DataPolicy, viewer: DataScope, keyword: str = "") -> list[BankChoice]:
    """The banks the editing admin can see, each with its products, checked as `policy` holds them.

    Products of an auto-include bank show as checked, as the seed describes for products added later.
    Two queries whatever the number of banks.
    """
    banks = Bank.filter(viewer.banks("id")).order_by("id")
    if keyword:
        banks = banks.filter(short_name__icontains=keyword)
    bank_rows = await banks
    funders = await ProductFunder.filter(bank_id__in=[b.id for b in bank_rows] or [0]).filter(
        viewer.products("product_id")).select_related("product").order_by("product_id")
    by_bank: dict[int, list[Product]] = defaultdict(list)
    for f in funders:
        by_bank[f.bank_id].append(f.product)  # type: ignore[attr-defined]
    out = []
    for b in bank_rows:
        selected = policy.all or b.id in policy.bank_ids
        auto = policy.all or b.id in policy.auto_bank_ids
        out.append(BankChoice(b, selected, auto,
                              [(p, selected and (auto or p.id in policy.product_ids)) for p in by_bank[b.id]]))
    return out
