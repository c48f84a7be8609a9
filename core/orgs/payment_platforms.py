"""Payment platforms (F-ORG-6): name and the identifier that routes calls to a payment-provider plugin.

Shared reference data, not bank data: reads take no data scope. Platforms are added and removed,
not edited (the permission tree has no edit button): changing an identifier under running loans
would silently re-route their payments, so the way to change one is remove-and-add, which is refused
while products still use the platform.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, not_found
from core.orgs import common, rules
from core.orgs.models import PaymentPlatform

MODULE = "payment_platforms"


@dataclass(frozen=True)
class PaymentPlatformInput:
    name: str | None = None
    identifier: str | None = None


def query(keyword: str | None = None) -> QuerySet[PaymentPlatform]:
    """All platforms; `keyword` searches name and identifier."""
    qs = PaymentPlatform.all()
    if keyword and keyword.strip():
        k = keyword.strip()
        qs = qs.filter(Q(name__icontains=k) | Q(identifier__icontains=k))
    return qs


async def get(platform_id: int, field: str = "id") -> PaymentPlatform:
    row = await PaymentPlatform.get_or_none(id=platform_id)
    if row is None:
        raise not_found("Payment platform", field)
    return row


async def create(actor: Actor, data: PaymentPlatformInput, *, request_id: str = "") -> PaymentPlatform:
    errs = ErrorCollector()
    name = rules.text(errs, "name", data.name, 50)
    identifier = rules.code(errs, "identifier", data.identifier, 50)
    if name and await PaymentPlatform.filter(name=name).exists():
        errs.add("name", ErrorCode.NOT_UNIQUE, f"A payment platform named {name!r} already exists")
    if identifier and await PaymentPlatform.filter(identifier=identifier).exists():
        errs.add("identifier", ErrorCode.NOT_UNIQUE, f"Identifier {identifier!r} is already used by another platform")
    errs.raise_if_any()
    async with common.unique_race("identifier", "Name or identifier is already used"), in_transaction():
        row = await PaymentPlatform.create(name=name, identifier=identifier)
        await common.log(actor, MODULE, "create", f"added payment platform {row.name} ({row.identifier})",
                         {"id": row.id, "name": row.name, "identifier": row.identifier},
        request_id=request_id)
    return row


async def delete(actor: Actor, platform_id: int, *, request_id: str = "") -> None:
    """Remove a platform no loan product pays through any more."""
    row = await get(platform_id)
    what = f"Payment platform {row.name}"
    await common.delete_row(
        actor, row, what=what, module=MODULE, summary=f"removed payment platform {row.name} ({row.identifier})",
        detail={"id": row.id, "name": row.name, "identifier": row.identifier},
        request_id=request_id)
