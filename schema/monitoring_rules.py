"""GraphQL for diversion rules and AML settings (F-MON-3, F-MON-4, seed 000 §3.6 规则管理).

Changes are reviewed: every create/update/delete mutation returns a pending `ChangeRequest`, the named
checker decides it with `approveChange` / `rejectChange` (review.decide), and the maker may take it
back with `withdrawRuleChange` (no checker needed). The seed's three lists are
`diversionRuleChanges(queue: COMPLETED | PENDING | ALL)`; a caller who may only check (holds
review.decide but none of the diversion_rules actions) sees in PENDING only the changes assigned to
them. Thresholds travel as strings: `minAmount` in yuan ("100.00"), `minShare` as a fraction of the
loan principal ("0.01" = 1 %). An approved change applies at the next business day's start unless
the maker set `effectiveNow`; `applyRuleNow` brings a waiting approved change forward to today.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from tortoise.expressions import Q

from core import clock
from core.errors import ErrorCode, UserError
from core.monitoring import rules
from core.monitoring.models import AmlRuleKind, AmlRuleSetting, DiversionType
from core.review import service
from core.review.models import ChangeAction
from schema.accounts import ChangePayload
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.relay import Connection, connection, decode, gid, paginate
from schema.review import ChangeRequestType, QueueEnum, load_change

MAKER_NODES = ("diversion_rules.create", "diversion_rules.update", "diversion_rules.delete")
AmlRuleKindEnum = strawberry.enum(AmlRuleKind, name="AmlRuleKind")


def _in_force(row: DiversionType | AmlRuleSetting) -> bool:
    today = clock.business_today()
    v = rules.version_on(row, today)
    return v is not None and bool(v.get("enabled", True)) and not v.get("deleted", False)


@strawberry.type(name="DiversionType", description="A diversion type (异化类型) and its thresholds.")
class DiversionTypeType:
    id: strawberry.ID
    name: str
    code: str = strawberry.field(description="English code, e.g. GS")
    min_amount: str = strawberry.field(description="Minimum loan-funded amount (贷款资金使用金额下限), yuan")
    min_share: str = strawberry.field(description="Minimum share of the loan principal, fraction (0.01 = 1 %)")
    enabled: bool
    deleted: bool = strawberry.field(description="An approved deletion (applies from effectiveFrom)")
    description: str
    effective_from: date = strawberry.field(description="Business date from which these values apply")
    in_force: bool = strawberry.field(description="The current values apply today (是否生效)")
    previous: JSON | None = strawberry.field(description="The version that applies before effectiveFrom")
    version: int
    last_maker_name: str
    last_checker_name: str
    last_action: str
    reviewed_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, r: DiversionType) -> DiversionTypeType:
        maker = r.__dict__.get("_last_maker")
        checker = r.__dict__.get("_last_checker")
        return cls(id=gid("DiversionType", r.id), name=r.name, code=r.code, min_amount=f"{r.min_amount:.2f}",
                   min_share=f"{r.min_share:.6f}", enabled=r.enabled, deleted=r.deleted, description=r.description,
                   effective_from=r.effective_from, in_force=_in_force(r), previous=r.previous, version=r.version,
                   last_maker_name=maker.name if maker else "", last_checker_name=checker.name if checker else "",
                   last_action=r.last_action, reviewed_at=r.reviewed_at, created_at=r.created_at)


@strawberry.type(name="AmlRuleSetting", description="An anti-money-laundering / concentration rule and its "
                 "parameters (amounts as strings, windows in minutes, ratios as fractions).")
class AmlRuleSettingType:
    id: strawberry.ID
    kind: AmlRuleKindEnum  # type: ignore[valid-type]
    name: str
    params: JSON
    enabled: bool
    effective_from: date
    in_force: bool
    previous: JSON | None
    version: int
    last_action: str
    reviewed_at: datetime | None

    @classmethod
    def of(cls, r: AmlRuleSetting) -> AmlRuleSettingType:
        return cls(id=gid("AmlRuleSetting", r.id), kind=r.kind, name=r.name, params=r.params, enabled=r.enabled,
                   effective_from=r.effective_from, in_force=_in_force(r), previous=r.previous, version=r.version,
                   last_action=r.last_action, reviewed_at=r.reviewed_at)


@strawberry.input
class DiversionTypeInput:
    name: str | None = None
    code: str | None = strawberry.field(default=None, description="Required on create; cannot change")
    min_amount: str | None = None
    min_share: str | None = strawberry.field(default=None, description="Fraction of the principal, 0.01 = 1 %")
    enabled: bool | None = None
    description: str | None = None
    effective_now: bool = strawberry.field(default=False, description="Apply on approval instead of tomorrow")


@strawberry.input
class AmlRuleInput:
    name: str | None = None
    params: JSON | None = strawberry.field(default=None, description="Only the parameters to change")
    enabled: bool | None = None
    effective_now: bool = False


@strawberry.type
class ApplyRuleNowPayload(Payload):
    diversion_type: DiversionTypeType | None = None
    aml_rule: AmlRuleSettingType | None = None


def _data(inp: DiversionTypeInput) -> dict[str, Any]:
    out: dict[str, Any] = {"effectiveNow": inp.effective_now}
    for attr, key in (("name", "name"), ("code", "code"), ("min_amount", "minAmount"), ("min_share", "minShare"),
                      ("enabled", "enabled"), ("description", "description")):
        value = getattr(inp, attr)
        if value is not None:
            out[key] = value
    return out


async def _submit(info: Info, entity_type: str, action: ChangeAction, entity_id: int | None, data: dict[str, Any],
                  checker_id: strawberry.ID, change_id: strawberry.ID | None) -> ChangePayload:
    actor = actor_of(info)
    checker = decode(checker_id, "User", "checkerId")
    if change_id is not None:
        change = await service.edit(actor, decode(change_id, "ChangeRequest", "changeId"), data, checker,
                                    info.context.request_id)
        if change.entity_type != entity_type:
            raise UserError.of("changeId", ErrorCode.INVALID, "That change is not about this kind of rule")
    else:
        change = await service.submit(actor, entity_type, action, entity_id, data, checker, info.context.request_id)
    return ChangePayload(change=await load_change(change))


@strawberry.type
class MonitoringRulesQuery:
    @guarded("diversion_rules", description="Diversion types (deleted ones only while their deletion waits).")
    async def diversion_types(self, info: Info, keyword: str | None = None, first: int | None = None,
                              after: str | None = None) -> Connection[DiversionTypeType]:
        today = clock.business_today()
        qs = DiversionType.exclude(deleted=True, effective_from__lte=today)
        if keyword:
            qs = qs.filter(Q(name__icontains=keyword) | Q(code__icontains=keyword))
        page = await paginate(qs, first, after, "last_maker", "last_checker")
        return connection(page, DiversionTypeType.of)

    @guarded("diversion_rules", description="The AML and concentration rules with their parameters.")
    async def aml_rule_settings(self, info: Info) -> list[AmlRuleSettingType]:
        return [AmlRuleSettingType.of(r) for r in await AmlRuleSetting.all().order_by("id")]

    @guarded("diversion_rules", description="The seed's three lists of rule changes: COMPLETED (approved or "
             "rejected), PENDING (for a checker: only those assigned to them), ALL; also MY_SUBMISSIONS and "
             "PENDING_FOR_ME.")
    async def diversion_rule_changes(self, info: Info, queue: QueueEnum = service.Queue.ALL,  # type: ignore[valid-type]
                                     keyword: str | None = None, first: int | None = None,
                                     after: str | None = None) -> Connection[ChangeRequestType]:
        actor = actor_of(info)
        q = queue
        if q is service.Queue.PENDING and actor.can("review.decide") and not any(actor.can(n) for n in MAKER_NODES):
            q = service.Queue.PENDING_FOR_ME
        qs = service.query(actor, service.ChangeFilter(queue=q, entity_types=rules.RULE_ENTITIES, keyword=keyword))
        page = await paginate(qs, first, after, "maker", "checker")
        return connection(page, ChangeRequestType.of)


@strawberry.type
class MonitoringRulesMutation:
    @guarded_mutation("diversion_rules.create", description="Propose a new diversion type (sent for review).")
    async def create_diversion_type(self, info: Info, input: DiversionTypeInput, checker_id: strawberry.ID,
                                    change_id: strawberry.ID | None = None) -> ChangePayload:
        return await _submit(info, rules.DIVERSION_ENTITY, ChangeAction.CREATE, None, _data(input), checker_id,
                             change_id)

    @guarded_mutation("diversion_rules.update", description="Propose new thresholds/name/state for a type.")
    async def update_diversion_type(self, info: Info, id: strawberry.ID, input: DiversionTypeInput,
                                    checker_id: strawberry.ID, change_id: strawberry.ID | None = None
                                    ) -> ChangePayload:
        return await _submit(info, rules.DIVERSION_ENTITY, ChangeAction.UPDATE, decode(id, "DiversionType", "id"),
                             _data(input), checker_id, change_id)

    @guarded_mutation("diversion_rules.delete", description="Propose deleting a type (from tomorrow unless "
                      "effectiveNow).")
    async def delete_diversion_type(self, info: Info, id: strawberry.ID, checker_id: strawberry.ID,
                                    effective_now: bool = False) -> ChangePayload:
        return await _submit(info, rules.DIVERSION_ENTITY, ChangeAction.DELETE, decode(id, "DiversionType", "id"),
                             {"effectiveNow": effective_now}, checker_id, None)

    @guarded_mutation("diversion_rules.update", description="Propose new parameters for an AML rule.")
    async def update_aml_rule(self, info: Info, id: strawberry.ID, input: AmlRuleInput, checker_id: strawberry.ID,
                              change_id: strawberry.ID | None = None) -> ChangePayload:
        row = await AmlRuleSetting.get_or_none(id=decode(id, "AmlRuleSetting", "id"))
        data: dict[str, Any] = {"effectiveNow": input.effective_now}
        if input.name is not None:
            data["name"] = input.name
        if input.enabled is not None:
            data["enabled"] = input.enabled
        if input.params is not None:
            data["params"] = (dict(row.params) if row else {}) | (input.params if isinstance(input.params, dict)
                                                                  else {"": input.params})
        return await _submit(info, rules.AML_ENTITY, ChangeAction.UPDATE, row.id if row else 0, data, checker_id,
                             change_id)

    @guarded_mutation(*MAKER_NODES, description="Withdraw your own pending rule change (no checker needed).")
    async def withdraw_rule_change(self, info: Info, id: strawberry.ID) -> ChangePayload:
        actor = actor_of(info)
        change_id = decode(id, "ChangeRequest", "id")
        from core.review.models import ChangeRequest

        change = await ChangeRequest.get_or_none(id=change_id, entity_type__in=list(rules.RULE_ENTITIES))
        if change is None:
            raise UserError.of("id", ErrorCode.NOT_FOUND, "Change request not found")
        change = await service.withdraw(actor, change_id, info.context.request_id)
        return ChangePayload(change=await load_change(change))

    @guarded_mutation("diversion_rules.update", description="立即生效: an approved rule waiting for tomorrow "
                      "applies from today (id of a DiversionType or AmlRuleSetting).")
    async def apply_rule_now(self, info: Info, id: strawberry.ID) -> ApplyRuleNowPayload:
        actor = actor_of(info)
        try:
            pk = decode(id, "DiversionType", "id")
        except UserError:
            row = await rules.apply_now(actor, rules.AML_ENTITY, decode(id, "AmlRuleSetting", "id"),
                                        info.context.request_id)
            return ApplyRuleNowPayload(aml_rule=AmlRuleSettingType.of(row))  # type: ignore[arg-type]
        row = await rules.apply_now(actor, rules.DIVERSION_ENTITY, pk, info.context.request_id)
        return ApplyRuleNowPayload(diversion_type=DiversionTypeType.of(row))  # type: ignore[arg-type]
