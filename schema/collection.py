"""GraphQL for collection (催收管理, F-LOAN-5): the pool of cases by stage, assignment, contact records
and collection-rate statistics. Every read applies the caller's data scope in SQL (services in
`core.loans.collection`); nested loan numbers, products, assignees and records use per-request
dataloaders.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from core.accounts.models import User
from core.loans import collection as service
from core.loans.collection_models import CollectionCase, CollectionRecord, CollectionStatus, ContactResult
from core.loans.models import Loan
from core.loans.penalty import CollectionStage
from core.products.models import Product
from permissions.scope import DataScope
from schema.dataloaders import request_loader
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.loans import LoanProductGql
from schema.relay import Connection, connection, decode, decode_optional, gid, paginate

CaseStatusEnum = strawberry.enum(CollectionStatus, name="CollectionCaseStatus", description="open: in the pool.")
ContactResultEnum = strawberry.enum(ContactResult, name="CollectionContactResult")
CollectionStageEnum = strawberry.enum(CollectionStage, name="CollectionStage",
                                      description="S0 −2..0 reminder, S1 1–7, S2 8–15, S3 16–30, S4 31+ days past "
                                                  "due; M0–M4 for month products (30-day buckets).")


def _scope(info: Info) -> DataScope:
    return info.context.scope


def _loader(info: Info, name: str, load: Callable[[list[Any]], Awaitable[list[Any]]]) -> DataLoader[Any, Any]:
    return request_loader(info, "collection", name, load)


@strawberry.type(name="Collector", description="A user working collection cases.")
class CollectorGql:
    id: strawberry.ID
    account: str
    name: str


async def _users(info: Info, key: int | None) -> CollectorGql | None:
    if key is None:
        return None

    async def load(keys: list[int]) -> list[CollectorGql | None]:
        rows = {u.id: u for u in await User.filter(id__in=keys).only("id", "account", "name")}
        return [CollectorGql(id=gid("User", k), account=rows[k].account, name=rows[k].name) if k in rows else None
                for k in keys]

    return await _loader(info, "users", load).load(key)


@strawberry.type(name="CollectionRecord", description="One collection contact.")
class RecordGql:
    id: strawberry.ID
    case_id: strawberry.ID
    stage: str
    contacted_at: datetime
    contact_result: ContactResultEnum  # type: ignore[valid-type]
    promise_amount: Decimal | None
    promise_date: date | None
    remark: str
    collector_name: str
    collector_pk: strawberry.Private[int | None]

    @classmethod
    def of(cls, r: CollectionRecord) -> RecordGql:
        return cls(id=gid("CollectionRecord", r.id), case_id=gid("CollectionCase", r.case_id),  # type: ignore[attr-defined]
                   stage=r.stage, contacted_at=r.contacted_at, contact_result=ContactResult(r.contact_result),
                   promise_amount=r.promise_amount, promise_date=r.promise_date, remark=r.remark,
                   collector_name=r.collector_name, collector_pk=r.collector_id)  # type: ignore[attr-defined]

    @strawberry.field
    async def collector(self, info: Info) -> CollectorGql | None:
        return await _users(info, self.collector_pk)


@strawberry.type(name="CollectionCase", description="A loan in the collection pool.")
class CaseGql:
    id: strawberry.ID
    loan_id: strawberry.ID
    stage: str
    stage_entered_on: date
    days_past_due: int
    overdue_amount: Decimal
    recovered_amount: Decimal
    status: CaseStatusEnum  # type: ignore[valid-type]
    opened_on: date
    closed_on: date | None
    close_reason: str
    assigned_at: datetime | None
    pk: strawberry.Private[int]
    loan_pk: strawberry.Private[int]
    product_pk: strawberry.Private[int]
    assignee_pk: strawberry.Private[int | None]

    @classmethod
    def of(cls, c: CollectionCase) -> CaseGql:
        return cls(id=gid("CollectionCase", c.id), loan_id=gid("Loan", c.loan_id),  # type: ignore[attr-defined]
                   stage=c.stage, stage_entered_on=c.stage_entered_on, days_past_due=c.days_past_due,
                   overdue_amount=c.overdue_amount, recovered_amount=c.recovered_amount,
                   status=CollectionStatus(c.status), opened_on=c.opened_on, closed_on=c.closed_on,
                   close_reason=c.close_reason, assigned_at=c.assigned_at, pk=c.id,
                   loan_pk=c.loan_id, product_pk=c.product_id, assignee_pk=c.assignee_id)  # type: ignore[attr-defined]

    @strawberry.field
    async def order_no(self, info: Info) -> str | None:
        scope = _scope(info)

        async def load(keys: list[int]) -> list[str | None]:
            rows = dict(await Loan.filter(scope.products("product_id"), id__in=keys).values_list("id", "order_no"))
            return [rows.get(k) for k in keys]

        return await _loader(info, "order_no", load).load(self.loan_pk)

    @strawberry.field
    async def product(self, info: Info) -> LoanProductGql | None:
        scope = _scope(info)

        async def load(keys: list[int]) -> list[LoanProductGql | None]:
            rows = {p.id: p for p in await Product.filter(scope.products("id"), id__in=keys).only("id", "code", "name")}
            return [LoanProductGql(id=gid("Product", k), code=rows[k].code, name=rows[k].name) if k in rows else None
                    for k in keys]

        return await _loader(info, "product", load).load(self.product_pk)

    @strawberry.field
    async def assignee(self, info: Info) -> CollectorGql | None:
        return await _users(info, self.assignee_pk)

    @strawberry.field(description="Collection records of this case, newest first.")
    async def records(self, info: Info) -> list[RecordGql]:
        scope = _scope(info)

        async def load(keys: list[int]) -> list[list[RecordGql]]:
            grouped: dict[int, list[RecordGql]] = defaultdict(list)
            for r in await service.records_query(scope).filter(case_id__in=keys).order_by("-id"):
                grouped[r.case_id].append(RecordGql.of(r))  # type: ignore[attr-defined]
            return [grouped.get(k, []) for k in keys]

        return await _loader(info, "records", load).load(self.pk)


@strawberry.type(name="CollectionStageStats", description="Collection rate of one stage over a period.")
class StageStatsGql:
    stage: str
    cases_entered: int
    overdue_amount: Decimal
    recovered_amount: Decimal
    recovered_cases: int
    rate: Decimal


@strawberry.input(description="All given conditions must hold; status defaults to open (the pool).")
class CollectionCaseFilterInput:
    status: CaseStatusEnum | None = CollectionStatus.OPEN  # type: ignore[valid-type]
    stage: CollectionStageEnum | None = None  # type: ignore[valid-type]
    assignee_id: strawberry.ID | None = None
    unassigned: bool | None = None
    mine: bool = False
    loan_id: strawberry.ID | None = None


@strawberry.type
class CollectionQuery:
    @guarded("collection", description="Collection cases within your data permission (the pool: open cases).")
    async def collection_cases(self, info: Info, filter: CollectionCaseFilterInput | None = None,
                               first: int | None = None, after: str | None = None) -> Connection[CaseGql]:
        f = filter or CollectionCaseFilterInput()
        assignee = actor_of(info).user_id if f.mine else decode_optional(f.assignee_id, "User", "filter.assigneeId")
        qs = service.cases_query(_scope(info), status=CollectionStatus(f.status) if f.status else None,
                                 stage=CollectionStage(f.stage).value if f.stage else None, assignee_id=assignee,
                                 unassigned=f.unassigned, loan_id=decode_optional(f.loan_id, "Loan", "filter.loanId"))
        return connection(await paginate(qs, first, after), CaseGql.of)

    @guarded("collection", description="One case; null when missing or outside your data permission.")
    async def collection_case(self, info: Info, id: strawberry.ID) -> CaseGql | None:
        case = await service.cases_query(_scope(info), status=None).filter(
            id=decode(id, "CollectionCase", "id")).first()
        return CaseGql.of(case) if case else None

    @guarded("collection", description="Collection records, newest first.")
    async def collection_records(self, info: Info, case_id: strawberry.ID | None = None,
                                 loan_id: strawberry.ID | None = None, first: int | None = None,
                                 after: str | None = None) -> Connection[RecordGql]:
        qs = service.records_query(_scope(info), case_id=decode_optional(case_id, "CollectionCase", "caseId"),
                                   loan_id=decode_optional(loan_id, "Loan", "loanId"))
        return connection(await paginate(qs, first, after), RecordGql.of)

    @guarded("collection", description="Collection rates per stage for cases entering a stage in the period.")
    async def collection_stats(self, info: Info, date_from: date, date_to: date,
                               product_id: strawberry.ID | None = None) -> list[StageStatsGql]:
        rows = await service.stats(_scope(info), date_from, date_to,
                                   decode_optional(product_id, "Product", "productId"))
        return [StageStatsGql(stage=s.stage, cases_entered=s.cases_entered, overdue_amount=s.overdue_amount,
                              recovered_amount=s.recovered_amount, recovered_cases=s.recovered_cases, rate=s.rate)
                for s in rows]


@strawberry.type
class CollectionAssignPayload(Payload):
    cases: list[CaseGql] = strawberry.field(default_factory=list)


@strawberry.type
class CollectionRecordPayload(Payload):
    record: RecordGql | None = None


@strawberry.input
class CollectionRecordInput:
    case_id: strawberry.ID
    contact_result: ContactResultEnum  # type: ignore[valid-type]
    contacted_at: datetime | None = None
    promise_amount: Decimal | None = None
    promise_date: date | None = None
    remark: str | None = None


@strawberry.type
class CollectionMutation:
    @guarded_mutation("collection.assign", description="Assign cases (one or a batch; reassignment allowed) to a "
                      "collector, or unassign them with no assigneeId.")
    async def assign_collection_cases(self, info: Info, case_ids: list[strawberry.ID],
                                      assignee_id: strawberry.ID | None = None) -> CollectionAssignPayload:
        ids = [decode(c, "CollectionCase", f"caseIds[{i}]") for i, c in enumerate(case_ids)]
        cases = await service.assign(actor_of(info), ids, decode_optional(assignee_id, "User", "assigneeId"),
                                     request_id=info.context.request_id)
        return CollectionAssignPayload(cases=[CaseGql.of(c) for c in cases])

    @guarded_mutation("collection.record", description="Write a collection record (contact, result, promise).")
    async def add_collection_record(self, info: Info, input: CollectionRecordInput) -> CollectionRecordPayload:
        record = await service.add_record(
            actor_of(info), decode(input.case_id, "CollectionCase", "caseId"),
            contact_result=ContactResult(input.contact_result), contacted_at=input.contacted_at,
            promise_amount=input.promise_amount, promise_date=input.promise_date, remark=input.remark,
            request_id=info.context.request_id)
        return CollectionRecordPayload(record=RecordGql.of(record))
