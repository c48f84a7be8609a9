"""Lending-assist institutions / traffic platforms (助贷机构, F-ORG-3).

Shared reference data, not bank data: every caller with the page sees all of them, so reads take
no data scope. Lists paginate 10 per page by default (`schema.relay.paginate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, not_found
from core.orgs import common, rules
from core.orgs.models import AssistInstitution

MODULE = "assist_orgs"


@dataclass(frozen=True)
class AssistInput:
    """An institution's fields as entered; on update, None keeps the stored value."""

    name: str | None = None
    number: str | None = None
    phone: str | None = None
    address: str | None = None


def query(keyword: str | None = None) -> QuerySet[AssistInstitution]:
    """All institutions; `keyword` searches name and number."""
    qs = AssistInstitution.all()
    if keyword and keyword.strip():
        k = keyword.strip()
        qs = qs.filter(Q(name__icontains=k) | Q(number__icontains=k))
    return qs


async def get(institution_id: int, field: str = "id") -> AssistInstitution:
    row = await AssistInstitution.get_or_none(id=institution_id)
    if row is None:
        raise not_found("Lending-assist institution", field)
    return row


async def _validate(data: AssistInput, current: AssistInstitution | None) -> dict[str, Any]:
    errs = ErrorCollector()
    partial = current is not None
    out: dict[str, Any] = {}
    if not partial or data.name is not None:
        out["name"] = rules.text(errs, "name", data.name, 50)
    if not partial or data.number is not None:
        out["number"] = rules.code(errs, "number", data.number, 30)
    if not partial or data.phone is not None:
        out["phone"] = rules.phone(errs, "phone", data.phone, required=False)
    if not partial or data.address is not None:
        out["address"] = rules.text(errs, "address", data.address, 200, required=False)
    others = AssistInstitution.exclude(id=current.id) if current else AssistInstitution.all()
    if out.get("name") and await others.filter(name=out["name"]).exists():
        errs.add("name", ErrorCode.NOT_UNIQUE, f"An institution named {out['name']!r} already exists")
    if out.get("number") and await others.filter(number=out["number"]).exists():
        errs.add("number", ErrorCode.NOT_UNIQUE, f"Institution number {out['number']!r} is already used")
    errs.raise_if_any()
    return out


def _detail(row: AssistInstitution) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "number": row.number, "phone": row.phone, "address": row.address}


async def create(actor: Actor, data: AssistInput, *, request_id: str = "") -> AssistInstitution:
    values = await _validate(data, None)
    async with common.unique_race("name", "Name or number is already used"), in_transaction():
        row = await AssistInstitution.create(**values)
        await common.log(actor, MODULE, "create", f"added lending-assist institution {row.name}", _detail(row),
                         request_id=request_id)
    return row


async def update(actor: Actor, institution_id: int, data: AssistInput, *, request_id: str = "") -> AssistInstitution:
    row = await get(institution_id)
    values = await _validate(data, row)
    return await common.update_row(
        actor, row, values, module=MODULE, summary=f"edited lending-assist institution {row.name}",
        unique_field="name", unique_message="Name or number is already used",
        request_id=request_id)


async def delete(actor: Actor, institution_id: int, *, request_id: str = "") -> None:
    """Delete an institution no product uses as its assist institution or traffic channel."""
    row = await get(institution_id)
    what = f"Lending-assist institution {row.name}"
    await common.delete_row(
        actor, row, what=what, module=MODULE, summary=f"deleted lending-assist institution {row.name}",
        detail=_detail(row),
        request_id=request_id)
