"""GraphQL for system management (SPEC §9): dictionaries, system parameters, console switches, alerts."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from core.config import current_settings
from core.errors import UserError
from core.system import alerts, dictionaries, parameters, switches
from core.system.models import (
    Dictionary,
    DictionaryItem,
    ParameterFormat,
    ParameterType,
    PublishedParameter,
    SystemAlert,
    SystemParameter,
)
from core.system.switches import SwitchKey
from schema.errors import Payload
from schema.guard import actor_of, authenticated, guarded, guarded_mutation
from schema.relay import Connection, connection, decode, gid, paginate

ParameterTypeEnum = strawberry.enum(ParameterType, name="SystemParameterType",
                                    description="The tabs of the system-parameter page.")
ParameterFormatEnum = strawberry.enum(ParameterFormat, name="SystemParameterFormat",
                                      description="What a parameter's value must look like.")
SwitchKeyEnum = strawberry.enum(SwitchKey, name="ConsoleSwitchKey", description="The console's switches.")


# ---- types ----

@strawberry.type(name="Dictionary", description="A parent dictionary (字典表).")
class DictionaryType:
    id: strawberry.ID
    serial: int
    name: str
    key: str
    remark: str
    builtin: bool = strawberry.field(description="Shipped with the platform: code reads it; cannot be deleted")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, d: Dictionary) -> DictionaryType:
        return cls(id=gid("Dictionary", d.id), serial=d.serial, name=d.name, key=d.key, remark=d.remark,
                   builtin=d.builtin, created_at=d.created_at, updated_at=d.updated_at)


@strawberry.type(name="DictionaryItem", description="One coded entry of a dictionary.")
class DictionaryItemType:
    id: strawberry.ID
    dictionary_id: strawberry.ID
    name: str
    code: str = strawberry.field(description="Digits, unique within the dictionary")
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, i: DictionaryItem) -> DictionaryItemType:
        return cls(id=gid("DictionaryItem", i.id), dictionary_id=gid("Dictionary", i.dictionary_id),  # type: ignore[attr-defined]
                   name=i.name, code=i.code, enabled=i.enabled, created_at=i.created_at, updated_at=i.updated_at)


@strawberry.type(description="An enabled dictionary entry, for drop-downs.")
class DictionaryOption:
    code: str
    name: str


@strawberry.type(name="SystemParameter", description="A system parameter as edited; secrets are masked.")
class SystemParameterType:
    id: strawberry.ID
    number: str
    name: str
    type: ParameterTypeEnum  # type: ignore[valid-type]
    format: ParameterFormatEnum  # type: ignore[valid-type]
    value: str = strawberry.field(description="The edited value; masked (••••••) for secret parameters")
    value_set: bool
    is_secret: bool
    active: bool
    builtin: bool = strawberry.field(description="Shipped with the platform: number and format are fixed")
    pending: bool = strawberry.field(description="Edited since the last refresh: code still sees the old state")
    published_value: str | None = strawberry.field(
        description="What code currently reads (null: not published); masked for secret parameters")
    version: int
    updated_at: datetime

    @classmethod
    def of(cls, p: SystemParameter, pub: PublishedParameter | None) -> SystemParameterType:
        return cls(id=gid("SystemParameter", p.id), number=p.number, name=p.name, type=p.type, format=p.format,
                   value=parameters.shown(p.value, p.secret), value_set=p.value != "", is_secret=p.secret,
                   active=p.active, builtin=p.builtin, pending=parameters.is_pending(p, pub),
                   published_value=parameters.shown(pub.value, pub.secret) if pub else None, version=p.version,
                   updated_at=p.updated_at)


@strawberry.type(description="The published parameter set: what every process reads.")
class ParameterCacheStatus:
    revision: int
    published_at: datetime | None
    published_by: str
    pending: int = strawberry.field(description="Parameters whose edits await a refresh")

    @classmethod
    def of(cls, s: parameters.CacheStatus) -> ParameterCacheStatus:
        return cls(revision=s.revision, published_at=s.published_at, published_by=s.published_by,
                   pending=s.pending)


@strawberry.type(name="ConsoleSwitch", description="A console switch: on lets its code path run.")
class ConsoleSwitchType:
    key: SwitchKeyEnum  # type: ignore[valid-type]
    title: str
    title_en: str
    enabled: bool
    changed_at: datetime | None
    changed_by: str

    @classmethod
    def of(cls, s: switches.SwitchState) -> ConsoleSwitchType:
        return cls(key=s.key, title=s.title, title_en=s.title_en, enabled=s.enabled, changed_at=s.changed_at,
                   changed_by=s.changed_by)


@strawberry.type(name="SystemAlert", description="A system alert (系统预警).")
class SystemAlertType:
    id: strawberry.ID
    number: str
    code: str
    message: str
    source: str
    detail: JSON
    created_at: datetime
    read: bool
    read_at: datetime | None
    read_by_name: str | None

    @classmethod
    def of(cls, a: SystemAlert) -> SystemAlertType:
        reader = a.__dict__.get("_read_by")
        return cls(id=gid("SystemAlert", a.id), number=alerts.alert_number(a), code=a.code, message=a.message,
                   source=a.source, detail=a.detail, created_at=a.created_at, read=a.read, read_at=a.read_at,
                   read_by_name=reader.name if reader is not None else None)


# ---- inputs ----

@strawberry.input
class DictionaryFilter:
    keyword: str | None = strawberry.field(default=None, description="Name or key contains")


@strawberry.input
class DictionaryItemFilter:
    enabled: bool | None = None
    keyword: str | None = strawberry.field(default=None, description="Name or code contains")


@strawberry.input
class CreateDictionaryInput:
    name: str
    key: str
    remark: str | None = None


@strawberry.input
class UpdateDictionaryInput:
    name: str | None = None
    key: str | None = None
    remark: str | None = None


@strawberry.input
class CreateDictionaryItemInput:
    name: str
    code: str


@strawberry.input
class UpdateDictionaryItemInput:
    name: str | None = None
    code: str | None = None


@strawberry.input
class SystemParameterFilter:
    type: ParameterTypeEnum | None = None  # type: ignore[valid-type]
    keyword: str | None = strawberry.field(default=None, description="Number or name contains")
    active: bool | None = None


SECRET_HELP = "The value of a secret parameter (type KEY or isSecret): never shown or logged"


@strawberry.input
class CreateSystemParameterInput:
    number: str
    name: str
    type: ParameterTypeEnum  # type: ignore[valid-type]
    value: str | None = strawberry.field(default=None, description="The value of a non-secret parameter")
    secret: str | None = strawberry.field(default=None, description=SECRET_HELP)
    is_secret: bool = False
    format: ParameterFormatEnum = ParameterFormat.TEXT  # type: ignore[valid-type]


@strawberry.input
class UpdateSystemParameterInput:
    number: str | None = None
    name: str | None = None
    type: ParameterTypeEnum | None = None  # type: ignore[valid-type]
    value: str | None = strawberry.field(default=None, description="The value of a non-secret parameter")
    secret: str | None = strawberry.field(default=None, description=SECRET_HELP)
    is_secret: bool | None = strawberry.field(default=None, description="Only true is accepted once secret")
    format: ParameterFormatEnum | None = None  # type: ignore[valid-type]


@strawberry.input
class SystemAlertFilter:
    since: datetime | None = strawberry.field(default=None, description="Raised at or after (no zone: bank time)")
    until: datetime | None = strawberry.field(default=None, description="Raised before (no zone: bank time)")
    read: bool | None = None
    code: str | None = None
    source: str | None = None
    number: str | None = None


# ---- payloads ----

@strawberry.type
class DictionaryPayload(Payload):
    dictionary: DictionaryType | None = None


@strawberry.type
class DictionaryItemPayload(Payload):
    item: DictionaryItemType | None = None


@strawberry.type
class DeleteDictionaryPayload(Payload):
    deleted_id: strawberry.ID | None = None


@strawberry.type
class SystemParameterPayload(Payload):
    parameter: SystemParameterType | None = None


@strawberry.type
class ParameterCachePayload(Payload):
    status: ParameterCacheStatus | None = None


@strawberry.type
class ConsoleSwitchPayload(Payload):
    switch: ConsoleSwitchType | None = None


@strawberry.type
class SystemAlertPayload(Payload):
    alert: SystemAlertType | None = None


@strawberry.type
class MarkSystemAlertsReadPayload(Payload):
    count: int = 0
    unread: int = 0


# ---- helpers ----

def _rid(info: Info) -> str:
    return str(info.context.request_id)


async def _parameter_node(p: SystemParameter) -> SystemParameterType:
    return SystemParameterType.of(p, (await parameters.publications([p])).get(p.id))


async def _scrub_refused(inp: CreateSystemParameterInput | UpdateSystemParameterInput,
                         parameter_id: int | None) -> None:
    """Blank a secret sent in `value` before the guard logs the refused input."""
    if not inp.value:
        return
    current = parameter_id is not None and await SystemParameter.filter(id=parameter_id, secret=True).exists()
    if parameters.will_be_secret(inp.type, inp.is_secret, current):
        inp.value = "***"


def _bank_time(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=current_settings().tz)


def _alert_filter(f: SystemAlertFilter | None) -> alerts.AlertFilter:
    f = f or SystemAlertFilter()
    return alerts.AlertFilter(since=_bank_time(f.since), until=_bank_time(f.until), read=f.read, code=f.code,
                              source=f.source, number=f.number)


# ---- queries ----

@strawberry.type
class SystemQuery:
    @guarded("dictionaries", description="Parent dictionaries, newest first.")
    async def dictionaries(self, info: Info, filter: DictionaryFilter | None = None, first: int | None = None,
                           after: str | None = None) -> Connection[DictionaryType]:
        qs = dictionaries.query((filter or DictionaryFilter()).keyword)
        return connection(await paginate(qs, first, after), DictionaryType.of)

    @guarded("dictionaries")
    async def dictionary(self, info: Info, id: strawberry.ID) -> DictionaryType | None:
        row = await Dictionary.get_or_none(id=decode(id, "Dictionary", "id"))
        return DictionaryType.of(row) if row else None

    @guarded("dictionaries", description="The items of one dictionary (enabled and disabled), newest first.")
    async def dictionary_items(self, info: Info, dictionary_id: strawberry.ID,
                               filter: DictionaryItemFilter | None = None, first: int | None = None,
                               after: str | None = None) -> Connection[DictionaryItemType]:
        f = filter or DictionaryItemFilter()
        qs = dictionaries.items_query(decode(dictionary_id, "Dictionary", "dictionaryId"), f.enabled, f.keyword)
        return connection(await paginate(qs, first, after), DictionaryItemType.of)

    @authenticated(description="Enabled entries of a dictionary by key, in code order, for any signed-in "
                               "user's drop-downs (reference data such as marital status or bank codes).")
    async def dictionary_options(self, info: Info, key: str) -> list[DictionaryOption]:
        return [DictionaryOption(code=i.code, name=i.name) for i in await dictionaries.dictionary_items(key)]

    @guarded("parameters", description="System parameters, newest first; filter by tab (type).")
    async def system_parameters(self, info: Info, filter: SystemParameterFilter | None = None,
                                first: int | None = None, after: str | None = None
                                ) -> Connection[SystemParameterType]:
        f = filter or SystemParameterFilter()
        page = await paginate(parameters.query(f.type, f.keyword, f.active), first, after)
        pubs = await parameters.publications(page.rows)
        return connection(page, lambda p: SystemParameterType.of(p, pubs.get(p.id)))

    @guarded("parameters")
    async def system_parameter(self, info: Info, id: strawberry.ID) -> SystemParameterType | None:
        row = await SystemParameter.get_or_none(id=decode(id, "SystemParameter", "id"))
        return await _parameter_node(row) if row else None

    @guarded("parameters", description="The published revision and how many edits await a refresh.")
    async def parameter_cache_status(self, info: Info) -> ParameterCacheStatus:
        return ParameterCacheStatus.of(await parameters.cache_status())

    @guarded("switches", description="The console switches and their state.")
    async def console_switches(self, info: Info) -> list[ConsoleSwitchType]:
        return [ConsoleSwitchType.of(s) for s in await switches.switches()]

    @guarded("alerts", description="System alerts, newest first.")
    async def system_alerts(self, info: Info, filter: SystemAlertFilter | None = None, first: int | None = None,
                            after: str | None = None) -> Connection[SystemAlertType]:
        f = _alert_filter(filter)
        alerts.check_filter(f)
        return connection(await paginate(alerts.query(f), first, after, "read_by"), SystemAlertType.of)

    @guarded("alerts", description="How many alerts nobody has read yet.")
    async def system_alert_unread_count(self, info: Info) -> int:
        return await alerts.unread_count()


# ---- mutations ----

@strawberry.type
class SystemMutation:
    @guarded_mutation("dictionaries.create", description="Add a parent dictionary (serial number is automatic).")
    async def create_dictionary(self, info: Info, input: CreateDictionaryInput) -> DictionaryPayload:
        row = await dictionaries.create_dictionary(actor_of(info), name=input.name, key=input.key,
                                                   remark=input.remark, request_id=_rid(info))
        return DictionaryPayload(dictionary=DictionaryType.of(row))

    @guarded_mutation("dictionaries.update", description="Edit a dictionary's name, key or remark.")
    async def update_dictionary(self, info: Info, id: strawberry.ID, input: UpdateDictionaryInput
                                ) -> DictionaryPayload:
        row = await dictionaries.update_dictionary(actor_of(info), decode(id, "Dictionary", "id"), name=input.name,
                                                   key=input.key, remark=input.remark, request_id=_rid(info))
        return DictionaryPayload(dictionary=DictionaryType.of(row))

    @guarded_mutation("dictionaries.delete", description="Delete an admin-made dictionary and its items.")
    async def delete_dictionary(self, info: Info, id: strawberry.ID) -> DeleteDictionaryPayload:
        await dictionaries.delete_dictionary(actor_of(info), decode(id, "Dictionary", "id"), _rid(info))
        return DeleteDictionaryPayload(deleted_id=id)

    @guarded_mutation("dictionaries.create", description="Add an item to a dictionary (it starts disabled).")
    async def create_dictionary_item(self, info: Info, dictionary_id: strawberry.ID,
                                     input: CreateDictionaryItemInput) -> DictionaryItemPayload:
        row = await dictionaries.create_item(actor_of(info), decode(dictionary_id, "Dictionary", "dictionaryId"),
                                             name=input.name, code=input.code, request_id=_rid(info))
        return DictionaryItemPayload(item=DictionaryItemType.of(row))

    @guarded_mutation("dictionaries.update", description="Edit an item's name or code.")
    async def update_dictionary_item(self, info: Info, id: strawberry.ID, input: UpdateDictionaryItemInput
                                     ) -> DictionaryItemPayload:
        row = await dictionaries.update_item(actor_of(info), decode(id, "DictionaryItem", "id"), name=input.name,
                                             code=input.code, request_id=_rid(info))
        return DictionaryItemPayload(item=DictionaryItemType.of(row))

    @guarded_mutation("dictionaries.update", description="Enable or disable an item.")
    async def set_dictionary_item_enabled(self, info: Info, id: strawberry.ID, enabled: bool
                                          ) -> DictionaryItemPayload:
        row = await dictionaries.set_item_enabled(actor_of(info), decode(id, "DictionaryItem", "id"), enabled,
                                                  _rid(info))
        return DictionaryItemPayload(item=DictionaryItemType.of(row))

    @guarded_mutation("dictionaries.delete", description="Delete a dictionary item.")
    async def delete_dictionary_item(self, info: Info, id: strawberry.ID) -> DeleteDictionaryPayload:
        await dictionaries.delete_item(actor_of(info), decode(id, "DictionaryItem", "id"), _rid(info))
        return DeleteDictionaryPayload(deleted_id=id)

    @guarded_mutation("parameters.create", sensitive=("value", "secret"),
                      description="Add a system parameter (inactive until switched on and "
                                                        "published by refreshParameterCache).")
    async def create_system_parameter(self, info: Info, input: CreateSystemParameterInput) -> SystemParameterPayload:
        try:
            row = await parameters.create_parameter(
                actor_of(info), number=input.number, name=input.name, type=input.type, value=input.value,
                secret_value=input.secret, is_secret=input.is_secret, format=input.format, request_id=_rid(info))
        except UserError:
            await _scrub_refused(input, None)
            raise
        return SystemParameterPayload(parameter=await _parameter_node(row))

    @guarded_mutation("parameters.update", sensitive=("value", "secret"),
                      description="Edit a system parameter (takes effect after "
                                                        "refreshParameterCache).")
    async def update_system_parameter(self, info: Info, id: strawberry.ID, input: UpdateSystemParameterInput
                                      ) -> SystemParameterPayload:
        pid = decode(id, "SystemParameter", "id")
        try:
            row = await parameters.update_parameter(
                actor_of(info), pid, number=input.number, name=input.name, type=input.type, value=input.value,
                secret_value=input.secret, is_secret=input.is_secret, format=input.format, request_id=_rid(info))
        except UserError:
            await _scrub_refused(input, pid)
            raise
        return SystemParameterPayload(parameter=await _parameter_node(row))

    @guarded_mutation("parameters.enable", description="Switch a parameter on or off (takes effect after "
                                                        "refreshParameterCache).")
    async def set_system_parameter_active(self, info: Info, id: strawberry.ID, active: bool
                                          ) -> SystemParameterPayload:
        row = await parameters.set_active(actor_of(info), decode(id, "SystemParameter", "id"), active, _rid(info))
        return SystemParameterPayload(parameter=await _parameter_node(row))

    @guarded_mutation("parameters.refresh", description="刷新缓存: publish every active parameter as edited; "
                                                         "every process reads the new values from now on.")
    async def refresh_parameter_cache(self, info: Info) -> ParameterCachePayload:
        return ParameterCachePayload(status=ParameterCacheStatus.of(
            await parameters.refresh_cache(actor_of(info), _rid(info))))

    @guarded_mutation("switches.toggle", description="Pause (enabled: false) or resume a code path at once.")
    async def set_console_switch(self, info: Info, key: SwitchKeyEnum, enabled: bool  # type: ignore[valid-type]
                                 ) -> ConsoleSwitchPayload:
        state = await switches.set_switch(actor_of(info), key, enabled, _rid(info))
        return ConsoleSwitchPayload(switch=ConsoleSwitchType.of(state))

    @guarded_mutation("alerts.read", description="Mark one alert read (确认已读).")
    async def mark_system_alert_read(self, info: Info, id: strawberry.ID) -> SystemAlertPayload:
        row = await alerts.mark_read(actor_of(info), decode(id, "SystemAlert", "id"), _rid(info))
        await row.fetch_related("read_by")
        return SystemAlertPayload(alert=SystemAlertType.of(row))

    @guarded_mutation("alerts.read", description="Mark every unread alert matching the filter read (the whole "
                                                  "result, not just the page shown).")
    async def mark_system_alerts_read(self, info: Info, filter: SystemAlertFilter | None = None
                                      ) -> MarkSystemAlertsReadPayload:
        count = await alerts.mark_all_read(actor_of(info), _alert_filter(filter), _rid(info))
        return MarkSystemAlertsReadPayload(count=count, unread=await alerts.unread_count())
