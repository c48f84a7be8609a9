"""GraphQL for loan products (SPEC §3), funding plans (F-PROD-5) and LPR base rates (F-PROD-6).

Every read passes `info.context.scope` to the service, which applies it in SQL; nested lists
(funders, channels, plans) load through per-request dataloaders built with the same scope, so a
product list costs a fixed number of queries. Decimals travel as strings ("1000.00", "70.0000").
Product changes go through review and return the change request, like users and roles.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry import UNSET
from strawberry.dataloader import DataLoader
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

from core import clock
from core.errors import forbidden
from core.loans.penalty import PenaltyBase
from core.products import funding, lpr, service
from core.products.models import (
    BusinessMode,
    CompensationBasis,
    FundingPlan,
    LprRate,
    LprTerm,
    PaymentType,
    Product,
    ProductType,
    TermUnitChoice,
)
from core.review.models import ChangeAction
from schema.accounts import ChangePayload
from schema.dataloaders import request_loader
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.orgs import RepaymentMethodEnum
from schema.relay import Connection, connection, decode, decode_optional, gid, paginate
from schema.review import load_change

BusinessModeEnum = strawberry.enum(BusinessMode, name="BusinessMode", description="自营 / 助贷 / 联合贷.")
PeriodTypeEnum = strawberry.enum(ProductType, name="ProductPeriodType", description="单期 / 多期.")
TermUnitEnum = strawberry.enum(TermUnitChoice, name="ProductTermUnit",
                               description="Single-period products count days, multi-period months.")
CompensationBasisEnum = strawberry.enum(CompensationBasis, name="CompensationBasis",
                                        description="前端还款日 / 银行还款日.")
PaymentTypeEnum = strawberry.enum(PaymentType, name="PaymentType", description="对公 / 对私.")
LprTermEnum = strawberry.enum(LprTerm, name="LprTerm")
PenaltyBaseEnum = strawberry.enum(PenaltyBase, name="PenaltyBase",
                                  description="What penalty interest is charged on: overdue principal, or principal "
                                              "and interest.")


@strawberry.enum(name="FundingPlanStatus")
class PlanStatus(Enum):
    SCHEDULED = "scheduled"  # takes effect on a later day
    IN_FORCE = "in_force"
    SUPERSEDED = "superseded"


# Product columns shown as they are, and foreign keys shown as global ids.
PLAIN_FIELDS = (
    "code", "name", "business_mode", "type", "repayment_method", "term_unit", "term_min", "term_max", "spread_bp",
    "payment_type", "compensation_enabled", "compensation_basis", "compensation_days", "compensation_time",
    "risk_event_enabled", "risk_scene_key", "disbursement_event_enabled", "disbursement_callback_url",
    "deduction_event_enabled", "deduction_event_key", "deduction_send_sms", "deduction_callback_enabled",
    "deduction_callback_url", "check_margin", "description", "enabled", "version", "last_action", "reviewed_at",
    "created_at")
REFS = {"assist_institution": "AssistInstitution", "enhancement_institution": "EnhancementInstitution",
        "payment_platform": "PaymentPlatform", "margin_account": "MarginAccount"}


def _opt(type_name: str, pk: int | None) -> strawberry.ID | None:
    return gid(type_name, pk) if pk else None


@strawberry.type(name="ProductFunder", description="A bank funding the product and its share of each loan.")
class FunderType:
    bank_id: strawberry.ID
    bank_code: str
    bank_short_name: str
    bank_product_id: strawberry.ID | None
    bank_product_name: str | None
    share: str = strawberry.field(description="Percent, four decimals (70.0000).")


@strawberry.type(name="ProductChannel", description="A traffic channel: shown by name and number (seed 001).")
class ChannelType:
    institution_id: strawberry.ID
    name: str
    number: str


@strawberry.type(name="FundingPlanChannelLimit")
class ChannelLimitType:
    channel_id: strawberry.ID
    max_orders: int
    max_amount: str


@strawberry.type(name="FundingPlan", description="A funder's daily plan from `effectiveFrom` until the next one.")
class PlanType:
    id: strawberry.ID
    product_id: strawberry.ID
    bank_id: strawberry.ID
    effective_from: date
    max_orders: int
    max_amount: str
    status: PlanStatus
    created_at: datetime
    channel_limits: list[ChannelLimitType]

    @classmethod
    def of(cls, p: FundingPlan, status: str) -> PlanType:
        return cls(id=gid("FundingPlan", p.id), product_id=gid("Product", p.product_id),  # type: ignore[attr-defined]
                   bank_id=gid("Bank", p.bank_id), effective_from=p.effective_from,  # type: ignore[attr-defined]
                   max_orders=p.max_orders, max_amount=str(p.max_amount), status=PlanStatus(status),
                   created_at=p.created_at,
                   channel_limits=[ChannelLimitType(channel_id=gid("AssistInstitution", c.institution_id),  # type: ignore[attr-defined]
                                                    max_orders=c.max_orders, max_amount=str(c.max_amount))
                                   for c in p.channel_limits])


def _loader(info: Info, name: str, load: Callable[[list[int]], Awaitable[list[Any]]]) -> DataLoader[int, Any]:
    return request_loader(info, "products", name, load)


def _grouped(rows: list[Any], keys: list[int], convert: Callable[[Any], Any]) -> list[list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        out[r.product_id].append(convert(r))
    return [out.get(k, []) for k in keys]


@strawberry.type(name="Product", description="A loan product's configuration (产品管理).")
class ProductGql:
    id: strawberry.ID
    code: str
    name: str
    business_mode: BusinessModeEnum  # type: ignore[valid-type]
    type: PeriodTypeEnum  # type: ignore[valid-type]
    repayment_method: RepaymentMethodEnum  # type: ignore[valid-type]
    amount_min: str
    amount_max: str
    term_unit: TermUnitEnum  # type: ignore[valid-type]
    term_min: int
    term_max: int
    spread_bp: int = strawberry.field(description="Loan rate = LPR (lprTerm) + spread, in basis points.")
    lpr_term: LprTermEnum  # type: ignore[valid-type]
    assist_institution_id: strawberry.ID | None
    enhancement_institution_id: strawberry.ID | None
    payment_type: PaymentTypeEnum  # type: ignore[valid-type]
    payment_platform_id: strawberry.ID | None
    compensation_enabled: bool
    compensation_basis: CompensationBasisEnum | None  # type: ignore[valid-type]
    compensation_days: int | None
    compensation_time: str | None
    penalty_daily_rate: str | None = strawberry.field(
        description="Daily penalty rate on overdue amounts (0.0005 = 万分之五); null: the platform default "
                    "(system parameter loan.penalty_daily_rate).")
    penalty_base: PenaltyBaseEnum | None = strawberry.field(  # type: ignore[valid-type]
        description="Null: the platform default (system parameter loan.penalty_base).")
    risk_event_enabled: bool
    risk_scene_key: str
    disbursement_event_enabled: bool
    disbursement_callback_url: str = strawberry.field(description="\"1\" means no callback.")
    deduction_event_enabled: bool
    deduction_event_key: str
    deduction_send_sms: bool | None
    deduction_callback_enabled: bool
    deduction_callback_url: str
    check_margin: bool
    margin_account_id: strawberry.ID | None
    description: str
    enabled: bool
    version: int
    last_action: str
    reviewed_at: datetime | None
    created_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, p: Product) -> ProductGql:
        d: dict[str, Any] = p.__dict__
        plain = {k: getattr(p, k) for k in PLAIN_FIELDS}
        refs = {f"{k}_id": _opt(t, d[f"{k}_id"]) for k, t in REFS.items()}
        rate = p.penalty_daily_rate
        return cls(**plain, **refs, id=gid("Product", p.id), amount_min=str(p.amount_min),
                   amount_max=str(p.amount_max), lpr_term=LprTerm(p.lpr_term), pk=p.id,
                   penalty_daily_rate=None if rate is None else str(rate),
                   penalty_base=PenaltyBase(p.penalty_base) if p.penalty_base else None)

    @strawberry.field(description="Funders in the order listed (the first takes the rounding cent).")
    async def funders(self, info: Info) -> list[FunderType]:
        scope = info.context.scope

        async def load(keys: list[int]) -> list[list[FunderType]]:
            rows = await service.funders_query(scope, keys).prefetch_related("bank", "bank_product")
            return _grouped(rows, keys, lambda f: FunderType(
                bank_id=gid("Bank", f.bank_id), bank_code=f.bank.code, bank_short_name=f.bank.short_name,
                bank_product_id=_opt("BankProduct", f.bank_product_id),
                bank_product_name=f.bank_product.name if f.bank_product else None, share=str(f.share)))
        return await _loader(info, "product_funders", load).load(self.pk)

    @strawberry.field(description="Traffic channels (lending-assist institutions).")
    async def channels(self, info: Info) -> list[ChannelType]:
        scope = info.context.scope

        async def load(keys: list[int]) -> list[list[ChannelType]]:
            rows = await service.channels_query(scope, keys).prefetch_related("institution")
            return _grouped(rows, keys, lambda c: ChannelType(
                institution_id=gid("AssistInstitution", c.institution_id), name=c.institution.name,
                number=c.institution.number))
        return await _loader(info, "product_channels", load).load(self.pk)

    @strawberry.field(description="Per visible funder: the plan in force today and any scheduled after it.")
    async def funding_plans(self, info: Info) -> list[PlanType]:
        scope = info.context.scope

        async def load(keys: list[int]) -> list[list[PlanType]]:
            today = clock.business_today()
            rows = await funding.current_plans(scope, keys, today)
            await FundingPlan.fetch_for_list(rows, "channel_limits")
            return _grouped(rows, keys, lambda p: PlanType.of(p, funding.plan_status(p, {p.id}, today)))
        return await _loader(info, "product_plans", load).load(self.pk)


@strawberry.type(name="FunderQuota")
class FunderQuotaType:
    bank_id: strawberry.ID
    share: str
    plan_id: strawberry.ID | None = strawberry.field(description="Null: no plan in force, nothing may be admitted.")
    orders_left: int
    amount_left: str
    channel_limited: bool


@strawberry.type(name="FundingQuota", description="What a product can still admit today from one channel.")
class QuotaType:
    product_id: strawberry.ID
    channel_id: strawberry.ID
    day: date
    orders_left: int
    amount_left: str
    funders: list[FunderQuotaType]


@strawberry.type(name="LprRate", description="A published LPR, in force from `effectiveFrom` (the day after saving).")
class LprType:
    id: strawberry.ID
    term: LprTermEnum  # type: ignore[valid-type]
    rate: str = strawberry.field(description="Percent per year, four decimals (3.4500).")
    effective_from: date
    created_at: datetime

    @classmethod
    def of(cls, r: LprRate) -> LprType:
        return cls(id=gid("LprRate", r.id), term=LprTerm(r.term), rate=str(Decimal(r.rate).quantize(lpr.RATE)),
                   effective_from=r.effective_from, created_at=r.created_at)


@strawberry.input
class ProductFilter:
    keyword: str | None = strawberry.field(default=None, description="Code or name contains")
    business_mode: BusinessModeEnum | None = None  # type: ignore[valid-type]
    bank_id: strawberry.ID | None = strawberry.field(default=None, description="Funded by this bank")
    enabled: bool | None = None


@strawberry.input
class FunderInput:
    bank_id: strawberry.ID
    bank_product_id: strawberry.ID | None = None
    share: str | None = strawberry.field(default=None, description="Percent; may be omitted for a sole funder")


@strawberry.input(description="A product's settings; amounts and shares are decimal strings. On create, an omitted "
                  "setting is off/empty (a missing required one comes back in `errors`, with every other problem); "
                  "on update it keeps its value, null clears an institution or the margin account, funders and "
                  "channelIds replace the lists, and the code cannot change.")
class ProductInput:
    code: str | None = UNSET
    name: str | None = UNSET
    business_mode: BusinessModeEnum | None = UNSET  # type: ignore[valid-type]
    type: PeriodTypeEnum | None = UNSET  # type: ignore[valid-type]
    repayment_method: RepaymentMethodEnum | None = UNSET  # type: ignore[valid-type]
    amount_min: str | None = UNSET
    amount_max: str | None = UNSET
    term_unit: TermUnitEnum | None = UNSET  # type: ignore[valid-type]
    term_min: int | None = UNSET
    term_max: int | None = UNSET
    payment_type: PaymentTypeEnum | None = UNSET  # type: ignore[valid-type]
    funders: list[FunderInput] | None = UNSET
    channel_ids: list[strawberry.ID] | None = UNSET
    spread_bp: int | None = UNSET
    lpr_term: LprTermEnum | None = UNSET  # type: ignore[valid-type]
    assist_institution_id: strawberry.ID | None = UNSET
    enhancement_institution_id: strawberry.ID | None = UNSET
    payment_platform_id: strawberry.ID | None = UNSET
    compensation_enabled: bool | None = UNSET
    compensation_basis: CompensationBasisEnum | None = UNSET  # type: ignore[valid-type]
    compensation_days: int | None = UNSET
    compensation_time: str | None = strawberry.field(default=UNSET, description="HH:MM, 00:00–23:59")
    penalty_daily_rate: str | None = strawberry.field(default=UNSET, description="Daily rate, e.g. 0.0005; null "
                                                                                 "on update: the platform default")
    penalty_base: PenaltyBaseEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=UNSET, description="Null on update: the platform default")
    risk_event_enabled: bool | None = UNSET
    risk_scene_key: str | None = UNSET
    disbursement_event_enabled: bool | None = UNSET
    disbursement_callback_url: str | None = strawberry.field(default=UNSET, description="\"1\": no callback")
    deduction_event_enabled: bool | None = UNSET
    deduction_event_key: str | None = UNSET
    deduction_send_sms: bool | None = UNSET
    deduction_callback_enabled: bool | None = UNSET
    deduction_callback_url: str | None = strawberry.field(default=UNSET, description="\"1\": no callback")
    check_margin: bool | None = UNSET
    margin_account_id: strawberry.ID | None = UNSET
    description: str | None = UNSET
    enabled: bool | None = UNSET


ID_FIELDS = {f"{k}_id": t for k, t in REFS.items()}
CLEARABLE = {*ID_FIELDS, "deduction_send_sms", "penalty_daily_rate", "penalty_base"}


def _product_data(inp: ProductInput, *, update: bool) -> dict[str, Any]:
    """The service's input dict (camelCase keys, raw ids); omitted fields are left out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(inp):  # type: ignore[arg-type]
        value, key = getattr(inp, f.name), to_camel_case(f.name)
        if value is UNSET or (value is None and not (update and f.name in CLEARABLE)):
            continue
        if f.name in ID_FIELDS and value is not None:
            value = decode(value, ID_FIELDS[f.name], key)
        elif f.name == "funders":
            value = [{"bankId": decode(x.bank_id, "Bank", f"funders[{i}].bankId"),
                      "bankProductId": decode_optional(x.bank_product_id, "BankProduct", f"funders[{i}].bankProductId"),
                      "share": x.share} for i, x in enumerate(value)]
        elif f.name == "channel_ids":
            value = [decode(c, "AssistInstitution", f"channelIds[{i}]") for i, c in enumerate(value)]
        elif isinstance(value, Enum):
            value = value.value
        out[key] = value
    return out


