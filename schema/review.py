"""GraphQL for maker-checker reviews (SPEC §8): the queues, decisions and withdrawal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from core.accounts.models import User
from core.review import service
from core.review.models import ChangeAction, ChangeRequest, ChangeStatus
from core.review.registry import entity_for, entity_types
from permissions.policy import policy_store
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.relay import Connection, connection, decode, decode_optional, gid, paginate

ChangeActionEnum = strawberry.enum(ChangeAction, name="ChangeAction")
ChangeStatusEnum = strawberry.enum(ChangeStatus, name="ChangeStatus")
QueueEnum = strawberry.enum(service.Queue, name="ReviewQueue")
REDACTED = {"passwordHash"}
SUBMIT_NODES = ("users.create", "users.update", "users.delete", "roles.create", "roles.update", "roles.delete",
                "roles.permissions", "roles.data", "products.create", "products.update", "products.delete",
                "risk_rules.create", "risk_rules.update", "risk_rules.delete")


@strawberry.type(name="ChangeRequest", description="A proposed change and its review (seed 000 lists).")
class ChangeRequestType:
    id: strawberry.ID
    entity_type: str
    entity_id: int | None
    entity_label: str
    action: ChangeActionEnum  # type: ignore[valid-type]
    status: ChangeStatusEnum  # type: ignore[valid-type]
    payload: JSON
    base_version: int | None
    maker_id: strawberry.ID
    maker_name: str
    checker_id: strawberry.ID
    checker_name: str
    comment: str
    created_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, c: ChangeRequest, maker: User | None = None, checker: User | None = None) -> ChangeRequestType:
        maker = maker or c.__dict__.get("_maker")
        checker = checker or c.__dict__.get("_checker")
        return cls(id=gid("ChangeRequest", c.id), entity_type=c.entity_type, entity_id=c.entity_id,
                   entity_label=c.entity_label, action=c.action, status=c.status,
                   payload={k: v for k, v in c.payload.items() if k not in REDACTED}, base_version=c.base_version,
                   maker_id=gid("User", c.maker_id), maker_name=maker.name if maker else "",  # type: ignore[attr-defined]
                   checker_id=gid("User", c.checker_id),  # type: ignore[attr-defined]
                   checker_name=checker.name if checker else "", comment=c.comment, created_at=c.created_at,
                   decided_at=c.decided_at)


async def load_change(change: ChangeRequest) -> ChangeRequestType:
    await change.fetch_related("maker", "checker")
    return ChangeRequestType.of(change)


async def submit_change(info: Info, entity_type: str, action: ChangeAction, entity_id: int | None,
                        data: dict[str, Any], checker_id: strawberry.ID, change_id: strawberry.ID | None
                        ) -> ChangeRequestType:
    """Submit a new change, or revise the caller's pending one when `change_id` is given."""
    actor = actor_of(info)
    checker = decode(checker_id, "User", "checkerId")
    if change_id is not None:
        change = await service.edit(actor, decode(change_id, "ChangeRequest", "changeId"), data, checker,
                                    info.context.request_id)
    else:
        change = await service.submit(actor, entity_type, action, entity_id, data, checker,
                                      info.context.request_id)
    return await load_change(change)


@strawberry.input
class ChangeFilterInput:
    queue: QueueEnum = service.Queue.ALL  # type: ignore[valid-type]
    entity_type: str | None = strawberry.field(default=None, description="user, role, …")
    action: ChangeActionEnum | None = None  # type: ignore[valid-type]
    maker_id: strawberry.ID | None = None
    checker_id: strawberry.ID | None = None
    keyword: str | None = strawberry.field(default=None, description="Entity name or checker name contains")


@strawberry.type
class ReviewerType:
    id: strawberry.ID
    name: str
    account: str


@strawberry.type
class ChangePayloadDecision(Payload):
    change: ChangeRequestType | None = None


def _visible_types(info: Info, wanted: str | None) -> tuple[str, ...]:
    """Entity types whose page the caller holds; the review page sees every type."""
    actor = actor_of(info)
    allowed = [t for t in entity_types() if actor.can("review") or actor.can(entity_for(t).page)]
    if wanted is not None:
        allowed = [t for t in allowed if t == wanted]
    return tuple(allowed)


@strawberry.type
class ReviewQuery:
    @guarded("review", "users", "roles", "products", "risk_rules", description="Change requests: pending for me, my "
             "submissions, completed, all — limited to the entity types whose page you hold.")
    async def change_requests(self, info: Info, filter: ChangeFilterInput | None = None, first: int | None = None,
                              after: str | None = None) -> Connection[ChangeRequestType]:
        f = filter or ChangeFilterInput()
        qs = service.query(actor_of(info), service.ChangeFilter(
            queue=f.queue, entity_types=_visible_types(info, f.entity_type), action=f.action,
            maker_id=decode_optional(f.maker_id, "User", "filter.makerId"),
            checker_id=decode_optional(f.checker_id, "User", "filter.checkerId"), keyword=f.keyword))
        page = await paginate(qs, first, after, "maker", "checker")
        return connection(page, ChangeRequestType.of)

    @guarded("review", "users", "roles", "products", "risk_rules")
    async def change_request(self, info: Info, id: strawberry.ID) -> ChangeRequestType | None:
        change = await ChangeRequest.filter(info.context.scope.tagged(), id=decode(id, "ChangeRequest", "id"),
                                            entity_type__in=list(_visible_types(info, None))).first()
        return await load_change(change) if change else None

    @guarded(*SUBMIT_NODES, description="Users who may be named as checker (enabled, holding review.decide).")
    async def reviewers(self, info: Info) -> list[ReviewerType]:
        store = policy_store()
        await store.refresh()
        actor = actor_of(info)
        reviewer_roles = list(store.roles_holding(service.REVIEW_NODE))
        rows = await User.filter(enabled=True, deleted=False, roles__enabled=True, roles__key__in=reviewer_roles
                                 ).exclude(id=actor.user_id).distinct().order_by("id")
        return [ReviewerType(id=gid("User", u.id), name=u.name, account=u.account) for u in rows]


@strawberry.type
class ReviewMutation:
    @guarded_mutation("review.decide", description="Approve a change assigned to you; it applies at once.")
    async def approve_change(self, info: Info, id: strawberry.ID, comment: str = "") -> ChangePayloadDecision:
        change = await service.approve(actor_of(info), decode(id, "ChangeRequest", "id"), comment,
                                       info.context.request_id)
        return ChangePayloadDecision(change=await load_change(change))

    @guarded_mutation("review.decide", description="Reject a change assigned to you, saying why.")
    async def reject_change(self, info: Info, id: strawberry.ID, comment: str) -> ChangePayloadDecision:
        change = await service.reject(actor_of(info), decode(id, "ChangeRequest", "id"), comment,
                                      info.context.request_id)
        return ChangePayloadDecision(change=await load_change(change))

    @guarded_mutation(*SUBMIT_NODES, description="Withdraw your own pending change.")
    async def withdraw_change(self, info: Info, id: strawberry.ID) -> ChangePayloadDecision:
        change = await service.withdraw(actor_of(info), decode(id, "ChangeRequest", "id"), info.context.request_id)
        return ChangePayloadDecision(change=await load_change(change))
