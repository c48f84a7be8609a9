"""Order admission (进件/准入, F-LOAN-1): a traffic platform's application becomes a loan order.

The flow, and why it is split in two transactions:

1. Shape checks (every field at once), then the product in the caller's data scope, then the
   idempotency key: the same key with the same content answers with the order it created; the same
   key with different content is a CONFLICT. Keys are per traffic platform (stored prefixed with
   the channel id), and the channel's own order number is unique per channel.
2. Business checks, each naming its field: product enabled, channel among the product's channels,
   amount within the range and in whole cents, term within the range in the product's unit; the
   console's "distribution" switch (F-SYS-4).
3. **Transaction 1**: customer found or created by ID number, the order inserted as `applied`
   with its funders' shares (split to the cent, remainder to the lead funder at position 0), the
   day's funding-plan quota consumed for every funder (conditional UPDATEs in
   `core.products.funding`, so racing admissions never exceed the plan), and the first move:
   blacklisted → `rejected` (no quota taken), risk event on → `risk_checking`, off → `approved`.
   The operation log entry is written in the same transaction.
4. When the product's risk event is on, the risk scene is evaluated **outside** any transaction
   (it may call paid plugin sources and take seconds; holding locks that long would stall other
   admissions), then **transaction 2** stores the outcome and moves the order to `approved`,
   `rejected` (quota given back) or `manual_review` (a credit-review case opened). A failing risk
   engine never approves: the order goes to manual review with the failure as its reason, and an
   alert is raised.

So an order is never half-written: before transaction 1 commits there is no order, and after it the
order sits in a real state (`risk_checking` at worst, which `resume_risk_checks` picks up if the
process died during the risk call).

Quota is held by every admitted order until it is disbursed or leaves the pipeline: a rejection
after admission and `cancel_order` give it back (`release_order_quota`; the credit-review
rejection must call it too). Cancelling an order in manual review also closes its open
credit-review case, so it leaves the reviewers' pool.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from core import clock
from core.actor import SYSTEM, Actor
from core.config import current_settings
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.loans import customers, states
from core.loans.models import Customer, Loan, LoanEvent, LoanFunder, LoanStatus
from core.loans.money import split_by_shares
from core.loans.schedule import TermUnit
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from core.orgs.models import AssistInstitution
from core.products import funding
from core.products.models import Product, ProductChannel, ProductFunder, TermUnitChoice
from core.risk import blacklist
from core.system import alerts
from core.system.switches import SwitchKey, require_switch

log = logging.getLogger("lendline.admission")

MODULE = "loan_orders"
KEY_MAX = 100
CHANNEL_ORDER_MAX = 64
ACCOUNT_MAX = 64
REASON_MAX = 200
CENT = Decimal("0.01")
HUNDRED = Decimal(100)
KEY_SHAPE = re.compile(r"^[A-Za-z0-9_.:\-]+$")
S = LoanStatus

# States whose orders still hold their funding-plan quota (admitted, not yet disbursing).
HOLDS_QUOTA: frozenset[LoanStatus] = frozenset({S.RISK_CHECKING, S.MANUAL_REVIEW, S.APPROVED, S.CONTRACT_SIGNED})
CANCELLABLE: frozenset[LoanStatus] = frozenset(s for s in S if states.can_move(s, S.CANCELLED))


@dataclass(frozen=True)
class Application:
    """An application as a traffic platform sends it (raw values; validated by `submit_application`)."""

    idempotency_key: str | None
    channel_id: int | None
    channel_order_no: str | None
    product_id: int | None
    name: str | None
    id_number: str | None
    phone: str | None
    amount: Any  # decimal string or Decimal, whole cents
    term: Any  # whole number in the product's unit
    term_unit: str | None  # "day" / "month" (the product's unit)
    disbursement_account: str | None = None  # the borrower's receiving account


@dataclass(frozen=True)
class _Checked:
    key: str
    channel_id: int
    channel_order_no: str
    product_id: int
    identity: customers.Identity
    amount: Decimal
    term: int
    term_unit: TermUnitChoice
    account: str

    def digest(self) -> str:
        """What the key promises: the whole application, canonical (so a repeat can be compared)."""
        body = {"channel": self.channel_id, "channelOrderNo": self.channel_order_no, "product": self.product_id,
                "name": self.identity.name, "idNumber": self.identity.id_number, "phone": self.identity.phone,
                "amount": str(self.amount), "term": self.term, "termUnit": self.term_unit.value,
                "account": self.account}
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _text(errs: ErrorCollector, field: str, value: str | None, limit: int, *, needed: bool = True) -> str:
    clean = (value or "").strip()
    if not clean:
        if needed:
            errs.add(field, ErrorCode.REQUIRED, f"{field} is required")
    elif len(clean) > limit:
        errs.add(field, ErrorCode.TOO_LONG, f"{field} may have at most {limit} characters")
    return clean


def _amount(errs: ErrorCollector, value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        errs.add("amount", ErrorCode.REQUIRED, "The amount is required")
        return None
    if isinstance(value, float | bool):
        errs.add("amount", ErrorCode.INVALID, "The amount must be a decimal string such as \"10000.00\"")
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        errs.add("amount", ErrorCode.INVALID, "The amount must be a decimal number such as \"10000.00\"")
        return None
    if not amount.is_finite() or amount <= 0:
        errs.add("amount", ErrorCode.OUT_OF_RANGE, "The amount must be more than 0")
        return None
    if amount != amount.quantize(CENT, ROUND_HALF_UP):
        errs.add("amount", ErrorCode.INVALID, "The amount must be in whole cents (at most 2 decimals)")
        return None
    return amount.quantize(CENT)


def _check_shape(app: Application) -> _Checked:
    errs = ErrorCollector()
    key = _text(errs, "idempotencyKey", app.idempotency_key, KEY_MAX)
    if key and not errs.has("idempotencyKey") and not KEY_SHAPE.fullmatch(key):
        errs.add("idempotencyKey", ErrorCode.INVALID, "The idempotency key may contain letters, digits and _ . : -")
    channel_order_no = _text(errs, "channelOrderNo", app.channel_order_no, CHANNEL_ORDER_MAX)
    if app.channel_id is None:
        errs.add("channelId", ErrorCode.REQUIRED, "The traffic platform (channelId) is required")
    if app.product_id is None:
        errs.add("productId", ErrorCode.REQUIRED, "The product is required")
    identity = customers.validate_identity(errs, app.name, app.id_number, app.phone)
    amount = _amount(errs, app.amount)
    term = app.term
    if term is None:
        errs.add("term", ErrorCode.REQUIRED, "The term is required")
    elif isinstance(term, bool) or not isinstance(term, int) or term < 1:
        errs.add("term", ErrorCode.OUT_OF_RANGE, "The term must be a whole number of at least 1")
    units = {u.value: u for u in TermUnitChoice}
    unit = units.get((app.term_unit or "").strip().lower())
    if unit is None:
        errs.add("termUnit", ErrorCode.REQUIRED if not app.term_unit else ErrorCode.INVALID,
                 "The term unit must be day or month")
    account = _text(errs, "disbursementAccount", app.disbursement_account, ACCOUNT_MAX, needed=False)
    errs.raise_if_any()
    assert app.channel_id is not None and app.product_id is not None and identity is not None
    assert amount is not None and unit is not None
    return _Checked(key, app.channel_id, channel_order_no, app.product_id, identity, amount, term, unit, account)


async def _check_business(product: Product, c: _Checked) -> None:
    errs = ErrorCollector()
    if not product.enabled:
        errs.add("productId", ErrorCode.INVALID_STATE, "The product is disabled and takes no orders")
    if not await ProductChannel.filter(product_id=product.id, institution_id=c.channel_id).exists():
        errs.add("channelId", ErrorCode.INVALID, "This traffic platform is not a channel of the product")
    if not Decimal(product.amount_min) <= c.amount <= Decimal(product.amount_max):
        errs.add("amount", ErrorCode.OUT_OF_RANGE,
                 f"The amount must be between {product.amount_min} and {product.amount_max}")
    unit_name = "days" if product.term_unit == TermUnitChoice.DAY else "months"
    if c.term_unit != product.term_unit:
        errs.add("termUnit", ErrorCode.INVALID, f"The product's terms are counted in {unit_name}")
    elif not product.term_min <= c.term <= product.term_max:
        errs.add("term", ErrorCode.OUT_OF_RANGE, f"The term must be {product.term_min}–{product.term_max} {unit_name}")
    errs.raise_if_any()


def _replay(existing: Loan, digest: str) -> Loan:
    """A repeated key: the same order back if the content is the same, CONFLICT otherwise."""
    if existing.application_digest != digest:
        raise UserError.of("idempotencyKey", ErrorCode.CONFLICT,
                           "This idempotency key was already used for a different application; "
                           "send a new key for a new application")
    return existing


def new_order_no(day: date) -> str:
    return f"LN{day:%Y%m%d}{secrets.randbelow(10**10):010d}"


def business_day(moment: datetime) -> date:
    """The business date (bank's zone) of an instant: the day whose plan an admission consumed."""
    return moment.astimezone(current_settings().tz).date()


def funder_parts(amount: Decimal, funders: list[ProductFunder]) -> list[tuple[ProductFunder, Decimal]]:
    """Each funder's part of `amount` by the product's shares; the remainder goes to position 0."""
    shares = {str(f.bank_id): Decimal(f.share) / HUNDRED for f in funders}  # type: ignore[attr-defined]
    lead = str(funders[0].bank_id)  # type: ignore[attr-defined]
    parts = split_by_shares(amount, shares, lead)
    return [(f, parts[str(f.bank_id)]) for f in funders]  # type: ignore[attr-defined]


async def submit_application(actor: Actor, app: Application, *, request_id: str = "") -> Loan:
    """Admit one application (see the module notes); returns the order in its state after admission."""
    c = _check_shape(app)
    product = await Product.filter(actor.scope.products("id"), id=c.product_id).first()
    if product is None:
        raise not_found("Product", "productId")
    stored_key = f"{c.channel_id}:{c.key}"
    digest = c.digest()
    existing = await Loan.get_or_none(idempotency_key=stored_key)
    if existing is not None:
        return _replay(existing, digest)
    await _check_business(product, c)
    await require_switch(SwitchKey.DISTRIBUTION)
    if await Loan.filter(channel_id=c.channel_id, channel_order_no=c.channel_order_no).exists():
        # A concurrent submit of this very application may have committed since the key was looked up.
        existing = await Loan.get_or_none(idempotency_key=stored_key)
        if existing is not None:
            return _replay(existing, digest)
        raise UserError.of("channelOrderNo", ErrorCode.NOT_UNIQUE,
                           "This channel order number was already submitted by the traffic platform")
    funders = await ProductFunder.filter(product_id=product.id).order_by("position", "id")
    if not funders:
        raise UserError.of("productId", ErrorCode.INVALID_STATE, "The product has no funder")
    listed = await blacklist.lookup(id_number=c.identity.id_number, phone=c.identity.phone)
    channel = await AssistInstitution.get(id=c.channel_id)
    for _attempt in range(3):
        try:
            loan, customer = await _admit(actor, product, channel, c, stored_key, digest, funders, listed,
                                          request_id)
            break
        except IntegrityError:
            existing = await Loan.get_or_none(idempotency_key=stored_key)
            if existing is not None:
                return _replay(existing, digest)
            if await Loan.filter(channel_id=c.channel_id, channel_order_no=c.channel_order_no).exists():
                raise UserError.of("channelOrderNo", ErrorCode.NOT_UNIQUE,
                                   "This channel order number was already submitted by the traffic platform"
                                   ) from None
            # otherwise: the random order number clashed; try again with a new one
    else:
        raise RuntimeError("could not allocate an order number after 3 attempts")
    if loan.status == S.RISK_CHECKING:
        loan = await run_risk_check(loan, product=product, customer=customer, channel=channel)
    return loan


async def _admit(actor: Actor, product: Product, channel: AssistInstitution, c: _Checked, stored_key: str,
                 digest: str, funders: list[ProductFunder], listed: list[Any], request_id: str
                 ) -> tuple[Loan, Customer]:
    """Transaction 1: customer, order, funders, quota, first move and the operation log."""
    now = clock.now()
    day = business_day(now)
    parts = funder_parts(c.amount, funders)
    async with in_transaction():
        customer = await customers.find_or_create(c.identity)
        loan = await Loan.create(
            order_no=new_order_no(day), channel_order_no=c.channel_order_no, idempotency_key=stored_key,
            application_digest=digest, customer_id=customer.id, product_id=product.id, channel_id=channel.id,
            status=S.APPLIED, amount=c.amount, term=c.term,
            term_unit=(TermUnit.DAY if c.term_unit == TermUnitChoice.DAY else TermUnit.MONTH).value,
            repayment_method=product.repayment_method, lpr_term=product.lpr_term, spread_bp=product.spread_bp,
            deduction_event_key=product.deduction_event_key if product.deduction_event_enabled else "",
            disbursement_account=c.account, applied_at=now)
        await LoanFunder.bulk_create([LoanFunder(loan_id=loan.id, bank_id=f.bank_id, share=f.share,  # type: ignore[attr-defined]
                                                 amount=part, position=i) for i, (f, part) in enumerate(parts)])
        label = f"channel:{channel.number}"[:60]
        await LoanEvent.create(loan_id=loan.id, from_status="", to_status=S.APPLIED.value,
                               actor_id=actor.user_id or None, actor_label=label,
                               reason=f"application {c.channel_order_no} from {channel.name}"[:500], created_at=now)
        if listed:
            reason = "blacklist: " + "; ".join(e.reason for e in listed if e.reason)[:480]
            await states.transition(loan, S.REJECTED, actor=actor, actor_label=label, reason=reason,
                                    changes={"risk_outcome": "blacklist", "reject_reason": reason})
        else:
            for f, part in sorted(parts, key=lambda p: p[0].bank_id):  # type: ignore[attr-defined]
                await funding.consume_quota(product.id, f.bank_id, channel.id, part, day)  # type: ignore[attr-defined]
            if product.risk_event_enabled:
                await states.transition(loan, S.RISK_CHECKING, actor=actor, actor_label=label,
                                        reason=f"risk scene {product.risk_scene_key}")
            else:
                await states.transition(loan, S.APPROVED, actor=actor, actor_label=label,
                                        reason="admitted (product without risk event)",
                                        changes={"approved_at": now})
        await oplog.record(
            actor, kind=actor.kind(), module=MODULE, action="apply",
            summary=f"order {loan.order_no} ({channel.number} {c.channel_order_no}) admitted: {loan.status}",
            detail={"orderNo": loan.order_no, "channelOrderNo": c.channel_order_no, "productId": product.id,
                    "channelId": channel.id, "customerNo": customer.customer_no, "amount": str(c.amount),
                    "term": c.term, "termUnit": c.term_unit.value, "status": str(loan.status),
                    "rejectReason": loan.reject_reason},
            request_id=request_id, scope_product_id=product.id)
    return loan, customer


# ---- the risk step (outside transaction 1) ----

@dataclass(frozen=True)
class _Decision:
    outcome: str
    score: Decimal | None
    quota: Decimal | None
    reasons: tuple[str, ...]
    report_id: int | None


async def _evaluate_scene(scene_key: str, subject: Mapping[str, Any], *, loan_id: int) -> Any:
    """The risk engineer's `core.risk.scenes.evaluate_scene` (imported late: a seam for tests)."""
    from core.risk.scenes import evaluate_scene

    return await evaluate_scene(scene_key, subject, loan_id=loan_id)


async def _open_case(loan: Loan) -> None:
    """Put a manual-review order in the first-review pool (`core.loans.credit_review.open_case`)."""
    from core.loans.credit_review import open_case

    await open_case(loan)


def subject_of(loan: Loan, customer: Customer, product: Product, channel: AssistInstitution) -> dict[str, Any]:
    """What the risk scene sees of an application (the keys `evaluate_scene` documents)."""
    return {"name": customer.name, "id_number": customer.id_number, "phone": customer.phone,
            "customer_no": customer.customer_no, "amount": Decimal(loan.amount), "term": loan.term,
            "product_code": product.code, "channel": channel.number, "order_no": loan.order_no}


def _dec(value: Any, places: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value)).quantize(Decimal(places), ROUND_HALF_UP)
    except InvalidOperation:
        return None