@strawberry.input
class ChannelLimitInput:
    channel_id: strawberry.ID
    max_orders: int
    max_amount: str


@strawberry.input(description="A funder's daily plan; channels not listed are bound by the totals only.")
class FundingPlanInput:
    product_id: strawberry.ID
    bank_id: strawberry.ID
    max_orders: int
    max_amount: str
    channels: list[ChannelLimitInput] = strawberry.field(default_factory=list)


@strawberry.type
class FundingPlanPayload(Payload):
    plan: PlanType | None = None


@strawberry.type
class LprPayload(Payload):
    lpr_rate: LprType | None = None


def _quota(q: funding.Quota) -> QuotaType:
    return QuotaType(product_id=gid("Product", q.product_id), channel_id=gid("AssistInstitution", q.channel_id),
                     day=q.day, orders_left=q.orders_left, amount_left=str(q.amount_left),
                     funders=[FunderQuotaType(bank_id=gid("Bank", f.bank_id), share=str(f.share),
                                              plan_id=_opt("FundingPlan", f.plan_id), orders_left=f.orders_left,
                                              amount_left=str(f.amount_left), channel_limited=f.channel_limited)
                              for f in q.funders])


@strawberry.type
class ProductsQuery:
    @guarded("products", description="Products within your data permission (filters: keyword, mode, bank, enabled).")
    async def products(self, info: Info, filter: ProductFilter | None = None, first: int | None = None,
                       after: str | None = None) -> Connection[ProductGql]:
        f = filter or ProductFilter()
        qs = service.products_query(info.context.scope, service.ProductFilter(
            keyword=f.keyword, business_mode=f.business_mode, enabled=f.enabled,
            bank_id=decode_optional(f.bank_id, "Bank", "filter.bankId")))
        return connection(await paginate(qs, first, after), ProductGql.of)

    @guarded("products", description="One product; another bank's product answers null like a missing one.")
    async def product(self, info: Info, id: strawberry.ID) -> ProductGql | None:
        row = await service.get_product(info.context.scope, decode(id, "Product", "id"))
        return ProductGql.of(row) if row else None

    @guarded("funding_plans", description="Plan history of a product's funders you may see, newest first.")
    async def funding_plans(self, info: Info, product_id: strawberry.ID, bank_id: strawberry.ID | None = None,
                            first: int | None = None, after: str | None = None) -> Connection[PlanType]:
        scope, pid = info.context.scope, decode(product_id, "Product", "productId")
        qs = funding.plans_query(scope, [pid], decode_optional(bank_id, "Bank", "bankId"))
        page = await paginate(qs, first, after, "channel_limits")
        today = clock.business_today()
        current = {p.id for p in await funding.current_plans(scope, [pid], today)}
        return connection(page, lambda p: PlanType.of(p, funding.plan_status(p, current, today)))

    @guarded("funding_plans", "products", description="Orders and amount the product can still admit today "
             "from a channel, per funder you may see and in total.")
    async def remaining_quota(self, info: Info, product_id: strawberry.ID, channel_id: strawberry.ID) -> QuotaType:
        q = await funding.remaining_quota(decode(product_id, "Product", "productId"),
                                          decode(channel_id, "AssistInstitution", "channelId"),
                                          scope=info.context.scope)
        return _quota(q)

    @guarded("lpr", description="LPR history, newest first.")
    async def lpr_rates(self, info: Info, term: LprTermEnum | None = None, first: int | None = None,  # type: ignore[valid-type]
                        after: str | None = None) -> Connection[LprType]:
        return connection(await paginate(lpr.history_query(term), first, after), LprType.of)

    @guarded("lpr", "products", description="The LPR in force on a date (default today).")
    async def lpr_on(self, info: Info, term: LprTermEnum, date: date | None = None) -> LprType | None:  # type: ignore[valid-type]
        row = await lpr.lpr_on(term, date)
        return LprType.of(row) if row else None

    @guarded("lpr", description="The next LPR adjustment day: the 20th, or the next working day.")
    async def next_lpr_reminder(self, info: Info) -> date:
        return lpr.next_reminder()


