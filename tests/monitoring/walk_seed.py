"""Fund-control rows for the scope walk (tests/scope/test_scope_walk.py): a disbursed loan of the bank's
product, its account transactions (traced, fund parts) and a violation, every text carrying `mark`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.actor import SYSTEM
from core.loans.models import Customer, Loan, LoanStatus
from core.monitoring.ingest import ingest
from core.monitoring.models import AccountTransaction, TxSource, Violation
from core.monitoring.rules import load_default_rules
from plugins.runtime import plugin_runtime
from plugins.testkit.hosts import host_from_dict

DETECTORS = {"plugins": {"category_detector": {}, "name_list_detector": {}}}


async def seed_monitoring(mark: str, bank: Any, product: Any, channel: Any, people: dict[str, Any]
                          ) -> dict[str, list[int]]:
    """Returns {GraphQL type: [pk]} for AccountTransaction and Violation (and the Loan it created)."""
    await load_default_rules()
    digits = f"{sum(map(ord, mark)):06d}"
    customer = await Customer.create(customer_no=f"{mark}-MONC", name=f"{mark}借款人",
                                     id_number=f"110101{digits}1234"[:18], phone=f"137{digits}00")
    now = datetime.now(UTC)
    loan = await Loan.create(
        order_no=f"{mark}-MON-L1", channel_order_no=f"{mark}-MON-CH1", idempotency_key=f"{mark}:mon:1",
        customer=customer, product=product, channel=channel, status=LoanStatus.DISBURSED, amount=Decimal("10000.00"),
        term=12, term_unit="month", repayment_method="EQUAL_INSTALLMENT", applied_at=now - timedelta(days=2),
        disbursed_at=now - timedelta(days=1), disbursement_date=date.today() - timedelta(days=1),
        disbursement_account=f"{mark}-MON-ACC", principal_outstanding=Decimal("10000.00"),
        reject_reason=f"{mark}")
    base = {"orderNo": loan.order_no, "customerNo": customer.customer_no, "accountNo": f"{mark}-MON-ACC",
            "channel": f"{mark}网银"}
    rows = [base | {"serialNo": f"{mark}-MON-1", "occurredAt": now - timedelta(hours=3), "direction": "in",
                    "amount": "10000.00", "counterpartyName": f"{mark}放款", "isDisbursement": True},
            base | {"serialNo": f"{mark}-MON-2", "occurredAt": now - timedelta(hours=2), "direction": "out",
                    "amount": "3000.00", "counterpartyName": f"{mark}证券", "counterpartyCategory": "SEC_BROKER",
                    "counterpartyAccount": f"{mark}-SEC"}]
    host = host_from_dict(DETECTORS, entry_points=False)
    async with plugin_runtime(host):
        await ingest(SYSTEM, rows, TxSource.BATCH)
    tx_ids = list(await AccountTransaction.filter(order_no=loan.order_no).values_list("id", flat=True))
    violation_ids = list(await Violation.filter(order_no=loan.order_no).values_list("id", flat=True))
    assert violation_ids, "the walk seed must raise a violation"
    return {"AccountTransaction": tx_ids, "Violation": violation_ids, "Loan": [loan.id]}
