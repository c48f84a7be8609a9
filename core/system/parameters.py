"""System parameters (SPEC F-SYS-3, seed 001 系统参数): edited as drafts, published by "refresh cache".

Code reads the published value with `await parameter(number, default)` (or the typed helpers). Each
process keeps the published snapshot in memory and, before answering, compares its loaded
(epoch, revision) with the `parameter_revision` row — one indexed read — and reloads when behind,
the same pattern as `permissions/policy.py`. So a refresh pressed on one API process is honoured by
every API and worker process on its next read, and nothing reaches code before it.

Secrets (type "key", or flagged secret) are returned in clear only to code: GraphQL and the
operation log see `masked(value)`. A parameter, once secret, stays secret (un-flagging would reveal it).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from tortoise.expressions import F, Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.oplog import service as oplog
from core.system.models import (
    ParameterFormat,
    ParameterRevision,
    ParameterType,
    PublishedParameter,
    SystemParameter,
)
from core.system.rules import conflicts_as_user_errors, load_data, text

MODULE = "parameters"
NUMBER_MAX = 50
NAME_MAX = 50
MASK = "••••••"
SHOW_TAIL_FROM = 12  # only secrets at least this long show their last two characters
INTEGER = re.compile(r"^[+-]?[0-9]+$")
DECIMAL = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off"})
T = TypeVar("T")


def masked(value: str) -> str:
    """How a secret is shown: dots, plus the last two characters of a long one, or "" when unset."""
    if not value:
        return ""
    return MASK + value[-2:] if len(value) >= SHOW_TAIL_FROM else MASK


def shown(value: str, secret: bool) -> str:
    return masked(value) if secret else value


def parse_bool(raw: str) -> bool | None:
    low = raw.strip().lower()
    return True if low in TRUE else False if low in FALSE else None


def _check_format(errs: ErrorCollector, field: str, value: str, fmt: ParameterFormat) -> None:
    if not value:
        return
    if fmt is ParameterFormat.INTEGER and not INTEGER.fullmatch(value.strip()):
        errs.add(field, ErrorCode.INVALID, f"{field} must be a whole number, e.g. 30")
    elif fmt is ParameterFormat.DECIMAL and not DECIMAL.fullmatch(value.strip()):
        errs.add(field, ErrorCode.INVALID, f"{field} must be a decimal number, e.g. 500000 or 0.05")
    elif fmt is ParameterFormat.BOOLEAN and parse_bool(value) is None:
        errs.add(field, ErrorCode.INVALID, f"{field} must be true or false")


# ---- the published snapshot, per process ----

@dataclass(frozen=True)
class Published:
    number: str
    value: str
    format: ParameterFormat
    secret: bool


_NEVER = ("", -1)


class ParameterCache:
    """The published parameters as this process last loaded them."""

    def __init__(self) -> None:
        self._state: tuple[str, int] | None = _NEVER
        self._values: dict[str, Published] = {}
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Reload if the database's published revision differs from ours (one indexed read)."""
        rows = await ParameterRevision.filter(id=1).values_list("epoch", "revision")
        state = (rows[0][0], int(rows[0][1])) if rows else None
        if state == self._state:
            return
        async with self._lock:
            if state == self._state:
                return
            published = await PublishedParameter.all()
            self._values = {p.number: Published(p.number, p.value, p.format, p.secret) for p in published}
            self._state = state

    def get(self, number: str) -> Published | None:
        return self._values.get(number)


_cache: list[ParameterCache | None] = [None]


def parameter_cache() -> ParameterCache:
    if _cache[0] is None:
        _cache[0] = ParameterCache()
    return _cache[0]


def reset_parameter_cache() -> None:
    """Forget the loaded snapshot (tests switching databases)."""
    _cache[0] = None


async def published(number: str) -> Published | None:
    cache = parameter_cache()
    await cache.refresh()
    return cache.get(number)


async def parameter(number: str, default: T = None) -> str | T:  # type: ignore[assignment]
    """The published value of an active parameter, or `default` when it is unknown or switched off."""
    p = await published(number)
    return p.value if p is not None else default


