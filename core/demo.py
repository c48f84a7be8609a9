"""Demo data for `lendline demo`: the four demo accounts and changes that went through review.

Idempotent: every step looks for what it would create and skips it when present, so running the
demo twice changes nothing.
"""

from __future__ import annotations

from core.accounts import roles
from core.accounts.bootstrap import bootstrap_user
from core.accounts.demo import load_demo_data_permissions
from core.accounts.models import Role, User
from core.accounts.roles import ROLE
from core.accounts.users import USER
from core.actor import Actor
from core.ledger.demo import seal_demo_blocks
from core.loans.demo import load_demo_orders
from core.loans.disbursement_demo import load_demo_disbursements
from core.loans.repayment_demo import load_demo_repayments
from core.monitoring.demo import load_demo_monitoring
from core.orgs.demo import load_demo_orgs
from core.payments.demo import load_demo_payment_accounts
from core.products.demo import load_demo_products
from core.review import service as review
from core.review.models import ChangeAction, ChangeRequest, ChangeStatus
from core.risk.demo import load_demo_risk
from core.system.seed import load_demo_system
from permissions.policy import policy_store
from plugins.runtime import ensure_plugin_runtime

DEMO_ACCOUNTS = [
    ("100001", "admin", "管理员", ["admin"]),
    ("100002", "maker1", "经办一", ["maker"]),
    ("100003", "checker1", "复核一", ["checker"]),
    ("100004", "viewer1", "查询一", ["viewer"]),
]


async def _actor(user: User) -> Actor:
    await user.fetch_related("roles")
    keys = tuple(sorted(r.key for r in user.roles if r.enabled))
    store = policy_store()
    await store.refresh()
    return Actor(user.id, user.account, user.name, keys, frozenset(store.nodes_for(list(keys))),
                 scope=store.scope_for(keys))


async def load_demo(password: str) -> list[str]:
    """Create the demo data; returns what it did, one line each."""
    done: list[str] = []
    users = {}
    for work_no, account, name, role_keys in DEMO_ACCOUNTS:
        existed = await User.filter(account=account).exists()
        users[account] = await bootstrap_user(work_no, account, name, password, role_keys)
        if not existed:
            done.append(f"created account {account} ({', '.join(role_keys)})")
    maker, checker = await _actor(users["maker1"]), await _actor(users["checker1"])
    if not await ChangeRequest.filter(entity_type=ROLE.entity_type, entity_label="贷后分析").exists():
        change = await review.submit(maker, ROLE.entity_type, ChangeAction.CREATE, None, {
            "name": "贷后分析", "key": "post_loan_analyst", "remark": "Reads the ledger and the operation log",
            "pages": ["home", "ledger", "oplog"]}, checker.user_id)
        await review.approve(checker, change.id, "Demo: approved")
        done.append("role 贷后分析 proposed by maker1 and approved by checker1")
    analyst_role = await Role.get(key="post_loan_analyst")
    if not analyst_role.enabled:
        await roles.set_enabled(await _actor(users["admin"]), analyst_role.id, True)
        done.append("role 贷后分析 enabled by admin (new roles start disabled)")
    if not await User.filter(account="analyst1").exists() and not await ChangeRequest.filter(
            entity_type=USER.entity_type, entity_label="分析员一", status=ChangeStatus.PENDING).exists():
        change = await review.submit(maker, USER.entity_type, ChangeAction.CREATE, None, {
            "workNo": "100005", "account": "analyst1", "name": "分析员一", "password": password,
            "roleIds": [analyst_role.id], "email": "analyst1@example.com"}, checker.user_id)
        await review.approve(checker, change.id, "Demo: approved")
        done.append("user analyst1 proposed by maker1 and approved by checker1 (created disabled)")
    done += await seal_demo_blocks()
    done += await load_demo_system()
    done += await load_demo_orgs()
    admin = await _actor(users["admin"])
    done += await load_demo_data_permissions(admin, lambda: _actor(users["maker1"]), checker, password)
    done += await load_demo_products(await _actor(users["maker1"]), await _actor(users["checker1"]))
    done += await load_demo_payment_accounts()
    maker, checker, admin = (await _actor(users["maker1"]), await _actor(users["checker1"]),
                             await _actor(users["admin"]))
    # Admission's risk scenes, disbursement and detection call plugins: the app's host when the demo
    # runs inside it, else one from plugins.toml for the load (`lendline demo` before it serves).
    async with ensure_plugin_runtime():
        done += await load_demo_risk(maker, checker)
        done += await load_demo_orders(admin)
        done += await load_demo_disbursements(maker, admin)
        done += await load_demo_repayments(maker)
        done += await load_demo_monitoring(maker, checker)
    done += await seal_demo_blocks()
    return done