@strawberry.type
class ProductsMutation:
    @guarded_mutation("products.create", description="Propose a new product; the named checker must approve it. "
                      "With changeId, revise your pending proposal instead.")
    async def create_product(self, info: Info, input: ProductInput, checker_id: strawberry.ID,
                             change_id: strawberry.ID | None = None) -> ChangePayload:
        return await _submit(info, ChangeAction.CREATE, None, _product_data(input, update=False), checker_id,
                             change_id)

    @guarded_mutation("products.update", description="Propose an edit of a product (checked whole, as merged).")
    async def update_product(self, info: Info, id: strawberry.ID, input: ProductInput,
                             checker_id: strawberry.ID, change_id: strawberry.ID | None = None) -> ChangePayload:
        return await _submit(info, ChangeAction.UPDATE, decode(id, "Product", "id"), _product_data(input, update=True),
                             checker_id, change_id)

    @guarded_mutation("products.delete", description="Propose deleting a product (refused once it has been used).")
    async def delete_product(self, info: Info, id: strawberry.ID, checker_id: strawberry.ID) -> ChangePayload:
        return await _submit(info, ChangeAction.DELETE, decode(id, "Product", "id"), {}, checker_id, None)

    @guarded_mutation("funding_plans.save", "funding_plans.activate",
                      description="Save a funder's daily plan: from tomorrow, or today with effectiveNow (立即生效).")
    async def save_funding_plan(self, info: Info, input: FundingPlanInput,
                                effective_now: bool = False) -> FundingPlanPayload:
        actor = actor_of(info)
        node = "funding_plans.activate" if effective_now else "funding_plans.save"
        if not actor.can(node):
            raise forbidden(f"This needs {node}")
        limits = tuple(funding.ChannelLimitInput(decode(c.channel_id, "AssistInstitution", f"channels[{i}].channelId"),
                                                 c.max_orders, c.max_amount) for i, c in enumerate(input.channels))
        plan = funding.PlanInput(decode(input.product_id, "Product", "productId"),
                                 decode(input.bank_id, "Bank", "bankId"), input.max_orders, input.max_amount, limits)
        row = await funding.save_plan(actor, info.context.scope, plan, effective_now=effective_now,
                                      request_id=info.context.request_id)
        await row.fetch_related("channel_limits")
        return FundingPlanPayload(plan=PlanType.of(row, "in_force" if effective_now else "scheduled"))

    @guarded_mutation("lpr.save", description="Save the LPR for a term; it takes effect tomorrow.")
    async def save_lpr(self, info: Info, term: LprTermEnum, rate: str) -> LprPayload:  # type: ignore[valid-type]
        row = await lpr.save_rate(actor_of(info), term, rate, info.context.request_id)
        return LprPayload(lpr_rate=LprType.of(row))


async def _submit(info: Info, action: ChangeAction, product_id: int | None, data: dict[str, Any],
                  checker_id: strawberry.ID, change_id: strawberry.ID | None) -> ChangePayload:
    change = await service.submit_change(
        actor_of(info), info.context.scope, action, product_id, data, decode(checker_id, "User", "checkerId"),
        change_id=decode_optional(change_id, "ChangeRequest", "changeId"), request_id=info.context.request_id)
    return ChangePayload(change=await load_change(change))

