"""The demo institutions load once, validly, and match the built-in payment plugins."""

from __future__ import annotations

import pytest

from core.orgs.demo import load_demo_orgs
from core.orgs.models import (
    AssistInstitution,
    Bank,
    BankProduct,
    EnhancementInstitution,
    EnhancementType,
    MarginAccount,
    MarginMovement,
    PaymentPlatform,
)
from plugins.builtin.http_pay import HttpPaySettings
from plugins.builtin.sandbox_pay import SandboxPaySettings

pytestmark = pytest.mark.db


async def test_demo_orgs_are_created_once(db: str) -> None:
    done = await load_demo_orgs()
    assert done and await load_demo_orgs() == []
    assert await Bank.all().count() == 2
    for bank in await Bank.all():
        assert await BankProduct.filter(bank_id=bank.id).count() >= 2
        account = await MarginAccount.get(bank_id=bank.id)
        assert account.balance > 0 and await MarginMovement.filter(account_id=account.id).count() == 1
    assert await AssistInstitution.all().count() == 3
    assert {e.type for e in await EnhancementInstitution.all()} == set(EnhancementType)
    identifiers = {p.identifier for p in await PaymentPlatform.all()}
    builtin = {SandboxPaySettings.identifier, HttpPaySettings.identifier}
    assert identifiers == builtin
