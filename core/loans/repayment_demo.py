"""Demo repayments for `lendline demo`: a loan repaid on schedule, an early settlement, and an overdue
loan in the collection pool with a contact record.

Runs after the disbursement demo but does not depend on it: its three loans (order numbers
`DEMO-RP-1..3`, disbursed about four months before today on the first demo product that has a
funder and a traffic channel) are created straight through the models, like a disbursement leaves
them. Idempotent: loans are looked up by order number, repayments by serial number, the overdue run
is idempotent per business date, and the contact record is written once per case.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from core import clock
from core.actor import SYSTEM, Actor
from core.config import current_settings
from core.loans import collection, overdue
from core.loans import repayment as rp
from core.loans.collection_models import CollectionCase, CollectionRecord, CollectionStatus, ContactResult
from core.loans.models import (
    Customer,
    InstallmentStatus,
    Loan,
    LoanFunder,
    LoanInstallment,
    LoanStatus,
    RepaymentSource,
)
from core.loans.money import ZERO, split_by_shares
from core.loans.schedule import RepaymentMethod, ScheduleRequest, TermUnit, build_schedule
from core.loans.schedules import Funder, LoanSchedule, persist_schedule
from core.products.models import Product, ProductChannel, ProductFunder

AMOUNT = Decimal("24000.00")
RATE = Decimal("0.0455")
TERM = 12
CUSTOMERS = (("DEMO-RP-1", "王小明", "110101199003071234", "13800138001"),
             ("DEMO-RP-2", "李华", "310101198807152345", "13900139002"),
             ("DEMO-RP-3", "张伟", "440101199212253456", "13700137003"))


def _moment(day: date, hour: int = 10) -> datetime:
    """10:00 on `day` in the bank's zone, never later than now (a due date of today before 10:00)."""
    local = datetime.combine(day, time(hour), tzinfo=current_settings().tz)
    return min(local.astimezone(UTC), clock.now())


async def _product() -> tuple[Product, list[ProductFunder], int] | None:
    """The first monthly product with funders and a channel (the products demo makes several)."""
    for product in await Product.filter(term_unit="month").order_by("id"):
        funders = list(await ProductFunder.filter(product_id=product.id).order_by("position"))
        channel = await ProductChannel.filter(product_id=product.id).first()
        if funders and channel is not None and sum((f.share for f in funders), ZERO) == 100:
            return product, funders, channel.institution_id  # type: ignore[attr-defined]
    return None


async def _loan(order_no: str, name: str, id_number: str, phone: str, product: Product,
                funders: list[ProductFunder], channel_id: int, start: date) -> tuple[Loan, bool]:
    existing = await Loan.get_or_none(order_no=order_no)
    if existing is not None:
        return existing, False
    customer = await Customer.get_or_none(id_number=id_number) or await Customer.create(
        customer_no=f"C{order_no.replace('-', '')}", name=name, id_number=id_number, phone=phone)
    schedule = build_schedule(ScheduleRequest(AMOUNT, RATE, TERM, TermUnit.MONTH, RepaymentMethod.EQUAL_INSTALLMENT,
                                              start))
    when = _moment(start)
    loan = await Loan.create(
        order_no=order_no, channel_order_no=f"CH-{order_no}", idempotency_key=f"demo:{order_no}", customer=customer,
        product=product, channel_id=channel_id, status=LoanStatus.DISBURSED, amount=AMOUNT, term=TERM,
        term_unit=TermUnit.MONTH.value, repayment_method=RepaymentMethod.EQUAL_INSTALLMENT.value,
        lpr_rate=Decimal("3.0000"), spread_bp=155, annual_rate=RATE, payment_provider="sandbox",
        disbursement_account=f"BORROWER-{order_no}", applied_at=when, approved_at=when, signed_at=when,
        disbursed_at=when, disbursement_date=start, maturity_date=schedule.installments[-1].due_date,
        principal_outstanding=AMOUNT)
    shares = {str(f.bank_id): f.share / 100 for f in funders}  # type: ignore[attr-defined]
    lead = str(funders[0].bank_id)  # type: ignore[attr-defined]
    parts = split_by_shares(AMOUNT, shares, lead)
    for position, f in enumerate(funders):
        await LoanFunder.create(loan=loan, bank_id=f.bank_id, share=f.share,  # type: ignore[attr-defined]
                                amount=parts[str(f.bank_id)], position=position)  # type: ignore[attr-defined]
    await persist_schedule(LoanSchedule(loan.id, AMOUNT, start, schedule, [
        Funder(f.bank_id, parts[str(f.bank_id)], Decimal(f.share)) for f in funders]))  # type: ignore[attr-defined]
    return loan, True


