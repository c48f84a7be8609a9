"""Dictionaries (SPEC F-SYS-1, seed 001 字典管理): parent dictionaries and their coded items.

Other modules read them with `dictionary_items(key)` / `item_name(key, code)`. `key` may be the
dictionary's current key or the key it was shipped with (`seed_key`), so code that names a shipped
dictionary keeps working when an admin edits its key.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.oplog import service as oplog
from core.system.models import Dictionary, DictionaryItem
from core.system.rules import IDENTIFIER, conflicts_as_user_errors, load_data, pattern, text

log = logging.getLogger("lendline.system")

MODULE = "dictionaries"
NAME_MAX = 50
KEY_MAX = 50
REMARK_MAX = 50
CODE_MAX = 20
CODE = re.compile(r"^[0-9]+$")


# ---- reading (for other modules) ----

def _by_key(key: str) -> QuerySet[Dictionary]:
    return Dictionary.filter(Q(key=key) | Q(seed_key=key))


def _code_order(item: DictionaryItem) -> tuple[int, str]:
    return (int(item.code), item.code)


async def dictionary_items(key: str, enabled_only: bool = True) -> list[DictionaryItem]:
    """The items of the dictionary `key` (current or shipped key), in code order; [] if there is none."""
    dictionary = await _by_key(key).order_by("id").first()
    if dictionary is None:
        return []
    qs = DictionaryItem.filter(dictionary_id=dictionary.id)
    if enabled_only:
        qs = qs.filter(enabled=True)
    return sorted(await qs, key=_code_order)


async def item_name(key: str, code: str | int, enabled_only: bool = False) -> str | None:
    """The display name of `code` in dictionary `key` (None when unknown)."""
    for item in await dictionary_items(key, enabled_only=enabled_only):
        if item.code == str(code):
            return item.name
    return None


def query(keyword: str | None = None) -> QuerySet[Dictionary]:
    qs = Dictionary.all()
    if keyword:
        qs = qs.filter(Q(name__icontains=keyword) | Q(key__icontains=keyword))
    return qs


def items_query(dictionary_id: int, enabled: bool | None = None, keyword: str | None = None
                ) -> QuerySet[DictionaryItem]:
    qs = DictionaryItem.filter(dictionary_id=dictionary_id)
    if enabled is not None:
        qs = qs.filter(enabled=enabled)
    if keyword:
        qs = qs.filter(Q(name__icontains=keyword) | Q(code__contains=keyword))
    return qs


# ---- seeding ----

async def _next_serial() -> int:
    last = await Dictionary.all().order_by("-serial").first().values_list("serial", flat=True)
    return int(last or 0) + 1  # type: ignore[call-overload]


async def ensure_seed_dictionaries() -> list[str]:
    """Create the shipped dictionaries that are missing (items enabled); returns their keys.

    Idempotent and respectful of admin edits: a shipped dictionary is recognised by its seed key (or,
    the first time, by key or name, and then adopted as is); existing ones are never changed.
    """
    created: list[str] = []
    for spec in load_data("dictionaries.toml")["dictionary"]:
        key = spec["key"]
        async with in_transaction():
            if await Dictionary.filter(seed_key=key).exists():
                continue
            same = await Dictionary.filter(Q(key=key) | Q(name=spec["name"])).order_by("id").first()
            if same is not None:
                if same.seed_key is None:
                    await Dictionary.filter(id=same.id).update(seed_key=key)
                log.info("dictionary %s already present as %r; left as the admin made it", key, same.name)
                continue
            dictionary = await Dictionary.create(serial=await _next_serial(), name=spec["name"], key=key,
                                                 remark=spec.get("remark", ""), seed_key=key)
            await DictionaryItem.bulk_create([
                DictionaryItem(dictionary_id=dictionary.id, name=i["name"], code=str(i["code"]),
                               enabled=i.get("enabled", True)) for i in spec.get("items", [])])
            created.append(key)
    return created


# ---- dictionaries ----

def _check_dictionary(errs: ErrorCollector, name: str | None, key: str | None, remark: str | None,
                      creating: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if creating or name is not None:
        out["name"] = text(errs, "name", name, NAME_MAX)
    if creating or key is not None:
        out["key"] = text(errs, "key", key, KEY_MAX)
        if out["key"] and not errs.has("key"):
            pattern(errs, "key", out["key"], IDENTIFIER,
                    "letters, digits, underscores or dots, starting with a letter")
    if remark is not None:
        out["remark"] = text(errs, "remark", remark, REMARK_MAX, needed=False)
    return out


async def _unique_dictionary(errs: ErrorCollector, values: dict[str, Any], exclude_id: int | None) -> None:
    for field, label in (("name", "name"), ("key", "key")):
        if field in values and values[field] and not errs.has(field):
            qs = Dictionary.filter(**{field: values[field]})
            if exclude_id is not None:
                qs = qs.exclude(id=exclude_id)
            if await qs.exists():
                errs.add(field, ErrorCode.NOT_UNIQUE, f"A dictionary with {label} {values[field]!r} already exists")
    if "key" in values and values["key"] and not errs.has("key"):
        # a shipped dictionary answers to its seed key too; another dictionary may not take it
        qs = Dictionary.filter(seed_key=values["key"])
        if exclude_id is not None:
            qs = qs.exclude(id=exclude_id)
        if await qs.exists():
            errs.add("key", ErrorCode.NOT_UNIQUE, f"{values['key']!r} is the key of a built-in dictionary")


def _summary(d: Dictionary) -> dict[str, Any]:
    return {"id": d.id, "serial": d.serial, "name": d.name, "key": d.key, "remark": d.remark}


async def create_dictionary(actor: Actor, *, name: str | None, key: str | None, remark: str | None = None,
                            request_id: str = "") -> Dictionary:
    """A new parent dictionary; its serial number is the next free one."""
    errs = ErrorCollector()
    values = _check_dictionary(errs, name, key, remark, creating=True)
    await _unique_dictionary(errs, values, None)
    errs.raise_if_any()
    values.setdefault("remark", "")
    for _attempt in range(3):
        try:
            async with in_transaction():
                dictionary = await Dictionary.create(serial=await _next_serial(), **values)
                await oplog.record(actor, kind=actor.kind(), module=MODULE, action="create_dictionary",
                                   summary=f"created dictionary {dictionary.name}", detail=_summary(dictionary),
                                   request_id=request_id)
            return dictionary
        except IntegrityError:
            # a concurrent create took the name, the key or the serial number: say which, or retry
            errs = ErrorCollector()
            await _unique_dictionary(errs, values, None)
            errs.raise_if_any()
    raise UserError.of(None, ErrorCode.CONFLICT, "Dictionaries are being created concurrently; try again")


async def _dictionary(dictionary_id: int, field: str = "id") -> Dictionary:
    row = await Dictionary.get_or_none(id=dictionary_id)
    if row is None:
        raise not_found("Dictionary", field)
    return row


async def update_dictionary(actor: Actor, dictionary_id: int, *, name: str | None = None, key: str | None = None,
                            remark: str | None = None, request_id: str = "") -> Dictionary:
    """Edit a dictionary's name, key or remark (the serial number never changes)."""
    dictionary = await _dictionary(dictionary_id)
    errs = ErrorCollector()
    values = _check_dictionary(errs, name, key, remark, creating=False)
    await _unique_dictionary(errs, values, dictionary.id)
    errs.raise_if_any()
    changes = {k: v for k, v in values.items() if getattr(dictionary, k) != v}
    if not changes:
        return dictionary
    before = {k: getattr(dictionary, k) for k in changes}
    with conflicts_as_user_errors("name", "Another dictionary with this name or key was just saved"):
        async with in_transaction():
            await Dictionary.filter(id=dictionary.id).update(**changes)
            await oplog.record(actor, kind=actor.kind(), module=MODULE, action="update_dictionary",
                               summary=f"edited dictionary {dictionary.name}",
                               detail={"id": dictionary.id, "before": before, "after": changes},
                               request_id=request_id)
    await dictionary.refresh_from_db()
    return dictionary


