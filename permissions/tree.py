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
    ),
    page(
        "review", "复核管理 Reviews",
        action("review.decide", "通过/驳回 Approve/reject"),
    ),
    page("oplog", "操作查询 Operation log"),
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