async def parameter_decimal(number: str, default: Decimal) -> Decimal:
    raw = await parameter(number, None)
    if raw is None or not DECIMAL.fullmatch(raw.strip()):
        return default
    try:
        return Decimal(raw.strip())
    except InvalidOperation:  # pragma: no cover - the pattern already guarantees a number
        return default


async def parameter_int(number: str, default: int) -> int:
    raw = await parameter(number, None)
    return int(raw.strip()) if raw is not None and INTEGER.fullmatch(raw.strip()) else default


async def parameter_bool(number: str, default: bool) -> bool:
    raw = await parameter(number, None)
    parsed = parse_bool(raw) if raw is not None else None
    return default if parsed is None else parsed


# ---- reading for the admin page ----

def query(type: ParameterType | None = None, keyword: str | None = None, active: bool | None = None
          ) -> QuerySet[SystemParameter]:
    qs = SystemParameter.all()
    if type is not None:
        qs = qs.filter(type=type)
    if active is not None:
        qs = qs.filter(active=active)
    if keyword:
        qs = qs.filter(Q(number__icontains=keyword) | Q(name__icontains=keyword))
    return qs


def is_pending(p: SystemParameter, pub: PublishedParameter | None) -> bool:
    """Whether the draft differs from what code currently sees (a refresh would change something)."""
    if pub is None:
        return p.active
    if not p.active:
        return True
    return (pub.number, pub.value, pub.format, pub.secret) != (p.number, p.value, p.format, p.secret)


async def publications(params: list[SystemParameter]) -> dict[int, PublishedParameter]:
    """The published copies of `params`, by parameter id (one query)."""
    ids = [p.id for p in params]
    if not ids:
        return {}
    return {pub.parameter_id: pub for pub in await PublishedParameter.filter(parameter_id__in=ids)}


@dataclass(frozen=True)
class CacheStatus:
    revision: int
    published_at: datetime | None
    published_by: str
    pending: int


async def cache_status() -> CacheStatus:
    row = await ParameterRevision.get_or_none(id=1)
    params = await SystemParameter.all()
    pubs = await publications(params)
    pending = sum(1 for p in params if is_pending(p, pubs.get(p.id)))
    return CacheStatus(row.revision if row else 0, row.published_at if row else None,
                       row.published_by if row else "", pending)


# ---- writing ----

async def _bump(published_by: str) -> int:
    """Mark the published set as changed; call inside the transaction that changed it."""
    now = clock.now()
    updated = await ParameterRevision.filter(id=1).update(revision=F("revision") + 1, published_at=now,
                                                          published_by=published_by[:40])
    if not updated:
        await ParameterRevision.create(id=1, revision=1, epoch=uuid.uuid4().hex, published_at=now,
                                       published_by=published_by[:40])
    return int((await ParameterRevision.filter(id=1).values_list("revision", flat=True))[0])


def _log_view(p: SystemParameter) -> dict[str, Any]:
    return {"id": p.id, "number": p.number, "name": p.name, "type": p.type.value, "format": p.format.value,
            "value": shown(p.value, p.secret), "isSecret": p.secret, "active": p.active}


def _value(errs: ErrorCollector, value: str | None, secret_value: str | None, secret: bool,
           required: bool) -> str | None:
    """The new value from the right input field: `secret` for secret parameters, `value` otherwise.

    Why two fields: refused inputs are written to the operation log, which redacts a field named
    `secret`; a secret sent in `value` would land there in clear, so it is refused (and the GraphQL
    layer blanks it before the refusal is logged).
    """
    if secret:
        if value:
            errs.add("value", ErrorCode.INVALID,
                     "This parameter is secret: send its value in `secret` (never shown or logged)")
            return None
        chosen, field = secret_value, "secret"
    else:
        if secret_value:
            errs.add("secret", ErrorCode.INVALID, "Only secret parameters take `secret`; send the value in `value`")
            return None
        chosen, field = value, "value"
    if chosen is None:
        if required:
            errs.add(field, ErrorCode.REQUIRED, f"{field} is required")
        return None
    if chosen.strip() == "":
        errs.add(field, ErrorCode.REQUIRED, f"{field} must not be empty")
        return None
    return chosen


