"""The platform's own blacklist (黑名单): who is listed, adding and removing people, and lookups.

Other modules call :func:`lookup` / :func:`is_listed` (the own-data risk source's ``blacklist_hit``).
Changes come from the admin page and are written to the operation log in the same transaction.
The log is readable more widely than this page (viewers hold ``oplog``), so the identity in a log
entry is masked (last four characters of the ID and phone, first character of the name); the
entry's id and the reason stay in clear so the change can still be traced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, not_found
from core.oplog import service as oplog
from core.risk import idnumber
from core.risk.models import BlacklistEntry
from core.system.rules import conflicts_as_user_errors, text

MODULE = "blacklist"
NAME_MAX = 50
REASON_MAX = 200
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


# ---- normalising and masking ----

def normalize_phone(value: str | None) -> str:
    """Digits only, without a +86 / 0086 country prefix (people paste numbers in many shapes)."""
    digits = re.sub(r"[\s\-()]", "", value or "")
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix):]
    return digits


def mask(value: str, keep: int = 4) -> str:
    return "*" * max(len(value) - keep, 0) + value[-keep:] if value else ""


def mask_name(value: str) -> str:
    return value[:1] + "*" * (len(value) - 1) if value else ""


def masked(entry: BlacklistEntry) -> dict[str, Any]:
    return {"id": entry.id, "idNumber": mask(entry.id_number or ""), "phone": mask(entry.phone or ""),
            "name": mask_name(entry.name), "reason": entry.reason}


# ---- reading ----

@dataclass(frozen=True)
class BlacklistFilter:
    keyword: str | None = None
    id_number: str | None = None
    phone: str | None = None


def query(f: BlacklistFilter | None = None) -> QuerySet[BlacklistEntry]:
    """Entries matching `f` in SQL: exact (normalised) ID number or phone; keyword in name or reason."""
    f = f or BlacklistFilter()
    qs = BlacklistEntry.all()
    if f.id_number:
        qs = qs.filter(id_number=idnumber.normalize(f.id_number))
    if f.phone:
        qs = qs.filter(phone=normalize_phone(f.phone))
    if f.keyword and f.keyword.strip():
        qs = qs.filter(Q(name__icontains=f.keyword.strip()) | Q(reason__icontains=f.keyword.strip()))
    return qs


async def lookup(*, id_number: str = "", phone: str = "") -> list[BlacklistEntry]:
    """Entries listing this ID number or this phone (never matched by name; see the model)."""
    keys = []
    if idnumber.normalize(id_number):
        keys.append(Q(id_number=idnumber.normalize(id_number)))
    if normalize_phone(phone):
        keys.append(Q(phone=normalize_phone(phone)))
    if not keys:
        return []
    return await BlacklistEntry.filter(Q(*keys, join_type=Q.OR)).order_by("id")


async def is_listed(*, id_number: str = "", phone: str = "") -> bool:
    return bool(await lookup(id_number=id_number, phone=phone))


# ---- changing ----

def _validate(errs: ErrorCollector, id_number: str | None, phone: str | None, name: str | None,
              reason: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"id_number": idnumber.normalize(id_number or "") or None,
                           "phone": normalize_phone(phone) or None}
    if out["id_number"] is None and out["phone"] is None:
        errs.add("idNumber", ErrorCode.REQUIRED, "Give the ID number or the mobile number (or both)")
    if out["id_number"] is not None:
        try:
            idnumber.parse(out["id_number"], today=clock.business_today())
        except idnumber.InvalidIdNumber as exc:
            errs.add("idNumber", ErrorCode.INVALID, f"The ID number {exc}")
    if out["phone"] is not None and not MOBILE.fullmatch(out["phone"]):
        errs.add("phone", ErrorCode.INVALID, "The mobile number must be 11 digits starting with 1")
    out["name"] = text(errs, "name", name, NAME_MAX, needed=False)
    out["reason"] = text(errs, "reason", reason, REASON_MAX)
    return out


async def add(actor: Actor, *, id_number: str | None = None, phone: str | None = None, name: str | None = None,
              reason: str | None = None, request_id: str = "") -> BlacklistEntry:
    """List a person; refuses an ID number or phone that is listed already (NOT_UNIQUE)."""
    errs = ErrorCollector()
    values = _validate(errs, id_number, phone, name, reason)
    for field, column in (("idNumber", "id_number"), ("phone", "phone")):
        if values[column] and not errs.has(field) and await BlacklistEntry.filter(**{column: values[column]}).exists():
            errs.add(field, ErrorCode.NOT_UNIQUE, f"This {'ID number' if column == 'id_number' else 'mobile number'} "
                                                  "is on the blacklist already")
    errs.raise_if_any()
    with conflicts_as_user_errors("idNumber", "This person was put on the blacklist at the same moment"):
        async with in_transaction():
            entry = await BlacklistEntry.create(created_at=clock.now(), created_by_id=actor.user_id or None,
                                                **values)
            await oplog.record(actor, kind=actor.kind(), module=MODULE, action="create",
                               summary=f"added {mask(entry.id_number or entry.phone or '')} to the blacklist",
                               detail=masked(entry), request_id=request_id)
    return entry


async def remove(actor: Actor, entry_id: int, request_id: str = "") -> BlacklistEntry:
    """Take a person off the list (the row is deleted; the log keeps the masked identity and reason)."""
    entry = await BlacklistEntry.get_or_none(id=entry_id)
    if entry is None:
        raise not_found("Blacklist entry")
    async with in_transaction():
        deleted = await BlacklistEntry.filter(id=entry.id).delete()
        if not deleted:  # removed by someone else meanwhile
            raise not_found("Blacklist entry")
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="delete",
                           summary=f"removed {mask(entry.id_number or entry.phone or '')} from the blacklist",
                           detail=masked(entry), request_id=request_id)
    return entry