async def _decide(loan: Loan, product: Product, customer: Customer, channel: AssistInstitution) -> _Decision:
    try:
        d = await _evaluate_scene(product.risk_scene_key, subject_of(loan, customer, product, channel),
                                  loan_id=loan.id)
    except Exception as exc:  # a broken engine or source must not approve, and must not strand the order
        message = exc.errors[0].message if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        log.warning("risk scene %s failed for order %s: %s", product.risk_scene_key, loan.order_no, message)
        await alerts.raise_alert("RISK_EVALUATION_FAILED",
                                 f"Risk scene {product.risk_scene_key} failed for order {loan.order_no}; "
                                 f"sent to manual review: {message}"[:500], source="admission",
                                 detail={"orderNo": loan.order_no, "scene": product.risk_scene_key})
        return _Decision("manual_review", None, None, (f"risk evaluation failed: {message}",), None)
    outcome = str(getattr(d, "outcome", ""))
    if outcome not in {"pass", "reject", "manual_review"}:
        outcome = "manual_review"
    return _Decision(outcome, _dec(d.score, "0.0001"), _dec(d.quota, "0.01"),
                     tuple(str(r) for r in (d.reasons or ())), getattr(d, "report_id", None))


async def run_risk_check(loan: Loan, *, product: Product | None = None, customer: Customer | None = None,
                         channel: AssistInstitution | None = None) -> Loan:
    """Evaluate the product's risk scene for a `risk_checking` order and move it (transaction 2).

    An order cancelled while the scene ran stays cancelled (the cancel gave the quota back).
    """
    product = product or await Product.get(id=loan.product_id)  # type: ignore[attr-defined]
    customer = customer or await Customer.get(id=loan.customer_id)  # type: ignore[attr-defined]
    channel = channel or await AssistInstitution.get(id=loan.channel_id)  # type: ignore[attr-defined]
    d = await _decide(loan, product, customer, channel)
    reason = "; ".join(d.reasons)[:480]
    changes: dict[str, Any] = {"risk_outcome": d.outcome, "risk_score": d.score, "risk_quota": d.quota}
    if d.outcome == "pass" and d.quota is not None and d.quota < Decimal(loan.amount):
        target, reason = S.REJECTED, f"the amount exceeds the risk quota {d.quota}"
    elif d.outcome == "pass":
        target = S.APPROVED
        changes["approved_at"] = clock.now()
    elif d.outcome == "reject":
        target, reason = S.REJECTED, reason or "rejected by the risk rules"
    else:
        target, reason = S.MANUAL_REVIEW, reason or "the risk rules ask for a manual review"
    if target is S.REJECTED:
        changes["reject_reason"] = reason[:500]
    label = f"risk:{product.risk_scene_key}"[:60]
    try:
        async with in_transaction():
            await states.transition(loan, target, actor=None, actor_label=label, reason=reason, changes=changes)
            if target is S.REJECTED:
                await release_order_quota(loan)
            elif target is S.MANUAL_REVIEW:
                await _open_case(loan)
            await oplog.record(
                SYSTEM, kind=OperatorKind.SYSTEM, module=MODULE, action="risk_decision",
                summary=f"order {loan.order_no}: risk {d.outcome} → {target.value}",
                detail={"orderNo": loan.order_no, "scene": product.risk_scene_key, "outcome": d.outcome,
                        "score": None if d.score is None else str(d.score),
                        "quota": None if d.quota is None else str(d.quota), "reportId": d.report_id,
                        "reason": reason},
                scope_product_id=product.id)
    except UserError as exc:
        if exc.code not in {ErrorCode.INVALID_STATE, ErrorCode.STALE}:
            raise
        return await Loan.get(id=loan.id)  # moved meanwhile (cancelled): keep what happened
    return loan


