"""What a reviewed entity type must provide to go through maker-checker (F-REV-1).

Adding an entity type is one class: say how to validate a proposed change (returning the payload to
store, the version it was made against, and a label for lists) and how to apply an approved one.
The review service does the rest: who may check, staleness, atomic application, the operation log
and the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from core.actor import Actor
from core.review.models import ChangeAction


@dataclass(frozen=True)
class Proposal:
    """A validated change, ready to be stored on the change request."""

    payload: dict[str, Any]
    base_version: int | None
    label: str
    # The bank/product whose data this is (None for users, roles …): limits who sees the change.
    scope_bank_id: int | None = None
    scope_product_id: int | None = None


class ReviewedEntity(Protocol):
    entity_type: str  # stored on change requests, e.g. "user"
    module: str  # operation-log module, e.g. "users"
    page: str  # the page-permission node whose action nodes guard proposals

    async def propose(self, action: ChangeAction, entity_id: int | None, data: dict[str, Any],
                      actor: Actor) -> Proposal:
        """Validate the maker's input (raise UserError listing every problem)."""
        ...

    async def current_version(self, entity_id: int) -> int | None:
        """The entity's version now, None if it no longer exists."""
        ...

    async def apply(self, action: ChangeAction, entity_id: int | None, payload: dict[str, Any],
                    maker_id: int, checker_id: int) -> int:
        """Apply an approved change inside the caller's transaction; return the entity id."""
        ...


def review_stamp(action: ChangeAction, maker_id: int | None, checker_id: int | None) -> dict[str, Any]:
    """The columns every reviewed row keeps about the review that last changed it (seed 000's list
    columns: maker, checker, review type, review time)."""
    from core import clock

    return {"last_maker_id": maker_id, "last_checker_id": checker_id, "last_action": action.value,
            "reviewed_at": clock.now()}


_registry: dict[str, ReviewedEntity] = {}


def register(entity: ReviewedEntity) -> ReviewedEntity:
    _registry[entity.entity_type] = entity
    return entity


def entity_for(entity_type: str) -> ReviewedEntity:
    try:
        return _registry[entity_type]
    except KeyError:
        raise LookupError(f"{entity_type!r} is not a reviewed entity type") from None


def entity_types() -> list[str]:
    return sorted(_registry)
