"""Reading loan orders (F-LOAN-2): the filtered list, one order, and the rows nested under orders.

Every query starts from the caller's `DataScope` applied in SQL on the loan's product
(`scope.products("product_id")`, or `loan__product_id` for rows under a loan), so another bank's
order answers exactly like a missing one and counts never include it. Nothing is filtered in Python.

Customer identifiers are exact matches (ID number, phone, name, customer number): a search by
identity is a targeted lookup of one person, not a fishing expedition over names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from core.errors import ErrorCode, ErrorCollector
from core.loans.models import (
    Customer,
    InstallmentFunderPart,
    InstallmentStatus,
    Loan,
    LoanEvent,
    LoanFunder,
    LoanInstallment,
    LoanStatus,
    Payment,
    Repayment,
)
from core.risk import idnumber
from core.risk.blacklist import normalize_phone
from permissions.scope import DataScope


@dataclass(frozen=True)
class LoanFilter:
    """Conditions of the loan list; all given ones must hold."""

    channel_id: int | None = None  # traffic platform
    bank_id: int | None = None  # a funder of the loan (joint loans: any of them)
    statuses: Sequence[LoanStatus] = field(default_factory=tuple)
    disbursed_from: date | None = None  # disbursement date, inclusive
    disbursed_to: date | None = None  # inclusive
    product_id: int | None = None
    customer_no: str | None = None
    id_number: str | None = None
    phone: str | None = None
    name: str | None = None
    order_no: str | None = None
    channel_order_no: str | None = None

    @property
    def by_identity(self) -> bool:
        """Whether the filter looks a person up (a viewer read of customer data, F-MON-7)."""
        return bool(self.customer_no or self.id_number or self.phone or self.name)


def check_filter(f: LoanFilter, prefix: str = "filter.") -> None:
    errs = ErrorCollector()
    if f.disbursed_from and f.disbursed_to and f.disbursed_from > f.disbursed_to:
        errs.add(f"{prefix}disbursedTo", ErrorCode.OUT_OF_RANGE, "The end date is before the start date")
    errs.raise_if_any()


def loans_query(scope: DataScope, f: LoanFilter | None = None) -> QuerySet[Loan]:
    """The caller's visible loans matching `f`, as one SQL query (count it, page it)."""
    f = f or LoanFilter()
    qs = Loan.filter(scope.products("product_id"))
    if f.channel_id is not None:
        qs = qs.filter(channel_id=f.channel_id)
    if f.bank_id is not None:
        qs = qs.filter(id__in=Subquery(LoanFunder.filter(bank_id=f.bank_id).values("loan_id")))
    if f.statuses:
        qs = qs.filter(status__in=[LoanStatus(s).value for s in f.statuses])
    if f.disbursed_from is not None:
        qs = qs.filter(disbursement_date__gte=f.disbursed_from)
    if f.disbursed_to is not None:
        qs = qs.filter(disbursement_date__lte=f.disbursed_to)
    if f.product_id is not None:
        qs = qs.filter(product_id=f.product_id)
    if f.order_no:
        qs = qs.filter(order_no=f.order_no.strip())
    if f.channel_order_no:
        qs = qs.filter(channel_order_no=f.channel_order_no.strip())
    people: dict[str, Any] = {}
    if f.customer_no:
        people["customer_no"] = f.customer_no.strip()
    if f.id_number:
        people["id_number"] = idnumber.normalize(f.id_number)
    if f.phone:
        people["phone"] = normalize_phone(f.phone)
    if f.name:
        people["name"] = f.name.strip()
    if people:
        qs = qs.filter(customer_id__in=Subquery(Customer.filter(**people).values("id")))
    return qs


@dataclass(frozen=True)
class PlanFilter:
    """Conditions of the bank repayment plan (银行还款计划: installments of disbursed orders)."""

    product_id: int | None = None
    bank_id: int | None = None  # a funder of the loan
    disbursed_from: date | None = None  # the loan's disbursement (直放) date, inclusive
    disbursed_to: date | None = None
    maturity_from: date | None = None  # the loan's end date (last due date), inclusive
    maturity_to: date | None = None
    due_from: date | None = None  # the installment's due date, inclusive
    due_to: date | None = None
    order_no: str | None = None
    channel_order_no: str | None = None  # the traffic platform's (merchant's) order number
    statuses: Sequence[InstallmentStatus] = field(default_factory=tuple)  # the installment's repayment status


def check_plan_filter(f: PlanFilter, prefix: str = "filter.") -> None:
    errs = ErrorCollector()
    for lo, hi, name in ((f.disbursed_from, f.disbursed_to, "disbursedTo"),
                         (f.maturity_from, f.maturity_to, "maturityTo"), (f.due_from, f.due_to, "dueTo")):
        if lo and hi and lo > hi:
            errs.add(f"{prefix}{name}", ErrorCode.OUT_OF_RANGE, "The end date is before the start date")
    errs.raise_if_any()


