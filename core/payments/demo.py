"""Demo provider accounts: each demo bank's disbursement and repayment account at the sandbox provider.

Idempotent by (bank, platform, purpose): an account another demo loader (disbursement) created for
the same bank and purpose is left alone. The numbers match the sandbox balances in plugins.toml
(DISB-001 / REPAY-001 for 华夏银行, DISB-002 / REPAY-002 for 江南农商银行), so the balance-warning
task has real balances to read.
"""

from __future__ import annotations

from core.actor import SYSTEM
from core.orgs.models import Bank, PaymentPlatform
from core.payments import accounts
from core.payments.models import AccountPurpose, ProviderAccount
from permissions.scope import EVERYTHING

SANDBOX = "sandbox"
ACCOUNTS: tuple[tuple[str, AccountPurpose, str, str], ...] = (
    ("HXB", AccountPurpose.DISBURSEMENT, "DISB-001", "华夏银行放款户"),
    ("HXB", AccountPurpose.REPAYMENT, "REPAY-001", "华夏银行还款户"),
    ("JNRCB", AccountPurpose.DISBURSEMENT, "DISB-002", "江南农商银行放款户"),
    ("JNRCB", AccountPurpose.REPAYMENT, "REPAY-002", "江南农商银行还款户"),
)


async def load_demo_payment_accounts() -> list[str]:
    """Create the missing demo accounts (needs the demo banks and the sandbox platform from load_demo_orgs)."""
    platform = await PaymentPlatform.get_or_none(identifier=SANDBOX)
    if platform is None:
        return []
    done: list[str] = []
    for code, purpose, account_no, name in ACCOUNTS:
        bank = await Bank.get_or_none(code=code)
        if bank is None:
            continue
        if await ProviderAccount.filter(bank_id=bank.id, payment_platform_id=platform.id, purpose=purpose).exists():
            continue
        if await ProviderAccount.filter(payment_platform_id=platform.id, account_no=account_no).exists():
            continue  # the number is taken by another loader's account: keep theirs
        await accounts.create(SYSTEM, EVERYTHING, accounts.AccountInput(
            bank_id=bank.id, payment_platform_id=platform.id, purpose=purpose, account_no=account_no, name=name))
        done.append(f"{purpose.value} account {account_no} of {bank.short_name} at {SANDBOX}")
    return done
