"""Demo data of post-loan fund control: the default rules approved through review, and account
transactions of the demo's disbursed loans with diversions into stocks and real estate.

Idempotent: a diversion type or AML rule that exists is left alone, and a loan whose demo transactions
were ingested already (by serial number) is skipped, so a second run changes nothing.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from core import clock
from core.actor import SYSTEM, Actor
from core.config import current_settings
from core.loans.models import Loan
from core.monitoring.ingest import DISBURSED, ingest
from core.monitoring.models import AccountTransaction, DiversionType, TxSource
from core.monitoring.rules import DIVERSION_ENTITY, ensure_aml_rules, seed_diversion_types
from core.review import service as review
from core.review.models import ChangeAction, ChangeRequest, ChangeStatus

DEMO_LOANS = 3
CENT = Decimal("0.01")


async def _rules(maker: Actor, checker: Actor) -> list[str]:
    done: list[str] = []
    have = set(await DiversionType.all().values_list("code", flat=True))
    for data in seed_diversion_types():
        if data["code"] in have:
            continue
        pending = await ChangeRequest.filter(entity_type=DIVERSION_ENTITY, status=ChangeStatus.PENDING,
                                             entity_label=f"{data['code']} {data['name']}").first()
        change = pending or await review.submit(maker, DIVERSION_ENTITY, ChangeAction.CREATE, None, data,
                                                checker.user_id)
        await review.approve(checker, change.id, "Demo: approved")
        done.append(f"diversion type {data['code']} {data['name']} proposed by {maker.account} and approved by "
                    f"{checker.account} (effective now)")
    from tortoise.transactions import in_transaction

    added: list[str] = []
    async with in_transaction():
        await ensure_aml_rules(added)
    done += [f"{a} with default parameters" for a in added]
    return done


def _rows(loan: Loan, start: datetime) -> list[dict[str, Any]]:
    principal = Decimal(loan.amount)
    customer_no = loan.customer.customer_no
    account = loan.disbursement_account or f"DEMO-ACC-{customer_no}"
    base = {"orderNo": loan.order_no, "customerNo": customer_no, "accountNo": account, "channel": "网银"}

    def row(n: int, minutes: int, direction: str, amount: Decimal, **kw: Any) -> dict[str, Any]:
        return base | {"serialNo": f"DEMO-{loan.order_no}-{n}", "occurredAt": start + timedelta(minutes=minutes),
                       "direction": direction, "amount": str(amount.quantize(CENT))} | kw

    return [
        row(1, 0, "in", principal, counterpartyName="贷款发放", isDisbursement=True),
        row(2, 30, "in", Decimal("3000.00"), counterpartyName="工资代发", counterpartyAccount="SALARY-001"),
        row(3, 60, "out", Decimal("268.50"), counterpartyName="永辉超市", counterpartyCategory="5411"),
        row(4, 90, "out", principal * Decimal("0.20"), counterpartyName="中信证券股份有限公司",
            counterpartyCategory="SEC_BROKER", counterpartyAccount="SEC-8801"),
        row(5, 120, "out", principal * Decimal("0.15"), counterpartyName="万科地产", counterpartyAccount="VANKE-01"),
    ]


async def _transactions() -> list[str]:
    loans = await Loan.filter(status__in=list(DISBURSED)).order_by("id").limit(DEMO_LOANS).prefetch_related("customer")
    if not loans:
        return ["fund control transactions skipped: no disbursed loans yet (run the loan demo first)"]
    done: list[str] = []
    tz = current_settings().tz
    today_nine = datetime.combine(clock.business_today(), time(9, 0), tzinfo=tz)
    for loan in loans:
        if await AccountTransaction.filter(serial_no=f"DEMO-{loan.order_no}-1").exists():
            continue
        # Rules approved by the demo apply from today: date the transactions today (after disbursement).
        start = max(today_nine, (loan.disbursed_at or today_nine) + timedelta(minutes=1))
        result = await ingest(SYSTEM, _rows(loan, start), TxSource.FEED)
        done.append(f"{result.inserted} account transactions of loan {loan.order_no} ingested: "
                    f"{len(result.violations)} violation(s) "
                    f"({', '.join(sorted({v.type_code for v in result.violations})) or 'none'})")
    return done


async def load_demo_monitoring(maker: Actor, checker: Actor) -> list[str]:
    """Default rules through review (maker proposes, checker approves), then demo transactions.

    The detector plugins run in this process's plugin host; when none is running (the `lendline demo`
    command), one is started from plugins.toml for the duration.
    """
    from plugins.runtime import ensure_plugin_runtime

    done = await _rules(maker, checker)
    async with ensure_plugin_runtime():
        return done + await _transactions()