async def resume_risk_checks(older_than: datetime) -> int:
    """Finish orders left in `risk_checking` (the process died during the risk call); returns how many."""
    done = 0
    for loan in await Loan.filter(status=S.RISK_CHECKING, updated_at__lt=older_than).order_by("id").limit(500):
        await run_risk_check(loan)
        done += 1
    return done


# ---- giving quota back, cancelling ----

async def release_order_quota(loan: Loan) -> None:
    """Give back the plan quota an admitted order took (call in the transaction that rejects or
    cancels it, right after the state transition, so it happens exactly once)."""
    day = business_day(loan.applied_at)
    for part in await LoanFunder.filter(loan_id=loan.id).order_by("bank_id"):
        await funding.release_quota(loan.product_id, part.bank_id, loan.channel_id,  # type: ignore[attr-defined]
                                    Decimal(part.amount), day)


async def _close_review_case(loan: Loan) -> None:
    """A cancelled order leaves the credit-review pool (its open case is closed, no decision recorded)."""
    from core.loans.review_models import OPEN_STATUSES, CaseStatus, CreditReviewCase

    await CreditReviewCase.filter(loan_id=loan.id, status__in=list(OPEN_STATUSES)).update(
        status=CaseStatus.REJECTED, closed_at=clock.now(), version=F("version") + 1)


async def cancel_order(actor: Actor, loan_id: int, reason: str | None, *, request_id: str = "") -> Loan:
    """Cancel an order that is not yet disbursing (取消); its quota is given back."""
    errs = ErrorCollector()
    text = _text(errs, "reason", reason, REASON_MAX)
    errs.raise_if_any()
    loan = await Loan.filter(actor.scope.products("product_id"), id=loan_id).first()
    if loan is None:
        raise not_found("Loan", "id")
    status = S(loan.status)
    if status not in CANCELLABLE:
        raise states.illegal(status, S.CANCELLED)
    async with in_transaction():
        await states.transition(loan, S.CANCELLED, actor=actor, reason=text)
        if status in HOLDS_QUOTA:
            await release_order_quota(loan)
        if status is S.MANUAL_REVIEW:
            await _close_review_case(loan)
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="cancel",
                           summary=f"cancelled order {loan.order_no} (was {status.value})",
                           detail={"orderNo": loan.order_no, "from": status.value, "reason": text},
                           request_id=request_id, scope_product_id=loan.product_id)  # type: ignore[attr-defined]
    return loan
