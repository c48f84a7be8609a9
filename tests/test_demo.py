"""`lendline demo` data: the four accounts, reviewed changes, and idempotence."""

from __future__ import annotations

from core.accounts.models import Role, User
from core.demo import load_demo
from core.oplog.models import OperationLog
from core.review.models import ChangeRequest


async def _counts() -> tuple[int, ...]:
    return (await User.all().count(), await Role.all().count(), await ChangeRequest.all().count(),
            await OperationLog.all().count())


async def test_demo_loads_accounts_and_reviewed_changes_and_is_idempotent(db: str) -> None:
    done = await load_demo("demo1234")
    assert any("maker1" in line for line in done)
    for account in ("admin", "maker1", "checker1", "viewer1"):
        assert (await User.get(account=account)).enabled
    assert await ChangeRequest.filter(status="approved").count() == 2
    before = await _counts()
    assert await load_demo("other999") == []
    assert await _counts() == before