async def load_demo_repayments(collector: Actor | None = None) -> list[str]:
    """Repay, settle and leave one loan overdue in collection; `collector` writes the contact record
    (default: the system). Returns what was done (empty on a rerun)."""
    done: list[str] = []
    found = await _product()
    if found is None:
        return done
    product, funders, channel_id = found
    today = clock.business_today()
    start = today - timedelta(days=100)
    loans = []
    for order_no, name, id_number, phone in CUSTOMERS:
        loan, created = await _loan(order_no, name, id_number, phone, product, funders, channel_id, start)
        loans.append(loan)
        if created:
            done.append(f"demo loan {order_no} disbursed {start}")
    punctual, settler, defaulter = loans

    # 1: every installment due so far paid on its due date
    for inst in await LoanInstallment.filter(loan_id=punctual.id, due_date__lte=today).order_by("number"):
        serial = f"{punctual.order_no}-R{inst.number}"
        r = await rp.post_repayment(punctual.id, inst.principal + inst.interest, serial, RepaymentSource.DEDUCTION,
                                    _moment(inst.due_date), channel="sandbox") \
            if InstallmentStatus(inst.status) is not InstallmentStatus.PAID else None
        if r is not None and not getattr(r, "replayed", False):
            done.append(f"repayment {serial} of {r.amount}")

    # 2: on-time repayments, then settled early today
    await settler.refresh_from_db()
    if LoanStatus(settler.status) is not LoanStatus.SETTLED:
        for inst in await LoanInstallment.filter(loan_id=settler.id, due_date__lt=today).order_by("number"):
            if InstallmentStatus(inst.status) is not InstallmentStatus.PAID:
                await rp.post_repayment(settler.id, inst.principal + inst.interest,
                                        f"{settler.order_no}-R{inst.number}", RepaymentSource.DEDUCTION,
                                        _moment(inst.due_date), channel="sandbox")
        _, quote = await rp.quote_early_settlement(SYSTEM.scope, settler.id, today)
        await rp.post_repayment(settler.id, quote.total, f"{settler.order_no}-SETTLE", RepaymentSource.MANUAL,
                                _moment(today), channel="offline", mode=rp.Mode.EARLY_SETTLEMENT)
        done.append(f"early settlement of {settler.order_no} for {quote.total} (waived interest "
                    f"{quote.waived_interest})")

    # 3: never paid — the overdue run marks it overdue, accrues penalty and opens a collection case
    report = await overdue.run_overdue(today)
    if report.installments:
        done.append(f"overdue run {today}: {report.installments} installments, penalty {report.penalty_added}")
    case = await CollectionCase.filter(loan_id=defaulter.id, status=CollectionStatus.OPEN).first()
    if case is not None and not await CollectionRecord.filter(case_id=case.id).exists():
        await collection.add_record(collector or SYSTEM, case.id, contact_result=ContactResult.PROMISED,
                                    promise_amount=case.overdue_amount, promise_date=today + timedelta(days=3),
                                    remark="客户称本周五还款 (demo)")
        done.append(f"collection case {case.stage} for {defaulter.order_no} with a promise to pay")
    return done
