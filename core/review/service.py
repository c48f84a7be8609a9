"""Maker-checker use cases: submit, edit, withdraw, approve, reject, and the review queues.

Rules (F-REV-1, F-MON-4): the maker names a checker who holds `review.decide`; only that checker
decides; a maker never checks their own change; a change whose entity moved on since submission is
refused on approval (the maker edits it, which re-bases it, or withdraws it); approval applies the
change, its side effects, the operation log and the approval listeners (the ledger) in one
transaction, and a change is decided exactly once even when two approvals race.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import clock
from core.accounts.models import User
from core.actor import Actor
from core.errors import ErrorCode, UserError, not_found
from core.oplog import service as oplog
from core.review.models import ChangeAction, ChangeRequest, ChangeStatus
from core.review.registry import Proposal, entity_for
from permissions.policy import policy_store

REVIEW_NODE = "review.decide"

ApprovalListener = Callable[[ChangeRequest, Actor], Awaitable[None]]
_approval_listeners: list[ApprovalListener] = []


def on_approved(listener: ApprovalListener) -> ApprovalListener:
    """Register a call made inside every approval's transaction (the ledger uses it)."""
    _approval_listeners.append(listener)
    return listener


async def _valid_checker(checker_id: int, maker: Actor) -> User:
    if checker_id == maker.user_id:
        raise UserError.of("checkerId", ErrorCode.SELF_REVIEW, "You cannot name yourself as the checker")
    checker = await User.get_or_none(id=checker_id).prefetch_related("roles")
    if checker is None or checker.deleted:
        raise UserError.of("checkerId", ErrorCode.NOT_FOUND, "The checker does not exist")
    if not checker.enabled:
        raise UserError.of("checkerId", ErrorCode.INVALID, "The checker's account is disabled")
    store = policy_store()
    await store.refresh()
    keys = [r.key for r in checker.roles if r.enabled]
    if not store.allowed(keys, REVIEW_NODE):
        raise UserError.of("checkerId", ErrorCode.INVALID, "The chosen user is not allowed to review changes")
    return checker


async def _no_other_pending(entity_type: str, entity_id: int | None, exclude: int | None = None) -> None:
    if entity_id is None:
        return
    qs = ChangeRequest.filter(entity_type=entity_type, entity_id=entity_id, status=ChangeStatus.PENDING)
    if exclude is not None:
        qs = qs.exclude(id=exclude)
    if await qs.exists():
        raise UserError.of(None, ErrorCode.CONFLICT,
                           "Another change to this record is waiting for review; withdraw or decide it first")


async def submit(actor: Actor, entity_type: str, action: ChangeAction, entity_id: int | None,
                 data: dict[str, Any], checker_id: int, request_id: str = "") -> ChangeRequest:
    """A maker proposes a change; nothing changes until the named checker approves it."""
    entity = entity_for(entity_type)
    await _valid_checker(checker_id, actor)
    proposal = await entity.propose(action, entity_id, data, actor)
    async with in_transaction():
        await _no_other_pending(entity_type, entity_id)
        change = await ChangeRequest.create(
            entity_type=entity_type, entity_id=entity_id, entity_label=proposal.label[:100], action=action,
            payload=proposal.payload, base_version=proposal.base_version, maker_id=actor.user_id,
            scope_bank_id=proposal.scope_bank_id, scope_product_id=proposal.scope_product_id,
            checker_id=checker_id,
        )
        await oplog.record(actor, kind=actor.kind(), module=entity.module, action=f"submit_{action.value}",
                           summary=f"{action.value} {entity_type} {proposal.label}: sent for review",
                           detail={"changeId": change.id, "data": data}, request_id=request_id,
                           **_tags(proposal))
    return change


async def _pending_of_maker(actor: Actor, change_id: int) -> ChangeRequest:
    change = await ChangeRequest.get_or_none(id=change_id)
    if change is None or change.maker_id != actor.user_id:  # type: ignore[attr-defined]
        raise not_found("Change request", "changeId")
    if change.status != ChangeStatus.PENDING:
        raise UserError.of("changeId", ErrorCode.INVALID_STATE, f"The change is already {change.status.value}")
    return change


