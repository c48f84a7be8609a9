"""Data permissions (F-ROLE-3, F-ROLE-4): which banks' and products' data a caller may read.

A role's data policy is held as casbin `p2` rules (see model.conf). casbin has no row-level
filtering, so the rules of the caller's enabled roles are merged once per request into a
`DataScope`, and every read applies `scope.banks(...)` or `scope.products(...)` as a `WHERE`
condition on its own query — lists, single objects, counts and exports alike. Nothing is loaded
and then filtered in Python.

The product rule, from seed 001: a product is visible when one of the banks that fund it is
selected **and** either the product is checked or that bank auto-includes new products. So a product
added later to an auto-include bank is visible at once; deselecting a bank hides the products only
it funds; a product checked once is visible for every selected bank that runs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

ALL = "*"


@dataclass(frozen=True)
class DataPolicy:
    """One role's data permission as an admin edits it."""

    all: bool = False
    bank_ids: frozenset[int] = field(default_factory=frozenset)
    product_ids: frozenset[int] = field(default_factory=frozenset)
    auto_bank_ids: frozenset[int] = field(default_factory=frozenset)

    def rules(self, role_key: str) -> list[list[str]]:
        """The casbin p2 rules that store this policy."""
        if self.all:
            return [[role_key, "all", ALL]]
        out = [[role_key, "bank", str(b)] for b in sorted(self.bank_ids)]
        out += [[role_key, "product", str(p)] for p in sorted(self.product_ids)]
        out += [[role_key, "auto", str(b)] for b in sorted(self.auto_bank_ids)]
        return out

    @classmethod
    def from_rules(cls, rules: Iterable[list[str]]) -> DataPolicy:
        banks: set[int] = set()
        products: set[int] = set()
        auto: set[int] = set()
        for _sub, kind, obj in rules:
            if kind == "all":
                return cls(all=True)
            target = {"bank": banks, "product": products, "auto": auto}.get(kind)
            if target is not None and obj.isdigit():
                target.add(int(obj))
        return cls(False, frozenset(banks), frozenset(products), frozenset(auto))


@dataclass(frozen=True)
class DataScope:
    """The union of a caller's roles' data policies, turned into SQL conditions.

    Built once per request (it is part of the `Actor`) and passed to services. The SQL conditions
    are subqueries over `data_grant` by the caller's role keys, so their size is constant however
    large the policy; the id sets are kept for cheap checks in Python (e.g. before a write).
    """

    unrestricted: bool = False
    role_keys: tuple[str, ...] = ()
    bank_ids: frozenset[int] = field(default_factory=frozenset)
    product_ids: frozenset[int] = field(default_factory=frozenset)
    auto_bank_ids: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def of_roles(cls, policies: Mapping[str, DataPolicy]) -> DataScope:
        banks: set[int] = set()
        products: set[int] = set()
        auto: set[int] = set()
        for p in policies.values():
            if p.all:
                return EVERYTHING
            banks |= p.bank_ids
            products |= p.product_ids
            auto |= p.auto_bank_ids
        keys = tuple(sorted(k for k, p in policies.items() if p.bank_ids))
        return cls(False, keys, frozenset(banks), frozenset(products), frozenset(auto & banks))

    @property
    def empty(self) -> bool:
        return not self.unrestricted and not self.bank_ids

    def _grants(self, kind: str) -> Subquery:
        from permissions.models import DataGrant

        return Subquery(DataGrant.filter(kind=kind, role_key__in=list(self.role_keys)).values("target_id"))

    def banks(self, field: str = "bank_id") -> Q:
        """Condition on a bank foreign key (or a path to one, e.g. "account__bank_id")."""
        if self.unrestricted:
            return Q()
        if self.empty:
            return Q(**{f"{field}__in": [0]})
        return Q(**{f"{field}__in": self._grants("bank")})

    def product_query(self) -> QuerySet[Any]:
        """`SELECT product_id` of the visible products, for use as a subquery."""
        from core.products.models import ProductFunder

        qs = ProductFunder.filter(bank_id__in=self._grants("bank"))
        checked = Q(product_id__in=self._grants("product"))
        auto = Q(bank_id__in=self._grants("auto"))
        return qs.filter(Q(checked, auto, join_type="OR")).values("product_id")

    def products(self, field: str = "product_id") -> Q:
        """Condition on a product foreign key (or a path to one, e.g. "loan__product_id")."""
        if self.unrestricted:
            return Q()
        if self.empty:
            return Q(**{f"{field}__in": [0]})
        return Q(**{f"{field}__in": Subquery(self.product_query())})

    def bank_and_product(self, bank_field: str = "bank_id", product_field: str = "product_id") -> Q:
        """Rows that belong to one bank and one product (e.g. a funder's plan): both must be visible."""
        return Q(self.banks(bank_field), self.products(product_field))

    def tagged(self, bank_field: str = "scope_bank_id", product_field: str = "scope_product_id") -> Q:
        """Condition for rows tagged with an optional bank and product (operation log, reviews, ledger).

        Untagged rows are not bank data and pass; a product tag is checked as a product, a bank-only
        tag as a bank.
        """
        if self.unrestricted:
            return Q()
        untagged = Q(**{f"{bank_field}__isnull": True, f"{product_field}__isnull": True})
        by_product = Q(Q(**{f"{product_field}__isnull": False}), self.products(product_field))
        by_bank = Q(Q(**{f"{product_field}__isnull": True, f"{bank_field}__isnull": False}),
                    self.banks(bank_field))
        return Q(untagged, by_product, by_bank, join_type="OR")

    async def visible_product_ids(self) -> set[int] | None:
        """The visible product ids (None: all). For display helpers; reads should use `products()`."""
        if self.unrestricted:
            return None
        if self.empty:
            return set()
        return {row["product_id"] for row in await self.product_query()}


EVERYTHING = DataScope(unrestricted=True)
NOTHING = DataScope()
