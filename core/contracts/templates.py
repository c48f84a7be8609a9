"""Contract templates as an admin edits them (F-CON-1): create, edit (a new version each time), delete.

Why checked on save: a template is untrusted code written by operations staff. Every source is run
through `core.contracts.render.validate_template` before it is stored, so a sandbox escape attempt,
a forbidden construct or a typo in a variable name is refused at the desk, with the line it is on,
instead of failing (or worse) when a borrower signs. The sandbox still guards every render.

A template change is an operator action, logged in the operation log in the same transaction; it is
not a reviewed (maker-checker) change. Versions are append-only: an edit writes version n+1 and the
template's `current_version` moves to it with a conditional UPDATE, so two editors racing from the
same version cannot both win (the loser gets STALE and reloads).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.actor import Actor
from core.contracts.models import ContractTemplate, ContractTemplateVersion
from core.contracts.render import TemplateClass, TemplateFormat, validate_template
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.oplog import service as oplog
from core.products.models import Product
from permissions.scope import DataScope

MODULE = "contracts"
KEY = re.compile(r"^[a-z][a-z0-9_]{1,49}$")
NAME_MAX = 50
NOTE_MAX = 200


@dataclass(frozen=True)
class TemplateInput:
    """A template as entered; on update, None keeps the stored value (key and class never change)."""

    key: str | None = None
    name: str | None = None
    template_class: TemplateClass | str | None = None
    markup: TemplateFormat | str | None = None
    source: str | None = None
    product_id: int | None = None
    clear_product: bool = False  # update only: make the template apply to every product
    active: bool | None = None
    note: str | None = None  # why this version (shown in the version list)


def visible(scope: DataScope) -> Q:
    """Templates for every product, plus those of products within the caller's data scope."""
    if scope.unrestricted:
        return Q()  # (an empty Q inside an OR would be dropped, leaving only the first branch)
    return Q(Q(product_id__isnull=True), scope.products("product_id"), join_type="OR")


def query(scope: DataScope, *, keyword: str | None = None, template_class: TemplateClass | None = None,
          active: bool | None = None, product_id: int | None = None) -> QuerySet[ContractTemplate]:
    qs = ContractTemplate.filter(visible(scope), deleted=False)
    if keyword and keyword.strip():
        k = keyword.strip()
        qs = qs.filter(Q(key__icontains=k) | Q(name__icontains=k))
    if template_class is not None:
        qs = qs.filter(template_class=TemplateClass(template_class))
    if active is not None:
        qs = qs.filter(active=active)
    if product_id is not None:
        qs = qs.filter(product_id=product_id)
    return qs


async def get(scope: DataScope, template_id: int, field: str = "id") -> ContractTemplate:
    row = await ContractTemplate.filter(visible(scope), id=template_id, deleted=False).first()
    if row is None:
        raise not_found("Contract template", field)
    return row


def versions_query(scope: DataScope, template_id: int) -> QuerySet[ContractTemplateVersion]:
    """A template's versions (newest first when paginated), within the caller's scope."""
    condition = Q() if scope.unrestricted else Q(Q(template__product_id__isnull=True),
                                                  scope.products("template__product_id"), join_type="OR")
    return ContractTemplateVersion.filter(condition, template_id=template_id, template__deleted=False)


async def current_sources(template_ids: list[int]) -> dict[int, ContractTemplateVersion]:
    """The current version row of each template, in one query (list resolvers)."""
    if not template_ids:
        return {}
    heads = dict(await ContractTemplate.filter(id__in=template_ids).values_list("id", "current_version"))
    rows = await ContractTemplateVersion.filter(template_id__in=template_ids)
    return {r.template_id: r for r in rows if heads.get(r.template_id) == r.version}  # type: ignore[attr-defined]


def _source_issues(errs: ErrorCollector, source: str | None, markup: TemplateFormat) -> str | None:
    if source is None or not source.strip():
        errs.add("source", ErrorCode.REQUIRED, "Enter the template text")
        return None
    for issue in validate_template(source, markup=markup):
        errs.add("source", ErrorCode.INVALID, f"{issue}; fix the template")
    return source


