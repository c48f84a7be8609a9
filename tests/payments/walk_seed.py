"""Scope-walk seed for payments: one bank's provider account and reconciliation items.

The reconciliation run is shared by both banks (a run is per provider and day, platform data) and
carries no bank's marker; its items do, tagged one by product and one by bank, so the walk proves
both tags are enforced. Returns ids by GraphQL type name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core import clock
from core.orgs.models import AssistInstitution, Bank, PaymentPlatform
from core.payments.models import (
    AccountPurpose,
    ProviderAccount,
    ReconciliationItem,
    ReconciliationItemKind,
    ReconciliationRun,
    ReconciliationStatus,
)
from core.products.models import Product

WALK_PROVIDER = "walk_pay"


async def seed_payments(mark: str, bank: Bank, product: Product, channel: AssistInstitution,
                        people: dict[str, Any]) -> dict[str, list[int]]:
    platform = await PaymentPlatform.get_or_none(identifier=WALK_PROVIDER) or await PaymentPlatform.create(
        name="巡检支付平台", identifier=WALK_PROVIDER)
    account = await ProviderAccount.create(bank=bank, payment_platform=platform, purpose=AccountPurpose.DISBURSEMENT,
                                           account_no=f"{mark}-DISB-1", name=f"{mark}放款户",
                                           warning_line=Decimal("1000.00"), last_balance=Decimal("99.00"),
                                           last_checked_at=clock.now(), breached=True, breach_count=1)
    day = clock.business_today()
    run = await ReconciliationRun.get_or_none(provider=WALK_PROVIDER, day=day) or await ReconciliationRun.create(
        provider=WALK_PROVIDER, day=day, status=ReconciliationStatus.MISMATCHED, platform_count=2, provider_count=2,
        mismatch_count=4, ran_at=clock.now())
    by_product = await ReconciliationItem.create(
        run=run, kind=ReconciliationItemKind.AMOUNT_MISMATCH, record="disbursement", serial_no=f"{mark}-SN-1",
        idempotency_key=f"{mark}-KEY-1", platform_amount=Decimal("100.00"), platform_status="succeeded",
        provider_amount=Decimal("90.00"), provider_status="succeeded", scope_product_id=product.id,
        note=f"{mark} amount differs")
    by_bank = await ReconciliationItem.create(
        run=run, kind=ReconciliationItemKind.MISSING_ON_PLATFORM, record="disbursement", serial_no=f"{mark}-SN-2",
        idempotency_key=f"{mark}-KEY-2", provider_amount=Decimal("50.00"), provider_status="succeeded",
        scope_bank_id=bank.id, note=f"{mark} unknown line")
    return {"ProviderAccount": [account.id], "ReconciliationItem": [by_product.id, by_bank.id]}
