"""GraphQL for banks' provider accounts (放款账户, page disbursement_accounts) and reconciliation
(对账, page reconciliation): reports per provider and day with their mismatches, re-running a day,
and re-pushing disbursement / repayment data to partners.

Resolvers are thin: decode ids, call one `core.payments` service with the caller's data scope.
Accounts are bank data (scoped in SQL by bank). A reconciliation run is platform data (provider, day,
status) but its items are scoped by the product or bank they concern, and the run's platform-wide
counts and totals are shown only to callers who see every bank (null otherwise); `mismatchCount`
counts the items the caller can see. Nested items load through one per-request dataloader.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from core.errors import UserError
from core.payments import accounts, reconciliation, repush
from core.payments.models import (
    AccountPurpose,
    ProviderAccount,
    ReconciliationItem,
    ReconciliationItemKind,
    ReconciliationRun,
    ReconciliationStatus,
)
from permissions.scope import DataScope
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.relay import Connection, connection, decode, decode_optional, gid, paginate

AccountPurposeEnum = strawberry.enum(AccountPurpose, name="AccountPurpose",
                                     description="DISBURSEMENT 放款户 or REPAYMENT 还款户.")
ReconciliationStatusEnum = strawberry.enum(ReconciliationStatus, name="ReconciliationStatus",
                                           description="MATCHED, MISMATCHED (see items) or FAILED (no statement).")
ReconciliationItemKindEnum = strawberry.enum(ReconciliationItemKind, name="ReconciliationItemKind",
                                             description="How the platform and the provider's statement disagree.")
RepushKindEnum = strawberry.enum(repush.RepushKind, name="RepushKind", description="What to re-push.")


def _scope(info: Info) -> DataScope:
    return info.context.scope


# --- types ---------------------------------------------------------------------------------------


@strawberry.type(name="ProviderAccount", description="A bank's virtual account at a payment platform.")
class ProviderAccountType:
    id: strawberry.ID
    bank_id: strawberry.ID
    bank_name: str
    payment_platform_id: strawberry.ID
    provider: str = strawberry.field(description="The payment platform's plugin identifier")
    purpose: AccountPurposeEnum  # type: ignore[valid-type]
    account_no: str
    name: str
    warning_line: Decimal | None = strawberry.field(
        description="This account's warning line; null: the system parameter balance.warning_line applies")
    enabled: bool
    last_balance: Decimal | None
    last_checked_at: datetime | None
    breached: bool = strawberry.field(description="The balance is below the warning line (alerted once)")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, a: ProviderAccount) -> ProviderAccountType:
        return cls(id=gid("ProviderAccount", a.id), bank_id=gid("Bank", a.bank_id),  # type: ignore[attr-defined]
                   bank_name=a.bank.short_name,
                   payment_platform_id=gid("PaymentPlatform", a.payment_platform_id),  # type: ignore[attr-defined]
                   provider=a.payment_platform.identifier, purpose=a.purpose, account_no=a.account_no, name=a.name,
                   warning_line=a.warning_line, enabled=a.enabled, last_balance=a.last_balance,
                   last_checked_at=a.last_checked_at, breached=a.breached, created_at=a.created_at,
                   updated_at=a.updated_at)


@strawberry.type(name="ReconciliationItem", description="One disagreement between the platform and a statement.")
class ReconciliationItemType:
    id: strawberry.ID
    run_id: strawberry.ID
    kind: ReconciliationItemKindEnum  # type: ignore[valid-type]
    record: str = strawberry.field(description="disbursement, deduction or repayment")
    serial_no: str
    idempotency_key: str
    platform_amount: Decimal | None
    platform_status: str
    provider_amount: Decimal | None
    provider_status: str
    note: str

    @classmethod
    def of(cls, i: ReconciliationItem) -> ReconciliationItemType:
        return cls(id=gid("ReconciliationItem", i.id), run_id=gid("ReconciliationRun", i.run_id),  # type: ignore[attr-defined]
                   kind=i.kind, record=i.record, serial_no=i.serial_no, idempotency_key=i.idempotency_key,
                   platform_amount=i.platform_amount, platform_status=i.platform_status,
                   provider_amount=i.provider_amount, provider_status=i.provider_status, note=i.note)


def _items_loader(info: Info) -> DataLoader[tuple[int, str | None], list[ReconciliationItemType]]:
    """All visible items of the runs on the page, in one query per kind asked for."""
    cache: dict[str, Any] = info.context.cache
    if "payments.items" not in cache:
        scope = _scope(info)

        async def load(keys: list[tuple[int, str | None]]) -> list[list[ReconciliationItemType]]:
            groups: dict[tuple[int, str | None], list[ReconciliationItemType]] = defaultdict(list)
            by_kind: dict[str | None, list[int]] = defaultdict(list)
            for run_id, kind in keys:
                by_kind[kind].append(run_id)
            for kind, run_ids in by_kind.items():
                qs = reconciliation.items(scope, run_ids, ReconciliationItemKind(kind) if kind else None)
                for row in await qs.order_by("id"):
                    groups[(row.run_id, kind)].append(ReconciliationItemType.of(row))  # type: ignore[attr-defined]
            return [groups.get(k, []) for k in keys]

        cache["payments.items"] = DataLoader(load_fn=load)
    return cache["payments.items"]  # type: ignore[no-any-return]


def _counts_loader(info: Info) -> DataLoader[int, int]:
    cache: dict[str, Any] = info.context.cache
    if "payments.item_counts" not in cache:
        scope = _scope(info)

        async def load(run_ids: list[int]) -> list[int]:
            counts = Counter(r for r in await reconciliation.items(scope, run_ids).values_list("run_id", flat=True))
            return [counts.get(r, 0) for r in run_ids]

        cache["payments.item_counts"] = DataLoader(load_fn=load)
    return cache["payments.item_counts"]  # type: ignore[no-any-return]


@strawberry.type(name="ReconciliationRun", description="One provider's statement reconciled for one business day.")
class ReconciliationRunType:
    id: strawberry.ID
    provider: str
    day: date
    status: ReconciliationStatusEnum  # type: ignore[valid-type]
    error: str
    runs: int = strawberry.field(description="How many times the day was reconciled (the latest result is shown)")
    ran_at: datetime
    platform_count: int | None = strawberry.field(description="Platform records of the day (every bank; null "
                                                              "unless you see every bank)")
    provider_count: int | None = strawberry.field(description="Statement lines (null unless you see every bank)")
    matched_count: int | None = strawberry.field(description="Lines that matched cleanly (null unless you see "
                                                             "every bank)")
    platform_total: Decimal | None = strawberry.field(description="Succeeded amount on the platform (null unless "
                                                                  "you see every bank)")
    provider_total: Decimal | None = strawberry.field(description="Succeeded amount on the statement (null unless "
                                                                  "you see every bank)")
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, r: ReconciliationRun, scope: DataScope) -> ReconciliationRunType:
        full = scope.unrestricted
        return cls(id=gid("ReconciliationRun", r.id), provider=r.provider, day=r.day, status=r.status, error=r.error,
                   runs=r.runs, ran_at=r.ran_at, platform_count=r.platform_count if full else None,
                   provider_count=r.provider_count if full else None, matched_count=r.matched_count if full else None,
                   platform_total=r.platform_total if full else None,
                   provider_total=r.provider_total if full else None, pk=r.id)

    @strawberry.field(description="Mismatches you can see (your data scope)")
    async def mismatch_count(self, info: Info) -> int:
        return await _counts_loader(info).load(self.pk)

    @strawberry.field(description="The mismatches you can see, oldest first (page through reconciliationItems "
                                  "for long lists)")
    async def items(self, info: Info, kind: ReconciliationItemKindEnum | None = None  # type: ignore[valid-type]
                    ) -> list[ReconciliationItemType]:
        return await _items_loader(info).load((self.pk, kind.value if kind else None))


# --- inputs and payloads ---------------------------------------------------------------------------


@strawberry.input
class ProviderAccountFilter:
    bank_id: strawberry.ID | None = None
    payment_platform_id: strawberry.ID | None = None
    purpose: AccountPurposeEnum | None = None  # type: ignore[valid-type]
    enabled: bool | None = None
    keyword: str | None = strawberry.field(default=None, description="Account number or name contains")


@strawberry.input(description="A bank's account at a payment platform; amounts are decimal strings.")
class CreateProviderAccountInput:
    bank_id: strawberry.ID
    payment_platform_id: strawberry.ID
    purpose: AccountPurposeEnum  # type: ignore[valid-type]
    account_no: str = strawberry.field(description="The provider's virtual account number (letters, digits, - _)")
    name: str | None = None
    warning_line: Decimal | None = strawberry.field(default=None, description="Omit to use the system parameter")
    enabled: bool | None = strawberry.field(default=None, description="Default true")


@strawberry.input(description="Omitted fields keep their value; bank, platform and purpose never change.")
class UpdateProviderAccountInput:
    account_no: str | None = None
    name: str | None = None
    warning_line: Decimal | None = None
    clear_warning_line: bool = strawberry.field(default=False,
                                                description="Use the system parameter's line again")
    enabled: bool | None = None


@strawberry.input
class ReconciliationRunFilter:
    provider: str | None = None
    day_from: date | None = None
    day_to: date | None = None
    status: ReconciliationStatusEnum | None = None  # type: ignore[valid-type]


@strawberry.type
class ProviderAccountPayload(Payload):
    provider_account: ProviderAccountType | None = None


@strawberry.type(description="A delete's result: the id that was removed.")
class ProviderAccountDeletePayload(Payload):
    deleted_id: strawberry.ID | None = None


@strawberry.type
class ReconciliationRunPayload(Payload):
    run: ReconciliationRunType | None = None


@strawberry.type(description="How many records were queued for re-pushing (one outbox job each).")
class RepushPayload(Payload):
    queued: int | None = None


# --- queries -------------------------------------------------------------------------------------


async def _account(info: Info, account_id: int, field: str = "id") -> ProviderAccount:
    row = await accounts.get(_scope(info), account_id, field)
    await row.fetch_related("bank", "payment_platform")
    return row


@strawberry.type
class PaymentsQuery:
    @guarded("disbursement_accounts", description="Banks' accounts at payment platforms (your data scope).")
    async def provider_accounts(self, info: Info, filter: ProviderAccountFilter | None = None,
                                first: int | None = None, after: str | None = None
                                ) -> Connection[ProviderAccountType]:
        f = filter or ProviderAccountFilter()
        qs = accounts.query(_scope(info), bank_id=decode_optional(f.bank_id, "Bank", "filter.bankId"),
                            platform_id=decode_optional(f.payment_platform_id, "PaymentPlatform",
                                                        "filter.paymentPlatformId"),
                            purpose=f.purpose, enabled=f.enabled, keyword=f.keyword)
        return connection(await paginate(qs, first, after, "bank", "payment_platform"), ProviderAccountType.of)

    @guarded("disbursement_accounts")
    async def provider_account(self, info: Info, id: strawberry.ID) -> ProviderAccountType | None:
        try:
            return ProviderAccountType.of(await _account(info, decode(id, "ProviderAccount", "id")))
        except UserError:
            return None

    @guarded("reconciliation", description="Reconciliation reports, one per provider and business day, newest first.")
    async def reconciliation_runs(self, info: Info, filter: ReconciliationRunFilter | None = None,
                                  first: int | None = None, after: str | None = None
                                  ) -> Connection[ReconciliationRunType]:
        f = filter or ReconciliationRunFilter()
        scope = _scope(info)
        qs = reconciliation.runs(f.provider, f.day_from, f.day_to, f.status)
        return connection(await paginate(qs, first, after), lambda r: ReconciliationRunType.of(r, scope))

    @guarded("reconciliation", description="The report of one provider and day (null: not reconciled yet).")
    async def reconciliation_report(self, info: Info, provider: str, day: date) -> ReconciliationRunType | None:
        run = await reconciliation.runs(provider, day, day).first()
        return ReconciliationRunType.of(run, _scope(info)) if run else None

    @guarded("reconciliation")
    async def reconciliation_run(self, info: Info, id: strawberry.ID) -> ReconciliationRunType | None:
        try:
            run = await reconciliation.get_run(decode(id, "ReconciliationRun", "id"))
        except UserError:
            return None
        return ReconciliationRunType.of(run, _scope(info))

    @guarded("reconciliation", description="One run's mismatches you can see, paged.")
    async def reconciliation_items(self, info: Info, run_id: strawberry.ID,
                                   kind: ReconciliationItemKindEnum | None = None,  # type: ignore[valid-type]
                                   first: int | None = None, after: str | None = None
                                   ) -> Connection[ReconciliationItemType]:
        qs = reconciliation.items(_scope(info), [decode(run_id, "ReconciliationRun", "runId")], kind)
        return connection(await paginate(qs, first, after), ReconciliationItemType.of)


# --- mutations -----------------------------------------------------------------------------------


@strawberry.type
class PaymentsMutation:
    @guarded_mutation("disbursement_accounts.create",
                      description="Register a bank's account at a payment platform (bank in your data scope).")
    async def create_provider_account(self, info: Info, input: CreateProviderAccountInput) -> ProviderAccountPayload:
        row = await accounts.create(actor_of(info), _scope(info), accounts.AccountInput(
            bank_id=decode(input.bank_id, "Bank", "bankId"),
            payment_platform_id=decode(input.payment_platform_id, "PaymentPlatform", "paymentPlatformId"),
            purpose=input.purpose, account_no=input.account_no, name=input.name, warning_line=input.warning_line,
            enabled=input.enabled), request_id=info.context.request_id)
        return ProviderAccountPayload(provider_account=ProviderAccountType.of(await _account(info, row.id)))

    @guarded_mutation("disbursement_accounts.update", description="Edit an account (number, name, line, enabled).")
    async def update_provider_account(self, info: Info, id: strawberry.ID, input: UpdateProviderAccountInput
                                      ) -> ProviderAccountPayload:
        row = await accounts.update(actor_of(info), _scope(info), decode(id, "ProviderAccount", "id"),
                                    accounts.AccountInput(account_no=input.account_no, name=input.name,
                                                          warning_line=input.warning_line,
                                                          clear_warning_line=input.clear_warning_line,
                                                          enabled=input.enabled),
                                    request_id=info.context.request_id)
        return ProviderAccountPayload(provider_account=ProviderAccountType.of(await _account(info, row.id)))

    @guarded_mutation("disbursement_accounts.delete", description="Remove an account.")
    async def delete_provider_account(self, info: Info, id: strawberry.ID) -> ProviderAccountDeletePayload:
        await accounts.delete(actor_of(info), _scope(info), decode(id, "ProviderAccount", "id"),
                              request_id=info.context.request_id)
        return ProviderAccountDeletePayload(deleted_id=id)

    @guarded_mutation("reconciliation.run", description="Reconcile one provider's day again (replaces its report).")
    async def rerun_reconciliation(self, info: Info, provider: str, day: date) -> ReconciliationRunPayload:
        identifier = await reconciliation.check_provider(provider)
        run = await reconciliation.reconcile(identifier, reconciliation.check_day(day), actor=actor_of(info),
                                             request_id=info.context.request_id)
        return ReconciliationRunPayload(run=ReconciliationRunType.of(run, _scope(info)))

    @guarded_mutation("reconciliation.repush",
                      description="Re-push disbursements or repayments of a date range to partners (your scope).")
    async def repush_to_partner(self, info: Info, kind: RepushKindEnum,  # type: ignore[valid-type]
                                from_: Annotated[date, strawberry.argument(name="from")],
                                to: date) -> RepushPayload:
        queued = await repush.repush(actor_of(info), _scope(info), kind, from_, to,
                                     request_id=info.context.request_id)
        return RepushPayload(queued=queued)
