"""Demo data permissions: head-office roles see every bank, a branch role sees one (F-ROLE-3).

Everything goes through review like a real installation: the admin proposes the head-office roles'
"every bank" permission (only an unrestricted user may grant it), the maker proposes the branch role
and its user, and a checker approves each — so the demo's ledger has these changes too.
"""

from __future__ import annotations

from core.accounts import roles, users
from core.accounts.models import Role, User
from core.accounts.roles import ROLE
from core.accounts.users import USER
from core.actor import Actor
from core.orgs.models import Bank
from core.review import service as review
from core.review.models import ChangeAction, ChangeRequest, ChangeStatus
from permissions.policy import policy_store

HEAD_OFFICE_ROLES = ("maker", "checker", "viewer")
BRANCH_ROLE = "hxb_ops"
BRANCH_BANK = "HXB"
BRANCH_PAGES = ["home", "ledger", "oplog", "review", "banks", "bank_products", "margins", "products",
                "funding_plans", "lpr", "assist_orgs", "enhancement_orgs", "payment_platforms"]


async def _pending(entity_type: str, label: str) -> bool:
    return await ChangeRequest.filter(entity_type=entity_type, entity_label=label,
                                      status=ChangeStatus.PENDING).exists()


async def load_demo_data_permissions(admin: Actor, maker_of: object, checker: Actor, password: str) -> list[str]:
    """`maker_of()` returns the maker's actor as of now (its scope changes half-way through)."""
    done: list[str] = []
    store = policy_store()
    for key in HEAD_OFFICE_ROLES:
        await store.refresh()
        role = await Role.get(key=key)
        if store.role_data(key).all or await _pending(ROLE.entity_type, role.name):
            continue
        change = await review.submit(admin, ROLE.entity_type, ChangeAction.UPDATE, role.id,
                                     {"data": {"all": True}}, checker.user_id)
        await review.approve(checker, change.id, "Demo: head office sees every bank")
        done.append(f"role {role.name}: every bank's data (proposed by admin, approved by checker1)")
    bank = await Bank.get_or_none(code=BRANCH_BANK)
    if bank is None:
        return done
    maker: Actor = await maker_of()  # type: ignore[operator]
    if not await Role.filter(key=BRANCH_ROLE).exists() and not await _pending(ROLE.entity_type, "华夏银行业务"):
        change = await review.submit(maker, ROLE.entity_type, ChangeAction.CREATE, None, {
            "name": "华夏银行业务", "key": BRANCH_ROLE, "remark": "Branch staff: 华夏银行 data only",
            "pages": BRANCH_PAGES, "data": {"bankIds": [bank.id], "autoBankIds": [bank.id]}}, checker.user_id)
        await review.approve(checker, change.id, "Demo: approved")
        done.append("role 华夏银行业务 (data: 华夏银行, auto-include new products) proposed and approved")
    role = await Role.get(key=BRANCH_ROLE)
    if not role.enabled:
        await roles.set_enabled(admin, role.id, True)
    if not await User.filter(account="hxb1").exists() and not await _pending(USER.entity_type, "华夏一"):
        change = await review.submit(maker, USER.entity_type, ChangeAction.CREATE, None, {
            "workNo": "100006", "account": "hxb1", "name": "华夏一", "password": password,
            "roleIds": [role.id], "email": "hxb1@example.com"}, checker.user_id)
        await review.approve(checker, change.id, "Demo: approved")
        done.append("user hxb1 (华夏银行业务) proposed and approved")
    user = await User.get(account="hxb1")
    if not user.enabled:
        await users.set_enabled(admin, user.id, True)
        done.append("user hxb1 enabled by admin: log in as hxb1 to see only 华夏银行's data")
    return done