async def edit(actor: Actor, change_id: int, data: dict[str, Any], checker_id: int | None,
               request_id: str = "") -> ChangeRequest:
    """The maker revises a pending change; it is re-validated and re-based on the entity's version now."""
    change = await _pending_of_maker(actor, change_id)
    entity = entity_for(change.entity_type)
    if checker_id is not None:
        await _valid_checker(checker_id, actor)
    proposal = await entity.propose(change.action, change.entity_id, data, actor)
    async with in_transaction():
        updated = await ChangeRequest.filter(id=change.id, status=ChangeStatus.PENDING).update(
            payload=proposal.payload, base_version=proposal.base_version, entity_label=proposal.label[:100],
            scope_bank_id=proposal.scope_bank_id, scope_product_id=proposal.scope_product_id,
            checker_id=checker_id or change.checker_id,  # type: ignore[attr-defined]
            updated_at=clock.now(),
        )
        if not updated:
            raise UserError.of("changeId", ErrorCode.CONFLICT, "The change was decided meanwhile")
        await oplog.record(actor, kind=actor.kind(), module=entity.module, action="edit_change",
                           summary=f"edited pending change #{change.id}", detail={"changeId": change.id,
                                                                                  "data": data},
                           request_id=request_id, **_tags(proposal))
    await change.refresh_from_db()
    return change


async def withdraw(actor: Actor, change_id: int, request_id: str = "") -> ChangeRequest:
    """The maker takes back a pending change (no checker needed)."""
    change = await _pending_of_maker(actor, change_id)
    entity = entity_for(change.entity_type)
    async with in_transaction():
        n = await ChangeRequest.filter(id=change.id, status=ChangeStatus.PENDING).update(
            status=ChangeStatus.WITHDRAWN, decided_at=clock.now(), updated_at=clock.now())
        if not n:
            raise UserError.of("changeId", ErrorCode.CONFLICT, "The change was decided meanwhile")
        await oplog.record(actor, kind=actor.kind(), module=entity.module, action="withdraw_change",
                           summary=f"withdrew change #{change.id}", detail={"changeId": change.id},
                           request_id=request_id, **_tags(change))
    await change.refresh_from_db()
    return change


def _tags(source: Proposal | ChangeRequest) -> dict[str, int | None]:
    """The bank/product tags an operation-log entry about this change carries (F-ROLE-4)."""
    return {"scope_bank_id": source.scope_bank_id, "scope_product_id": source.scope_product_id}


async def _decidable(actor: Actor, change_id: int) -> ChangeRequest:
    change = await ChangeRequest.filter(actor.scope.tagged(), id=change_id).first()
    if change is None:
        raise not_found("Change request", "changeId")
    if change.maker_id == actor.user_id:  # type: ignore[attr-defined]
        raise UserError.of("changeId", ErrorCode.SELF_REVIEW, "You cannot review your own change")
    if change.checker_id != actor.user_id:  # type: ignore[attr-defined]
        raise UserError.of("changeId", ErrorCode.FORBIDDEN, "This change is assigned to another checker")
    if change.status != ChangeStatus.PENDING:
        raise UserError.of("changeId", ErrorCode.INVALID_STATE, f"The change is already {change.status.value}")
    return change


async def _claim(change: ChangeRequest, status: ChangeStatus, comment: str) -> None:
    """Move the change out of pending exactly once; a racing decision finds nothing to update."""
    n = await ChangeRequest.filter(id=change.id, status=ChangeStatus.PENDING).update(
        status=status, comment=comment, decided_at=clock.now(), updated_at=clock.now())
    if n != 1:
        raise UserError.of("changeId", ErrorCode.CONFLICT, "The change has already been decided")


