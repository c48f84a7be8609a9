"""Funding plans (资金投放计划, F-PROD-5): saving them, the plan in force, remaining and used quota.

A plan caps, per product and funding bank and per business day, the orders and the amount a funder
releases, and optionally each traffic channel's part of it. Saving writes a new plan row effective
**tomorrow** (seed 001: "默认地次日生效"); "effective now" writes it effective **today**. The plan in
force on day D is the newest row with `effective_from` ≤ D (ties: the later save). Rows are never
edited, so the history of plans is the table itself.

Decisions:
- No plan in force for a funder means nothing may be admitted for it (money controls fail closed).
- A channel without its own limit in the plan is bounded only by the funder's totals.
- Admission (`consume_quota`) bumps two counters in one transaction: the funder's day total
  (`FundingUsageTotal`) and the channel's (`FundingUsage`), each with a conditional UPDATE
  (`used + n <= limit`). PostgreSQL re-checks the condition after waiting for a concurrent writer's
  row lock, so racing admissions can never exceed the plan; SQLite serialises writers.
- A joint product's loan draws on every funder by share (`consume_for_loan`): each funder counts the
  order once and its share of the amount; the first funder takes the rounding cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from tortoise.expressions import F, Q
from tortoise.functions import Max
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, FieldError, UserError, not_found
from core.oplog import service as oplog
from core.products.models import (
    FundingPlan,
    FundingPlanChannel,
    FundingUsage,
    FundingUsageTotal,
    Product,
    ProductChannel,
    ProductFunder,
)
from core.products.validation import parse_decimal
from permissions.scope import DataScope

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
MAX_ORDERS = 10**9


def to_cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(ROUND_HALF_UP))


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


class QuotaExhausted(UserError):
    """Admission would go past today's funding plan.

    `level` says where: "plan" (no plan in force for the funder), "total" (the funder's day totals)
    or "channel" (the channel's limit); `limit` says which figure ran out: "plan", "orders" or
    "amount".
    """

    def __init__(self, product_id: int, bank_id: int, channel_id: int, level: str, limit: str, message: str) -> None:
        super().__init__(FieldError("amount", ErrorCode.OUT_OF_RANGE, message))
        self.product_id, self.bank_id, self.channel_id = product_id, bank_id, channel_id
        self.level, self.limit = level, limit


@dataclass(frozen=True)
class ChannelLimitInput:
    channel_id: int
    max_orders: Any
    max_amount: Any


@dataclass(frozen=True)
class PlanInput:
    product_id: int
    bank_id: int
    max_orders: Any
    max_amount: Any
    channels: tuple[ChannelLimitInput, ...] = ()


async def _check_plan(scope: DataScope, plan: PlanInput) -> tuple[int, Decimal, list[tuple[int, int, Decimal]]]:
    if not await Product.filter(scope.products("id"), id=plan.product_id).exists():
        raise not_found("Product", "productId")
    errs = ErrorCollector()
    if not await ProductFunder.filter(scope.bank_and_product(), product_id=plan.product_id,
                                      bank_id=plan.bank_id).exists():
        errs.add("bankId", ErrorCode.NOT_FOUND, "This bank does not fund the product (or is outside your data scope)")
    orders = _count(errs, "maxOrders", plan.max_orders)
    amount = _money(errs, "maxAmount", plan.max_amount)
    own = set(await ProductChannel.filter(product_id=plan.product_id).values_list("institution_id", flat=True))
    limits: list[tuple[int, int, Decimal]] = []
    seen: set[int] = set()
    for i, ch in enumerate(plan.channels):
        path = f"channels[{i}]"
        if ch.channel_id not in own:
            errs.add(f"{path}.channelId", ErrorCode.INVALID, "Not a traffic channel of this product")
        elif ch.channel_id in seen:
            errs.add(f"{path}.channelId", ErrorCode.NOT_UNIQUE, "This channel is listed twice")
        seen.add(ch.channel_id)
        c_orders = _count(errs, f"{path}.maxOrders", ch.max_orders)
        c_amount = _money(errs, f"{path}.maxAmount", ch.max_amount)
        if c_orders is not None and orders is not None and c_orders > orders:
            errs.add(f"{path}.maxOrders", ErrorCode.OUT_OF_RANGE, "A channel's orders cannot exceed the plan's")
        if c_amount is not None and amount is not None and c_amount > amount:
            errs.add(f"{path}.maxAmount", ErrorCode.OUT_OF_RANGE, "A channel's amount cannot exceed the plan's")
        if c_orders is not None and c_amount is not None:
            limits.append((ch.channel_id, c_orders, c_amount))
    errs.raise_if_any()
    assert orders is not None and amount is not None
    return orders, amount, limits


def _count(errs: ErrorCollector, field: str, value: Any) -> int | None:
    if value is None:
        errs.add(field, ErrorCode.REQUIRED, f"{field} is required")
    elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ORDERS:
        errs.add(field, ErrorCode.OUT_OF_RANGE, f"{field} must be a whole number from 0 to {MAX_ORDERS}")
    else:
        return value
    return None


def _money(errs: ErrorCollector, field: str, value: Any) -> Decimal | None:
    amount = parse_decimal(errs, field, value, 2)
    if amount is not None and not Decimal(0) <= amount <= Decimal("9999999999999999.99"):
        errs.add(field, ErrorCode.OUT_OF_RANGE, f"{field} must be 0 or more")
        return None
    return amount


async def save_plan(actor: Actor, scope: DataScope, plan: PlanInput, *, effective_now: bool = False,
                    request_id: str = "") -> FundingPlan:
    """Save a funder's daily plan: effective tomorrow, or today when `effective_now` (立即生效)."""
    orders, amount, limits = await _check_plan(scope, plan)
    day = clock.business_today()
    effective = day if effective_now else date.fromordinal(day.toordinal() + 1)
    async with in_transaction():
        row = await FundingPlan.create(product_id=plan.product_id, bank_id=plan.bank_id, effective_from=effective,
                                       max_orders=orders, max_amount=amount, created_by_id=actor.user_id or None)
        await FundingPlanChannel.bulk_create([
            FundingPlanChannel(plan_id=row.id, institution_id=c, max_orders=o, max_amount=a) for c, o, a in limits])
        await oplog.record(
            actor, kind=actor.kind(), module="funding_plans", action="activate" if effective_now else "save",
            summary=f"funding plan of product #{plan.product_id}, bank #{plan.bank_id} from {effective}",
            detail={"planId": row.id, "effectiveFrom": effective.isoformat(), "maxOrders": orders,
                    "maxAmount": str(amount), "channels": [{"channelId": c, "maxOrders": o, "maxAmount": str(a)}
                                                           for c, o, a in limits]},
            request_id=request_id, scope_bank_id=plan.bank_id, scope_product_id=plan.product_id)
    return row


def plans_query(scope: DataScope, product_ids: list[int], bank_id: int | None = None) -> QuerySet[FundingPlan]:
    """Plan history of visible funders, newest first."""
    qs = FundingPlan.filter(scope.bank_and_product(), product_id__in=product_ids)
    if bank_id is not None:
        qs = qs.filter(bank_id=bank_id)
    return qs.order_by("product_id", "bank_id", "-effective_from", "-id")


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


async def current_plans(scope: DataScope, product_ids: list[int], day: date | None = None) -> list[FundingPlan]:
    """Each visible funder's plan in force on `day` (default today) and the plans scheduled after it.

    Two queries whatever the history's length: the newest effective date ≤ day per funder, then the
    rows on those dates or later (of several saves for one date, the latest wins).
    """
    day = day or clock.business_today()
    mine = scope.bank_and_product()
    latest = await (FundingPlan.filter(mine, product_id__in=product_ids or [0], effective_from__lte=day)
                    .annotate(latest=Max("effective_from")).group_by("product_id", "bank_id")
                    .values("product_id", "bank_id", "latest"))
    wanted = [Q(effective_from__gt=day)] + [
        Q(product_id=r["product_id"], bank_id=r["bank_id"], effective_from=_day(r["latest"])) for r in latest]
    rows = await (FundingPlan.filter(mine, Q(*wanted, join_type="OR"), product_id__in=product_ids or [0])
                  .order_by("-effective_from", "-id"))
    seen: set[tuple[int, int, date]] = set()
    out: list[FundingPlan] = []
    for row in rows:
        key = (row.product_id, row.bank_id, row.effective_from)  # type: ignore[attr-defined]
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def plan_status(plan: FundingPlan, current: set[int], day: date) -> str:
    """"scheduled", "in_force" or "superseded", given the ids `current_plans` returned for `day`."""
    if plan.id not in current:
        return "superseded"
    return "scheduled" if plan.effective_from > day else "in_force"


async def plan_in_force(scope: DataScope, product_id: int, bank_id: int, day: date | None = None
                        ) -> FundingPlan | None:
    """The plan governing `day` (default: today) for one funder, if the scope covers it."""
    return await (FundingPlan.filter(scope.bank_and_product(), product_id=product_id, bank_id=bank_id,
                                     effective_from__lte=day or clock.business_today())
                  .order_by("-effective_from", "-id").first())


@dataclass(frozen=True)
class FunderQuota:
    """What one funder can still release today through one channel."""

    bank_id: int
    share: Decimal
    plan_id: int | None
    orders_left: int
    amount_left: Decimal
    channel_limited: bool


@dataclass(frozen=True)
class Quota:
    """Per funder, and for the product as a whole: each loan draws on every funder by share, so the
    product can take `min(orders_left)` more orders and `min(amount_left ÷ share)` more money."""

    product_id: int
    channel_id: int
    day: date
    funders: tuple[FunderQuota, ...]
    orders_left: int
    amount_left: Decimal


async def remaining_quota(product_id: int, channel_id: int, day: date | None = None, *, scope: DataScope) -> Quota:
    """Orders and amount left on `day` (default today) for orders from `channel_id`, within the scope."""
    day = day or clock.business_today()
    if not await Product.filter(scope.products("id"), id=product_id).exists():
        raise not_found("Product", "productId")
    if not await ProductChannel.filter(product_id=product_id, institution_id=channel_id).exists():
        raise UserError.of("channelId", ErrorCode.NOT_FOUND, "Not a traffic channel of this product")
    funders = await ProductFunder.filter(scope.bank_and_product(), product_id=product_id).order_by("position", "id")
    banks = [f.bank_id for f in funders]  # type: ignore[attr-defined]
    plans = {b: await plan_in_force(scope, product_id, b, day) for b in banks}
    plan_ids = [p.id for p in plans.values() if p is not None]
    limits = {c.plan_id: c for c in await FundingPlanChannel.filter(  # type: ignore[attr-defined]
        plan_id__in=plan_ids or [0], institution_id=channel_id)}
    mine = scope.bank_and_product()
    totals = {u.bank_id: u for u in await FundingUsageTotal.filter(  # type: ignore[attr-defined]
        mine, product_id=product_id, day=day, bank_id__in=banks or [0])}
    used = {u.bank_id: u for u in await FundingUsage.filter(  # type: ignore[attr-defined]
        mine, product_id=product_id, day=day, institution_id=channel_id, bank_id__in=banks or [0])}
    out: list[FunderQuota] = []
    for f in funders:
        bank, plan = f.bank_id, plans[f.bank_id]  # type: ignore[attr-defined]
        if plan is None:
            out.append(FunderQuota(bank, Decimal(f.share), None, 0, Decimal("0.00"), False))
            continue
        total, ch, limit = totals.get(bank), used.get(bank), limits.get(plan.id)
        orders = plan.max_orders - (total.orders if total else 0)
        cents = to_cents(Decimal(plan.max_amount)) - (total.amount_cents if total else 0)
        if limit is not None:
            orders = min(orders, limit.max_orders - (ch.orders if ch else 0))
            cents = min(cents, to_cents(Decimal(limit.max_amount)) - (ch.amount_cents if ch else 0))
        out.append(FunderQuota(bank, Decimal(f.share), plan.id, max(orders, 0), from_cents(max(cents, 0)),
                               limit is not None))
    orders_left = min((q.orders_left for q in out), default=0)
    amount_left = min(((q.amount_left * HUNDRED / q.share).quantize(CENT, ROUND_DOWN) for q in out),
                      default=Decimal("0.00"))
    return Quota(product_id, channel_id, day, tuple(out), orders_left, amount_left)


def _amount_cents(amount: Decimal) -> int:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise UserError.of("amount", ErrorCode.INVALID, "The amount must be a positive Decimal in whole cents")
    return to_cents(amount)


async def _bump(model: type[Model], keys: dict[str, Any], cap: tuple[int, int] | None, cents: int) -> bool:
    """Add one order and `cents` to the counter row, only if it stays within `cap` (orders, cents)."""
    await model.bulk_create([model(**keys)], ignore_conflicts=True)
    qs = model.filter(**keys)
    if cap is not None:
        qs = qs.filter(orders__lte=cap[0] - 1, amount_cents__lte=cap[1] - cents)
    return bool(await qs.update(orders=F("orders") + 1, amount_cents=F("amount_cents") + cents))


async def consume_quota(product_id: int, bank_id: int, channel_id: int, amount: Decimal,
                        day: date | None = None) -> None:
    """Admit one order of `amount` for one funder (call inside the admission's transaction).

    Raises `QuotaExhausted` naming what ran out; nothing is counted then. Admission acts for the
    system, so no data scope applies here.
    """
    await _consume(product_id, bank_id, channel_id, _amount_cents(amount), day or clock.business_today())


async def _consume(product_id: int, bank_id: int, channel_id: int, cents: int, day: date) -> None:
    async with in_transaction():
        if not await ProductChannel.filter(product_id=product_id, institution_id=channel_id).exists():
            raise UserError.of("channelId", ErrorCode.INVALID, "Orders from this channel are not accepted "
                               "for the product")
        if not await ProductFunder.filter(product_id=product_id, bank_id=bank_id).exists():
            raise UserError.of("bankId", ErrorCode.INVALID, "This bank does not fund the product")
        plan = await (FundingPlan.filter(product_id=product_id, bank_id=bank_id, effective_from__lte=day)
                      .order_by("-effective_from", "-id").first())
        if plan is None:
            raise QuotaExhausted(product_id, bank_id, channel_id, "plan", "plan",
                                 f"Bank #{bank_id} has no funding plan in force on {day}")
        keys = {"product_id": product_id, "bank_id": bank_id, "day": day}
        if not await _bump(FundingUsageTotal, keys, (plan.max_orders, to_cents(Decimal(plan.max_amount))), cents):
            await _exhausted(FundingUsageTotal, keys, plan.max_orders, channel_id, "total")
        limit = await FundingPlanChannel.get_or_none(plan_id=plan.id, institution_id=channel_id)
        cap = (limit.max_orders, to_cents(Decimal(limit.max_amount))) if limit else None
        ch_keys = keys | {"institution_id": channel_id}
        if not await _bump(FundingUsage, ch_keys, cap, cents):
            assert limit is not None
            await _exhausted(FundingUsage, ch_keys, limit.max_orders, channel_id, "channel")


async def _exhausted(model: type[Model], keys: dict[str, Any], max_orders: int, channel_id: int, level: str) -> None:
    row: Any = await model.get(**keys)
    limit = "orders" if row.orders >= max_orders else "amount"
    where = "the funder's day plan" if level == "total" else f"channel #{channel_id}'s part of the plan"
    raise QuotaExhausted(keys["product_id"], keys["bank_id"], channel_id, level, limit,
                         f"Today's {limit} quota of {where} is used up (bank #{keys['bank_id']})")


def split_by_shares(amount: Decimal, funders: list[ProductFunder]) -> list[tuple[int, Decimal]]:
    """Each funder's part of a loan, half-up to the cent; the first funder takes the rounding."""
    parts = [(f.bank_id, (amount * Decimal(f.share) / HUNDRED).quantize(CENT, ROUND_HALF_UP))  # type: ignore[attr-defined]
             for f in funders]
    if parts:
        rest = amount - sum((p for _, p in parts[1:]), Decimal(0))
        parts[0] = (parts[0][0], rest)
    return parts


async def consume_for_loan(product_id: int, channel_id: int, amount: Decimal, day: date | None = None
                           ) -> list[tuple[int, Decimal]]:
    """Admit one loan: every funder's share, all or nothing. Returns (bank id, amount) per funder."""
    _amount_cents(amount)
    day = day or clock.business_today()
    async with in_transaction():
        funders = await ProductFunder.filter(product_id=product_id).order_by("position", "id")
        if not funders:
            raise not_found("Product", "productId")
        parts = split_by_shares(amount, funders)
        for bank, part in sorted(parts):  # one lock order for every admission: no deadlocks
            await _consume(product_id, bank, channel_id, to_cents(part), day)
    return parts


async def release_quota(product_id: int, bank_id: int, channel_id: int, amount: Decimal,
                        day: date) -> None:
    """Give back what `consume_quota` took (an admitted order that was cancelled the same day)."""
    cents = _amount_cents(amount)
    keys = {"product_id": product_id, "bank_id": bank_id, "day": day}
    async with in_transaction():
        for model, k in ((FundingUsageTotal, keys), (FundingUsage, keys | {"institution_id": channel_id})):
            await model.filter(**k, orders__gte=1, amount_cents__gte=cents).update(
                orders=F("orders") - 1, amount_cents=F("amount_cents") - cents)
