"""Diversion types and AML / concentration rule settings as reviewed entities (F-MON-3, F-MON-4).

Rule changes go through maker-checker (`core.review`): a maker proposes, the named checker approves,
and the approval applies the change in one transaction with the operation log and the ledger. The
seed's three lists (completed / pending / all) are the review queues filtered by these entity types.

When an approved change applies (seed 000 §3.6.3 "立即生效"):
    * by default at the start of the next business day: `effective_from` = tomorrow, and the version
      in force until then is kept in `previous` (JSON), so detection on today's transactions still
      uses it;
    * at once when the maker ticked "effective now" (`effectiveNow`), or when someone with the update
      right presses "apply now" on an approved rule that is not in force yet (`apply_now`).

Which version judges a transaction: the one in force on the transaction's *business date*
(`version_on`): the current values from `effective_from` on, `previous` before it. Only one earlier
version is kept, so a transaction dated before the last two changes is judged with the version
before the last change (documented limitation; late-arriving transactions are usually a day old).

Deleting a diversion type is also a dated change: the row is kept with `deleted` set and stops
applying at `effective_from`; its name and code stay reserved, and proposing a new type with the
same code brings the row back (an update of the deleted row, reviewed like any other).

AML rules (large cash, rapid in-out, concentration) are built in, one row per kind: they can be
edited (parameters, name, enabled) but not created or deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.monitoring.aml import ConcentrationParams, LargeCashParams, RapidInOutParams
from core.monitoring.models import AmlRuleKind, AmlRuleSetting, DiversionType
from core.monitoring.thresholds import DiversionRule
from core.oplog import service as oplog
from core.review.models import ChangeAction
from core.review.registry import Proposal, register, review_stamp
from plugins.builtin.datafiles import DATA_DIR, read_csv

MODULE = "diversion_rules"
PAGE = "diversion_rules"
DIVERSION_ENTITY = "diversion_type"
AML_ENTITY = "aml_rule"
RULE_ENTITIES = (DIVERSION_ENTITY, AML_ENTITY)
CENT = Decimal("0.01")
SHARE = Decimal("0.000001")
CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,19}$")
MAX_AMOUNT = Decimal("9999999999999999.99")

# Seed 000's rule table: bond market 200 / 5 %, every other type 100 / 1 %.
DEFAULT_THRESHOLDS: dict[str, tuple[Decimal, Decimal]] = {"LS": (Decimal("200.00"), Decimal("0.05"))}
DEFAULT_THRESHOLD = (Decimal("100.00"), Decimal("0.01"))

AML_NAMES = {AmlRuleKind.LARGE_CASH: "大额现金 Large cash", AmlRuleKind.RAPID_IN_OUT: "快进快出 Rapid in-out",
             AmlRuleKind.CONCENTRATION: "分散转入集中转出 Fund concentration"}
# Defaults: cash ≥ 50,000 (the PBoC large-cash reporting line), 90 % of an inflow ≥ 50,000 out within
# 24 h, 5+ inflows ≤ 5,000 from 5+ parties within 72 h then one outflow ≥ 80 % of them within 24 h.
AML_DEFAULTS: dict[AmlRuleKind, dict[str, Any]] = {
    AmlRuleKind.LARGE_CASH: {"singleThreshold": "50000.00", "dailyThreshold": "50000.00",
                             "cashChannels": ["CASH", "现金"], "combineDirections": False},
    AmlRuleKind.RAPID_IN_OUT: {"windowMinutes": 1440, "ratio": "0.90", "minAmount": "50000.00"},
    AmlRuleKind.CONCENTRATION: {"minCounterparties": 5, "smallAmountCap": "5000.00", "collectWindowMinutes": 4320,
                                "outflowWindowMinutes": 1440, "ratio": "0.80"},
}


# ---- which version applies on a date ----

def _diversion_version(row: DiversionType) -> dict[str, Any]:
    return {"name": row.name, "code": row.code, "minAmount": str(Decimal(row.min_amount).quantize(CENT)),
            "minShare": str(Decimal(row.min_share).quantize(SHARE)), "enabled": row.enabled,
            "deleted": row.deleted, "description": row.description}


def _aml_version(row: AmlRuleSetting) -> dict[str, Any]:
    return {"name": row.name, "params": dict(row.params), "enabled": row.enabled}


def version_on(row: DiversionType | AmlRuleSetting, day: date) -> dict[str, Any] | None:
    """The version of `row` in force on business date `day` (None: not in force that day)."""
    if day >= row.effective_from:
        return _diversion_version(row) if isinstance(row, DiversionType) else _aml_version(row)
    return dict(row.previous) if row.previous else None


def diversion_rule_on(row: DiversionType, day: date) -> DiversionRule | None:
    """The thresholds that judge a payment of business date `day`, None when the type does not apply."""
    v = version_on(row, day)
    if v is None or not v.get("enabled", True) or v.get("deleted", False):
        return None
    return DiversionRule(code=row.code, name=v["name"], min_loan_amount=Decimal(v["minAmount"]),
                         min_loan_share=Decimal(v["minShare"]))


@dataclass(frozen=True)
class AmlRuleVersion:
    kind: AmlRuleKind
    name: str
    params: LargeCashParams | RapidInOutParams | ConcentrationParams


def aml_rule_on(row: AmlRuleSetting, day: date) -> AmlRuleVersion | None:
    v = version_on(row, day)
    if v is None or not v.get("enabled", True):
        return None
    return AmlRuleVersion(row.kind, v["name"], aml_params(row.kind, v["params"]))


def aml_params(kind: AmlRuleKind, p: dict[str, Any]) -> LargeCashParams | RapidInOutParams | ConcentrationParams:
    """The pure module's parameter object from a stored (validated) JSON dict."""
    if kind is AmlRuleKind.LARGE_CASH:
        return LargeCashParams(Decimal(p["singleThreshold"]), Decimal(p["dailyThreshold"]),
                               frozenset(p["cashChannels"]), bool(p["combineDirections"]))
    if kind is AmlRuleKind.RAPID_IN_OUT:
        return RapidInOutParams(timedelta(minutes=int(p["windowMinutes"])), Decimal(p["ratio"]),
                                Decimal(p["minAmount"]))
    return ConcentrationParams(int(p["minCounterparties"]), Decimal(p["smallAmountCap"]),
                               timedelta(minutes=int(p["collectWindowMinutes"])),
                               timedelta(minutes=int(p["outflowWindowMinutes"])), Decimal(p["ratio"]))


