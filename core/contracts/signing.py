"""Signing a loan's contracts (F-CON-1, F-CON-2): render, freeze, hash to the ledger, move the loan on.

`sign_contracts(actor, loan_id)` takes an approved loan, renders every active template that applies
to its product (the loan contract and the other classes), freezes each rendered text with its
SHA-256 in a `Contract` row, appends one `contract.signed` ledger transaction per contract (tagged
with the lead funder's bank and the product, so only callers who may see that data read its
payload), and moves the loan approved → contract_signed — all in one transaction. The console
"signing" switch (控制台: 签约) is checked first.

What a contract shows, and why:
- The borrower in full (name and resident ID number): the contract is the legal document. Display
  templates may use `borrower_id_masked` instead. Reads of a contract's text mask the ID number for
  callers without `loans.view_identity` (see schema/contracts.py); the stored text and its hash are
  the signed ones.
- The funder: the lead funder's full name, email and customer-service phone (F-ORG-1). For a joint
  loan the lead funder (position 0) books the loan and signs; the other funders' shares are in the
  loan's funder rows.
- The rate: **the LPR in force on the signing business date** + the loan's spread, and the schedule
  computed with it from the signing date. The rate of the loan itself is fixed at disbursement (the
  LPR in force on the disbursement business date, F-PROD-6: "orders disbursed on or after that day
  use it"), and the schedule is rebuilt from the disbursement date then. Each `Contract` row keeps the
  LPR, spread and rate it showed, so a loan whose LPR moved between signing and disbursement is
  visible (the disbursement ledger entry says so too). Templates should word the schedule as the
  "reference schedule at signing" (参考还款计划), which the demo templates do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.contracts.models import Contract, ContractTemplate, ContractTemplateVersion
from core.contracts.render import (
    ContractContext,
    ContractTemplateError,
    ScheduleRow,
    TemplateClass,
    TemplateFormat,
    mask_id_number,
    render_contract,
)
from core.contracts.render import TermUnit as ContractTermUnit
from core.errors import ErrorCode, FieldError, UserError, not_found
from core.ledger import service as ledger
from core.loans import states
from core.loans.models import Customer, Loan, LoanFunder, LoanStatus
from core.loans.schedule import RepaymentMethod, Schedule, ScheduleRequest, TermUnit, build_schedule
from core.oplog import service as oplog
from core.orgs.models import Bank
from core.products.lpr import lpr_on
from core.system.switches import SwitchKey, require_switch
from permissions.scope import EVERYTHING, DataScope

CLASS_ORDER = {TemplateClass.LOAN_CONTRACT: 0, TemplateClass.DISPLAY_AND_SIGN: 1, TemplateClass.DISPLAY_ONLY: 2}
PERCENT = Decimal(100)
BP = Decimal(10000)
RATE_PLACES = Decimal("0.000001")  # Loan.annual_rate's scale


@dataclass(frozen=True)
class LoanRate:
    """LPR (percent per year, as published), spread (basis points) and the annual rate (fraction)."""

    lpr_percent: Decimal
    spread_bp: int
    annual_rate: Decimal
    lpr_effective_from: date

    @property
    def lpr_fraction(self) -> Decimal:
        return self.lpr_percent / PERCENT


async def rate_on(loan: Loan, day: date, field: str = "loanId") -> LoanRate:
    """The loan's rate for `day`: the LPR of its term in force that day + its spread."""
    row = await lpr_on(loan.lpr_term, day)
    if row is None:
        raise UserError.of(field, ErrorCode.INVALID_STATE, f"No {loan.lpr_term} LPR is in force on {day}; "
                           "publish the LPR first (LPR page)")
    percent = Decimal(row.rate)
    annual = (percent / PERCENT + Decimal(loan.spread_bp) / BP).quantize(RATE_PLACES)  # exact: 6 places suffice
    if annual < 0 or annual >= 1:
        raise UserError.of(field, ErrorCode.INVALID_STATE, f"LPR {percent}% + {loan.spread_bp} bp gives a rate "
                           "outside 0-100%; check the product's spread")
    return LoanRate(percent, loan.spread_bp, annual, row.effective_from)


def schedule_request(loan: Loan, annual_rate: Decimal, start: date) -> ScheduleRequest:
    """The schedule inputs of `loan` (its stored term unit and method may be either case)."""
    return ScheduleRequest(principal=Decimal(loan.amount), annual_rate=annual_rate, term=loan.term,
                           unit=TermUnit(str(loan.term_unit).upper()),
                           method=RepaymentMethod(str(loan.repayment_method).upper()), start_date=start)


def contract_context(loan: Loan, customer: Customer, lead: Bank, rate: LoanRate, schedule: Schedule,
                     signing_date: date) -> ContractContext:
    rows = tuple(ScheduleRow(i.number, i.due_date, i.principal, i.interest, i.principal + i.interest,
                             i.remaining_principal) for i in schedule.installments)
    return ContractContext(
        borrower_name=customer.name, borrower_id_masked=mask_id_number(customer.id_number),
        amount=Decimal(loan.amount), term=loan.term,
        term_unit=ContractTermUnit(str(loan.term_unit).lower()), lpr_base_rate=rate.lpr_fraction,
        spread_bp=rate.spread_bp, final_rate=rate.lpr_fraction + Decimal(rate.spread_bp) / BP,
        funder_name=lead.full_name, funder_email=lead.email, funder_phone=lead.service_phone, schedule=rows,
        signing_date=signing_date, borrower_id_number=customer.id_number, order_no=loan.order_no)


