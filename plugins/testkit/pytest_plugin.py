"""pytest fixtures of the plugin test kit.

Load with ``pytest_plugins = ["plugins.testkit.pytest_plugin"]`` in a top-level conftest, or
``from plugins.testkit.pytest_plugin import plugin_host_factory, txn_factory  # noqa: F401`` in any
conftest. Requires pytest-asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import pytest
import pytest_asyncio

from plugins.definition import PluginDefinition
from plugins.facade import PluginHost
from plugins.testkit.factories import TransactionFactory
from plugins.testkit.hosts import IncidentRecorder, host_from_dict

HostFactory = Callable[..., Awaitable[PluginHost]]


@pytest.fixture
def incident_recorder() -> IncidentRecorder:
    """Installed as ``on_failure`` on every host the ``plugin_host_factory`` of this test makes."""
    return IncidentRecorder()


@pytest_asyncio.fixture
async def plugin_host_factory(incident_recorder: IncidentRecorder) -> AsyncIterator[HostFactory]:
    """``await plugin_host_factory(config_dict, extra=(...), env={...})`` → a started host.

    Hosts are closed after the test. ``entry_points`` defaults to True so installed third-party
    plugins can be enabled by name, exactly as in production.
    """
    hosts: list[PluginHost] = []

    async def factory(config: Mapping[str, Any], *, extra: Iterable[PluginDefinition] = (),
                      env: Mapping[str, str] | None = None, entry_points: bool = True,
                      start: bool = True) -> PluginHost:
        host = host_from_dict(config, extra=extra, env=env, entry_points=entry_points)
        host.on_failure = incident_recorder
        hosts.append(host)
        if start:
            await host.start()
        return host

    yield factory
    for host in hosts:
        await host.aclose()


@pytest.fixture
def txn_factory() -> TransactionFactory:
    return TransactionFactory()
