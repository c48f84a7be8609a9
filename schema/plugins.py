"""GraphQL for the plugin admin page (插件管理, SPEC §10): what is installed, running and healthy.

The page lists every known plugin — built-in, installed as a package, or named in ``plugins.toml`` —
from the process's :class:`~plugins.facade.PluginHost` (``plugins.runtime.current_host``). Health
reports are reused for ``HEALTH_MAX_AGE`` seconds so a polling SPA does not hammer plugins;
``checkPluginHealth`` asks again at once (and re-reads the risk indicator catalogue). Configuration
is not editable here: ``plugins.toml`` holds secrets references and is deployed with the process.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.types import Info

from core.errors import ErrorCode, UserError
from core.oplog import service as oplog
from plugins.facade import PluginHost
from plugins.runtime import PluginHostMissing, current_host
from plugins.types import Family, HealthState, IndicatorSpec, IndicatorType, PluginStatus
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation

HEALTH_MAX_AGE = 30.0
MODULE = "plugins"

PluginFamilyEnum = strawberry.enum(Family, name="PluginFamily", description="What a plugin does; each family "
                                   "has its own call timeout.")
PluginHealthStateEnum = strawberry.enum(HealthState, name="PluginHealthState")
IndicatorTypeEnum = strawberry.enum(IndicatorType, name="RiskIndicatorValueType")


@strawberry.type(name="PluginHealth", description="A plugin's own health report; a failing check shows as down.")
class PluginHealthType:
    state: PluginHealthStateEnum  # type: ignore[valid-type]
    detail: str
    checked_at: datetime | None


@strawberry.type(name="RiskIndicator", description="An indicator a risk data source supplies, and its price.")
class RiskIndicatorType:
    source: str = strawberry.field(description="The source plugin's name")
    name: str
    type: IndicatorTypeEnum  # type: ignore[valid-type]
    cost_per_call: Decimal = strawberry.field(description="Yuan per call; 0 for free (own) data")
    description: str

    @classmethod
    def of(cls, source: str, spec: IndicatorSpec) -> RiskIndicatorType:
        return cls(source=source, name=spec.name, type=spec.type, cost_per_call=spec.cost_per_call,
                   description=spec.description)


@strawberry.type(name="Plugin", description="A plugin known to this process.")
class PluginType:
    name: str
    version: str
    source: str = strawberry.field(description="builtin, entry-point:<distribution>, or not installed")
    description: str
    families: list[PluginFamilyEnum]  # type: ignore[valid-type]
    enabled: bool = strawberry.field(description="Enabled in plugins.toml")
    blocked: bool = strawberry.field(description="Blocked by LENDLINE_BLOCK_PLUGINS (not loaded even if enabled)")
    installed: bool
    running: bool = strawberry.field(description="Loaded and registered in this process")
    health: PluginHealthType | None = strawberry.field(description="Null when not running or no health hook")
    payment_identifiers: list[str] = strawberry.field(description="Payment platforms this provider serves")
    notification_channels: list[str]
    risk_indicators: list[RiskIndicatorType]

    @classmethod
    def of(cls, s: PluginStatus, running: bool, indicators: tuple[IndicatorSpec, ...]) -> PluginType:
        health = (PluginHealthType(state=s.health.state, detail=s.health.detail, checked_at=s.health_checked_at)
                  if s.health is not None else None)
        return cls(name=s.name, version=s.version, source=s.source, description=s.description,
                   families=list(s.families), enabled=s.enabled, blocked=s.blocked, installed=s.installed,
                   running=running, health=health,
                   payment_identifiers=[s.payment_identifier] if s.payment_identifier else [],
                   notification_channels=list(s.notify_channels),
                   risk_indicators=[RiskIndicatorType.of(s.name, spec) for spec in indicators])


@strawberry.type
class PluginHealthPayload(Payload):
    plugins: list[PluginType] = strawberry.field(default_factory=list)


def _host() -> PluginHost:
    try:
        return current_host()
    except PluginHostMissing:
        raise UserError.of(None, ErrorCode.PLUGIN_ERROR, "Plugins are not running in this process") from None


async def _list(host: PluginHost, *, max_age: float | None, name: str | None = None,
                refresh_catalogue: bool = False) -> list[PluginType]:
    statuses = await host.plugin_statuses(max_age=max_age, only=[name] if name else None)
    catalogue = await host.risk_catalogue(refresh=refresh_catalogue)
    running = set(host.enabled_plugins())
    return [PluginType.of(s, s.name in running, catalogue.get(s.name, ())) for s in statuses]


@strawberry.type
class PluginsQuery:
    @guarded("plugins", description="Every known plugin: version, families, state, health, what it serves.")
    async def plugins(self, info: Info, name: str | None = None) -> list[PluginType]:
        return await _list(_host(), max_age=HEALTH_MAX_AGE, name=name)

    @guarded("plugins", description="Every indicator the running risk data sources declare, by source.")
    async def risk_indicator_catalogue(self, info: Info) -> list[RiskIndicatorType]:
        catalogue = await _host().risk_catalogue()
        return [RiskIndicatorType.of(source, spec) for source, specs in sorted(catalogue.items()) for spec in specs]


@strawberry.type
class PluginsMutation:
    @guarded_mutation("plugins.health", description="Run the health checks now (one plugin or all) and re-read "
                                                    "the risk indicator catalogue.")
    async def check_plugin_health(self, info: Info, name: str | None = None) -> PluginHealthPayload:
        host = _host()
        if name is not None and name not in host.known_plugins():
            raise UserError.of("name", ErrorCode.NOT_FOUND, f"No plugin named {name!r} is known")
        plugins = await _list(host, max_age=None, name=name, refresh_catalogue=True)
        actor = actor_of(info)
        await oplog.record(actor, kind=actor.kind(), module=MODULE, action="check_health",
                           summary=f"checked the health of {name or 'every plugin'}",
                           detail={"plugins": {p.name: p.health.state.value for p in plugins if p.health}},
                           request_id=info.context.request_id)
        return PluginHealthPayload(plugins=plugins)