async def approve(actor: Actor, change_id: int, comment: str = "", request_id: str = "") -> ChangeRequest:
    """Apply the change atomically: entity rows, operation log and approval listeners, or nothing."""
    change = await _decidable(actor, change_id)
    entity = entity_for(change.entity_type)
    async with in_transaction():
        await _claim(change, ChangeStatus.APPROVED, comment)
        if change.action != ChangeAction.CREATE:
            current = await entity.current_version(change.entity_id or 0)
            if current is None:
                raise UserError.of("changeId", ErrorCode.STALE, "The record no longer exists")
            if current != change.base_version:
                raise UserError.of("changeId", ErrorCode.STALE,
                                   "The record changed after this change was submitted; "
                                   "the maker must edit or withdraw it")
        entity_id = await entity.apply(change.action, change.entity_id, change.payload,
                                       change.maker_id, actor.user_id)  # type: ignore[attr-defined]
        if change.entity_id is None:
            await ChangeRequest.filter(id=change.id).update(entity_id=entity_id)
        await change.refresh_from_db()
        await oplog.record(actor, kind=actor.kind(reviewing=True), module=entity.module, action="approve",
                           summary=f"approved {change.action.value} {change.entity_type} {change.entity_label}",
                           detail={"changeId": change.id, "comment": comment, "payload": change.payload},
                           request_id=request_id, **_tags(change))
        for listener in _approval_listeners:
            await listener(change, actor)
    return change


async def reject(actor: Actor, change_id: int, comment: str, request_id: str = "") -> ChangeRequest:
    """Refuse the change with a reason; the entity is untouched."""
    if not comment or not comment.strip():
        raise UserError.of("comment", ErrorCode.REQUIRED, "Say why the change is rejected")
    if len(comment) > 500:
        raise UserError.of("comment", ErrorCode.TOO_LONG, "comment must be at most 500 characters")
    change = await _decidable(actor, change_id)
    entity = entity_for(change.entity_type)
    async with in_transaction():
        await _claim(change, ChangeStatus.REJECTED, comment)
        await oplog.record(actor, kind=actor.kind(reviewing=True), module=entity.module, action="reject",
                           summary=f"rejected {change.action.value} {change.entity_type} {change.entity_label}",
                           detail={"changeId": change.id, "comment": comment}, request_id=request_id,
                           **_tags(change))
    await change.refresh_from_db()
    return change


class Queue(Enum):
    """The seed's lists: pending for me (checker), my submissions (maker), completed, all."""

    ALL = "all"
    PENDING = "pending"
    PENDING_FOR_ME = "pending_for_me"
    MY_SUBMISSIONS = "my_submissions"
    COMPLETED = "completed"


@dataclass(frozen=True)
class ChangeFilter:
    queue: Queue = Queue.ALL
    entity_types: tuple[str, ...] = ()
    action: ChangeAction | None = None
    maker_id: int | None = None
    checker_id: int | None = None
    keyword: str | None = None


def query(actor: Actor, f: ChangeFilter) -> QuerySet[ChangeRequest]:
    """Change requests of the given entity types within the actor's data scope, filtered in SQL."""
    qs = ChangeRequest.filter(actor.scope.tagged(), entity_type__in=list(f.entity_types))
    if f.queue is Queue.PENDING:
        qs = qs.filter(status=ChangeStatus.PENDING)
    elif f.queue is Queue.PENDING_FOR_ME:
        qs = qs.filter(status=ChangeStatus.PENDING, checker_id=actor.user_id)
    elif f.queue is Queue.MY_SUBMISSIONS:
        qs = qs.filter(maker_id=actor.user_id)
    elif f.queue is Queue.COMPLETED:
        qs = qs.filter(status__in=[ChangeStatus.APPROVED, ChangeStatus.REJECTED])
    if f.action:
        qs = qs.filter(action=f.action)
    if f.maker_id is not None:
        qs = qs.filter(maker_id=f.maker_id)
    if f.checker_id is not None:
        qs = qs.filter(checker_id=f.checker_id)
    if f.keyword:
        qs = qs.filter(Q(entity_label__icontains=f.keyword) | Q(checker__name__icontains=f.keyword))
    return qs
