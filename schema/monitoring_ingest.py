"""GraphQL for transaction ingestion (F-MON-1) and the violation subscription (F-MON-3).

`ingestTransactions(items)` takes at most 1,000 transactions per call (`core.monitoring.ingest.MAX_BATCH`);
`importTransactionsFile(fileName, contentBase64)` takes a CSV or Excel file (format in
`core.monitoring.file_import`), base64-encoded because the API has no multipart upload. Both are all or
nothing: errors name the row and field (`items[3].amount`, `rows[7].amount` = the file's 7th line).
Repeats of an already imported serial number with the same content are skipped and counted.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.types import Info

from core.errors import ErrorCode, UserError
from core.monitoring import file_import, ingest
from core.monitoring.models import TxSource, Violation
from core.monitoring.violation_feed import violation_feed
from schema.errors import Payload
from schema.guard import actor_of, guarded_mutation, guarded_subscription
from schema.monitoring_types import ViolationType


@strawberry.input(description="One transaction of a borrower's account. Amounts are strings with at most two "
                  "decimals, always positive (the direction says in or out).")
class TransactionInput:
    order_no: str = strawberry.field(description="订单号 of the disbursed loan the account is monitored for")
    serial_no: str = strawberry.field(description="交易流水号: unique; a repeat with the same content is skipped")
    customer_no: str = strawberry.field(description="客户号: must be the loan's borrower")
    account_no: str
    occurred_at: datetime = strawberry.field(description="With a time zone")
    direction: str = strawberry.field(description="in or out")
    amount: str
    counterparty_name: str = ""
    counterparty_account: str = ""
    counterparty_category: str = strawberry.field(default="", description="Merchant / counterparty category code")
    channel: str = ""
    balance_after: str | None = None
    is_disbursement: bool | None = strawberry.field(
        default=None, description="The loan's own disbursement; null: recognised by the platform")
    is_repayment: bool | None = strawberry.field(
        default=None, description="A repayment of the loan (never a diversion); null: recognised by the platform")


def _raw(item: TransactionInput) -> dict[str, object]:
    return {"orderNo": item.order_no, "serialNo": item.serial_no, "customerNo": item.customer_no,
            "accountNo": item.account_no, "occurredAt": item.occurred_at, "direction": item.direction,
            "amount": item.amount, "counterpartyName": item.counterparty_name,
            "counterpartyAccount": item.counterparty_account, "counterpartyCategory": item.counterparty_category,
            "channel": item.channel, "balanceAfter": item.balance_after, "isDisbursement": item.is_disbursement,
            "isRepayment": item.is_repayment}


@strawberry.type
class IngestPayload(Payload):
    inserted: int = 0
    skipped: int = strawberry.field(default=0, description="Already imported with the same content")
    detection_pending: int = strawberry.field(default=0, description="Outflows a detector failed on; detection "
                                              "runs again later (monitoring.redetect)")
    retraced_accounts: list[str] = strawberry.field(default_factory=list, description="Accounts traced again "
                                                    "from the start because an older transaction arrived")
    violations: list[ViolationType] = strawberry.field(default_factory=list)


def _payload(result: ingest.IngestResult) -> IngestPayload:
    return IngestPayload(inserted=result.inserted, skipped=result.skipped, detection_pending=result.detection_pending,
                         retraced_accounts=result.retraced_accounts,
                         violations=[ViolationType.of(v) for v in result.violations])


@strawberry.type
class MonitoringIngestMutation:
    @guarded_mutation("transactions.ingest", description="Ingest up to 1,000 account transactions: validated, "
                      "stored, traced and checked for violations in one transaction (all or nothing).")
    async def ingest_transactions(self, info: Info, items: list[TransactionInput]) -> IngestPayload:
        result = await ingest.ingest(actor_of(info), [_raw(i) for i in items], TxSource.BATCH,
                                     request_id=info.context.request_id)
        return _payload(result)

    @guarded_mutation("transactions.ingest", description="Import a CSV or Excel (.xlsx) file of transactions "
                      "(base64 content); errors name the file's row number and the field.")
    async def import_transactions_file(self, info: Info, file_name: str, content_base64: str) -> IngestPayload:
        try:
            content = base64.b64decode(content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise UserError.of("contentBase64", ErrorCode.INVALID, "contentBase64 is not valid base64") from None
        result = await file_import.import_file(actor_of(info), file_name, content, info.context.request_id)
        return _payload(result)


@strawberry.type
class MonitoringIngestSubscription:
    @guarded_subscription("violations", description="Each violation as it is detected (by any process), within "
                          "your data scope.")
    async def violation_detected(self, info: Info) -> AsyncGenerator[ViolationType, None]:
        scope = info.context.scope
        async with violation_feed().subscribe() as queue:
            while True:
                ids = await queue.get()
                for v in await Violation.filter(scope.products("product_id"), id__in=ids).order_by("id"):
                    yield ViolationType.of(v)
