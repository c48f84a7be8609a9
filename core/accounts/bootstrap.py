"""Creating the first accounts of an installation, outside review (there is nobody to review yet)."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from core.accounts import rules
from core.accounts.models import Role, User
from core.accounts.passwords import hash_password
from core.accounts.roles import ensure_builtin_roles
from core.actor import SYSTEM
from core.errors import ErrorCollector
from core.oplog import service as oplog
from core.oplog.models import OperatorKind


async def bootstrap_user(work_no: str, account: str, name: str, password: str, role_keys: list[str]) -> User:
    """Create an enabled user with the given built-in roles unless the account exists (idempotent)."""
    errs = ErrorCollector()
    rules.work_no(errs, work_no)
    rules.account(errs, account)
    rules.display_name(errs, name)
    rules.password(errs, password)
    errs.raise_if_any()
    await ensure_builtin_roles()
    existing = await User.get_or_none(account=account)
    if existing is not None:
        return existing
    async with in_transaction():
        user = await User.create(work_no=work_no, account=account, name=name, enabled=True,
                                 password_hash=hash_password(password), last_action="bootstrap")
        await user.roles.add(*await Role.filter(key__in=role_keys))
        await oplog.record(SYSTEM, kind=OperatorKind.SYSTEM, module="users", action="bootstrap",
                           summary=f"created {account} during installation", detail={"roles": role_keys})
    return user