async def _unique_number(errs: ErrorCollector, number: str, exclude_id: int | None) -> None:
    if not number or errs.has("number"):
        return
    qs = SystemParameter.filter(number=number)
    if exclude_id is not None:
        qs = qs.exclude(id=exclude_id)
    if await qs.exists():
        errs.add("number", ErrorCode.NOT_UNIQUE, f"A parameter numbered {number!r} already exists")


def will_be_secret(type: ParameterType | None, is_secret: bool | None, current: bool = False) -> bool:
    """Whether a parameter is secret after a save: type "key" always is, and secret stays secret."""
    return current or bool(is_secret) or type is ParameterType.KEY


async def create_parameter(actor: Actor, *, number: str | None, name: str | None, type: ParameterType,
                           value: str | None = None, secret_value: str | None = None, is_secret: bool = False,
                           format: ParameterFormat = ParameterFormat.TEXT, request_id: str = "") -> SystemParameter:
    """A new parameter; it is inactive (code does not see it) until switched on and published."""
    errs = ErrorCollector()
    clean_number = text(errs, "number", number, NUMBER_MAX)
    clean_name = text(errs, "name", name, NAME_MAX)
    secret = will_be_secret(type, is_secret)
    new_value = _value(errs, value, secret_value, secret, required=True)
    if new_value is not None:
        _check_format(errs, "secret" if secret else "value", new_value, format)
    await _unique_number(errs, clean_number, None)
    errs.raise_if_any()
    with conflicts_as_user_errors("number", f"A parameter numbered {clean_number!r} was just created"):
        async with in_transaction():
            p = await SystemParameter.create(number=clean_number, name=clean_name, value=new_value or "", type=type,
                                             format=format, secret=secret, active=False)
            await oplog.record(actor, kind=actor.kind(), module=MODULE, action="create_parameter",
                               summary=f"created parameter {p.number} ({p.name})", detail=_log_view(p),
                               request_id=request_id)
    return p


async def get_parameter(parameter_id: int) -> SystemParameter:
    p = await SystemParameter.get_or_none(id=parameter_id)
    if p is None:
        raise not_found("System parameter")
    return p


async def update_parameter(actor: Actor, parameter_id: int, *, number: str | None = None, name: str | None = None,
                           type: ParameterType | None = None, value: str | None = None,
                           secret_value: str | None = None, is_secret: bool | None = None,
                           format: ParameterFormat | None = None, request_id: str = "") -> SystemParameter:
    """Edit a parameter's draft; code keeps the published value until the cache is refreshed."""
    p = await get_parameter(parameter_id)
    errs = ErrorCollector()
    changes: dict[str, Any] = {}
    if number is not None:
        clean = text(errs, "number", number, NUMBER_MAX)
        if clean != p.number:
            if p.builtin:
                errs.add("number", ErrorCode.IMMUTABLE, "A built-in parameter's number is fixed: the platform "
                                                        "reads it by that number")
            await _unique_number(errs, clean, p.id)
            changes["number"] = clean
    if name is not None:
        clean_name = text(errs, "name", name, NAME_MAX)
        if clean_name != p.name:
            changes["name"] = clean_name
    if type is not None and type is not p.type:
        changes["type"] = type
    if is_secret is False and p.secret:
        errs.add("isSecret", ErrorCode.IMMUTABLE, "A secret parameter stays secret")
    secret = will_be_secret(type or p.type, is_secret, p.secret)
    if secret != p.secret:
        changes["secret"] = secret
    if format is not None and format is not p.format:
        if p.builtin:
            errs.add("format", ErrorCode.IMMUTABLE, "A built-in parameter's format is fixed")
        changes["format"] = format
    new_value = _value(errs, value, secret_value, secret, required=False)
    if new_value is not None and new_value != p.value:
        changes["value"] = new_value
    checked = changes.get("value", p.value)
    _check_format(errs, "secret" if secret else "value", checked, changes.get("format", p.format))
    errs.raise_if_any()
    if not changes:
        return p
    before = _log_view(p)
    with conflicts_as_user_errors("number", "Another parameter took this number meanwhile"):
        async with in_transaction():
            await SystemParameter.filter(id=p.id).update(**changes, version=p.version + 1)
            await p.refresh_from_db()
            after = _log_view(p)
            await oplog.record(actor, kind=actor.kind(), module=MODULE, action="update_parameter",
                               summary=f"edited parameter {p.number} (takes effect after refresh cache)",
                               detail={"id": p.id, "before": {k: before[k] for k in after if before[k] != after[k]},
                                       "after": {k: after[k] for k in after if before[k] != after[k]},
                                       "valueChanged": "value" in changes},
                               request_id=request_id)
    return p