def _start_day(effective_now: bool) -> date:
    today = clock.business_today()
    return today if effective_now else today + timedelta(days=1)


# ---- input checks ----

def _money(errs: ErrorCollector, field: str, value: Any, *, minimum: Decimal = Decimal(0)) -> Decimal | None:
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errs.add(field, ErrorCode.INVALID, f"{field} must be an amount such as 100.00")
        return None
    if not d.is_finite() or d != d.quantize(CENT, rounding=ROUND_HALF_UP):
        errs.add(field, ErrorCode.INVALID, f"{field} must be an amount with at most 2 decimals")
        return None
    if d < minimum or d > MAX_AMOUNT:
        errs.add(field, ErrorCode.OUT_OF_RANGE, f"{field} must be between {minimum} and {MAX_AMOUNT}")
        return None
    return d.quantize(CENT)


def _fraction(errs: ErrorCollector, field: str, value: Any, *, zero_ok: bool = True) -> Decimal | None:
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errs.add(field, ErrorCode.INVALID, f"{field} must be a fraction such as 0.05 (= 5 %)")
        return None
    if not d.is_finite() or d != d.quantize(SHARE, rounding=ROUND_HALF_UP):
        errs.add(field, ErrorCode.INVALID, f"{field} must be a fraction with at most 6 decimals, e.g. 0.05 (= 5 %)")
        return None
    if d > 1 or d < 0 or (d == 0 and not zero_ok):
        bounds = "in [0, 1]" if zero_ok else "in (0, 1]"
        errs.add(field, ErrorCode.OUT_OF_RANGE, f"{field} must be a fraction {bounds}, e.g. 0.05 for 5 %")
        return None
    return d.quantize(SHARE)


