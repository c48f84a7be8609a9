"""Roles as a reviewed entity (F-ROLE-1, F-ROLE-2), the built-in roles, and enabling/disabling."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from core.accounts import data_policy, rules
from core.accounts.models import Role
from core.actor import Actor
from core.errors import ErrorCode, ErrorCollector, UserError, not_found
from core.oplog import service as oplog
from core.review.models import ChangeAction
from core.review.registry import Proposal, register, review_stamp
from permissions import policy
from permissions.models import CasbinRule
from permissions.scope import DataPolicy
from permissions.tree import ALL, NODE_KEYS

# Business pages every built-in role may open (their buttons are given below per role).
_BUSINESS_PAGES = {"banks", "bank_products", "assist_orgs", "enhancement_orgs", "margins", "payment_platforms",
                   "products", "funding_plans", "lpr", "loan_orders", "repayments", "collection", "calculator",
                   "contracts", "risk_rules", "transactions", "violations", "diversion_rules", "settlement_query",
                   "disbursement_accounts", "reconciliation"}
# Built-in roles and their page nodes. Seed 000: makers propose, checkers review, viewers only query.
# Their data permission starts empty (admin: every bank): an admin grants banks per role.
BUILTIN_ROLES: dict[str, tuple[str, set[str] | None]] = {
    "admin": ("管理员", None),
    "maker": ("经办", {"home", "ledger", "users.create", "users.update", "users.delete", "roles.create",
                       "roles.update", "roles.delete", "roles.permissions", "roles.data", "oplog",
                       "products.create", "products.update", "products.delete", "funding_plans.save",
                       "funding_plans.activate", "lpr.save", "margins.topup", "contracts.create", "contracts.update",
                       "contracts.delete", "risk_rules.create", "risk_rules.update", "risk_rules.delete",
                       "diversion_rules.create", "diversion_rules.update", "diversion_rules.delete",
                       "credit_review", "credit_review.decide", "collection.record", "violations.export",
                       "transactions.ingest", "loans.sign", "loans.disburse", "loans.resolve_payment",
                       *_BUSINESS_PAGES}),
    "checker": ("复核", {"home", "ledger", "users", "roles", "review.decide", "oplog", "credit_review",
                         "credit_review.decide", "violations.export", *_BUSINESS_PAGES}),
    "viewer": ("查询", {"oplog", *_BUSINESS_PAGES}),
}


async def ensure_builtin_roles() -> None:
    """Create the built-in roles (enabled) and their policies if missing; leaves edited ones alone."""
    async with in_transaction():
        for key, (name, nodes) in BUILTIN_ROLES.items():
            role = await Role.get_or_none(key=key)
            if role is None:
                await Role.create(key=key, name=name, enabled=True, builtin=True,
                                  remark="Built-in role")
                await policy.set_role_pages(key, nodes)
        # The admin role sees every bank's data; roles created before data permissions get it once.
        if not await CasbinRule.filter(ptype="p2", v0="admin").exists():
            await policy.set_role_data("admin", DataPolicy(all=True))


def _nodes(errs: ErrorCollector, pages: list[str] | None) -> list[str] | None:
    if pages is None:
        return None
    unknown = sorted(set(pages) - NODE_KEYS - {ALL})
    if unknown:
        errs.add("pages", ErrorCode.INVALID, f"Unknown permission nodes: {', '.join(unknown)}")
    return sorted(set(pages))


class RoleEntity:
    entity_type = "role"
    module = "roles"
    page = "roles"

    async def propose(self, action: ChangeAction, entity_id: int | None, data: dict[str, Any],
                      actor: Actor) -> Proposal:
        errs = ErrorCollector()
        if action is ChangeAction.CREATE:
            rules.role_name(errs, data.get("name"))
            rules.role_key(errs, data.get("key"))
            rules.remark(errs, data.get("remark"))
            pages = _nodes(errs, data.get("pages"))
            scope_data = (await data_policy.validate(errs, data["data"], actor.scope)
                          if data.get("data") is not None else None)
            name, key = (data.get("name") or "").strip(), data.get("key") or ""
            if name and not errs.has("name") and await Role.filter(name=name).exists():
                errs.add("name", ErrorCode.NOT_UNIQUE, f"A role named {name!r} already exists")
            if key and not errs.has("key") and await Role.filter(key=key).exists():
                errs.add("key", ErrorCode.NOT_UNIQUE, f"A role with key {key!r} already exists")
            errs.raise_if_any()
            payload = {"name": name, "key": key, "remark": data.get("remark") or "", "pages": pages or []}
            if scope_data is not None:
                payload["data"] = scope_data
            return Proposal(payload, None, name)
        role = await Role.get_or_none(id=entity_id or 0)
        if role is None:
            raise not_found("Role")
        if action is ChangeAction.DELETE:
            if role.builtin:
                raise UserError.of("id", ErrorCode.INVALID, "Built-in roles cannot be deleted")
            if await role.users.all().exists():
                raise UserError.of("id", ErrorCode.CONFLICT, "The role still has users; move them first")
            return Proposal({}, role.version, role.name)
        if "key" in data and data["key"] is not None and data["key"] != role.key:
            errs.add("key", ErrorCode.IMMUTABLE, "A role's key cannot be changed")
        payload: dict[str, Any] = {}
        if data.get("name") is not None:
            rules.role_name(errs, data["name"])
            name = data["name"].strip()
            if not errs.has("name") and await Role.filter(name=name).exclude(id=role.id).exists():
                errs.add("name", ErrorCode.NOT_UNIQUE, f"A role named {name!r} already exists")
            payload["name"] = name
        if data.get("remark") is not None:
            rules.remark(errs, data["remark"])
            payload["remark"] = data["remark"]
        if data.get("pages") is not None:
            if role.builtin and role.key == "admin":
                errs.add("pages", ErrorCode.IMMUTABLE, "The admin role always holds every permission")
            payload["pages"] = _nodes(errs, data["pages"])
        if data.get("data") is not None:
            if role.builtin and role.key == "admin":
                errs.add("data", ErrorCode.IMMUTABLE, "The admin role always sees every bank's data")
            payload["data"] = await data_policy.validate(errs, data["data"], actor.scope)
        errs.raise_if_any()
        if not payload:
            raise UserError.of(None, ErrorCode.REQUIRED, "Nothing to change")
        return Proposal(payload, role.version, role.name)

    async def current_version(self, entity_id: int) -> int | None:
        role = await Role.get_or_none(id=entity_id)
        return role.version if role else None

    async def apply(self, action: ChangeAction, entity_id: int | None, payload: dict[str, Any],
                    maker_id: int, checker_id: int) -> int:
        stamp = review_stamp(action, maker_id, checker_id)
        if action is ChangeAction.CREATE:
            role = await Role.create(name=payload["name"], key=payload["key"], remark=payload["remark"],
                                     enabled=False, **stamp)
            await policy.set_role_pages(role.key, set(payload["pages"]) - {ALL})
            if "data" in payload:
                await policy.set_role_data(role.key, data_policy.policy_of(payload["data"]))
            return role.id
        role = await Role.get(id=entity_id)
        if action is ChangeAction.DELETE:
            await policy.drop_role(role.key)
            await role.delete()
            return role.id
        fields = {k: payload[k] for k in ("name", "remark") if k in payload}
        await Role.filter(id=role.id, version=role.version).update(**fields, **stamp, version=role.version + 1)
        if "pages" in payload:
            await policy.set_role_pages(role.key, set(payload["pages"]) - {ALL})
        if "data" in payload:
            await policy.set_role_data(role.key, data_policy.policy_of(payload["data"]))
        return role.id


ROLE = register(RoleEntity())


async def set_enabled(actor: Actor, role_id: int, enabled: bool, request_id: str = "") -> Role:
    """Enable or disable a role at once; its users' permissions follow on their next request."""
    role = await Role.get_or_none(id=role_id)
    if role is None:
        raise not_found("Role")
    if role.key == "admin" and not enabled:
        raise UserError.of("id", ErrorCode.INVALID, "The admin role cannot be disabled")
    async with in_transaction():
        await Role.filter(id=role.id).update(enabled=enabled, version=role.version + 1)
        await oplog.record(actor, kind=actor.kind(), module="roles", action="enable" if enabled else "disable",
                           summary=f"{'enabled' if enabled else 'disabled'} role {role.name}",
                           detail={"roleId": role.id}, request_id=request_id)
    await role.refresh_from_db()
    return role
