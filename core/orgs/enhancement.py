"""Credit-enhancement institutions (增信机构, F-ORG-4): guarantee companies and insurers.

Shared reference data, not bank data: reads take no data scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, not_found
from core.orgs import common, rules
from core.orgs.models import EnhancementInstitution, EnhancementType

MODULE = "enhancement_orgs"


@dataclass(frozen=True)
class EnhancementInput:
    """An institution's fields as entered; on update, None keeps the stored value."""

    name: str | None = None
    type: EnhancementType | str | None = None
    contact: str | None = None
    phone: str | None = None
    attributes: str | None = None


def query(keyword: str | None = None, type: EnhancementType | None = None) -> QuerySet[EnhancementInstitution]:
    """All institutions; `keyword` searches the name."""
    qs = EnhancementInstitution.all()
    if keyword and keyword.strip():
        qs = qs.filter(name__icontains=keyword.strip())
    if type is not None:
        qs = qs.filter(type=type)
    return qs


async def get(institution_id: int, field: str = "id") -> EnhancementInstitution:
    row = await EnhancementInstitution.get_or_none(id=institution_id)
    if row is None:
        raise not_found("Credit-enhancement institution", field)
    return row


async def _validate(data: EnhancementInput, current: EnhancementInstitution | None) -> dict[str, Any]:
    errs = ErrorCollector()
    partial = current is not None
    out: dict[str, Any] = {}
    if not partial or data.name is not None:
        out["name"] = rules.text(errs, "name", data.name, 50)
    if not partial or data.type is not None:
        out["type"] = rules.choice(errs, "type", data.type, EnhancementType)
    if not partial or data.contact is not None:
        out["contact"] = rules.text(errs, "contact", data.contact, 20, required=False)
    if not partial or data.phone is not None:
        out["phone"] = rules.phone(errs, "phone", data.phone, required=False)
    if not partial or data.attributes is not None:
        out["attributes"] = rules.text(errs, "attributes", data.attributes, 200, required=False)
    others = EnhancementInstitution.exclude(id=current.id) if current else EnhancementInstitution.all()
    if out.get("name") and await others.filter(name=out["name"]).exists():
        errs.add("name", ErrorCode.NOT_UNIQUE, f"An institution named {out['name']!r} already exists")
    errs.raise_if_any()
    return out


def _detail(row: EnhancementInstitution) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "type": row.type, "contact": row.contact, "phone": row.phone,
            "attributes": row.attributes}


async def create(actor: Actor, data: EnhancementInput, *, request_id: str = "") -> EnhancementInstitution:
    values = await _validate(data, None)
    async with common.unique_race("name", "An institution with that name already exists"), in_transaction():
        row = await EnhancementInstitution.create(**values)
        await common.log(actor, MODULE, "create", f"added credit-enhancement institution {row.name}", _detail(row),
                         request_id=request_id)
    return row


async def update(actor: Actor, institution_id: int, data: EnhancementInput, *,
                 request_id: str = "") -> EnhancementInstitution:
    row = await get(institution_id)
    values = await _validate(data, row)
    return await common.update_row(
        actor, row, values, module=MODULE, summary=f"edited credit-enhancement institution {row.name}",
        unique_field="name", unique_message="An institution with that name already exists",
        request_id=request_id)


async def delete(actor: Actor, institution_id: int, *, request_id: str = "") -> None:
    """Delete an institution no loan product names any more."""
    row = await get(institution_id)
    what = f"Credit-enhancement institution {row.name}"
    await common.delete_row(
        actor, row, what=what, module=MODULE, summary=f"deleted credit-enhancement institution {row.name}",
        detail=_detail(row),
        request_id=request_id)
