"""Building hosts from dict configurations, and recording incidents, for plugin tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from plugins.config import config_from_dict
from plugins.definition import PluginDefinition
from plugins.errors import PluginIncident
from plugins.facade import PluginHost
from plugins.manager import create_host


class IncidentRecorder:
    """A failure callback that keeps every incident (install as ``host.on_failure``)."""

    def __init__(self) -> None:
        self.incidents: list[PluginIncident] = []

    def __call__(self, incident: PluginIncident) -> None:
        self.incidents.append(incident)

    def kinds(self) -> list[tuple[str, str, str]]:
        return [(i.plugin, i.hook, i.kind) for i in self.incidents]

    def clear(self) -> None:
        self.incidents.clear()


def host_from_dict(config: Mapping[str, Any], *, extra: Iterable[PluginDefinition] = (),
                   env: Mapping[str, str] | None = None, entry_points: bool = True) -> PluginHost:
    """A host (not started) for a ``plugins.toml``-shaped dict; ``extra`` adds test-only plugins.

    ``env`` defaults to an empty environment so tests never depend on the developer's variables.
    """
    return create_host(config_from_dict(config, source="<test config>"), env={} if env is None else env,
                       extra=extra, entry_points=entry_points)


@asynccontextmanager
async def running_host(config: Mapping[str, Any], *, extra: Iterable[PluginDefinition] = (),
                       env: Mapping[str, str] | None = None,
                       entry_points: bool = True) -> AsyncIterator[tuple[PluginHost, IncidentRecorder]]:
    """Started host plus an installed :class:`IncidentRecorder`; closed on exit."""
    host = host_from_dict(config, extra=extra, env=env, entry_points=entry_points)
    recorder = IncidentRecorder()
    host.on_failure = recorder
    async with host:
        yield host, recorder