async def applicable_templates(loan: Loan) -> list[tuple[ContractTemplate, ContractTemplateVersion]]:
    """Active templates for every product or for the loan's product, with their current versions."""
    templates = await ContractTemplate.filter(
        Q(product_id__isnull=True) | Q(product_id=loan.product_id), active=True, deleted=False)  # type: ignore[attr-defined]
    templates = sorted(templates, key=lambda t: (CLASS_ORDER[TemplateClass(t.template_class)], t.key))
    if not templates:
        return []
    versions = await ContractTemplateVersion.filter(template_id__in=[t.id for t in templates])
    by_key = {(v.template_id, v.version): v for v in versions}  # type: ignore[attr-defined]
    return [(t, by_key[(t.id, t.current_version)]) for t in templates]


async def sign_contracts(actor: Actor, loan_id: int, *, scope: DataScope = EVERYTHING,
                         request_id: str = "") -> list[Contract]:
    """Render, freeze and hash every applicable contract of an approved loan; loan → contract_signed."""
    await require_switch(SwitchKey.SIGNING, "loanId")
    loan = await Loan.filter(scope.products("product_id"), id=loan_id).first()
    if loan is None:
        raise not_found("Loan", "loanId")
    if loan.status != LoanStatus.APPROVED:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE,
                           f"Only an approved loan can be signed; this one is {LoanStatus(loan.status).value}")
    customer = await Customer.get(id=loan.customer_id)  # type: ignore[attr-defined]
    funders = await LoanFunder.filter(loan_id=loan.id).order_by("position", "id").select_related("bank")
    if not funders:
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, "The loan has no funder; it cannot be signed")
    lead = funders[0].bank
    today = clock.business_today()
    rate = await rate_on(loan, today)
    try:
        schedule = build_schedule(schedule_request(loan, rate.annual_rate, today))
    except ValueError as exc:
        raise UserError.of("loanId", ErrorCode.INVALID, f"The loan's schedule cannot be built: {exc}") from None
    chosen = await applicable_templates(loan)
    if not any(t.template_class == TemplateClass.LOAN_CONTRACT for t, _ in chosen):
        raise UserError.of("loanId", ErrorCode.INVALID_STATE, "No active loan-contract template applies to this "
                           "product; add one on the contracts page")
    ctx = contract_context(loan, customer, lead, rate, schedule, today)
    rendered = []
    problems: list[FieldError] = []
    for template, version in chosen:
        try:
            rendered.append((template, version, render_contract(version.source, ctx,
                                                                markup=TemplateFormat(template.markup))))
        except ContractTemplateError as exc:
            problems.append(FieldError(f"templates.{template.key}", ErrorCode.INVALID,
                                       f"Template {template.key} v{version.version} cannot be rendered: {exc}"))
    if problems:
        raise UserError(problems)

    signed_at = clock.now()
    contracts: list[Contract] = []
    async with in_transaction():
        await states.transition(loan, LoanStatus.CONTRACT_SIGNED, actor=actor, reason="contracts signed",
                                changes={"signed_at": signed_at, "lpr_rate": rate.lpr_percent,
                                         "annual_rate": rate.annual_rate})
        for template, version, doc in rendered:
            klass = TemplateClass(template.template_class)
            contract_no = f"{loan.order_no}-{template.key}"[:64]
            tx = await ledger.append("contract.signed", {
                "contractNo": contract_no, "loanNo": loan.order_no, "templateKey": template.key,
                "templateVersion": version.version, "templateClass": klass.value, "sha256": doc.sha256,
                "signedAt": signed_at.isoformat(), "lprRate": str(rate.lpr_percent), "spreadBp": rate.spread_bp,
                "annualRate": str(rate.annual_rate)},
                initiator=actor, source=("Loan", loan.id), scope_bank_id=lead.id, scope_product_id=loan.product_id)  # type: ignore[attr-defined]
            contracts.append(await Contract.create(
                contract_no=contract_no, loan_id=loan.id, product_id=loan.product_id,  # type: ignore[attr-defined]
                bank_id=lead.id, template_id=template.id, template_version=version.version,
                template_key=template.key, template_name=template.name, template_class=klass,
                markup=TemplateFormat(template.markup), text=doc.text, sha256=doc.sha256,
                requires_signature=klass.requires_signature, lpr_rate=rate.lpr_percent, spread_bp=rate.spread_bp,
                annual_rate=rate.annual_rate, ledger_tx_hash=tx.tx_hash, signed_at=signed_at))
        await oplog.record(actor, kind=actor.kind(), module="loans", action="sign",
                           summary=f"signed {len(contracts)} contract(s) of loan {loan.order_no}",
                           detail={"loanNo": loan.order_no, "contracts": [c.contract_no for c in contracts],
                                   "lprRate": str(rate.lpr_percent), "annualRate": str(rate.annual_rate)},
                           request_id=request_id, scope_bank_id=lead.id,
                           scope_product_id=loan.product_id)  # type: ignore[attr-defined]
    return contracts


def contracts_query(scope: DataScope, loan_ids: list[int]) -> QuerySet[Contract]:
    """Signed contracts of these loans within the caller's data scope (product of the loan)."""
    return Contract.filter(scope.products("product_id"), loan_id__in=loan_ids).order_by("loan_id", "id")
