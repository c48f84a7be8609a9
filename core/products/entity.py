"""Loan products as a reviewed entity (SPEC §3, F-REV-1): propose, check staleness, apply.

Why updates are validated whole: the product rules cross fields (business mode ↔ funders and
assist institution, type ↔ term unit ↔ repayment method, check margin ↔ funders' banks), so an
edit is merged over the product as it is now and the merged configuration is checked with every
rule. The stored payload is therefore the complete new configuration, and applying it replaces the
funders and channels in the same transaction as the product row.

The deduction event (F-PROD-4) is only stored here; binding it to an order for the order's whole
life is the loans module's job (it copies the event key onto the order at admission).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError

from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.products.models import FundingUsage, FundingUsageTotal, Product, ProductChannel, ProductFunder
from core.products.validation import DEFAULTS, check_references, check_shape
from core.review.models import ChangeAction
from core.review.registry import Proposal, register, review_stamp

# Payload key → Product column, for the scalar part of the configuration.
COLUMNS: dict[str, str] = {
    "code": "code", "name": "name", "businessMode": "business_mode", "type": "type",
    "repaymentMethod": "repayment_method", "amountMin": "amount_min", "amountMax": "amount_max",
    "termUnit": "term_unit", "termMin": "term_min", "termMax": "term_max", "spreadBp": "spread_bp",
    "lprTerm": "lpr_term", "assistInstitutionId": "assist_institution_id",
    "enhancementInstitutionId": "enhancement_institution_id", "paymentType": "payment_type",
    "paymentPlatformId": "payment_platform_id", "compensationEnabled": "compensation_enabled",
    "compensationBasis": "compensation_basis", "compensationDays": "compensation_days",
    "compensationTime": "compensation_time", "penaltyDailyRate": "penalty_daily_rate",
    "penaltyBase": "penalty_base", "riskEventEnabled": "risk_event_enabled",
    "riskSceneKey": "risk_scene_key", "disbursementEventEnabled": "disbursement_event_enabled",
    "disbursementCallbackUrl": "disbursement_callback_url", "deductionEventEnabled": "deduction_event_enabled",
    "deductionEventKey": "deduction_event_key", "deductionSendSms": "deduction_send_sms",
    "deductionCallbackEnabled": "deduction_callback_enabled", "deductionCallbackUrl": "deduction_callback_url",
    "checkMargin": "check_margin", "marginAccountId": "margin_account_id", "description": "description",
    "enabled": "enabled",
}
MONEY = Decimal("0.01")
SHARE = Decimal("0.0001")
PENALTY_RATE = Decimal("0.000001")


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


async def snapshot(product: Product) -> dict[str, Any]:
    """The product as a payload (the shape `validate_product` returns), for merging edits."""
    out = {key: _plain(getattr(product, column)) for key, column in COLUMNS.items()}
    out["amountMin"] = str(Decimal(product.amount_min).quantize(MONEY))
    out["amountMax"] = str(Decimal(product.amount_max).quantize(MONEY))
    rate = product.penalty_daily_rate
    out["penaltyDailyRate"] = None if rate is None else str(Decimal(rate).quantize(PENALTY_RATE))
    funders = await ProductFunder.filter(product_id=product.id).order_by("position", "id")
    out["funders"] = [{"bankId": f.bank_id, "bankProductId": f.bank_product_id,  # type: ignore[attr-defined]
                       "share": str(Decimal(f.share).quantize(SHARE))} for f in funders]
    out["channelIds"] = list(await ProductChannel.filter(product_id=product.id).order_by("id")
                             .values_list("institution_id", flat=True))
    return out


def label_of(payload: dict[str, Any]) -> str:
    return f"{payload.get('code', '')} {payload.get('name', '')}".strip()


async def has_usage(product_id: int) -> bool:
    """Whether admission has ever drawn on the product's funding plans.

    Stand-in for "the product has orders" until the loans module exists: the loans issue should
    replace it with a check on its order table (a product with orders cannot be deleted).
    """
    return (await FundingUsageTotal.filter(product_id=product_id).exists()
            or await FundingUsage.filter(product_id=product_id).exists())


class ProductEntity:
    entity_type = "product"
    module = "products"
    page = "products"

    async def propose(self, action: ChangeAction, entity_id: int | None, data: dict[str, Any],
                      actor: Actor) -> Proposal:
        if action is ChangeAction.CREATE:
            out, errs = check_shape(DEFAULTS | data)
            await check_references(errs, out, None)
            errs.raise_if_any()
            return Proposal(out, None, label_of(out), scope_bank_id=out["funders"][0]["bankId"])
        product = await Product.get_or_none(id=entity_id or 0)
        if product is None:
            raise not_found("Product")
        if action is ChangeAction.DELETE:
            if await has_usage(product.id):
                raise UserError.of("id", ErrorCode.CONFLICT, "The product has been used by orders and cannot be "
                                   "deleted; disable it instead")
            return Proposal({}, product.version, f"{product.code} {product.name}", scope_product_id=product.id)
        current = await snapshot(product)
        errs = ErrorCollector()
        if data.get("code") is not None and data["code"] != product.code:
            errs.add("code", ErrorCode.IMMUTABLE, "A product's code cannot be changed")
        merged = current | {k: v for k, v in data.items() if k != "code"}
        out, shape_errs = check_shape(merged)
        errs.errors.extend(shape_errs.errors)
        await check_references(errs, out, product.id)
        errs.raise_if_any()
        if out == current:
            raise UserError.of(None, ErrorCode.REQUIRED, "Nothing to change")
        return Proposal(out, product.version, label_of(out), scope_product_id=product.id)

    async def current_version(self, entity_id: int) -> int | None:
        product = await Product.get_or_none(id=entity_id)
        return product.version if product else None

    async def apply(self, action: ChangeAction, entity_id: int | None, payload: dict[str, Any],
                    maker_id: int | None, checker_id: int | None) -> int:
        """Apply inside the caller's transaction (None maker/checker: demo data applied directly)."""
        stamp = review_stamp(action, maker_id, checker_id)
        if action is ChangeAction.DELETE:
            product = await Product.get(id=entity_id)
            if await has_usage(product.id):
                raise UserError.of("changeId", ErrorCode.CONFLICT, "The product has been used by orders meanwhile")
            await product.delete()
            return product.id
        # Institutions may have been removed while the change waited: check again, clearly.
        errs = ErrorCollector()
        await check_references(errs, payload, entity_id)
        errs.raise_if_any()
        columns = {COLUMNS[k]: payload[k] for k in COLUMNS}
        columns["amount_min"], columns["amount_max"] = Decimal(payload["amountMin"]), Decimal(payload["amountMax"])
        rate = payload.get("penaltyDailyRate")
        columns["penalty_daily_rate"] = None if rate is None else Decimal(rate)
        if action is ChangeAction.CREATE:
            try:
                product = await Product.create(**columns, **stamp)
            except IntegrityError:  # two approvals of the same code racing: the loser is told why
                raise UserError.of("code", ErrorCode.NOT_UNIQUE, "The product code was taken meanwhile") from None
        else:
            product = await Product.get(id=entity_id)
            await Product.filter(id=product.id, version=product.version).update(
                **columns, **stamp, version=product.version + 1)
        await _replace_children(product.id, payload)
        return product.id


async def _replace_children(product_id: int, payload: dict[str, Any]) -> None:
    await ProductFunder.filter(product_id=product_id).delete()
    await ProductChannel.filter(product_id=product_id).delete()
    await ProductFunder.bulk_create([
        ProductFunder(product_id=product_id, bank_id=f["bankId"], bank_product_id=f["bankProductId"],
                      share=Decimal(f["share"]), position=i)
        for i, f in enumerate(payload["funders"])])
    await ProductChannel.bulk_create([ProductChannel(product_id=product_id, institution_id=c)
                                      for c in payload["channelIds"]])


PRODUCT = register(ProductEntity())
