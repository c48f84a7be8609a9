"""Users as a reviewed entity (F-USER-1, F-USER-3) and enabling/disabling them."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from core.accounts import rules
from core.accounts.models import Role, User
from core.accounts.passwords import hash_password
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.oplog import service as oplog
from core.review.models import ChangeAction
from core.review.registry import Proposal, register, review_stamp

IMMUTABLE = ("workNo", "account", "name")
VIEWER_ROLE = "viewer"


async def _roles(errs: ErrorCollector, role_ids: list[int] | None, required: bool) -> list[int]:
    if not role_ids:
        if required:
            errs.add("roleIds", ErrorCode.REQUIRED, "Choose at least one role")
        return []
    roles = await Role.filter(id__in=role_ids)
    found = {r.id: r for r in roles}
    missing = [i for i in role_ids if i not in found]
    if missing:
        errs.add("roleIds", ErrorCode.NOT_FOUND, "Some chosen roles do not exist")
    disabled = [r.name for r in roles if not r.enabled]
    if disabled:
        errs.add("roleIds", ErrorCode.INVALID, f"Disabled roles cannot be assigned: {', '.join(disabled)}")
    return sorted(set(role_ids))


class UserEntity:
    entity_type = "user"
    module = "users"
    page = "users"

    async def propose(self, action: ChangeAction, entity_id: int | None, data: dict[str, Any],
                      actor: Actor) -> Proposal:
        if action is ChangeAction.CREATE:
            return await self._propose_create(data)
        user = await User.get_or_none(id=entity_id or 0, deleted=False)
        if user is None:
            raise not_found("User")
        if action is ChangeAction.DELETE:
            if user.id == actor.user_id:
                raise UserError.of("id", ErrorCode.INVALID, "You cannot delete your own account")
            return Proposal({}, user.version, user.name)
        return await self._propose_update(user, data)

    async def _propose_create(self, data: dict[str, Any]) -> Proposal:
        errs = ErrorCollector()
        rules.work_no(errs, data.get("workNo"))
        rules.account(errs, data.get("account"))
        rules.display_name(errs, data.get("name"))
        rules.password(errs, data.get("password"))
        rules.contact(errs, data.get("phone"), data.get("landline"), data.get("email"))
        role_ids = await _roles(errs, data.get("roleIds"), required=True)
        work_no, account = data.get("workNo") or "", data.get("account") or ""
        if work_no and not errs.has("workNo") and await User.filter(work_no=work_no).exists():
            errs.add("workNo", ErrorCode.NOT_UNIQUE, f"Work number {work_no} is already taken")
        if account and not errs.has("account") and await User.filter(account=account).exists():
            errs.add("account", ErrorCode.NOT_UNIQUE, f"Account {account!r} is already taken")
        errs.raise_if_any()
        payload = {
            "workNo": work_no, "account": account, "name": data["name"].strip(),
            "phone": data.get("phone") or "", "landline": data.get("landline") or "",
            "email": data.get("email") or "", "roleIds": role_ids,
            "passwordHash": hash_password(data["password"]),
        }
        return Proposal(payload, None, payload["name"])

    async def _propose_update(self, user: User, data: dict[str, Any]) -> Proposal:
        errs = ErrorCollector()
        current = {"workNo": user.work_no, "account": user.account, "name": user.name}
        for key in IMMUTABLE:
            if data.get(key) is not None and data[key] != current[key]:
                errs.add(key, ErrorCode.IMMUTABLE, f"{key} cannot be changed after creation")
        payload: dict[str, Any] = {}
        for key in ("phone", "landline", "email"):
            if data.get(key) is not None:
                payload[key] = data[key]
        rules.contact(errs, payload.get("phone"), payload.get("landline"), payload.get("email"))
        if data.get("roleIds") is not None:
            payload["roleIds"] = await _roles(errs, data["roleIds"], required=True)
        if data.get("password"):
            rules.password(errs, data["password"])
            payload["passwordHash"] = hash_password(data["password"])
        errs.raise_if_any()
        if not payload:
            raise UserError.of(None, ErrorCode.REQUIRED, "Nothing to change")
        return Proposal(payload, user.version, user.name)

    async def current_version(self, entity_id: int) -> int | None:
        user = await User.get_or_none(id=entity_id, deleted=False)
        return user.version if user else None

    async def apply(self, action: ChangeAction, entity_id: int | None, payload: dict[str, Any],
                    maker_id: int, checker_id: int) -> int:
        stamp = review_stamp(action, maker_id, checker_id)
        if action is ChangeAction.CREATE:
            user = await User.create(
                work_no=payload["workNo"], account=payload["account"], name=payload["name"],
                phone=payload["phone"], landline=payload["landline"], email=payload["email"],
                password_hash=payload["passwordHash"], enabled=False, **stamp,
            )
            await user.roles.add(*await Role.filter(id__in=payload["roleIds"]))
            return user.id
        user = await User.get(id=entity_id)
        if action is ChangeAction.DELETE:
            # Seed 000: a deleted user keeps only viewer rights; history stays intact.
            await User.filter(id=user.id).update(deleted=True, version=user.version + 1, **stamp)
            await user.roles.clear()
            viewer = await Role.get_or_none(key=VIEWER_ROLE)
            if viewer:
                await user.roles.add(viewer)
            return user.id
        fields = {k: payload[k] for k in ("phone", "landline", "email") if k in payload}
        if "passwordHash" in payload:
            fields["password_hash"] = payload["passwordHash"]
        await User.filter(id=user.id).update(**fields, **stamp, version=user.version + 1)
        if "roleIds" in payload:
            await user.roles.clear()
            await user.roles.add(*await Role.filter(id__in=payload["roleIds"]))
        return user.id


USER = register(UserEntity())


async def set_enabled(actor: Actor, user_id: int, enabled: bool, request_id: str = "") -> User:
    """Enable or disable a user; a disabled user's tokens stop working on their next request."""
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise not_found("User")
    if user.id == actor.user_id and not enabled:
        raise UserError.of("id", ErrorCode.INVALID, "You cannot disable your own account")
    async with in_transaction():
        await User.filter(id=user.id).update(enabled=enabled, version=user.version + 1,
                                             failed_logins=0, locked_until=None)
        await oplog.record(actor, kind=actor.kind(), module="users", action="enable" if enabled else "disable",
                           summary=f"{'enabled' if enabled else 'disabled'} user {user.name}",
                           detail={"userId": user.id}, request_id=request_id)
    await user.refresh_from_db()
    return user
