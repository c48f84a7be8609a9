"""Every rule a loan product's configuration must satisfy (SPEC §3, seed 001 §12), checked at once.

Why one module: a maker fixes a product form in one go only if every problem comes back together,
each naming its field path (`funders[1].share`, `channelIds[0]`) and the rule. `check_shape` is pure
(no database) so the rules are cheap to test one by one; `check_references` adds the rules that need
the database (existence, ownership, uniqueness). `validate_product` runs both and returns the
normalised payload stored on the change request (JSON: decimals as strings, ids as ints).

Decisions where SPEC is silent (documented here and in the report):
- **Single-period products** (单期) have one installment: their term is counted in **days** (seed 001:
  "按期多期来填写是天还是月") and they repay principal and interest together at the end (`BULLET`).
  **Multi-period products** (多期) count their term in **months**, at least 2 (one month is one
  period, which is what single-period products are for), and cannot use `BULLET`.
- Terms are capped (3650 days, 360 months) and the compensation delay at 365 days, the LPR spread at
  ±5000 bp: larger values are typos, not products.
- A switched-off event or compensation point keeps none of its settings, so a stale key or URL never
  looks active.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from core.errors import ErrorCode, ErrorCollector
from core.loans.penalty import PenaltyBase
from core.loans.schedule import RepaymentMethod
from core.orgs.models import (
    AssistInstitution,
    Bank,
    BankProduct,
    EnhancementInstitution,
    MarginAccount,
    PaymentPlatform,
)
from core.products.models import (
    BusinessMode,
    CompensationBasis,
    LprTerm,
    PaymentType,
    Product,
    ProductType,
    TermUnitChoice,
)

HUNDRED = Decimal(100)
MAX_AMOUNT = Decimal("9999999999999999.99")  # DecimalField(max_digits=18, decimal_places=2)
MAX_TERM = {TermUnitChoice.DAY: 3650, TermUnitChoice.MONTH: 360}
MAX_COMPENSATION_DAYS = 365
MAX_SPREAD_BP = 5000
MAX_PENALTY_DAILY_RATE = Decimal("0.01")  # 1 % a day: far above any lawful contract term
NO_CALLBACK = "1"  # seed 001: a callback address of "1" means "do not call back"
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
CODE = re.compile(r"^[A-Za-z0-9_-]+$")
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)

# Fields a create may leave out, and their values.
DEFAULTS: dict[str, Any] = {
    "spreadBp": 0, "lprTerm": LprTerm.ONE_YEAR.value, "assistInstitutionId": None,
    "enhancementInstitutionId": None, "paymentPlatformId": None, "compensationEnabled": False,
    "compensationBasis": None, "compensationDays": None, "compensationTime": None,
    "penaltyDailyRate": None, "penaltyBase": None, "riskEventEnabled": False, "riskSceneKey": "",
    "disbursementEventEnabled": False,
    "disbursementCallbackUrl": "", "deductionEventEnabled": False, "deductionEventKey": "",
    "deductionSendSms": None, "deductionCallbackEnabled": False, "deductionCallbackUrl": "",
    "checkMargin": False, "marginAccountId": None, "description": "", "enabled": True,
}


def parse_decimal(errs: ErrorCollector, field: str, value: Any, places: int, *, required: bool = True
                  ) -> Decimal | None:
    """A Decimal with at most `places` decimals from a string/int/Decimal (never a float)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errs.add(field, ErrorCode.REQUIRED, f"{field} is required")
        return None
    if isinstance(value, float | bool) or not isinstance(value, str | int | Decimal):
        errs.add(field, ErrorCode.INVALID, f"{field} must be a decimal number written as a string")
        return None
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        errs.add(field, ErrorCode.INVALID, f"{field} must be a number, e.g. 1000.00")
        return None
    if not number.is_finite():
        errs.add(field, ErrorCode.INVALID, f"{field} must be a finite number")
        return None
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        errs.add(field, ErrorCode.INVALID, f"{field} may have at most {places} decimal places")
        return None
    return number.quantize(Decimal(1).scaleb(-places))