def _text(errs: ErrorCollector, field: str, value: str | None, limit: int, *, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            errs.add(field, ErrorCode.REQUIRED, f"Enter the {field}")
        return None if required else ""
    if len(text) > limit:
        errs.add(field, ErrorCode.TOO_LONG, f"{field} must be at most {limit} characters")
        return None
    return text


def _enum(errs: ErrorCollector, field: str, value: Any, kind: type[Any], required: bool) -> Any:
    if value is None:
        if required:
            errs.add(field, ErrorCode.REQUIRED, f"Choose the {field}: " + ", ".join(k.value for k in kind))
        return None
    try:
        return kind(value)
    except ValueError:
        errs.add(field, ErrorCode.INVALID, f"{field} must be one of " + ", ".join(k.value for k in kind))
        return None


async def _product(errs: ErrorCollector, scope: DataScope, product_id: int | None) -> int | None:
    if product_id is None:
        return None
    if not await Product.filter(scope.products("id"), id=product_id).exists():
        errs.add("productId", ErrorCode.NOT_FOUND, "Product not found; choose a product you may see")
        return None
    return product_id


def _sha(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


async def create(actor: Actor, scope: DataScope, data: TemplateInput, *, request_id: str = "") -> ContractTemplate:
    """A new template at version 1; every problem of the input is reported at once."""
    errs = ErrorCollector()
    key = (data.key or "").strip()
    if not key:
        errs.add("key", ErrorCode.REQUIRED, "Enter the template key")
    elif not KEY.fullmatch(key):
        errs.add("key", ErrorCode.INVALID, "The key is 2-50 lower-case letters, digits or underscores, "
                 "starting with a letter (e.g. loan_contract)")
    name = _text(errs, "name", data.name, NAME_MAX)
    klass = _enum(errs, "templateClass", data.template_class, TemplateClass, True)
    markup = _enum(errs, "markup", data.markup or TemplateFormat.HTML, TemplateFormat, True)
    source = _source_issues(errs, data.source, markup or TemplateFormat.HTML)
    note = _text(errs, "note", data.note, NOTE_MAX, required=False)
    product_id = await _product(errs, scope, data.product_id)
    if key and not errs.has("key") and await ContractTemplate.filter(key=key).exists():
        errs.add("key", ErrorCode.NOT_UNIQUE, f"A template with key {key} exists (deleted ones keep their key); "
                 "choose another key")
    errs.raise_if_any()
    assert source is not None
    async with in_transaction():
        row = await ContractTemplate.create(key=key, name=name, template_class=klass, markup=markup,
                                            product_id=product_id, active=True if data.active is None else data.active,
                                            current_version=1, created_by_id=actor.user_id or None)
        await ContractTemplateVersion.create(template_id=row.id, version=1, source=source, source_sha256=_sha(source),
                                             note=note or "", created_by_id=actor.user_id or None)
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="create",
                           summary=f"created contract template {key} ({name}) v1",
                           detail={"templateId": row.id, "key": key, "name": name, "class": klass.value,
                                   "markup": markup.value, "productId": product_id, "version": 1,
                                   "sourceSha256": _sha(source)},
                           request_id=request_id, scope_product_id=product_id)
    return row


async def update(actor: Actor, scope: DataScope, template_id: int, data: TemplateInput, *,
                 expected_version: int | None = None, request_id: str = "") -> ContractTemplate:
    """Edit a template: writes version n+1 (old versions stay) and makes it current.

    `expected_version` (the version the editor loaded) turns a lost race into STALE instead of
    silently replacing someone else's edit.
    """
    row = await get(scope, template_id)
    errs = ErrorCollector()
    if data.key is not None and data.key.strip() != row.key:
        errs.add("key", ErrorCode.IMMUTABLE, "The key of a template cannot change; create a new template")
    if data.template_class is not None and str(data.template_class) != TemplateClass(row.template_class).value:
        errs.add("templateClass", ErrorCode.IMMUTABLE, "The class of a template cannot change; create a new template")
    name = _text(errs, "name", data.name, NAME_MAX) if data.name is not None else row.name
    markup = (_enum(errs, "markup", data.markup, TemplateFormat, False) if data.markup is not None
              else TemplateFormat(row.markup))
    current = await ContractTemplateVersion.get(template_id=row.id, version=row.current_version)
    source = (_source_issues(errs, data.source, markup or TemplateFormat.HTML) if data.source is not None
              else current.source)
    if data.source is None and data.markup is not None and markup is not None:
        for issue in validate_template(current.source, markup=markup):
            errs.add("markup", ErrorCode.INVALID, f"{issue}; the current text does not fit this markup")
    note = _text(errs, "note", data.note, NOTE_MAX, required=False)
    product_id = row.product_id  # type: ignore[attr-defined]
    if data.clear_product:
        product_id = None
    elif data.product_id is not None:
        product_id = await _product(errs, scope, data.product_id)
    if expected_version is not None and expected_version != row.current_version:
        errs.add("version", ErrorCode.STALE, f"The template is at version {row.current_version} now, not "
                 f"{expected_version}; reload it and edit again")
    errs.raise_if_any()
    assert source is not None and markup is not None
    new_version = row.current_version + 1
    async with in_transaction():
        updated = await ContractTemplate.filter(id=row.id, current_version=row.current_version, deleted=False).update(
            name=name, markup=markup, product_id=product_id,
            active=row.active if data.active is None else data.active, current_version=new_version,
            updated_at=clock.now())
        if updated != 1:
            raise UserError.of("version", ErrorCode.STALE, "Someone else edited the template meanwhile; reload it")
        await ContractTemplateVersion.create(template_id=row.id, version=new_version, source=source,
                                             source_sha256=_sha(source), note=note or "",
                                             created_by_id=actor.user_id or None)
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="update",
                           summary=f"edited contract template {row.key} v{row.current_version} → v{new_version}",
                           detail={"templateId": row.id, "key": row.key, "version": new_version,
                                   "name": name, "markup": markup.value, "productId": product_id,
                                   "active": row.active if data.active is None else data.active,
                                   "sourceChanged": source != current.source, "sourceSha256": _sha(source)},
                           request_id=request_id, scope_product_id=product_id)
    return await ContractTemplate.get(id=row.id)


async def delete(actor: Actor, scope: DataScope, template_id: int, *, request_id: str = "") -> ContractTemplate:
    """Retire a template: no longer listed or rendered; its versions stay for the contracts signed with it."""
    row = await get(scope, template_id)
    async with in_transaction():
        updated = await ContractTemplate.filter(id=row.id, deleted=False).update(deleted=True, active=False,
                                                                                 updated_at=clock.now())
        if updated != 1:
            raise not_found("Contract template")
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="delete",
                           summary=f"deleted contract template {row.key}",
                           detail={"templateId": row.id, "key": row.key, "version": row.current_version},
                           request_id=request_id, scope_product_id=row.product_id)  # type: ignore[attr-defined]
    row.deleted, row.active = True, False
    return row
