"""Who is calling: the authenticated user, their enabled roles, page permissions and data scope.

Built once per request and passed explicitly to services (they never read globals for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.oplog.models import OperatorKind
from permissions.scope import EVERYTHING, NOTHING, DataScope

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class Actor:
    user_id: int
    account: str
    name: str
    role_keys: tuple[str, ...]
    permissions: frozenset[str] = field(default_factory=frozenset)
    scope: DataScope = NOTHING  # the bank/product data the caller may read (F-ROLE-3/4)

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.role_keys

    def can(self, node: str) -> bool:
        return node in self.permissions

    def kind(self, *, reviewing: bool = False, reading: bool = False) -> OperatorKind:
        """The operator kind the operation log records (seed 000: 经办 / 复核 / 查询)."""
        if reviewing:
            return OperatorKind.CHECKER
        if self.is_admin:
            return OperatorKind.ADMIN
        if reading:
            return OperatorKind.VIEWER
        return OperatorKind.MAKER


SYSTEM = Actor(user_id=0, account="system", name="系统", role_keys=(), scope=EVERYTHING)
