"""The demo's provider accounts: idempotent, and readable at the sandbox configured in plugins.toml."""

from __future__ import annotations

from core.orgs.demo import load_demo_orgs
from core.payments.balance_monitor import check_balances
from core.payments.demo import load_demo_payment_accounts
from core.payments.models import ProviderAccount
from plugins.runtime import plugin_runtime


async def test_demo_accounts_are_idempotent_and_their_balances_are_checked(db: str) -> None:
    await load_demo_orgs()
    first = await load_demo_payment_accounts()
    assert len(first) == 4 and await load_demo_payment_accounts() == []
    assert await ProviderAccount.all().count() == 4
    async with plugin_runtime():  # the repository's plugins.toml, as `lendline demo` runs it
        report = await check_balances()
    assert report.checked == 2 and report.failed == [] and report.breached == []