def repayment_plan_query(scope: DataScope, f: PlanFilter | None = None) -> QuerySet[LoanInstallment]:
    """Installments of the caller's visible loans matching `f`, one SQL query (scope on the loan's product).

    Early settlement marks the settling installment and every later one `settled_early`, so the
    plan shows them settled (seed 001 §5).
    """
    f = f or PlanFilter()
    qs = LoanInstallment.filter(scope.products("loan__product_id"))
    if f.product_id is not None:
        qs = qs.filter(loan__product_id=f.product_id)
    if f.bank_id is not None:
        qs = qs.filter(loan_id__in=Subquery(LoanFunder.filter(bank_id=f.bank_id).values("loan_id")))
    for column, value, op in (("loan__disbursement_date", f.disbursed_from, "gte"),
                              ("loan__disbursement_date", f.disbursed_to, "lte"),
                              ("loan__maturity_date", f.maturity_from, "gte"),
                              ("loan__maturity_date", f.maturity_to, "lte"),
                              ("due_date", f.due_from, "gte"), ("due_date", f.due_to, "lte")):
        if value is not None:
            qs = qs.filter(**{f"{column}__{op}": value})
    if f.order_no:
        qs = qs.filter(loan__order_no=f.order_no.strip())
    if f.channel_order_no:
        qs = qs.filter(loan__channel_order_no=f.channel_order_no.strip())
    if f.statuses:
        qs = qs.filter(status__in=[InstallmentStatus(s).value for s in f.statuses])
    return qs


async def get_loan(scope: DataScope, loan_id: int) -> Loan | None:
    """The loan if it exists and the scope covers it (None for both "missing" and "not yours")."""
    return await Loan.filter(scope.products("product_id"), id=loan_id).first()


async def get_loan_by_order_no(scope: DataScope, order_no: str) -> Loan | None:
    return await Loan.filter(scope.products("product_id"), order_no=(order_no or "").strip()).first()


# ---- rows under loans, by loan ids (for per-request dataloaders: one statement per kind) ----

def funders_query(scope: DataScope, loan_ids: list[int]) -> QuerySet[LoanFunder]:
    return (LoanFunder.filter(scope.products("loan__product_id"), loan_id__in=loan_ids)
            .select_related("bank").order_by("loan_id", "position", "id"))


@dataclass(frozen=True)
class InstallmentPart:
    """One funder's part of one installment of a loan's schedule."""

    loan_id: int
    number: int
    bank_id: int
    principal: Decimal
    interest: Decimal


async def installment_parts(scope: DataScope, loan_ids: list[int]) -> list[InstallmentPart]:
    """Each funder's part of every installment of the loans, by loan, installment number, funder position.

    Joint loans have stored part rows (`core.loans.schedules`); a loan with a sole funder has none —
    its funder holds each installment whole — so its parts are its installments under that bank.
    Three statements whatever the number of loans, all inside `scope`.
    """
    if not loan_ids:
        return []
    funders = await (LoanFunder.filter(scope.products("loan__product_id"), loan_id__in=loan_ids)
                     .order_by("loan_id", "position", "id").values_list("loan_id", "bank_id"))
    banks: dict[int, list[int]] = {}
    for loan_id, bank_id in funders:
        banks.setdefault(loan_id, []).append(bank_id)
    joint = [lid for lid, b in banks.items() if len(b) > 1]
    sole = {lid: b[0] for lid, b in banks.items() if len(b) == 1}
    out: list[InstallmentPart] = []
    if joint:
        position = {(lid, bank): i for lid, b in banks.items() for i, bank in enumerate(b)}
        rows = await InstallmentFunderPart.filter(loan_id__in=joint).values_list(
            "loan_id", "installment__number", "bank_id", "principal", "interest")
        out += [InstallmentPart(lid, number, bank, principal, interest)
                for lid, number, bank, principal, interest in rows]
        out.sort(key=lambda p: (p.loan_id, p.number, position.get((p.loan_id, p.bank_id), 0)))
    if sole:
        rows = await LoanInstallment.filter(loan_id__in=list(sole)).order_by("loan_id", "number").values_list(
            "loan_id", "number", "principal", "interest")
        out += [InstallmentPart(lid, number, sole[lid], principal, interest)
                for lid, number, principal, interest in rows]
    return out


def events_query(scope: DataScope, loan_ids: list[int]) -> QuerySet[LoanEvent]:
    return (LoanEvent.filter(scope.products("loan__product_id"), loan_id__in=loan_ids)
            .order_by("loan_id", "created_at", "id"))


def installments_query(scope: DataScope, loan_ids: list[int]) -> QuerySet[LoanInstallment]:
    return (LoanInstallment.filter(scope.products("loan__product_id"), loan_id__in=loan_ids)
            .order_by("loan_id", "number"))


def repayments_query(scope: DataScope, loan_ids: list[int]) -> QuerySet[Repayment]:
    return (Repayment.filter(scope.products("product_id"), loan_id__in=loan_ids)
            .order_by("loan_id", "paid_at", "id"))


def payments_query(scope: DataScope, loan_ids: list[int]) -> QuerySet[Payment]:
    return (Payment.filter(scope.products("product_id"), loan_id__in=loan_ids)
            .order_by("loan_id", "requested_at", "id"))


def customers_query(scope: DataScope, customer_ids: list[int]) -> QuerySet[Customer]:
    """Customers who have at least one visible loan (a customer is shown only through a loan)."""
    visible = Subquery(Loan.filter(scope.products("product_id"), customer_id__in=customer_ids)
                       .values("customer_id"))
    return Customer.filter(id__in=customer_ids).filter(id__in=visible)