async def set_active(actor: Actor, parameter_id: int, active: bool, request_id: str = "") -> SystemParameter:
    """Switch a parameter on or off (published at the next cache refresh)."""
    p = await get_parameter(parameter_id)
    if active and not p.value:
        raise UserError.of("secret" if p.secret else "value", ErrorCode.REQUIRED,
                           "Set a value before switching the parameter on")
    if p.active == active:
        return p
    async with in_transaction():
        await SystemParameter.filter(id=p.id).update(active=active, version=p.version + 1)
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="activate" if active else "deactivate",
                           summary=f"switched parameter {p.number} {'on' if active else 'off'} "
                                   "(takes effect after refresh cache)",
                           detail={"id": p.id, "number": p.number, "active": active}, request_id=request_id)
    await p.refresh_from_db()
    return p


async def refresh_cache(actor: Actor, request_id: str = "") -> CacheStatus:
    """Publish every active parameter as it is now; every process picks it up on its next read."""
    async with in_transaction():
        params = await SystemParameter.filter(active=True).order_by("id")
        old = {pub.number: pub for pub in await PublishedParameter.all()}
        new = {p.number: p for p in params}
        changed = sorted(n for n, p in new.items() if n not in old or (old[n].value, old[n].format, old[n].secret)
                         != (p.value, p.format, p.secret))
        removed = sorted(set(old) - set(new))
        await PublishedParameter.all().delete()
        await PublishedParameter.bulk_create([
            PublishedParameter(parameter_id=p.id, number=p.number, value=p.value, format=p.format, secret=p.secret)
            for p in params])
        revision = await _bump(actor.name)
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="refresh_cache",
                           summary=f"published {len(params)} parameters ({len(changed)} changed, "
                                   f"{len(removed)} withdrawn)",
                           detail={"revision": revision, "changed": changed, "withdrawn": removed},
                           request_id=request_id)
    return await cache_status()


# ---- seeding ----

async def ensure_seed_parameters() -> list[str]:
    """Add the shipped parameters that are missing (by number); returns their numbers.

    Idempotent and respectful of edits: existing parameters are never touched. A new shipped parameter
    that is active with a value is published at once (without publishing anyone's pending drafts).
    """
    added: list[str] = []
    async with in_transaction():
        existing = set(await SystemParameter.all().values_list("number", flat=True))
        taken = set(await PublishedParameter.all().values_list("number", flat=True))
        publish: list[PublishedParameter] = []
        for spec in load_data("parameters.toml")["parameter"]:
            number = spec["number"]
            if number in existing:
                continue
            type_ = ParameterType(spec["type"])
            value = str(spec.get("value", ""))
            p = await SystemParameter.create(
                number=number, name=spec["name"], value=value, type=type_,
                format=ParameterFormat(spec.get("format", "text")),
                secret=will_be_secret(type_, spec.get("secret", False)),
                active=bool(spec.get("active", False)) and value != "", builtin=True)
            added.append(number)
            if p.active and number not in taken:
                publish.append(PublishedParameter(parameter_id=p.id, number=number, value=p.value, format=p.format,
                                                  secret=p.secret))
        if publish:
            await PublishedParameter.bulk_create(publish)
            await _bump("系统")
    return added
