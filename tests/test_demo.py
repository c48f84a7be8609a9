"""`lendline demo` data: the four accounts, reviewed changes, and idempotence."""

from __future__ import annotations

from core.accounts.auth import authenticate
from core.accounts.models import Role, User
from core.accounts.tokens import issue_access_token
from core.demo import load_demo
from core.oplog.models import OperationLog
from core.orgs.models import Bank
from core.review.models import ChangeRequest


async def _counts() -> tuple[int, ...]:
    return (await User.all().count(), await Role.all().count(), await ChangeRequest.all().count(),
            await OperationLog.all().count())


async def test_demo_loads_accounts_and_reviewed_changes_and_is_idempotent(db: str) -> None:
    done = await load_demo("demo1234")
    assert any("maker1" in line for line in done)
    for account in ("admin", "maker1", "checker1", "viewer1"):
        assert (await User.get(account=account)).enabled
    assert await ChangeRequest.filter(status="approved").count() >= 6
    assert await ChangeRequest.filter(status="pending").count() == 0
    # The branch user sees one bank only; head office sees both.
    hxb1 = await authenticate(issue_access_token((await User.get(account="hxb1")).id)[0])
    assert await Bank.filter(hxb1.scope.banks("id")).values_list("code", flat=True) == ["HXB"]
    maker = await authenticate(issue_access_token((await User.get(account="maker1")).id)[0])
    assert await Bank.filter(maker.scope.banks("id")).count() >= 2
    before = await _counts()
    assert await load_demo("other999") == []
    assert await _counts() == before
