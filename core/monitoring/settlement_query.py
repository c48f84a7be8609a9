"""黑名单/提前结清查询 (F-MON-6, seed 000 §3.8.1): blacklisted customers and early settlements.

What the page shows: at the top, totals to date — customers on the blacklist, and the count and
amount of early settlements (提前结清); below, customers (customer no., name, ID number, 是否为黑名单)
with their early settlements. Makers and checkers see every such customer within their data scope;
viewers (`core.monitoring.viewer.is_viewer`) must search one exact customer number and each search
is written to the operation log.

Scope (F-ROLE-4): a customer is bank data through their loans, so a customer is visible when they
have a loan of a visible product; early settlements are repayments of visible products. Both are
SQL conditions (subqueries), applied to the totals as well. A customer is blacklisted when the
platform blacklist lists their ID number or their phone (never matched by name, see
`core.risk.models`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet

from core.actor import Actor
from core.errors import ErrorCode, UserError
from core.loans.models import Customer, Loan, Repayment, RepaymentKind
from core.monitoring.viewer import is_viewer, log_search
from core.monitoring.views import cents_sql, from_cents
from core.risk.models import BlacklistEntry
from permissions.scope import DataScope

MODULE = "settlement_query"


def _visible_loans(scope: DataScope) -> QuerySet[Loan]:
    return Loan.filter(scope.products("product_id"))


def early_settlements(scope: DataScope) -> QuerySet[Repayment]:
    """Early settlements (提前结清) of visible products."""
    return Repayment.filter(scope.products("product_id"), kind=RepaymentKind.EARLY_SETTLEMENT)


def blacklisted() -> Q:
    """Customers whose ID number or phone is on the blacklist (SQL subqueries)."""
    by_id = Subquery(BlacklistEntry.filter(id_number__isnull=False).values("id_number"))
    by_phone = Subquery(BlacklistEntry.filter(phone__isnull=False).values("phone"))
    return Q(Q(id_number__in=by_id), Q(phone__in=by_phone), join_type="OR")


def customers_query(scope: DataScope) -> QuerySet[Customer]:
    """Customers with a loan of a visible product."""
    return Customer.filter(id__in=Subquery(_visible_loans(scope).values("customer_id")))


def _settled_customers(scope: DataScope) -> Subquery:
    settled_loans = early_settlements(scope).values("loan_id")
    return Subquery(_visible_loans(scope).filter(id__in=Subquery(settled_loans)).values("customer_id"))


@dataclass(frozen=True)
class SettlementTotals:
    blacklisted_customers: int
    early_settlements: int
    early_settlement_amount: Decimal


async def totals(scope: DataScope) -> SettlementTotals:
    """截止目前 totals within scope: two statements (blacklisted customers; early settlements)."""
    listed = await customers_query(scope).filter(blacklisted()).count()
    rows = await (early_settlements(scope).annotate(n=Count("id"), c=Sum(cents_sql("amount")))
                  .values("n", "c"))
    n, c = (rows[0]["n"], rows[0]["c"]) if rows else (0, 0)
    return SettlementTotals(listed, int(n or 0), from_cents(c))


async def records_query(actor: Actor, customer_no: str | None, request_id: str = "") -> QuerySet[Customer]:
    """The page's customers for `actor`.

    Without a customer number: customers who are blacklisted or settled a loan early (makers and
    checkers only; a viewer gets a REQUIRED error on `customerNo`). With one: exactly that customer,
    if visible, whatever their flags. A viewer's search is written to the operation log.
    """
    no = (customer_no or "").strip()
    viewer = is_viewer(actor)
    if viewer and not no:
        raise UserError.of("customerNo", ErrorCode.REQUIRED,
                           "Viewers can only search by one customer number: give the exact customer number")
    qs = customers_query(actor.scope)
    if no:
        qs = qs.filter(customer_no=no)
    else:
        qs = qs.filter(Q(blacklisted(), Q(id__in=_settled_customers(actor.scope)), join_type="OR"))
    if viewer:
        await log_search(actor, module=MODULE, action="blacklistSettlementQuery", customer_no=no,
                         criteria={"customerNo": no}, found=await qs.count(), request_id=request_id)
    return qs


async def blacklist_flags(customers: Sequence[Customer]) -> dict[int, bool]:
    """Whether each customer is blacklisted (one statement for a page of customers)."""
    ids = [c.id for c in customers]
    listed = set(await Customer.filter(blacklisted(), id__in=ids).values_list("id", flat=True))
    return {i: i in listed for i in ids}


async def settlements_by_customer(scope: DataScope, customer_ids: Sequence[int]) -> dict[int, list[Repayment]]:
    """Early settlements of visible products per customer, newest first (one statement)."""
    rows = await (early_settlements(scope).filter(loan__customer_id__in=list(customer_ids))
                  .order_by("-paid_at", "-id").prefetch_related("loan"))
    out: dict[int, list[Repayment]] = {i: [] for i in customer_ids}
    for r in rows:
        out[r.loan.customer_id].append(r)  # type: ignore[attr-defined]
    return out