def _int(errs: ErrorCollector, field: str, value: Any, lo: int, hi: int, *, required: bool = True) -> int | None:
    if value is None:
        if required:
            errs.add(field, ErrorCode.REQUIRED, f"{field} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errs.add(field, ErrorCode.INVALID, f"{field} must be a whole number")
        return None
    if not lo <= value <= hi:
        errs.add(field, ErrorCode.OUT_OF_RANGE, f"{field} must be between {lo} and {hi}")
        return None
    return value


def _text(errs: ErrorCollector, field: str, value: Any, max_len: int, *, required: bool) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        errs.add(field, ErrorCode.INVALID, f"{field} must be text")
    elif not text and required:
        errs.add(field, ErrorCode.REQUIRED, f"{field} is required")
    elif len(text) > max_len:
        errs.add(field, ErrorCode.TOO_LONG, f"{field} must be at most {max_len} characters")
    return text


def _choice(errs: ErrorCollector, field: str, value: Any, choices: type[Any], *, required: bool = True
            ) -> str | None:
    raw = getattr(value, "value", value)
    allowed = [c.value for c in choices]
    if raw is None or raw == "":
        if required:
            errs.add(field, ErrorCode.REQUIRED, f"{field} is required (one of {', '.join(allowed)})")
        return None
    if raw not in allowed:
        errs.add(field, ErrorCode.INVALID, f"{field} must be one of {', '.join(allowed)}")
        return None
    return str(raw)


def _flag(data: dict[str, Any], key: str) -> bool:
    return bool(data.get(key))


def _id(errs: ErrorCollector, field: str, value: Any, *, required: bool, message: str = "") -> int | None:
    if value is None:
        if required:
            errs.add(field, ErrorCode.REQUIRED, message or f"{field} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errs.add(field, ErrorCode.INVALID, f"{field} is not a valid id")
        return None
    return value


def _callback(errs: ErrorCollector, field: str, value: Any) -> str:
    url = _text(errs, field, value, 500, required=True)
    if url and not errs.has(field) and url != NO_CALLBACK and not URL.match(url):
        errs.add(field, ErrorCode.INVALID, f"{field} must be an http(s) URL, or \"1\" for no callback")
    return url


def _amounts_and_terms(errs: ErrorCollector, data: dict[str, Any], out: dict[str, Any]) -> None:
    lo = parse_decimal(errs, "amountMin", data.get("amountMin"), 2)
    hi = parse_decimal(errs, "amountMax", data.get("amountMax"), 2)
    for field, amount in (("amountMin", lo), ("amountMax", hi)):
        if amount is not None and not Decimal("0") < amount <= MAX_AMOUNT:
            errs.add(field, ErrorCode.OUT_OF_RANGE, f"{field} must be more than 0 and at most {MAX_AMOUNT}")
    if lo is not None and hi is not None and lo > hi and not errs.has("amountMin") and not errs.has("amountMax"):
        errs.add("amountMin", ErrorCode.OUT_OF_RANGE, "amountMin must not exceed amountMax (the range is inclusive)")
    out["amountMin"], out["amountMax"] = (str(lo) if lo is not None else None), (str(hi) if hi is not None else None)

    kind = _choice(errs, "type", data.get("type"), ProductType)
    unit = _choice(errs, "termUnit", data.get("termUnit"), TermUnitChoice)
    method = _choice(errs, "repaymentMethod", data.get("repaymentMethod"), RepaymentMethod)
    out.update(type=kind, termUnit=unit, repaymentMethod=method)
    if kind == ProductType.SINGLE and unit == TermUnitChoice.MONTH:
        errs.add("termUnit", ErrorCode.INVALID, "A single-period product's term is counted in days")
    if kind == ProductType.MULTI and unit == TermUnitChoice.DAY:
        errs.add("termUnit", ErrorCode.INVALID, "A multi-period product's term is counted in months")
    if kind == ProductType.SINGLE and method and method != RepaymentMethod.BULLET:
        errs.add("repaymentMethod", ErrorCode.INVALID,
                 "A single-period product repays principal and interest together at the end (BULLET)")
    if kind == ProductType.MULTI and method == RepaymentMethod.BULLET:
        errs.add("repaymentMethod", ErrorCode.INVALID, "BULLET has one installment: use a single-period product")
    top = MAX_TERM[TermUnitChoice(unit)] if unit else max(MAX_TERM.values())
    floor = 2 if kind == ProductType.MULTI else 1
    t_lo = _int(errs, "termMin", data.get("termMin"), floor, top)
    t_hi = _int(errs, "termMax", data.get("termMax"), floor, top)
    if t_lo is not None and t_hi is not None and t_lo > t_hi:
        errs.add("termMin", ErrorCode.OUT_OF_RANGE, "termMin must not exceed termMax")
    out.update(termMin=t_lo, termMax=t_hi)


def _funders(errs: ErrorCollector, data: dict[str, Any], mode: str | None) -> list[dict[str, Any]]:
    raw = data.get("funders") or []
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    single = mode in (BusinessMode.SELF_OPERATED, BusinessMode.ASSISTED)
    for i, f in enumerate(raw):
        path = f"funders[{i}]"
        bank = _id(errs, f"{path}.bankId", f.get("bankId"), required=True, message="Choose the funding bank")
        if bank is not None and bank in seen:
            errs.add(f"{path}.bankId", ErrorCode.NOT_UNIQUE, "A bank can fund a product only once")
        seen.add(bank or 0)
        share_raw = f.get("share")
        if share_raw is None and single:
            share_raw = "100"
        share = parse_decimal(errs, f"{path}.share", share_raw, 4)
        if share is not None and not Decimal(0) < share <= HUNDRED:
            errs.add(f"{path}.share", ErrorCode.OUT_OF_RANGE, "A share is a percentage above 0 and at most 100")
        elif share is not None and single and share != HUNDRED:
            errs.add(f"{path}.share", ErrorCode.INVALID, "The only funder of a non-joint product funds 100%")
        product = _id(errs, f"{path}.bankProductId", f.get("bankProductId"), required=False)
        out.append({"bankId": bank, "bankProductId": product, "share": str(share) if share is not None else None})
    if not raw:
        errs.add("funders", ErrorCode.REQUIRED, "Choose the funding bank(s)")
    elif single and len(raw) != 1:
        errs.add("funders", ErrorCode.INVALID, "A self-operated or assisted product has exactly one funder")
    elif mode == BusinessMode.JOINT:
        if len(raw) < 2:
            errs.add("funders", ErrorCode.INVALID, "Joint lending needs at least two funders")
        shares = [Decimal(f["share"]) for f in out if f["share"] is not None]
        if len(shares) == len(out) and sum(shares, Decimal(0)) != HUNDRED:
            errs.add("funders", ErrorCode.INVALID,
                     f"Joint lending shares must add up to exactly 100 (they add up to {sum(shares, Decimal(0))})")
    return out


def _channels(errs: ErrorCollector, data: dict[str, Any]) -> list[int]:
    raw = data.get("channelIds") or []
    if not raw:
        errs.add("channelIds", ErrorCode.REQUIRED, "Choose at least one traffic channel")
    out: list[int] = []
    for i, value in enumerate(raw):
        cid = _id(errs, f"channelIds[{i}]", value, required=True)
        if cid is not None and cid in out:
            errs.add(f"channelIds[{i}]", ErrorCode.NOT_UNIQUE, "This channel is listed twice")
        elif cid is not None:
            out.append(cid)
    return out


def _compensation_and_events(errs: ErrorCollector, data: dict[str, Any], out: dict[str, Any]) -> None:
    on = _flag(data, "compensationEnabled")
    out.update(compensationEnabled=on, compensationBasis=None, compensationDays=None, compensationTime=None)
    if on:
        out["compensationBasis"] = _choice(errs, "compensationBasis", data.get("compensationBasis"), CompensationBasis)
        out["compensationDays"] = _int(errs, "compensationDays", data.get("compensationDays"), 0,
                                       MAX_COMPENSATION_DAYS)
        time = data.get("compensationTime")
        if not time:
            errs.add("compensationTime", ErrorCode.REQUIRED, "compensationTime is required (HH:MM, 00:00–23:59)")
        elif not isinstance(time, str) or not HHMM.match(time):
            errs.add("compensationTime", ErrorCode.INVALID, "compensationTime must be HH:MM between 00:00 and 23:59")
        else:
            out["compensationTime"] = time

    risk = _flag(data, "riskEventEnabled")
    out.update(riskEventEnabled=risk,
               riskSceneKey=_text(errs, "riskSceneKey", data.get("riskSceneKey"), 50, required=True) if risk else "")
    disb = _flag(data, "disbursementEventEnabled")
    out.update(disbursementEventEnabled=disb, disbursementCallbackUrl=_callback(
        errs, "disbursementCallbackUrl", data.get("disbursementCallbackUrl")) if disb else "")
    deduction = _flag(data, "deductionEventEnabled")
    callback = deduction and _flag(data, "deductionCallbackEnabled")
    out.update(deductionEventEnabled=deduction, deductionEventKey="", deductionSendSms=None,
               deductionCallbackEnabled=callback, deductionCallbackUrl="")
    if deduction:
        out["deductionEventKey"] = _text(errs, "deductionEventKey", data.get("deductionEventKey"), 50, required=True)
        sms = data.get("deductionSendSms")
        if sms is None:
            errs.add("deductionSendSms", ErrorCode.REQUIRED, "Say whether to send the repayment SMS")
        out["deductionSendSms"] = None if sms is None else bool(sms)
    if callback:
        out["deductionCallbackUrl"] = _callback(errs, "deductionCallbackUrl", data.get("deductionCallbackUrl"))


def _penalty(errs: ErrorCollector, data: dict[str, Any], out: dict[str, Any]) -> None:
    """The product's penalty-interest terms; both optional (null: the platform's system parameters)."""
    rate = parse_decimal(errs, "penaltyDailyRate", data.get("penaltyDailyRate"), 6, required=False)
    if rate is not None and not (0 <= rate <= MAX_PENALTY_DAILY_RATE):
        errs.add("penaltyDailyRate", ErrorCode.OUT_OF_RANGE,
                 f"penaltyDailyRate is a daily rate between 0 and {MAX_PENALTY_DAILY_RATE} (0.0005 is 万分之五)")
        rate = None
    out["penaltyDailyRate"] = None if rate is None else str(rate)
    out["penaltyBase"] = _choice(errs, "penaltyBase", data.get("penaltyBase"), PenaltyBase, required=False)


def check_shape(data: dict[str, Any]) -> tuple[dict[str, Any], ErrorCollector]:
    """Every rule that needs no database; returns the normalised payload and the problems found."""
    errs = ErrorCollector()
    code = _text(errs, "code", data.get("code"), 30, required=True)
    if code and not errs.has("code") and not CODE.match(code):
        errs.add("code", ErrorCode.INVALID, "code may contain letters, digits, '_' and '-' only")
    out: dict[str, Any] = {"code": code, "name": _text(errs, "name", data.get("name"), 50, required=True)}
    mode = _choice(errs, "businessMode", data.get("businessMode"), BusinessMode)
    out["businessMode"] = mode
    _amounts_and_terms(errs, data, out)
    spread = data.get("spreadBp")
    out["spreadBp"] = _int(errs, "spreadBp", 0 if spread is None else spread, -MAX_SPREAD_BP, MAX_SPREAD_BP)
    out["lprTerm"] = _choice(errs, "lprTerm", data.get("lprTerm") or LprTerm.ONE_YEAR.value, LprTerm)
    out["paymentType"] = _choice(errs, "paymentType", data.get("paymentType"), PaymentType)
    out["assistInstitutionId"] = _id(errs, "assistInstitutionId", data.get("assistInstitutionId"),
                                     required=mode == BusinessMode.ASSISTED,
                                     message="An assisted product must name its lending-assist institution")
    out["enhancementInstitutionId"] = _id(errs, "enhancementInstitutionId", data.get("enhancementInstitutionId"),
                                          required=False)
    out["paymentPlatformId"] = _id(errs, "paymentPlatformId", data.get("paymentPlatformId"), required=False)
    _compensation_and_events(errs, data, out)
    _penalty(errs, data, out)
    out["checkMargin"] = _flag(data, "checkMargin")
    out["marginAccountId"] = _id(errs, "marginAccountId", data.get("marginAccountId"), required=out["checkMargin"],
                                 message="Checking margin needs a margin account") if out["checkMargin"] else None
    out["description"] = _text(errs, "description", data.get("description"), 500, required=False)
    out["enabled"] = data.get("enabled") is not False
    out["funders"] = _funders(errs, data, mode)
    out["channelIds"] = _channels(errs, data)
    return out, errs


async def _existing(model: Any, ids: set[int]) -> set[int]:
    return set(await model.filter(id__in=sorted(ids)).values_list("id", flat=True)) if ids else set()


async def check_references(errs: ErrorCollector, out: dict[str, Any], product_id: int | None) -> None:
    """The rules that read the database: existence, ownership and the unique code."""
    code = out["code"]
    if code and not errs.has("code"):
        taken = Product.filter(code=code)
        if product_id is not None:
            taken = taken.exclude(id=product_id)
        if await taken.exists():
            errs.add("code", ErrorCode.NOT_UNIQUE, f"A product with code {code!r} already exists")
    funders = out["funders"]
    banks = await _existing(Bank, {f["bankId"] for f in funders if f["bankId"]})
    bp_ids = sorted({f["bankProductId"] for f in funders if f["bankProductId"]})
    owners = dict(await BankProduct.filter(id__in=bp_ids).values_list("id", "bank_id")) if bp_ids else {}
    for i, f in enumerate(funders):
        if f["bankId"] and f["bankId"] not in banks and not errs.has(f"funders[{i}].bankId"):
            errs.add(f"funders[{i}].bankId", ErrorCode.NOT_FOUND, "Bank not found")
        bp = f["bankProductId"]
        if bp and bp not in owners:
            errs.add(f"funders[{i}].bankProductId", ErrorCode.NOT_FOUND, "Bank credit product not found")
        elif bp and owners[bp] != f["bankId"]:
            errs.add(f"funders[{i}].bankProductId", ErrorCode.INVALID, "This credit product belongs to another bank")
    channels = await _existing(AssistInstitution, set(out["channelIds"]))
    for i, cid in enumerate(out["channelIds"]):
        if cid not in channels:
            errs.add(f"channelIds[{i}]", ErrorCode.NOT_FOUND, "Traffic channel (lending-assist institution) not found")
    for field, model, what in (("assistInstitutionId", AssistInstitution, "Lending-assist institution"),
                               ("enhancementInstitutionId", EnhancementInstitution, "Credit-enhancement institution"),
                               ("paymentPlatformId", PaymentPlatform, "Payment platform")):
        if out[field] and not await model.filter(id=out[field]).exists():
            errs.add(field, ErrorCode.NOT_FOUND, f"{what} not found")
    if out["marginAccountId"]:
        owner = await MarginAccount.filter(id=out["marginAccountId"]).values_list("bank_id", flat=True)
        if not owner:
            errs.add("marginAccountId", ErrorCode.NOT_FOUND, "Margin account not found")
        elif owner[0] not in {f["bankId"] for f in funders}:
            errs.add("marginAccountId", ErrorCode.INVALID, "The margin account must belong to one of the funding banks")


async def validate_product(data: dict[str, Any], product_id: int | None = None) -> dict[str, Any]:
    """The normalised payload of a valid product, or a UserError listing every problem."""
    out, errs = check_shape(data)
    await check_references(errs, out, product_id)
    errs.raise_if_any()
    return out
