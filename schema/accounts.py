"""GraphQL for auth, users, roles and the page-permission tree (SPEC §1)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info
from tortoise.expressions import Q, Subquery

from core.accounts import auth, data_policy, roles, users
from core.accounts.models import Role, User
from core.accounts.roles import ROLE
from core.accounts.users import USER
from core.errors import forbidden
from core.orgs.models import Bank
from core.products.models import Product
from core.review.models import ChangeAction, ChangeRequest, ChangeStatus
from permissions.policy import policy_store
from permissions.tree import TREE, Node
from schema.errors import Payload
from schema.guard import actor_of, authenticated, guarded, guarded_mutation, public_mutation
from schema.relay import Connection, connection, decode, decode_optional, gid, paginate
from schema.review import ChangeRequestType, submit_change


@strawberry.type(name="Role")
class RoleType:
    id: strawberry.ID
    name: str
    key: str
    remark: str
    enabled: bool
    builtin: bool
    version: int
    created_at: datetime
    reviewed_at: datetime | None
    last_action: str
    maker_name: str | None
    checker_name: str | None
    pages: list[str]

    @classmethod
    def of(cls, r: Role) -> RoleType:
        return cls(id=gid("Role", r.id), name=r.name, key=r.key, remark=r.remark, enabled=r.enabled,
                   builtin=r.builtin, version=r.version, created_at=r.created_at, reviewed_at=r.reviewed_at,
                   last_action=r.last_action, maker_name=_name(r, "last_maker"),
                   checker_name=_name(r, "last_checker"), pages=sorted(policy_store().role_nodes(r.key)))

    @strawberry.field(description="The role's data permission, limited to the banks and products you can see.")
    async def data_policy(self, info: Info) -> DataPolicyType:
        policy = policy_store().role_data(self.key)
        scope = info.context.scope
        banks = await Bank.filter(scope.banks("id"), id__in=sorted(policy.bank_ids) or [0]).values_list(
            "id", flat=True)
        products = await Product.filter(scope.products("id"), id__in=sorted(policy.product_ids) or [0]).values_list(
            "id", flat=True)
        auto = policy.auto_bank_ids & set(banks)
        return DataPolicyType(all_banks=policy.all, bank_ids=[gid("Bank", b) for b in sorted(banks)],
                              product_ids=[gid("Product", p) for p in sorted(products)],
                              auto_include_bank_ids=[gid("Bank", b) for b in sorted(auto)])


@strawberry.type(description="A role's data permission (F-ROLE-3): banks, their products, auto-include.")
class DataPolicyType:
    all_banks: bool
    bank_ids: list[strawberry.ID]
    product_ids: list[strawberry.ID]
    auto_include_bank_ids: list[strawberry.ID]


@strawberry.type(description="A product in the data-permission editor.")
class DataPermissionProduct:
    product_id: strawberry.ID
    code: str
    name: str
    checked: bool


@strawberry.type(description="A bank in the data-permission editor, with the products it runs.")
class DataPermissionBank:
    bank_id: strawberry.ID
    code: str
    short_name: str
    selected: bool
    auto_include: bool = strawberry.field(description="增量业务免配置: products the bank adds later are included")
    products: list[DataPermissionProduct]


def _name(row: Any, rel: str) -> str | None:
    related = row.__dict__.get(f"_{rel}")
    return related.name if related is not None else None


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    work_no: str
    account: str
    name: str
    phone: str
    landline: str
    email: str
    enabled: bool
    deleted: bool
    version: int
    created_at: datetime
    last_login_at: datetime | None
    reviewed_at: datetime | None
    last_action: str
    maker_name: str | None
    checker_name: str | None
    roles: list[RoleType]

    @classmethod
    def of(cls, u: User) -> UserType:
        return cls(id=gid("User", u.id), work_no=u.work_no, account=u.account, name=u.name, phone=u.phone,
                   landline=u.landline, email=u.email, enabled=u.enabled, deleted=u.deleted, version=u.version,
                   created_at=u.created_at, last_login_at=u.last_login_at, reviewed_at=u.reviewed_at,
                   last_action=u.last_action, maker_name=_name(u, "last_maker"),
                   checker_name=_name(u, "last_checker"),
                   roles=[RoleType.of(r) for r in u.roles] if getattr(u.roles, "_fetched", False) else [])


@strawberry.type
class Me:
    user: UserType
    page_permissions: list[str]


@strawberry.type
class PermissionNode:
    key: str
    title: str
    is_action: bool
    checked: bool
    children: list[PermissionNode]


def _tree(nodes: tuple[Node, ...], held: set[str]) -> list[PermissionNode]:
    return [PermissionNode(key=n.key, title=n.title, is_action=n.is_action, checked=n.key in held,
                           children=_tree(n.children, held)) for n in nodes]


@strawberry.enum
class ReviewState(Enum):
    PENDING = "pending"  # has a change waiting for review
    SETTLED = "settled"  # nothing waiting


@strawberry.input
class UserFilter:
    maker_id: strawberry.ID | None = None
    role_id: strawberry.ID | None = None
    review_state: ReviewState | None = None
    keyword: str | None = strawberry.field(default=None, description="User name or checker name contains")
    include_deleted: bool = False


@strawberry.input
class CreateUserInput:
    work_no: str
    account: str
    name: str
    password: str
    role_ids: list[strawberry.ID]
    phone: str | None = None
    landline: str | None = None
    email: str | None = None


@strawberry.input
class UpdateUserInput:
    phone: str | None = None
    landline: str | None = None
    email: str | None = None
    role_ids: list[strawberry.ID] | None = None
    password: str | None = None
    work_no: str | None = strawberry.field(default=None, description="Immutable: sending a different value fails")
    account: str | None = strawberry.field(default=None, description="Immutable")
    name: str | None = strawberry.field(default=None, description="Immutable")


@strawberry.input(description="A data permission: select banks first, then their products or auto-include.")
class DataPolicyInput:
    all_banks: bool = strawberry.field(default=False, description="Every bank and product (admins only)")
    bank_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    product_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    auto_include_bank_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Banks whose products added later are visible without editing the role")


def _data(inp: DataPolicyInput | None) -> dict[str, Any] | None:
    if inp is None:
        return None
    return {"all": inp.all_banks, "bankIds": [decode(b, "Bank", "data.bankIds") for b in inp.bank_ids],
            "productIds": [decode(p, "Product", "data.productIds") for p in inp.product_ids],
            "autoBankIds": [decode(b, "Bank", "data.autoIncludeBankIds") for b in inp.auto_include_bank_ids]}


@strawberry.input
class CreateRoleInput:
    name: str
    key: str
    remark: str | None = None
    pages: list[str] | None = None
    data: DataPolicyInput | None = None


@strawberry.input
class UpdateRoleInput:
    name: str | None = None
    remark: str | None = None
    pages: list[str] | None = strawberry.field(default=None, description="Replaces the role's page nodes")
    data: DataPolicyInput | None = strawberry.field(default=None, description="Replaces the role's data permission")
    key: str | None = strawberry.field(default=None, description="Immutable: sending a different value fails")


@strawberry.type
class AuthPayload(Payload):
    access_token: str | None = None
    access_token_expires_at: datetime | None = None
    refresh_token: str | None = None
    refresh_token_expires_at: datetime | None = None
    user: UserType | None = None


@strawberry.type
class LogoutPayload(Payload):
    revoked_sessions: int = 0


@strawberry.type
class ChangePayload(Payload):
    change: ChangeRequestType | None = None


@strawberry.type
class UserPayload(Payload):
    user: UserType | None = None


@strawberry.type
class RolePayload(Payload):
    role: RoleType | None = None


def _role_ids(ids: list[strawberry.ID] | None) -> list[int] | None:
    return None if ids is None else [decode(i, "Role", "roleIds") for i in ids]


def _user_data(inp: CreateUserInput | UpdateUserInput) -> dict[str, Any]:
    return {"workNo": inp.work_no, "account": inp.account, "name": inp.name, "password": inp.password,
            "phone": inp.phone, "landline": inp.landline, "email": inp.email, "roleIds": _role_ids(inp.role_ids)}


def _session(s: auth.Session) -> AuthPayload:
    return AuthPayload(access_token=s.access_token, access_token_expires_at=s.access_expires_at,
                       refresh_token=s.refresh_token, refresh_token_expires_at=s.refresh_expires_at,
                       user=UserType.of(s.user))


@strawberry.type
class AccountsQuery:
    @authenticated(description="The caller: account, name, roles and page permissions.")
    async def me(self, info: Info) -> Me:
        actor = actor_of(info)
        user = await User.get(id=actor.user_id).prefetch_related("roles", "last_maker", "last_checker")
        return Me(user=UserType.of(user), page_permissions=sorted(actor.permissions))

    @guarded("users", description="Users (seed 000 '已完成' list and filters).")
    async def users(self, info: Info, filter: UserFilter | None = None, first: int | None = None,
                    after: str | None = None) -> Connection[UserType]:
        f = filter or UserFilter()
        qs = User.all() if f.include_deleted else User.filter(deleted=False)
        if f.maker_id:
            qs = qs.filter(last_maker_id=decode(f.maker_id, "User", "filter.makerId"))
        if f.role_id:
            qs = qs.filter(roles__id=decode(f.role_id, "Role", "filter.roleId"))
        if f.review_state:
            pending = Subquery(ChangeRequest.filter(entity_type="user", status=ChangeStatus.PENDING,
                                                    entity_id__not_isnull=True).values("entity_id"))
            qs = qs.filter(id__in=pending) if f.review_state is ReviewState.PENDING else qs.exclude(id__in=pending)
        if f.keyword:
            qs = qs.filter(Q(name__icontains=f.keyword) | Q(last_checker__name__icontains=f.keyword))
        page = await paginate(qs.distinct(), first, after, "roles", "last_maker", "last_checker")
        return connection(page, UserType.of)

    @guarded("users")
    async def user(self, info: Info, id: strawberry.ID) -> UserType | None:
        row = await User.get_or_none(id=decode(id, "User", "id")).prefetch_related("roles", "last_maker",
                                                                                   "last_checker")
        return UserType.of(row) if row else None

    @guarded("roles", "users", description="Roles; makers choosing roles for a user see enabled ones.")
    async def roles(self, info: Info, enabled: bool | None = None, first: int | None = None,
                    after: str | None = None) -> Connection[RoleType]:
        qs = Role.all() if enabled is None else Role.filter(enabled=enabled)
        await policy_store().refresh()
        page = await paginate(qs, first, after, "last_maker", "last_checker")
        return connection(page, RoleType.of)

    @guarded("roles")
    async def role(self, info: Info, id: strawberry.ID) -> RoleType | None:
        await policy_store().refresh()
        row = await Role.get_or_none(id=decode(id, "Role", "id")).prefetch_related("last_maker", "last_checker")
        return RoleType.of(row) if row else None

    @guarded("roles", description="The whole page-permission tree; with roleId, that role's nodes are checked.")
    async def permission_tree(self, info: Info, role_id: strawberry.ID | None = None) -> list[PermissionNode]:
        held: set[str] = set()
        rid = decode_optional(role_id, "Role", "roleId")
        if rid is not None:
            role = await Role.get_or_none(id=rid)
            if role is not None:
                store = policy_store()
                await store.refresh()
                held = store.role_nodes(role.key)
        return _tree(TREE, held)

    @guarded("roles", description="Banks you can see with the products they run; with roleId, checked as that "
             "role's data permission holds them (products of auto-include banks show checked).")
    async def data_permission_tree(self, info: Info, role_id: strawberry.ID | None = None,
                                   keyword: str | None = None) -> list[DataPermissionBank]:
        from permissions.scope import DataPolicy

        policy = DataPolicy()
        rid = decode_optional(role_id, "Role", "roleId")
        if rid is not None:
            role = await Role.get_or_none(id=rid)
            if role is not None:
                await policy_store().refresh()
                policy = policy_store().role_data(role.key)
        tree = await data_policy.editor_tree(policy, info.context.scope, keyword or "")
        return [DataPermissionBank(
            bank_id=gid("Bank", c.bank.id), code=c.bank.code, short_name=c.bank.short_name, selected=c.selected,
            auto_include=c.auto_include,
            products=[DataPermissionProduct(product_id=gid("Product", p.id), code=p.code, name=p.name, checked=ch)
                      for p, ch in c.products]) for c in tree]


@strawberry.type
class AccountsMutation:
    @public_mutation(description="Log in with account and password; returns access and refresh tokens.")
    async def login(self, info: Info, account: str, password: str) -> AuthPayload:
        return _session(await auth.login(account, password, info.context.request_id))

    @public_mutation(description="Exchange a refresh token for new tokens (the old one stops working).")
    async def refresh_token(self, info: Info, refresh_token: str) -> AuthPayload:
        return _session(await auth.refresh(refresh_token))

    @authenticated(description="End this session (or all sessions when no refresh token is given).",
                   mutation=True)
    async def logout(self, info: Info, refresh_token: str | None = None) -> LogoutPayload:
        return LogoutPayload(revoked_sessions=await auth.logout(actor_of(info), refresh_token))

    @guarded_mutation("users.create", description="Propose a new user; the named checker must approve it. "
                      "With changeId, revise your pending proposal instead.")
    async def create_user(self, info: Info, input: CreateUserInput, checker_id: strawberry.ID,
                          change_id: strawberry.ID | None = None) -> ChangePayload:
        return ChangePayload(change=await submit_change(info, USER.entity_type, ChangeAction.CREATE, None,
                                                        _user_data(input), checker_id, change_id))

    @guarded_mutation("users.update", description="Propose an edit of a user (work number, account and name "
                      "are immutable; the enabled switch is kept).")
    async def update_user(self, info: Info, id: strawberry.ID, input: UpdateUserInput, checker_id: strawberry.ID,
                          change_id: strawberry.ID | None = None) -> ChangePayload:
        return ChangePayload(change=await submit_change(info, USER.entity_type, ChangeAction.UPDATE,
                                                        decode(id, "User", "id"), _user_data(input), checker_id,
                                                        change_id))

    @guarded_mutation("users.delete", description="Propose deleting a user (they keep viewer rights only).")
    async def delete_user(self, info: Info, id: strawberry.ID, checker_id: strawberry.ID) -> ChangePayload:
        return ChangePayload(change=await submit_change(info, USER.entity_type, ChangeAction.DELETE,
                                                        decode(id, "User", "id"), {}, checker_id, None))

    @guarded_mutation("users.enable", description="Enable or disable a user at once.")
    async def set_user_enabled(self, info: Info, id: strawberry.ID, enabled: bool) -> UserPayload:
        actor = actor_of(info)
        user = await users.set_enabled(actor, decode(id, "User", "id"), enabled, info.context.request_id)
        await user.fetch_related("roles", "last_maker", "last_checker")
        return UserPayload(user=UserType.of(user))

    @guarded_mutation("roles.create", description="Propose a new role (created disabled) with its page nodes.")
    async def create_role(self, info: Info, input: CreateRoleInput, checker_id: strawberry.ID,
                          change_id: strawberry.ID | None = None) -> ChangePayload:
        if input.data is not None and not actor_of(info).can("roles.data"):
            raise forbidden("Setting data permissions needs roles.data")
        data = {"name": input.name, "key": input.key, "remark": input.remark, "pages": input.pages,
                "data": _data(input.data)}
        return ChangePayload(change=await submit_change(info, ROLE.entity_type, ChangeAction.CREATE, None, data,
                                                        checker_id, change_id))

    @guarded_mutation("roles.update", "roles.permissions", "roles.data",
                      description="Propose an edit of a role's name, remark, page or data permissions.")
    async def update_role(self, info: Info, id: strawberry.ID, input: UpdateRoleInput, checker_id: strawberry.ID,
                          change_id: strawberry.ID | None = None) -> ChangePayload:
        actor = actor_of(info)
        if input.pages is not None and not actor.can("roles.permissions"):
            raise forbidden("Changing page permissions needs roles.permissions")
        if input.data is not None and not actor.can("roles.data"):
            raise forbidden("Changing data permissions needs roles.data")
        if (input.name is not None or input.remark is not None) and not actor.can("roles.update"):
            raise forbidden("Changing a role's name or remark needs roles.update")
        data = {"name": input.name, "remark": input.remark, "pages": input.pages, "key": input.key,
                "data": _data(input.data)}
        return ChangePayload(change=await submit_change(info, ROLE.entity_type, ChangeAction.UPDATE,
                                                        decode(id, "Role", "id"), data, checker_id, change_id))

    @guarded_mutation("roles.delete", description="Propose deleting a role (only when no user holds it).")
    async def delete_role(self, info: Info, id: strawberry.ID, checker_id: strawberry.ID) -> ChangePayload:
        return ChangePayload(change=await submit_change(info, ROLE.entity_type, ChangeAction.DELETE,
                                                        decode(id, "Role", "id"), {}, checker_id, None))

    @guarded_mutation("roles.enable", description="Enable or disable a role at once (its users follow).")
    async def set_role_enabled(self, info: Info, id: strawberry.ID, enabled: bool) -> RolePayload:
        role = await roles.set_enabled(actor_of(info), decode(id, "Role", "id"), enabled, info.context.request_id)
        await policy_store().refresh()
        await role.fetch_related("last_maker", "last_checker")
        return RolePayload(role=RoleType.of(role))

