"""What the institution services share: reference checks before deletes, the operation-log entry,
and turning a lost uniqueness race into a field error.

Why references are found by walking the models: banks, institutions and platforms are referenced by
other domains (products, funding plans, later loans) that are built separately. Asking tortoise for
every foreign key that points at the model means a table added later is checked too, and the user
gets "still used by 2 loan products" instead of a database error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from tortoise import Tortoise, fields
from tortoise.exceptions import IntegrityError
from tortoise.models import Model

from core.actor import Actor
from core.db import APP
from core.errors import ErrorCode, UserError
from core.oplog import service as oplog
from core.oplog.models import OperatorKind

T = TypeVar("T")
M = TypeVar("M", bound=Model)

# Friendly names for referencing tables; anything else is named after its table.
LABELS = {
    "bank_product": "bank credit products",
    "margin_account": "margin accounts",
    "margin_movement": "margin movements",
    "product": "loan products",
    "product_funder": "loan products (as funder)",
    "product_channel": "loan products (as traffic channel)",
    "funding_plan": "funding plans",
    "funding_plan_channel": "funding plan channel limits",
    "funding_usage": "funding usage records",
}
_KEEP_ON_DELETE = {fields.CASCADE, fields.SET_NULL, fields.SET_DEFAULT}


async def references(model: type[Model], pk: int) -> list[str]:
    """Descriptions ("3 bank credit products") of rows that still point at `model` row `pk`.

    Only foreign keys that would block the delete count: CASCADE / SET NULL ones follow by design.
    """
    found: list[str] = []
    for other in Tortoise.apps[APP].values():
        meta = other._meta
        for name in sorted(meta.fk_fields | meta.o2o_fields):
            fk = meta.fields_map[name]
            if getattr(fk, "related_model", None) is not model or getattr(fk, "on_delete", None) in _KEEP_ON_DELETE:
                continue
            count = await other.filter(**{fk.source_field or f"{name}_id": pk}).count()  # type: ignore[attr-defined]
            if count:
                label = LABELS.get(meta.db_table, meta.db_table.replace("_", " ") + " records")
                found.append(f"{count} {label}")
    return found


async def refuse_if_referenced(model: type[Model], pk: int, what: str) -> None:
    """A CONFLICT error listing what still uses the row, so the user knows what to remove first."""
    used = await references(model, pk)
    if used:
        raise UserError.of("id", ErrorCode.CONFLICT,
                           f"{what} is still used by {', '.join(used)}; remove or reassign those first")


async def log(actor: Actor, module: str, action: str, summary: str, detail: dict[str, Any], *,
              bank_id: int | None = None, request_id: str = "") -> None:
    """The operation-log entry of an institution change (call inside its transaction).

    `bank_id` tags entries about one bank's data so callers scoped to other banks never read them.
    """
    kind = actor.kind() if actor.user_id else OperatorKind.SYSTEM  # disbursement jobs, the demo loader
    await oplog.record(actor, kind=kind, module=module, action=action, summary=summary, detail=detail,
                       request_id=request_id, scope_bank_id=bank_id)


@asynccontextmanager
async def unique_race(field: str, message: str) -> AsyncIterator[None]:
    """Turn an IntegrityError (another request inserted the same code first) into a field error."""
    try:
        yield
    except IntegrityError:
        raise UserError.of(field, ErrorCode.NOT_UNIQUE, message) from None


async def delete_guarded(model: type[Model], pk: int, what: str, action: Callable[[], Awaitable[T]]) -> T:
    """Run a delete, translating a foreign-key failure that raced the reference check into CONFLICT."""
    try:
        return await action()
    except IntegrityError:
        used = await references(model, pk)
        raise UserError.of("id", ErrorCode.CONFLICT,
                           f"{what} is still used{' by ' + ', '.join(used) if used else ''}; remove those first"
                           ) from None


async def update_row(actor: Actor, row: M, values: dict[str, Any], *, module: str, summary: str,
                     unique_field: str, unique_message: str, request_id: str = "") -> M:
    """Write the changed fields of a shared reference row, logging before/after; no change, no write."""
    from tortoise.transactions import in_transaction

    from core import clock

    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    if not changed:
        return row
    before = {k: getattr(row, k) for k in changed}
    async with unique_race(unique_field, unique_message), in_transaction():
        await type(row).filter(id=row.pk).update(**changed, updated_at=clock.now())
        await log(actor, module, "update", summary, {"id": row.pk, "before": before, "after": changed},
                  request_id=request_id)
    await row.refresh_from_db()
    return row


async def delete_row(actor: Actor, row: Model, *, what: str, module: str, summary: str, detail: dict[str, Any],
                     request_id: str = "") -> None:
    """Delete a row nothing references any more (checked first, and again by the database), logged."""
    from tortoise.transactions import in_transaction

    model = type(row)
    await refuse_if_referenced(model, row.pk, what)

    async def run() -> None:
        async with in_transaction():
            await model.filter(id=row.pk).delete()
            await log(actor, module, "delete", summary, detail, request_id=request_id)

    await delete_guarded(model, row.pk, what, run)
