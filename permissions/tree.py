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
        "loans", "借款管理 Loans",
        page(
            "loan_orders", "借款订单 Loan orders",
            action("loans.apply", "进件 Submit application"),
            action("loans.cancel", "取消 Cancel order"),
            action("loans.sign", "签约 Sign contract"),
            action("loans.disburse", "放款 Disburse"),
            action("loans.resolve_payment", "查询支付结果 Resolve payment status"),
            action("loans.write_off", "核销 Write off"),
            action("loans.view_identity", "查看完整身份信息 View unmasked identity"),
        ),
        page(
            "credit_review", "信审管理 Credit review",
            action("credit_review.assign", "分配/改派 Assign or reassign"),
            action("credit_review.decide", "审核 Decide"),
        ),
        page(
            "repayments", "还款管理 Repayments",
            action("repayments.deduct", "代扣 Deduct"),
            action("repayments.record", "登记还款 Record repayment"),
            action("repayments.settle", "提前结清 Early settlement"),
            action("repayments.compensate", "代偿 Compensate"),
        ),
        page(
            "collection", "催收管理 Collection",
            action("collection.assign", "分配 Assign"),
            action("collection.record", "催收记录 Add record"),
        ),
        page("calculator", "借款计算器 Loan calculator"),
    ),
    page(
        "contracts", "合同管理 Contracts",
        action("contracts.create", "新增模板 Add template"),
        action("contracts.update", "修改模板 Edit template"),
        action("contracts.delete", "删除模板 Delete template"),
    ),
    page(
        "risk", "风控管理 Risk",
        page(
            "risk_rules", "风控规则 Risk rules",
            action("risk_rules.create", "新增 Add"),
            action("risk_rules.update", "修改 Edit"),
            action("risk_rules.delete", "删除 Delete"),
        ),
    ),
    page(
        "monitoring", "贷后资金管控 Post-loan fund control",
        page(
            "transactions", "交易查询 Transactions",
            action("transactions.ingest", "导入交易 Import transactions"),
        ),
        page(
            "violations", "违规查询 Violations",
            action("violations.export", "下载 Download"),
            action("violations.handle", "处理 Confirm/dismiss"),
        ),
        page(
            "diversion_rules", "异化规则 Diversion rules",
            action("diversion_rules.create", "新增 Add"),
            action("diversion_rules.update", "修改 Edit"),
            action("diversion_rules.delete", "删除 Delete"),
        ),
        page("settlement_query", "黑名单及提前结清查询 Blacklist and early settlement"),
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
        page(
            "disbursement_accounts", "放款账户 Disbursement accounts",
            action("disbursement_accounts.create", "新增 Add"),
            action("disbursement_accounts.update", "修改 Edit"),
            action("disbursement_accounts.delete", "删除 Delete"),
        ),
        page(
            "reconciliation", "对账 Reconciliation",
            action("reconciliation.run", "重新对账 Re-run a day"),
            action("reconciliation.repush", "重推数据 Re-push to partner"),
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
