"""The page-permission tree (SPEC F-ROLE-2), declared once.

Every page and every action button on it (except query/reset, which come with the page) is a node.
Holding a page node lets a role open the page and run its queries; holding an action node lets it
press that button. GraphQL fields name the node they need (see `schema/guard.py`), and a test fails
on any node a field names that is not declared here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    key: str
    title: str
    children: tuple[Node, ...] = field(default_factory=tuple)
    is_action: bool = False


def page(key: str, title: str, *children: Node) -> Node:
    return Node(key, title, tuple(children))


def action(key: str, title: str) -> Node:
    return Node(key, title, (), True)


TREE: tuple[Node, ...] = (
    page("home", "首页 Home"),
    page(
        "ledger", "区块 Ledger",
        action("ledger.verify", "校验 Verify chain"),
    ),
    page(
        "users", "用户管理 Users",
        action("users.create", "添加用户 Add user"),
        action("users.update", "修改 Edit user"),
        action("users.delete", "删除 Delete user"),
        action("users.enable", "启用/停用 Enable/disable"),
    ),
    page(
        "roles", "角色管理 Roles",
        action("roles.create", "新增角色 Add role"),
        action("roles.update", "修改 Edit role"),
        action("roles.delete", "删除 Delete role"),
        action("roles.enable", "启用/停用 Enable/disable"),
        action("roles.permissions", "分配权限 Assign permissions"),
        action("roles.data", "数据权限 Assign data permissions"),
    ),
    page(
        "review", "复核管理 Reviews",
        action("review.decide", "通过/驳回 Approve/reject"),
    ),
    page("oplog", "操作查询 Operation log"),
    page(
        "orgs", "机构管理 Institutions",
        page(
            "banks", "银行管理 Banks",
            action("banks.create", "新增银行 Add bank"),
            action("banks.update", "修改 Edit bank"),
            action("banks.delete", "删除 Delete bank"),
        ),
        page(
            "bank_products", "银行信贷产品 Bank credit products",
            action("bank_products.create", "新增 Add"),
            action("bank_products.update", "修改 Edit"),
            action("bank_products.delete", "删除 Delete"),
        ),
        page(
            "assist_orgs", "助贷机构 Lending-assist institutions",
            action("assist_orgs.create", "新增 Add"),
            action("assist_orgs.update", "修改 Edit"),
            action("assist_orgs.delete", "删除 Delete"),
        ),
        page(
            "enhancement_orgs", "增信机构 Credit-enhancement institutions",
            action("enhancement_orgs.create", "新增 Add"),
            action("enhancement_orgs.update", "修改 Edit"),
            action("enhancement_orgs.delete", "删除 Delete"),
        ),
        page(
            "margins", "保证金管理 Margin accounts",
            action("margins.create", "新增 Add"),
            action("margins.update", "修改 Edit"),
            action("margins.topup", "追加保证金 Top up"),
        ),
        page(
            "payment_platforms", "支付平台 Payment platforms",
            action("payment_platforms.create", "新增 Add"),
            action("payment_platforms.delete", "删除 Delete"),
        ),
    ),
    page(
        "products", "产品管理 Products",
        action("products.create", "新增产品 Add product"),
        action("products.update", "修改 Edit product"),
        action("products.delete", "删除 Delete product"),
    ),
    page(
        "operations", "日常运营 Daily operations",
        page(
            "funding_plans", "资金投放计划 Funding plans",
            action("funding_plans.save", "保存 Save plan"),
            action("funding_plans.activate", "立即生效 Effective now"),
        ),
        page(
            "lpr", "LPR基础利率 LPR base rates",
            action("lpr.save", "保存 Save rate"),
        ),
    ),
    page(
        "system", "系统管理 System",
        page(
            "dictionaries", "字典管理 Dictionaries",
            action("dictionaries.create", "新增 Add"),
            action("dictionaries.update", "修改 Edit"),
            action("dictionaries.delete", "删除 Delete"),
        ),
        page(
            "parameters", "系统参数 System parameters",
            action("parameters.create", "新增 Add"),
            action("parameters.update", "修改 Edit"),
            action("parameters.enable", "启用/停用 Switch on/off"),
            action("parameters.refresh", "刷新缓存 Refresh cache"),
        ),
        page(
            "switches", "控制台 Console switches",
            action("switches.toggle", "开关 Toggle"),
        ),
        page(
            "alerts", "系统告警 System alerts",
            action("alerts.read", "标记已读 Mark read"),
        ),
        page(
            "plugins", "插件管理 Plugins",
            action("plugins.health", "健康检查 Check health"),
        ),
        page(
            "tasks", "定时任务 Scheduled tasks",
            action("tasks.create", "新增 Add"),
            action("tasks.update", "修改 Edit"),
            action("tasks.enable", "启用/停用 Enable/disable"),
            action("tasks.run", "立即执行 Run now"),
        ),
        page(
            "blacklist", "黑名单 Blacklist",
            action("blacklist.create", "新增 Add"),
            action("blacklist.delete", "删除 Delete"),
        ),
    ),
)

ALL = "*"


def walk(nodes: tuple[Node, ...] = TREE, parent: str | None = None) -> Iterator[tuple[Node, str | None]]:
    """Every node with its parent key, depth first, in declaration order."""
    for n in nodes:
        yield n, parent
        yield from walk(n.children, n.key)


NODE_KEYS: frozenset[str] = frozenset(n.key for n, _ in walk())


def closure(keys: set[str]) -> set[str]:
    """The keys plus the pages above them: holding a button implies seeing its page."""
    parents = {n.key: p for n, p in walk()}
    out = set()
    for k in keys:
        while k is not None and k not in out:
            out.add(k)
            k = parents.get(k)  # type: ignore[assignment]
    return out