async def delete_dictionary(actor: Actor, dictionary_id: int, request_id: str = "") -> None:
    """Delete an admin-made dictionary with its items (shipped ones are used by code and stay)."""
    dictionary = await _dictionary(dictionary_id)
    if dictionary.builtin:
        raise UserError.of("id", ErrorCode.INVALID,
                           f"{dictionary.name} is a built-in dictionary the platform reads; disable its items "
                           "instead of deleting it")
    async with in_transaction():
        count = await DictionaryItem.filter(dictionary_id=dictionary.id).count()
        await dictionary.delete()
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="delete_dictionary",
                           summary=f"deleted dictionary {dictionary.name} and its {count} items",
                           detail=_summary(dictionary) | {"items": count}, request_id=request_id)


# ---- items ----

def _check_item(errs: ErrorCollector, name: str | None, code: str | None, creating: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if creating or name is not None:
        out["name"] = text(errs, "name", name, NAME_MAX)
    if creating or code is not None:
        out["code"] = text(errs, "code", code, CODE_MAX)
        if out["code"] and not errs.has("code"):
            pattern(errs, "code", out["code"], CODE, "digits only")
    return out


async def _unique_code(errs: ErrorCollector, dictionary_id: int, values: dict[str, Any],
                       exclude_id: int | None) -> None:
    code = values.get("code")
    if not code or errs.has("code"):
        return
    qs = DictionaryItem.filter(dictionary_id=dictionary_id, code=code)
    if exclude_id is not None:
        qs = qs.exclude(id=exclude_id)
    if await qs.exists():
        errs.add("code", ErrorCode.NOT_UNIQUE, f"Code {code} is already used in this dictionary")


def _item_summary(item: DictionaryItem, dictionary: Dictionary) -> dict[str, Any]:
    return {"id": item.id, "dictionary": dictionary.key, "name": item.name, "code": item.code,
            "enabled": item.enabled}


async def create_item(actor: Actor, dictionary_id: int, *, name: str | None, code: str | None,
                      request_id: str = "") -> DictionaryItem:
    """A new item of a dictionary; it starts disabled (seed 001) until switched on."""
    dictionary = await _dictionary(dictionary_id, "dictionaryId")
    errs = ErrorCollector()
    values = _check_item(errs, name, code, creating=True)
    await _unique_code(errs, dictionary.id, values, None)
    errs.raise_if_any()
    with conflicts_as_user_errors("code", f"Code {values['code']} was just used in this dictionary"):
        async with in_transaction():
            item = await DictionaryItem.create(dictionary_id=dictionary.id, enabled=False, **values)
            await oplog.record(actor, kind=actor.kind(), module=MODULE, action="create_item",
                               summary=f"added {item.name} ({item.code}) to {dictionary.name}",
                               detail=_item_summary(item, dictionary), request_id=request_id)
    return item


async def _item(item_id: int) -> tuple[DictionaryItem, Dictionary]:
    item = await DictionaryItem.get_or_none(id=item_id).prefetch_related("dictionary")
    if item is None:
        raise not_found("Dictionary item")
    return item, item.dictionary


async def update_item(actor: Actor, item_id: int, *, name: str | None = None, code: str | None = None,
                      request_id: str = "") -> DictionaryItem:
    """Edit an item's name or code (codes stay unique within the dictionary); enabled is kept."""
    item, dictionary = await _item(item_id)
    errs = ErrorCollector()
    values = _check_item(errs, name, code, creating=False)
    await _unique_code(errs, dictionary.id, values, item.id)
    errs.raise_if_any()
    changes = {k: v for k, v in values.items() if getattr(item, k) != v}
    if not changes:
        return item
    before = {k: getattr(item, k) for k in changes}
    with conflicts_as_user_errors("code", "This code was just used in this dictionary"):
        async with in_transaction():
            await DictionaryItem.filter(id=item.id).update(**changes)
            await oplog.record(actor, kind=actor.kind(), module=MODULE, action="update_item",
                               summary=f"edited {item.name} ({item.code}) of {dictionary.name}",
                               detail={"id": item.id, "dictionary": dictionary.key, "before": before,
                                       "after": changes}, request_id=request_id)
    await item.refresh_from_db()
    return item


async def set_item_enabled(actor: Actor, item_id: int, enabled: bool, request_id: str = "") -> DictionaryItem:
    item, dictionary = await _item(item_id)
    if item.enabled == enabled:
        return item
    async with in_transaction():
        await DictionaryItem.filter(id=item.id).update(enabled=enabled)
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="enable_item" if enabled else "disable_item",
                           summary=f"{'enabled' if enabled else 'disabled'} {item.name} ({item.code}) "
                                   f"of {dictionary.name}",
                           detail={"id": item.id, "dictionary": dictionary.key, "enabled": enabled},
                           request_id=request_id)
    item.enabled = enabled
    return item


async def delete_item(actor: Actor, item_id: int, request_id: str = "") -> None:
    item, dictionary = await _item(item_id)
    async with in_transaction():
        await item.delete()
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="delete_item",
                           summary=f"deleted {item.name} ({item.code}) from {dictionary.name}",
                           detail=_item_summary(item, dictionary), request_id=request_id)