def _text(errs: ErrorCollector, field: str, value: Any, max_len: int, required: bool = True) -> str:
    text = str(value or "").strip()
    if required and not text:
        errs.add(field, ErrorCode.REQUIRED, f"{field} is required")
    elif len(text) > max_len:
        errs.add(field, ErrorCode.TOO_LONG, f"{field} must be at most {max_len} characters")
    return text


def _bool(errs: ErrorCollector, field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        errs.add(field, ErrorCode.INVALID, f"{field} must be true or false")
        return False
    return value


# ---- diversion types ----

DIVERSION_KEYS = ("name", "code", "minAmount", "minShare", "enabled", "description", "effectiveNow")


def check_diversion(data: dict[str, Any]) -> tuple[dict[str, Any], ErrorCollector]:
    """Shape-check a complete diversion type configuration (the payload stored on the change)."""
    errs = ErrorCollector()
    for key in data:
        if key not in DIVERSION_KEYS:
            errs.add(key, ErrorCode.INVALID, f"unknown field {key}; allowed: {', '.join(DIVERSION_KEYS)}")
    out: dict[str, Any] = {"name": _text(errs, "name", data.get("name"), 50)}
    code = _text(errs, "code", data.get("code"), 20).upper()
    if code and not CODE.fullmatch(code):
        errs.add("code", ErrorCode.INVALID, "code must be upper-case letters/digits starting with a letter, e.g. GS")
    out["code"] = code
    amount = _money(errs, "minAmount", data.get("minAmount", ""))
    share = _fraction(errs, "minShare", data.get("minShare", ""))
    out["minAmount"] = str(amount) if amount is not None else None
    out["minShare"] = str(share) if share is not None else None
    out["enabled"] = _bool(errs, "enabled", data.get("enabled", True))
    out["description"] = _text(errs, "description", data.get("description", ""), 200, required=False)
    out["effectiveNow"] = _bool(errs, "effectiveNow", data.get("effectiveNow", False))
    return out, errs


async def _unique(errs: ErrorCollector, out: dict[str, Any], exclude_id: int | None) -> None:
    for key, column in (("name", "name"), ("code", "code")):
        if errs.has(key) or not out.get(key):
            continue
        qs = DiversionType.filter(**{column: out[key]})
        if exclude_id is not None:
            qs = qs.exclude(id=exclude_id)
        clash = await qs.first()
        if clash is None:
            continue
        if clash.deleted and clash.code == out.get("code"):
            continue  # re-creating a deleted type's code revives that row (see the module docstring)
        errs.add(key, ErrorCode.NOT_UNIQUE, f"A diversion type with this {key} already exists"
                 + (" (deleted; re-create it with its code " + clash.code + ")" if clash.deleted else ""))


class DiversionTypeEntity:
    entity_type = DIVERSION_ENTITY
    module = MODULE
    page = PAGE

    async def propose(self, action: ChangeAction, entity_id: int | None, data: dict[str, Any],
                      actor: Actor) -> Proposal:
        if action is ChangeAction.CREATE:
            out, errs = check_diversion(data)
            await _unique(errs, out, None)
            errs.raise_if_any()
            revived = await DiversionType.get_or_none(code=out["code"], deleted=True)
            if revived is not None:
                name_clash = await DiversionType.filter(name=out["name"]).exclude(id=revived.id).exists()
                if name_clash:
                    raise UserError.of("name", ErrorCode.NOT_UNIQUE, "A diversion type with this name already exists")
            return Proposal(out, None, f"{out['code']} {out['name']}")
        row = await DiversionType.get_or_none(id=entity_id or 0)
        if row is None or (row.deleted and row.effective_from <= clock.business_today()):
            raise not_found("Diversion type")
        if row.deleted:
            raise UserError.of("id", ErrorCode.INVALID_STATE, "The diversion type is being deleted")
        if action is ChangeAction.DELETE:
            errs = ErrorCollector()
            now = _bool(errs, "effectiveNow", data.get("effectiveNow", False))
            errs.raise_if_any()
            return Proposal({"effectiveNow": now}, row.version, f"{row.code} {row.name}")
        current = _diversion_version(row) | {"effectiveNow": False}
        current.pop("deleted")
        if data.get("code") is not None and str(data["code"]).strip().upper() != row.code:
            raise UserError.of("code", ErrorCode.IMMUTABLE, "A diversion type's code cannot be changed")
        merged = current | {k: v for k, v in data.items() if k != "code"}
        out, errs = check_diversion(merged)
        await _unique(errs, out, row.id)
        errs.raise_if_any()
        if {k: v for k, v in out.items() if k != "effectiveNow"} == {k: v for k, v in current.items()
                                                                     if k != "effectiveNow"}:
            raise UserError.of(None, ErrorCode.REQUIRED, "Nothing to change")
        return Proposal(out, row.version, f"{out['code']} {out['name']}")

    async def current_version(self, entity_id: int) -> int | None:
        row = await DiversionType.get_or_none(id=entity_id)
        return row.version if row else None

    async def apply(self, action: ChangeAction, entity_id: int | None, payload: dict[str, Any],
                    maker_id: int | None, checker_id: int | None) -> int:
        """Apply inside the caller's transaction (None maker/checker: defaults loaded directly)."""
        stamp = review_stamp(action, maker_id, checker_id)
        start = _start_day(bool(payload.get("effectiveNow")))
        if "since" in payload:  # defaults loaded directly (never from a reviewed payload: see check_diversion)
            start = date.fromisoformat(payload["since"])
        if action is ChangeAction.CREATE:
            columns = {"name": payload["name"], "min_amount": Decimal(payload["minAmount"]),
                       "min_share": Decimal(payload["minShare"]), "enabled": payload["enabled"],
                       "description": payload["description"], "deleted": False}
            revived = await DiversionType.get_or_none(code=payload["code"], deleted=True)
            if revived is not None:
                await DiversionType.filter(id=revived.id, version=revived.version).update(
                    **columns, **stamp, effective_from=start, previous=version_on(revived, start - timedelta(days=1)),
                    version=revived.version + 1)
                return revived.id
            if await DiversionType.filter(name=payload["name"]).exists() or \
                    await DiversionType.filter(code=payload["code"]).exists():
                raise UserError.of("changeId", ErrorCode.NOT_UNIQUE,
                                   "A diversion type with this name or code was added meanwhile")
            row = await DiversionType.create(code=payload["code"], effective_from=start, previous=None,
                                             **columns, **stamp)
            return row.id
        row = await DiversionType.get(id=entity_id)
        previous = version_on(row, start - timedelta(days=1))
        if action is ChangeAction.DELETE:
            n = await DiversionType.filter(id=row.id, version=row.version).update(
                deleted=True, effective_from=start, previous=previous, version=row.version + 1, **stamp)
        else:
            n = await DiversionType.filter(id=row.id, version=row.version).update(
                name=payload["name"], min_amount=Decimal(payload["minAmount"]), min_share=Decimal(payload["minShare"]),
                enabled=payload["enabled"], description=payload["description"], effective_from=start,
                previous=previous, version=row.version + 1, **stamp)
        if n != 1:
            raise UserError.of("changeId", ErrorCode.CONFLICT, "The diversion type changed meanwhile")
        return row.id


# ---- AML / concentration settings ----

def _minutes(errs: ErrorCollector, field: str, value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        errs.add(field, ErrorCode.INVALID, f"{field} must be a whole number of minutes")
        return None
    try:
        n = int(value)
    except ValueError:
        errs.add(field, ErrorCode.INVALID, f"{field} must be a whole number of minutes")
        return None
    if not 0 <= n <= 60 * 24 * 366:
        errs.add(field, ErrorCode.OUT_OF_RANGE, f"{field} must be between 0 and {60 * 24 * 366} minutes")
        return None
    return n


def check_aml_params(kind: AmlRuleKind, params: Any, prefix: str = "params") -> tuple[dict[str, Any], ErrorCollector]:
    """Validate one rule's parameters (keys as in `AML_DEFAULTS`); returns the JSON to store."""
    errs = ErrorCollector()
    if not isinstance(params, dict):
        errs.add(prefix, ErrorCode.INVALID, "params must be an object")
        return {}, errs
    allowed = set(AML_DEFAULTS[kind])
    for key in params:
        if key not in allowed:
            errs.add(f"{prefix}.{key}", ErrorCode.INVALID, f"unknown parameter; allowed: {', '.join(sorted(allowed))}")
    p = AML_DEFAULTS[kind] | params
    out: dict[str, Any] = {}

    def money(key: str) -> None:
        d = _money(errs, f"{prefix}.{key}", p[key], minimum=CENT)
        out[key] = str(d) if d is not None else None

    def ratio(key: str) -> None:
        d = _fraction(errs, f"{prefix}.{key}", p[key], zero_ok=False)
        out[key] = str(d) if d is not None else None

    def minutes(key: str) -> None:
        out[key] = _minutes(errs, f"{prefix}.{key}", p[key])

    if kind is AmlRuleKind.LARGE_CASH:
        money("singleThreshold")
        money("dailyThreshold")
        channels = p["cashChannels"]
        if not isinstance(channels, list) or not channels or not all(isinstance(c, str) and c.strip()
                                                                      for c in channels):
            errs.add(f"{prefix}.cashChannels", ErrorCode.INVALID, "cashChannels must be a non-empty list of names")
        else:
            out["cashChannels"] = sorted({c.strip() for c in channels})
        out["combineDirections"] = _bool(errs, f"{prefix}.combineDirections", p["combineDirections"])
    elif kind is AmlRuleKind.RAPID_IN_OUT:
        minutes("windowMinutes")
        ratio("ratio")
        money("minAmount")
    else:
        n = p["minCounterparties"]
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 1000:
            errs.add(f"{prefix}.minCounterparties", ErrorCode.OUT_OF_RANGE, "minCounterparties must be 2 to 1000")
        out["minCounterparties"] = n
        money("smallAmountCap")
        minutes("collectWindowMinutes")
        minutes("outflowWindowMinutes")
        ratio("ratio")
    return out, errs


class AmlRuleEntity:
    entity_type = AML_ENTITY
    module = MODULE
    page = PAGE

    async def propose(self, action: ChangeAction, entity_id: int | None, data: dict[str, Any],
                      actor: Actor) -> Proposal:
        if action is not ChangeAction.UPDATE:
            raise UserError.of(None, ErrorCode.INVALID, "AML and concentration rules are built in: edit or disable "
                               "them instead of adding or deleting")
        row = await AmlRuleSetting.get_or_none(id=entity_id or 0)
        if row is None:
            raise not_found("AML rule")
        errs = ErrorCollector()
        for key in data:
            if key not in ("name", "params", "enabled", "effectiveNow"):
                errs.add(key, ErrorCode.INVALID, "unknown field; allowed: name, params, enabled, effectiveNow")
        name = _text(errs, "name", data.get("name", row.name), 50)
        if name and not errs.has("name") and await AmlRuleSetting.filter(name=name).exclude(id=row.id).exists():
            errs.add("name", ErrorCode.NOT_UNIQUE, "Another rule has this name")
        params, perrs = check_aml_params(row.kind, data.get("params", row.params))
        errs.errors.extend(perrs.errors)
        enabled = _bool(errs, "enabled", data.get("enabled", row.enabled))
        now = _bool(errs, "effectiveNow", data.get("effectiveNow", False))
        errs.raise_if_any()
        if (name, params, enabled) == (row.name, dict(row.params), row.enabled):
            raise UserError.of(None, ErrorCode.REQUIRED, "Nothing to change")
        return Proposal({"name": name, "params": params, "enabled": enabled, "effectiveNow": now}, row.version,
                        name)

    async def current_version(self, entity_id: int) -> int | None:
        row = await AmlRuleSetting.get_or_none(id=entity_id)
        return row.version if row else None

    async def apply(self, action: ChangeAction, entity_id: int | None, payload: dict[str, Any],
                    maker_id: int | None, checker_id: int | None) -> int:
        row = await AmlRuleSetting.get(id=entity_id)
        start = _start_day(bool(payload.get("effectiveNow")))
        n = await AmlRuleSetting.filter(id=row.id, version=row.version).update(
            name=payload["name"], params=payload["params"], enabled=payload["enabled"], effective_from=start,
            previous=version_on(row, start - timedelta(days=1)), version=row.version + 1,
            **review_stamp(action, maker_id, checker_id))
        if n != 1:
            raise UserError.of("changeId", ErrorCode.CONFLICT, "The rule changed meanwhile")
        return row.id


DIVERSION_TYPES = register(DiversionTypeEntity())
AML_RULES = register(AmlRuleEntity())


# ---- "apply now" on an approved rule that waits for tomorrow ----

async def apply_now(actor: Actor, entity_type: str, entity_id: int,
                    request_id: str = "") -> DiversionType | AmlRuleSetting:
    """Seed 000 "立即生效": an approved change waiting for the next day applies from today on.

    Allowed only when the row's current version is not in force yet; the operation log records it.
    """
    model: type[DiversionType] | type[AmlRuleSetting] = DiversionType if entity_type == DIVERSION_ENTITY \
        else AmlRuleSetting
    today = clock.business_today()
    async with in_transaction():
        row = await model.get_or_none(id=entity_id)
        if row is None:
            raise not_found("Rule")
        if row.effective_from <= today:
            raise UserError.of("id", ErrorCode.INVALID_STATE, "The rule is already in force")
        n = await model.filter(id=row.id, version=row.version).update(effective_from=today, version=row.version + 1)
        if n != 1:
            raise UserError.of("id", ErrorCode.CONFLICT, "The rule changed meanwhile; reload and retry")
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="apply_now",
                           summary=f"{entity_type} {row.name}: applied from {today.isoformat()} instead of "
                                   f"{row.effective_from.isoformat()}",
                           detail={"id": row.id, "from": row.effective_from.isoformat(), "to": today.isoformat()},
                           request_id=request_id)
    await row.refresh_from_db()
    return row


# ---- defaults ----

def seed_diversion_types() -> list[dict[str, Any]]:
    """The seed list from `plugins/builtin/data/diversion_types.csv`, with seed 000's thresholds."""
    out = []
    for r in read_csv(DATA_DIR / "diversion_types.csv"):
        amount, share = DEFAULT_THRESHOLDS.get(r["code"], DEFAULT_THRESHOLD)
        out.append({"name": r["name_zh"], "code": r["code"], "minAmount": str(amount), "minShare": str(share),
                    "enabled": True, "description": r["name_en"], "effectiveNow": True})
    return out


ALWAYS = date(2000, 1, 1)
"""`effective_from` of the defaults: they judge every transaction, however old."""


async def load_default_rules() -> list[str]:
    """Add the seed diversion types and the three AML rules that are missing, in force for all dates.

    Applied directly (no review; the rows record no maker/checker) for tests and first start;
    the demo proposes the same data through review instead. Idempotent: existing rows are untouched.
    """
    added: list[str] = []
    async with in_transaction():
        have = set(await DiversionType.all().values_list("code", flat=True))
        for data in seed_diversion_types():
            if data["code"] not in have:
                await DIVERSION_TYPES.apply(ChangeAction.CREATE, None, data | {"since": ALWAYS.isoformat()},
                                            None, None)
                added.append(f"diversion type {data['code']}")
        await ensure_aml_rules(added)
    return added


async def ensure_aml_rules(added: list[str] | None = None) -> None:
    """The three built-in AML rows with default parameters (idempotent; call inside a transaction)."""
    have = set(await AmlRuleSetting.all().values_list("kind", flat=True))
    for kind, params in AML_DEFAULTS.items():
        if kind in have:
            continue
        checked, errs = check_aml_params(kind, params)
        errs.raise_if_any()
        await AmlRuleSetting.create(kind=kind, name=AML_NAMES[kind], params=checked, enabled=True,
                                    effective_from=ALWAYS)
        if added is not None:
            added.append(f"AML rule {kind.value}")
